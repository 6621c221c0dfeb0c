"""The command line's virtual time: -icount, --stats' virtual time, and the exception-loop stop (exit 123)."""

from __future__ import annotations

import re

import pytest

from framework.testing import armnv_cli as armnv
from framework.testing import assemble, stderr_lines


def test_exception_loop_stops_with_123_and_names_the_loop():
    # VBAR_EL2 = 0 and nothing there: the UDF's vector cannot be fetched, nor can the abort's
    proc = armnv("run", assemble("    msr vbar_el2, xzr\n    isb\n    udf #0\n"), "--max-insns", "100000000")
    assert proc.returncode == 123
    assert stderr_lines(proc) == [
        "armnv: stopped: guest stuck: Instruction abort (same EL) (EC 0x21) at PC 0x200 taken to EL2 again and"
        " again (VBAR_EL2 = 0x0): likely cause: the vector itself cannot be fetched: no vector table installed"
        " at VBAR_EL2"
    ]


# exits with the counter ticks (at 1 GHz) of the first MRS and ten NOPs
COUNTER_TICKS = (
    "    mrs x10, cntpct_el0\n"
    + "    nop\n" * 10
    + """
    mrs x11, cntpct_el0
    sub x11, x11, x10
    adr x1, block
    str x11, [x1, #8]
    mov x0, #0x18
    hlt #0xf000
    .balign 8
block: .quad 0x20026, 0
"""
)


@pytest.mark.parametrize(
    ("args", "ticks"),
    [
        ([], 11),
        (["-icount", "shift=3"], 88),
        (["--icount", "3"], 88),
        (["-icount", "0"], 11),
        (["-icount", "shift=2,sleep=off"], 44),
    ],
)
def test_icount_sets_the_virtual_ns_per_instruction(args, ticks):
    proc = armnv("run", *args, assemble(COUNTER_TICKS))
    assert (proc.returncode, proc.stderr) == (ticks, b"")


def test_stats_show_the_virtual_time_and_the_waits():
    # the EL2 physical timer one second (CNTFRQ ticks) ahead, then WFI: the wait is skipped (no
    # GIC, so the timer's interrupt reaches the IRQ line and ends the wait)
    guest = assemble("""
    mrs x9, cntfrq_el0
    mrs x10, cntpct_el0
    add x1, x10, x9
    msr cnthp_cval_el2, x1
    mov x2, #1
    msr cnthp_ctl_el2, x2
    wfi
""")
    proc = armnv("run", "--cpu", "max,gicv3=off", "--stats", guest)
    assert proc.returncode == 0
    found = re.search(r"^virtual time: (\d+\.\d{9}) s \((\d+\.\d{9}) s of it waiting\)$", proc.stderr.decode(), re.M)
    assert found is not None, proc.stderr.decode()
    total, waiting = float(found[1]), float(found[2])
    assert total >= 1.0 and 0.99 < waiting < total
