"""`armnv run --gdb` driven by the real debugger: Debian's gdb-multiarch in batch mode."""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import time

import pytest

TIMEOUT = 60

GUEST = """
    mov x0, #5
    ldr x1, =0x80000000
    msr hcr_el2, x1
    isb
target:
    add x0, x0, #1
    adr x2, data
    mov x3, #0x1234
    str x3, [x2]
    ldr x4, [x2]
    mov x0, #0x18
    adr x1, exit3
    hlt #0xf000
    .balign 8
exit3:
    .quad 0x20026, 3
    .balign 8
data:
    .quad 0x1111
"""


def gdb_multiarch() -> str:
    path = shutil.which("gdb-multiarch")
    if path is None:
        pytest.fail("gdb-multiarch is not installed; run `make test` (it installs it with apt-get)")
    return path


def start_armnv(elf, *options: str) -> tuple[subprocess.Popen[bytes], int]:
    """armnv waiting for a debugger on a free port of 127.0.0.1; returns the process and the port."""
    if os.environ.get("ARMNV_ENGINE") == "single":
        options = (*options, "--one-insn-per-block")
    proc = subprocess.Popen(
        [sys.executable, "-m", "framework.cli", "run", "--gdb", "tcp::0", *options, str(elf)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + TIMEOUT
    line = b""
    while b"\n" not in line:
        left = deadline - time.monotonic()
        ready, _, _ = select.select([proc.stderr], [], [], max(left, 0))
        if not ready:
            proc.kill()
            pytest.fail("armnv did not say where it listens")
        chunk = os.read(proc.stderr.fileno(), 1)
        if not chunk:
            pytest.fail(f"armnv ended: {proc.wait(TIMEOUT)}")
        line += chunk
    m = re.search(rb"listening on 127\.0\.0\.1:(\d+)", line)
    assert m, line
    return proc, int(m.group(1))


def run_gdb(elf, port: int, *commands: str) -> str:
    args = [gdb_multiarch(), "-nx", "-batch", "-ex", "set confirm off", "-ex", "set pagination off"]
    args += ["-ex", f"file {elf}", "-ex", f"target remote 127.0.0.1:{port}"]
    for command in commands:
        args += ["-ex", command]
    proc = subprocess.run(args, capture_output=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    return proc.stdout.decode() + proc.stderr.decode()


def symbol(elf, name: str) -> int:
    from elftools.elf.elffile import ELFFile

    with open(elf, "rb") as f:
        return ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)[0]["st_value"]


def test_gdb_break_step_registers_memory_watch_and_exit(asm):
    elf = asm(GUEST)
    proc, port = start_armnv(elf, "--wait-gdb")
    try:
        out = run_gdb(
            elf,
            port,
            "break *target",
            "continue",
            "stepi",
            'printf "X0=%#lx\\n", $x0',
            'printf "PC=%#lx\\n", $pc',
            'printf "HCR=%#lx\\n", $hcr_el2',
            'printf "CURRENTEL=%#lx\\n", $currentel',
            'printf "DATA=%#lx\\n", *(long *)&data',
            "watch *(long *)&data",
            "continue",
            'printf "AFTER=%#lx\\n", $pc',
            "delete",
            "continue",
        )
        status = proc.wait(TIMEOUT)
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
    target = symbol(elf, "target")
    assert f"Breakpoint 1, {target:#018x} in target" in out, out
    assert "X0=0x6\n" in out, out  # mov x0, #5; add x0, x0, #1
    assert f"PC={target + 4:#x}\n" in out, out
    assert "HCR=0x80000000\n" in out, out  # what the guest wrote with MSR HCR_EL2
    assert "CURRENTEL=0x8\n" in out, out  # EL2 in CurrentEL.EL, bits [3:2]
    assert "DATA=0x1111\n" in out, out
    assert "Old value = 4369\nNew value = 4660" in out, out
    # the store is the third instruction after the step: gdb stops after it
    assert f"AFTER={target + 16:#x}\n" in out, out
    assert "exited with code 03" in out, out
    assert status == 3


def test_gdb_kill_stops_armnv_with_a_stop_line(asm):
    elf = asm(GUEST)
    proc, port = start_armnv(elf, "-S")
    try:
        out = run_gdb(elf, port, "stepi", "kill")
        status = proc.wait(TIMEOUT)
        err = proc.stderr.read().decode()
    finally:
        proc.kill()
        proc.wait(TIMEOUT)
    assert "[Inferior 1 (process 1) killed]" in out or "killed" in out, out
    assert status == 130
    assert err.strip().splitlines()[-1].startswith("armnv: stopped: killed by the debugger at PC 0x40080004")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--gdb", "1234"], "--gdb: bad address"),
        (["--gdb", "tcp::99999"], "--gdb: bad address"),
        (["--wait-gdb"], "--wait-gdb (-S) waits for a debugger"),
        (["-s", "--gdb", "tcp::1235"], "-s is --gdb tcp::1234"),
    ],
)
def test_gdb_bad_options_are_one_error_line(asm, options, message):
    elf = asm(GUEST)
    proc = subprocess.run(
        [sys.executable, "-m", "framework.cli", "run", *options, str(elf)], capture_output=True, timeout=TIMEOUT
    )
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1 and lines[0].startswith("armnv: error: " + message), lines


def test_gdb_port_in_use_is_bad_input(asm):
    import socket

    elf = asm(GUEST)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "framework.cli", "run", "--gdb", f"tcp::{port}", str(elf)],
            capture_output=True,
            timeout=TIMEOUT,
        )
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 2
    assert len(lines) == 1 and lines[0].startswith(f"armnv: error: --gdb tcp::{port}: cannot listen"), lines
