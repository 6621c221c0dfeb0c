"""pytest fixtures for armnv and its plugins (registered through the ``pytest11`` entry point).

Guest programs are real AArch64 assembly, assembled and linked by the GNU
cross toolchain and cached by content hash, then run on a real `Machine`:

    def test_add(run_asm):
        m = run_asm('''
            mov x0, #2
            add x1, x0, #3
        ''')
        assert m.cpu.x[1] == 5

`run_asm` places the snippet at ``_start`` (0x4008_0000, EL2h, MMU off, SP at
the top of a 1 MiB stack above the image) and appends a semihosting
``SYS_EXIT(0)`` epilogue, so falling off the end stops the machine. The
epilogue overwrites x0 (0x18, the operation) and x1 (the address of its
parameter block): a test must not expect its own values there after the run.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from framework.engine import StopReason
from framework.machine import Machine, MachineConfig

TEXT_BASE = 0x4008_0000
STACK_TOP = TEXT_BASE + 0x10_0000
TOOLCHAIN_PREFIX = os.environ.get("ARMNV_CROSS", "aarch64-linux-gnu-")

EPILOGUE = """
_armnv_exit:
    mov x0, #0x18
    adr x1, _armnv_exit_block
    hlt #0xf000
    b .
    .balign 8
_armnv_exit_block:
    .quad 0x20026, 0
"""

LINKER_SCRIPT = """
ENTRY(_start)
SECTIONS {{
    . = {base:#x};
    .text : {{ *(.text.boot) *(.text*) }}
    .rodata : {{ *(.rodata*) }}
    . = ALIGN(4096);
    .data : {{ *(.data*) }}
    .bss : {{ *(.bss*) *(COMMON) }}
}}
"""


# A vector table (label `vectors`) whose 16 entries record their own address in x28 and stop
# the machine with exit status 1 (SYS_EXIT, ADP_Stopped_ApplicationExit), so a test can look
# at ESR/ELR/FAR/SPSR after an exception. A taken entry overwrites x28, x0 and x1.
# `with_stop_vectors` installs it at EL2 around a body.
STOP_VECTORS = """
    .balign 2048
vectors:
    .rept 16
    adr x28, .
    mov x0, #0x18
    adr x1, vec_exit_block
    hlt #0xf000
    b .
    .balign 128
    .endr
    .balign 8
vec_exit_block:
    .quad 0x20026, 1
"""


def with_stop_vectors(body: str) -> str:
    """`body` with VBAR_EL2 pointing at STOP_VECTORS; falling off its end exits normally.

    Registers it changes: x9 before the body (it sets VBAR_EL2 through it), and when an
    exception is taken, x28 (the vector entry's address, VBAR_EL2 + offset), x0 and x1 (the
    semihosting exit, status 1). Falling off the end changes x0 and x1 like `run_asm`'s exit.
    """
    return f"""
    adr x9, vectors
    msr vbar_el2, x9
{body}
    b _armnv_exit
{STOP_VECTORS}
"""


def cache_dir() -> Path:
    base = os.environ.get("ARMNV_ASM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "armnv", "asm"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def toolchain_available() -> bool:
    return shutil.which(TOOLCHAIN_PREFIX + "as") is not None and shutil.which(TOOLCHAIN_PREFIX + "ld") is not None


def assemble(source: str, *, base: int = TEXT_BASE, wrap: bool = True) -> Path:
    """Assemble and link `source`; return the ELF path (cached by content hash).

    With `wrap`, the source is the body of ``_start`` and the exit epilogue is appended.
    """
    if wrap:
        source = f"    .text\n    .global _start\n_start:\n{source}\n{EPILOGUE}"
    script = LINKER_SCRIPT.format(base=base)
    digest = hashlib.sha256((TOOLCHAIN_PREFIX + "\0" + script + "\0" + source).encode()).hexdigest()[:24]
    out = cache_dir() / f"{digest}.elf"
    if out.exists():
        return out
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp, "t.S")
        src.write_text(source + "\n")
        obj = Path(tmp, "t.o")
        lds = Path(tmp, "t.ld")
        lds.write_text(script)
        elf = Path(tmp, "t.elf")
        for cmd in (
            [TOOLCHAIN_PREFIX + "gcc", "-c", "-march=armv8.5-a+lse+memtag", "-o", str(obj), str(src)],
            [TOOLCHAIN_PREFIX + "ld", "-T", str(lds), "-o", str(elf), str(obj)],
        ):
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise AssertionError(f"{' '.join(cmd[:1])} failed:\n{proc.stderr}\n--- source ---\n{source}")
        tmp_out = out.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(elf, tmp_out)
        os.replace(tmp_out, out)
    return out


def make_machine(cpu: str = "max", **config: Any) -> Machine:
    """A machine whose guest stdout is captured in ``machine.stdout.data``.

    ``ARMNV_ENGINE=single`` in the environment makes one-instruction blocks the default,
    so a whole test suite can be run again in that engine mode (`make test` does).
    """
    if os.environ.get("ARMNV_ENGINE") == "single":
        config.setdefault("one_insn_per_block", True)
    return Machine(MachineConfig(cpu=cpu, **config), stdout=_Capture())


class _Capture:
    """A bytes sink standing in for the guest's stdout."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: bytes) -> int:
        self.data += b
        return len(b)

    def flush(self) -> None:
        pass


def run_program(
    source: str,
    *,
    cpu: str = "max",
    max_insns: int = 1_000_000,
    wrap: bool = True,
    setup: Callable[[Machine], None] | None = None,
    **config: Any,
) -> Machine:
    """Assemble, load and run a guest; the machine is returned with `stop` and `output` set."""
    elf = assemble(source, wrap=wrap)
    m = make_machine(cpu, **config)
    m.load(str(elf))
    m.cpu.x[31] = STACK_TOP
    if setup is not None:
        setup(m)
    m.stop = m.run(max_insns)  # type: ignore[attr-defined]
    m.output = bytes(m.stdout.data)  # type: ignore[attr-defined]
    return m


def run_in_both_modes(source: str, **kwargs: Any) -> tuple[Machine, Machine]:
    """`run_program` translated, then one instruction per block: (translated, single)."""
    translated = run_program(source, one_insn_per_block=False, **kwargs)
    return translated, run_program(source, one_insn_per_block=True, **kwargs)


@pytest.fixture
def asm() -> Callable[..., Path]:
    """Assemble a snippet into a cached ELF: ``asm(source, wrap=True)``."""
    if not toolchain_available():
        pytest.fail(f"the GNU cross toolchain ({TOOLCHAIN_PREFIX}as) is not installed; run `make test`")
    return assemble


@pytest.fixture
def run_asm(asm) -> Callable[..., Machine]:
    """Run a snippet on a fresh machine: ``run_asm(source, cpu='max', max_insns=..., setup=fn)``.

    The exit epilogue overwrites x0 and x1 (see the module docstring).
    """
    return run_program


def armnv_cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    """Run the installed ``armnv`` command (the one beside this Python) with `args`; capture its output."""
    command = [str(Path(sys.executable).parent / "armnv"), *map(str, args)]
    return subprocess.run(command, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def stderr_lines(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    return proc.stderr.decode().splitlines()


__all__ = [
    "STACK_TOP",
    "STOP_VECTORS",
    "TEXT_BASE",
    "StopReason",
    "armnv_cli",
    "assemble",
    "make_machine",
    "run_in_both_modes",
    "run_program",
    "stderr_lines",
    "with_stop_vectors",
]
