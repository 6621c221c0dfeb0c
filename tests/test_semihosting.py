"""Semihosting under hostile guests: bad pointers, huge lengths, EL0 calls, the host's files.

The calls follow the Arm semihosting specification 2.0: SYS_WRITE returns the number of
bytes not written, SYS_READ the number of bytes not read, SYS_ERRNO the error of the last
call. What armnv adds is its contract (docs/semihosting.md): semihosting reaches guest RAM
only — a pointer to a device or to no memory makes the call fail with EFAULT, as on QEMU —
it serves EL0 only with ``--semihosting-config userspace=on``, and it never touches a
host file. An EL0 ``HLT #0xF000`` that is not a semihosting call is an ordinary HLT, which
is UNDEFINED without halting debug (EC 0x00).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from framework.cli import run_cli
from framework.devices.semihosting import CHUNK, SemihostingConfig
from framework.machine import Machine
from framework.testing import STOP_VECTORS, assemble, make_machine

M64 = (1 << 64) - 1
RAM_BASE = 0x4000_0000
UART = 0x0900_0000
UNBACKED = 0x6000_0000
ESR_UNDEF = 0x0200_0000
HCR_RW, HCR_TGE, HCR_E2H = 1 << 31, 1 << 27, 1 << 34
ARMNV = Path(sys.executable).parent / "armnv"

SYS_OPEN, SYS_WRITEC, SYS_WRITE0, SYS_WRITE, SYS_READ = 0x01, 0x03, 0x04, 0x05, 0x06
SYS_TMPNAM, SYS_REMOVE, SYS_RENAME, SYS_SYSTEM, SYS_ERRNO = 0x0D, 0x0E, 0x0F, 0x12, 0x13
SYS_GET_CMDLINE, SYS_HEAPINFO, SYS_ELAPSED = 0x15, 0x16, 0x30
STDIN, STDOUT = 1, 2


def sym(m, name: str) -> int:
    return next(addr for addr, label in m.symbols.items() if label == name)


def call(op: int, arg: str, result: str) -> str:
    """Semihosting call `op` with x1 = `arg` (a label or a number); x0 goes to `result`, errno to x19."""
    load = f"adr x1, {arg}" if not arg[0].isdigit() else f"ldr x1, ={arg}"
    return f"""
    {load}
    mov x0, #{op:#x}
    hlt #0xf000
    mov {result}, x0
    mov x0, #{SYS_ERRNO:#x}
    hlt #0xf000
    mov x19, x0
"""


def run(m, source: str, *, stdin: bytes = b"", setup=None, max_insns: int = 100_000):
    """Load `source` into machine `m`, give it `stdin`, run it; the machine is returned."""
    m.load(str(assemble(source)))
    m.cpu.x[31] = 0x4018_0000
    semihosting = m.devices["semihosting"]
    semihosting.stdin = io.BytesIO(stdin)
    semihosting.stderr = io.BytesIO()
    if setup is not None:
        setup(m)
    m.stop = m.run(max_insns)
    m.output = bytes(m.stdout.data)
    return m


# ---- pointers to devices and to no memory: EFAULT, no device access, no Python exception ----------

# (operation, parameter block words: "P" is the bad pointer; None: x1 itself is the bad pointer)
# and what the specification makes x0 on failure (None: it defines no result for the call)
NONZERO = object()
BAD_POINTER_CALLS = [
    pytest.param(SYS_WRITE0, None, None, id="write0"),
    pytest.param(SYS_WRITEC, None, None, id="writec"),
    pytest.param(SYS_HEAPINFO, None, None, id="heapinfo-block"),
    pytest.param(SYS_HEAPINFO, ("P",), None, id="heapinfo-info"),
    pytest.param(SYS_ELAPSED, None, M64, id="elapsed"),
    pytest.param(SYS_OPEN, None, M64, id="open-block"),
    pytest.param(SYS_OPEN, ("P", 0, 3), M64, id="open-name"),
    pytest.param(SYS_WRITE, (STDOUT, "P", 16), 16, id="write-buffer"),
    pytest.param(SYS_READ, (STDIN, "P", 16), 16, id="read-buffer"),
    pytest.param(SYS_GET_CMDLINE, ("P", 256), M64, id="cmdline-buffer"),
    pytest.param(SYS_REMOVE, ("P", 4), NONZERO, id="remove-name"),
    pytest.param(SYS_RENAME, ("P", 4, "P", 4), NONZERO, id="rename-names"),
]


@pytest.mark.parametrize("where", [UART, UART + 0x30, UNBACKED, 0x0800_0000, 1 << 47, M64 - 7])
@pytest.mark.parametrize(("op", "block", "result"), BAD_POINTER_CALLS)
def test_semihosting_pointer_outside_ram_fails_with_efault(op, block, result, where):
    words = [where if w == "P" else w for w in block or ()]
    arg = "block" if block is not None else f"{where:#x}"
    source = f"""
    {call(op, arg, "x20")}
    movz x1, #0x0900, lsl #16
    ldr w21, [x1, #0x30]       // UARTCR: no semihosting access reached the UART
    b out
    .balign 8
block: .quad {", ".join(f"{w:#x}" for w in words) or "0"}
out:
"""
    m = run(make_machine(), source, stdin=b"input")
    assert m.stop.kind == "exit" and m.stop.exit_code == 0
    if result is NONZERO:
        assert m.cpu.x[20] != 0
    elif result is not None:
        assert m.cpu.x[20] == result
    assert m.cpu.x[19] == errno.EFAULT
    assert m.cpu.x[21] == 0x300
    assert m.output == b""
    assert m.devices["semihosting"].stdin.read() == b"input"  # a failed read consumes nothing


def test_semihosting_write_stops_where_ram_ends():
    # the buffer's first 16 bytes are the last of RAM: they are written, 48 are not
    ram_end = RAM_BASE + (16 << 20)
    m = run(
        make_machine(memory=16 << 20),
        call(SYS_WRITE, "block", "x20") + f"    b out\n    .balign 8\nblock: .quad 2, {ram_end - 16:#x}, 64\nout:\n",
        setup=lambda m: m.bus.write_bytes(ram_end - 16, b"end of the RAM!\n"),
    )
    assert m.output == b"end of the RAM!\n"
    assert m.cpu.x[20] == 48
    assert m.cpu.x[19] == errno.EFAULT


def test_semihosting_read_fills_only_the_ram_part_of_a_buffer_and_keeps_the_rest_of_the_input():
    ram_end = RAM_BASE + (16 << 20)
    source = f"""
    {call(SYS_READ, "edge", "x20")}
    {call(SYS_READ, "inside", "x21")}
    adr x2, buffer
    ldr x22, [x2]
    b out
    .balign 8
edge: .quad 1, {ram_end - 4:#x}, 8
inside: .quad 1, buffer, 8
buffer: .quad 0
out:
"""
    m = run(make_machine(memory=16 << 20), source, stdin=b"abcdefgh")
    assert m.cpu.x[20] == 4  # 4 of 8 bytes read: the buffer's RAM part
    assert m.bus.read_bytes(ram_end - 4, 4) == b"abcd"
    assert m.cpu.x[21] == 4  # the other 4 are still there for the next read
    assert m.cpu.x[22] == int.from_bytes(b"efgh", "little")


# ---- lengths no buffer can have ---------------------------------------------------------------------


@pytest.mark.parametrize("length", [1 << 40, (1 << 40) + 3, 1 << 63, M64])
def test_semihosting_read_with_a_huge_length_reads_what_there_is(length):
    source = f"""
    {call(SYS_READ, "block", "x20")}
    adr x2, buffer
    ldr x21, [x2]
    b out
    .balign 8
block: .quad 1, buffer, {length:#x}
buffer: .quad 0x5555555555555555
out:
"""
    m = run(make_machine(), source, stdin=b"hello")
    assert m.stop.kind == "exit"
    assert m.cpu.x[20] == length - 5  # the number of bytes not read
    assert m.cpu.x[21] == 0x5555_556F_6C6C_6568  # "hello", the rest untouched


def test_cli_read_from_a_real_stdin_with_a_huge_length(asm):
    # the process's own stdin (a pipe), read as armnv reads it outside the tests
    length = 1 << 40
    source = (
        call(SYS_READ, "block", "x20")
        + f"""
    adr x1, buffer
    mov x0, #{SYS_WRITE0:#x}
    hlt #0xf000
    b out
    .balign 8
block: .quad 1, buffer, {length:#x}
buffer: .skip 64
out:
"""
    )
    proc = subprocess.run([str(ARMNV), "run", str(asm(source))], capture_output=True, timeout=120, input=b"typed\n")
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b"typed\n"


@pytest.mark.parametrize("length", [1 << 40, 1 << 63, M64])
def test_semihosting_write_with_a_huge_length_fails_and_writes_nothing(length):
    source = call(SYS_WRITE, "block", "x20") + f"    b out\n    .balign 8\nblock: .quad 2, block, {length:#x}\nout:\n"
    m = run(make_machine(), source)
    assert m.cpu.x[20] == length  # nothing written
    assert m.cpu.x[19] == errno.EFAULT
    assert m.output == b""


class HashingSink:
    """The host's stdout for a long write: keeps a digest and a count, not the bytes."""

    def __init__(self) -> None:
        self.digest = hashlib.sha256()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def test_semihosting_write_streams_in_bounded_chunks():
    # a 32 MiB SYS_WRITE must not hold the buffer in host memory (it used to hold it 3 times)
    length, buffer = 32 << 20, 0x4100_0000
    source = (
        call(SYS_WRITE, "block", "x20") + f"    b out\n    .balign 8\nblock: .quad 2, {buffer:#x}, {length:#x}\nout:\n"
    )
    pattern = bytes(range(251)) * (length // 251 + 1)
    pattern = pattern[:length]
    expected = hashlib.sha256(pattern).hexdigest()
    m = make_machine(memory=64 << 20)
    m.load(str(assemble(source)))
    m.bus.write_bytes(buffer, pattern)
    del pattern
    m.stdout = sink = HashingSink()
    tracemalloc.start()
    try:
        m.run(100_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert m.cpu.x[20] == 0
    assert sink.count == length and sink.digest.hexdigest() == expected
    assert peak < 16 * CHUNK, f"peak {peak} bytes of host memory for a {length}-byte write"


# ---- SYS_GET_CMDLINE: the host's bytes, UTF-8 or not ---------------------------------------------------

CMDLINE = (
    call(SYS_GET_CMDLINE, "block", "x20")
    + f"""
    adr x1, buffer
    mov x0, #{SYS_WRITE0:#x}
    hlt #0xf000
    b out
    .balign 8
block: .quad buffer, 256
buffer: .skip 256
out:
"""
)


def test_semihosting_get_cmdline_passes_non_utf8_bytes_through():
    # command-line arguments that are not UTF-8 reach Python as surrogate escapes
    m = make_machine(image_name=os.fsdecode(b"prog\xff.elf"), append=os.fsdecode(b"caf\xe9 x=\x80"))
    m = run(m, CMDLINE)
    assert m.cpu.x[20] == 0
    assert m.output == b"prog\xff.elf caf\xe9 x=\x80"


def test_cli_get_cmdline_with_non_utf8_image_name_and_append(asm, tmp_path):
    image = os.path.join(os.fsencode(tmp_path), b"prog\xff.elf")
    shutil.copyfile(asm(CMDLINE), image)
    proc = subprocess.run(
        [os.fsencode(ARMNV), b"run", b"--append", b"caf\xe9", image],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    assert proc.stdout == image + b" caf\xe9"


# ---- EL0: semihosting only with userspace=on ------------------------------------------------------------


def el0_program(hcr: int) -> str:
    """Drop to EL0t and make a SYS_WRITE0 call there; every vector (EL1 and EL2) stops the machine."""
    return f"""
    adr x9, vectors
    msr vbar_el2, x9
    msr vbar_el1, x9
    ldr x9, ={hcr:#x}
    msr hcr_el2, x9
    mov x9, #0x3c0          // EL0t, interrupts masked
    msr spsr_el2, x9
    adr x9, el0
    msr elr_el2, x9
    isb
    eret
el0:
    adr x1, text
    mov x0, #{SYS_WRITE0:#x}
the_hlt:
    hlt #0xf000
    b _armnv_exit           // one more semihosting call from EL0: SYS_EXIT(0)
text: .asciz "from EL0\\n"
    .balign 4
{STOP_VECTORS}
"""


@pytest.mark.parametrize(("hcr", "target"), [(HCR_RW, 1), (HCR_RW | HCR_E2H | HCR_TGE, 2)])
def test_semihosting_el0_hlt_is_undefined_by_default(hcr, target):
    m = run(make_machine(), el0_program(hcr))
    assert m.output == b""
    assert m.stop.kind == "exit" and m.stop.exit_code == 1  # by the vector table
    assert m.cpu.sr[f"ESR_EL{target}"] == ESR_UNDEF
    assert m.cpu.sr[f"ELR_EL{target}"] == sym(m, "the_hlt")


@pytest.mark.parametrize("hcr", [HCR_RW, HCR_RW | HCR_E2H | HCR_TGE])
def test_semihosting_el0_calls_with_userspace_on(hcr):
    m = run(make_machine(semihosting=SemihostingConfig(userspace=True)), el0_program(hcr))
    assert m.output == b"from EL0\n"
    assert m.stop.kind == "exit" and m.stop.exit_code == 0


def test_semihosting_enable_off_makes_every_hlt_undefined():
    source = f"""
    adr x9, vectors
    msr vbar_el2, x9
    adr x1, text
    mov x0, #{SYS_WRITE0:#x}
the_hlt:
    hlt #0xf000
    b .
text: .asciz "never"
    .balign 4
vectors:
    .balign 2048
    .rept 16
    b .
    .balign 128
    .endr
"""
    m = run(make_machine(semihosting=SemihostingConfig(enable=False)), source, max_insns=1000)
    assert m.stop.kind == "max-insns"
    assert m.output == b""
    assert m.cpu.sr["ESR_EL2"] == ESR_UNDEF
    assert m.cpu.sr["ELR_EL2"] == sym(m, "the_hlt")


def test_cli_semihosting_config_userspace(asm):
    image = asm(el0_program(HCR_RW))
    for args, status, out in (([], 1, b""), (["--semihosting-config", "userspace=on"], 0, b"from EL0\n")):
        proc = subprocess.run(
            [str(ARMNV), "run", *args, str(image)], capture_output=True, timeout=120, stdin=subprocess.DEVNULL
        )
        assert (proc.returncode, proc.stdout) == (status, out), proc.stderr.decode()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("usrspace=on", "unknown key 'usrspace' (known: enable, userspace)"),
        ("target=native", "unknown key 'target'"),
        ("userspace=yes", "userspace=yes: the value must be on or off"),
        ("userspace", "'userspace' is not KEY=on|off"),
    ],
)
def test_cli_semihosting_config_rejects_bad_values(asm, capsys, value, message):
    status = run_cli(["run", "--semihosting-config", value, str(asm(el0_program(HCR_RW)))])
    assert status == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("armnv: error: --semihosting-config: ")
    assert message in lines[0]


# ---- the host's files are out of reach ---------------------------------------------------------------------


def host_file_program(op: int, words: int) -> str:
    """Call `op` with a block of `words` words (filled in by the test), result in x20, errno in x19."""
    return (
        call(op, "block", "x20")
        + f"""
    b out
    .balign 8
block: .skip {8 * words}
name1: .skip 256
name2: .skip 256
out:
"""
    )


def fill(names: list[bytes], words: list[int | str]) -> Callable[[Machine], None]:
    """Write `names` into the guest's name buffers and the block: words, "N1"/"L1" for name 1..."""

    def setup(m):
        addr = {f"N{i + 1}": sym(m, f"name{i + 1}") for i in range(len(names))}
        for i, name in enumerate(names):
            m.bus.write_bytes(addr[f"N{i + 1}"], name + b"\0")
            addr[f"L{i + 1}"] = len(name)
        block = b"".join((addr[w] if isinstance(w, str) else w).to_bytes(8, "little") for w in words)
        m.bus.write_bytes(sym(m, "block"), block)

    return setup


@pytest.mark.parametrize("mode", range(12))  # r, rb, r+, r+b, w…, a…
def test_semihosting_open_of_a_host_path_fails_and_touches_nothing(tmp_path, mode):
    existing, missing = tmp_path / "existing", tmp_path / "missing"
    existing.write_bytes(b"host data")
    for path in (existing, missing):
        name = os.fsencode(path)
        m = run(make_machine(), host_file_program(SYS_OPEN, 3), setup=fill([name], ["N1", mode, "L1"]))
        assert m.cpu.x[20] == M64 and m.cpu.x[19] == errno.ENOENT
    assert existing.read_bytes() == b"host data"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing"]


def test_semihosting_remove_fails_and_the_file_stays(tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    m = run(make_machine(), host_file_program(SYS_REMOVE, 2), setup=fill([os.fsencode(victim)], ["N1", "L1"]))
    assert m.cpu.x[20] == M64 and m.cpu.x[19] == errno.ENOENT
    assert victim.read_bytes() == b"keep me"
    m = run(make_machine(), host_file_program(SYS_REMOVE, 2), setup=fill([b":tt"], ["N1", "L1"]))
    assert m.cpu.x[20] == M64 and m.cpu.x[19] == errno.EACCES


def test_semihosting_rename_fails_and_nothing_moves(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_bytes(b"stay")
    names = [os.fsencode(old), os.fsencode(new)]
    m = run(make_machine(), host_file_program(SYS_RENAME, 4), setup=fill(names, ["N1", "L1", "N2", "L2"]))
    assert m.cpu.x[20] == M64 and m.cpu.x[19] == errno.ENOENT
    assert old.read_bytes() == b"stay"
    assert not new.exists()


def test_semihosting_system_runs_no_host_command(tmp_path):
    marker = tmp_path / "marker"
    command = b"touch " + os.fsencode(marker)
    m = run(make_machine(), host_file_program(SYS_SYSTEM, 2), setup=fill([command], ["N1", "L1"]))
    assert m.cpu.x[20] == M64 and m.cpu.x[19] == errno.ENOSYS
    assert not marker.exists()


def test_semihosting_tmpnam_names_no_host_file():
    m = run(make_machine(), host_file_program(SYS_TMPNAM, 3), setup=fill([b""], ["N1", 1, 256]))
    assert m.cpu.x[20] == M64 and m.cpu.x[19] == errno.ENOSYS
