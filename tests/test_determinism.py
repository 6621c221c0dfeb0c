"""Determinism: the same image and options give the same trace and counters, run after run.

Virtual time is the instruction count (CNTFRQ 1 GHz, one instruction per
nanosecond), so even a timer interrupt lands at the same instruction in every
run. Checked through the real ``armnv`` script, in both engine modes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from framework.testing import assemble

ARMNV = Path(sys.executable).parent / "armnv"

# HVCs taken and returned from, semihosting output, then an EL2 physical timer interrupt
# (1500 ns after it is armed, routed to EL2 by HCR_EL2.IMO; with gicv3=off the timer drives the IRQ
# line directly) that ends the run
GUEST = """
    adr x9, tvec
    msr vbar_el2, x9
    mov x9, #(1 << 4)
    msr hcr_el2, x9
    mov x9, #1500
    msr cnthp_tval_el2, x9
    mov x9, #1
    msr cnthp_ctl_el2, x9
    mov x13, #0
loop:
    add x13, x13, #1
    hvc #5
    cmp x13, #20
    b.ne loop
    adr x1, msg
    mov x0, #4
    hlt #0xf000
    msr daifclr, #2
1:  add x14, x14, #1
    b 1b
msg: .asciz "waiting for the timer\\n"

    .balign 2048
tvec:
    .rept 4
    b .
    .balign 128
    .endr
    eret                      // +0x200: HVC from EL2 with SP_EL2
    .balign 128
    mov x9, #0                // +0x280: the timer IRQ: stop it and leave
    msr cnthp_ctl_el2, x9
    b _armnv_exit
"""


def run_once(elf: Path, log: Path, mode: list[str]) -> tuple[int, bytes, bytes, bytes]:
    """Exit status, stdout, stderr, and the -D file's bytes without its run-time line."""
    proc = subprocess.run(
        [
            str(ARMNV),
            "run",
            str(elf),
            "-d",
            "exec,int",
            "-D",
            str(log),
            "--stats",
            "--max-insns",
            "100000",
            "--cpu",
            "max,gicv3=off",
            *mode,
        ],
        capture_output=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    lines = log.read_bytes().splitlines(keepends=True)
    timing = [line for line in lines if line.startswith(b"run time:")]
    assert len(timing) == 1, lines[-8:]  # the one line that may differ: host time and MIPS
    return proc.returncode, proc.stdout, proc.stderr, b"".join(line for line in lines if line not in timing)


@pytest.mark.parametrize("mode", [[], ["--one-insn-per-block"]], ids=["blocks", "one-insn-per-block"])
def test_same_image_same_trace_and_counters(tmp_path, mode):
    elf = assemble(GUEST)
    first = run_once(elf, tmp_path / "first.log", mode)
    second = run_once(elf, tmp_path / "second.log", mode)
    status, stdout, stderr, log = first
    assert (status, stdout, stderr) == (0, b"waiting for the timer\n", b"")
    text = log.decode()
    assert text.count("Taking exception 11 [Hypervisor Call] on CPU 0") == 20
    assert "Taking exception 5 [IRQ] on CPU 0" in text
    assert text.count("Trace EL2: ") > 1000
    assert "instructions executed:" in text and "exceptions taken:" in text
    assert second == first
