"""Virtual time: ``-icount shift=N`` (2**N ns per instruction) and idle skipping at WFI/WFE.

The counter is virtual: instructions << shift ns plus the time a wait skipped. What a guest can
rely on architecturally is checked here — the counter runs at CNTFRQ, a WFI/WFE woken by a timer
sees the counter at or past the compare value, a WFE with its event register set does not wait —
together with the cost: a guest second of waiting takes a handful of instructions.
"""

from __future__ import annotations

import pytest

from framework.testing import STACK_TOP, assemble, make_machine

from .conftest import HCR_IMO, install, read_log, set_hcr, symbol, vectors


@pytest.fixture
def run_asm(run_asm):
    """A board without an interrupt controller: the timers' PPIs drive the IRQ line directly."""

    def run(source: str, cpu: str = "max,gicv3=off", **kw):
        return run_asm(source, cpu=cpu, **kw)

    return run


def el2(body: str) -> str:
    return install(2, "vec2") + body + "\n    b _armnv_exit\n" + vectors(2, "vec2")


@pytest.mark.parametrize(("cpu", "shift", "ticks"), [("max", 3, 88), ("max", 0, 11), ("neoverse-n2,gicv3=off", 4, 11)])
def test_icount_shift_advances_the_counter_by_2_pow_n_ns_per_instruction(run_asm, cpu, shift, ticks):
    # 11 instructions (the first MRS and ten NOPs) of 2**shift ns each, at CNTFRQ (1 GHz on max,
    # 62.5 MHz = one tick per 16 ns on neoverse-n2)
    source = "    mrs x10, cntpct_el0\n" + "    nop\n" * 10 + "    mrs x11, cntpct_el0\n"
    m = run_asm(source, cpu=cpu, icount_shift=shift)
    assert m.cpu.x[11] - m.cpu.x[10] == ticks


def test_icount_shift_timer_interrupt_at_the_compare_value(run_asm):
    # 8 ns per instruction at 1 GHz: 800 ticks are 100 instructions; the first handler
    # instruction reads the counter at the compare value
    m = run_asm(
        "    adr x19, tvec\n    msr vbar_el2, x19\n"
        + set_hcr(HCR_IMO)
        + """
    mrs x10, cntpct_el0
    add x1, x10, #800
    msr cnthp_cval_el2, x1
    mov x2, #1
    msr cnthp_ctl_el2, x2
    msr daifclr, #2
spin:
    b spin
    .balign 2048
tvec:
    .rept 16
    mrs x12, cntpct_el0
    mrs x13, elr_el2
    b _armnv_exit
    .balign 128
    .endr
""",
        icount_shift=3,
        max_insns=10_000,
    )
    x = m.cpu.x
    assert x[12] >= x[10] + 800  # the interrupt is not taken before the timer condition holds
    assert x[12] < x[10] + 800 + 8 * 3  # and within the instructions that take and enter it
    assert x[13] == symbol(m, "spin")


ONE_SECOND_WAIT = """
    mrs x9, cntfrq_el0
    mrs x10, cntpct_el0
    add x1, x10, x9
    msr cnthp_cval_el2, x1
    mov x2, #1
    msr cnthp_ctl_el2, x2
    {wait}
    mrs x11, cntpct_el0
"""


@pytest.mark.parametrize("cpu", ["max,gicv3=off", "neoverse-n2,gicv3=off"])
@pytest.mark.parametrize("shift", [0, 6])
@pytest.mark.parametrize("wait", ["wfi", "sevl\n    wfe\n    wfe"])
def test_one_guest_second_of_waiting_takes_a_few_instructions(run_asm, cpu, shift, wait):
    # the EL2 physical timer fires CNTFRQ ticks (one second) after the counter read; the IRQ
    # targets EL1 (HCR_EL2.IMO = 0), so it is never taken at EL2 but ends the wait. SEVL, WFE
    # first empties the event register, so the second WFE waits.
    m = run_asm(el2(ONE_SECOND_WAIT.format(wait=wait)), cpu=cpu, icount_shift=shift, max_insns=1000)
    x = m.cpu.x
    assert m.stop.kind == "exit"
    assert x[11] - x[10] >= x[9]  # at least one second of counter ticks went by
    assert m.cpu.icount < 40  # without running a second's worth of instructions
    assert read_log(m) == []


def test_wfe_with_the_event_register_set_does_not_wait(run_asm):
    m = run_asm(el2(ONE_SECOND_WAIT.format(wait="sevl\n    wfe")), max_insns=1000)
    x = m.cpu.x
    assert x[11] - x[10] < 100  # SEVL set the event register: WFE consumed it and went on


def test_wfe_with_nothing_to_wait_for_completes(run_asm):
    # no timer armed, no interrupt can come: a WFE may end at any time, so it ends at once
    m = run_asm("    sevl\n    wfe\n    wfe\n    mov x9, #7\n")
    assert m.stop.kind == "exit" and m.cpu.x[9] == 7


def test_wfi_woken_by_a_timer_interrupt_takes_it_after_the_wait(run_asm):
    m = run_asm(
        el2(
            set_hcr(HCR_IMO)
            + """
    mov x3, #0
    msr cntvoff_el2, x3
    mrs x10, cntvct_el0
    ldr x1, =3000000
    msr cntv_tval_el0, x1
    mov x2, #1
    msr cntv_ctl_el0, x2
    msr daifclr, #2
    wfi
after:
    mov x9, #1
"""
        ),
        icount_shift=2,
        max_insns=1000,
    )
    (e,) = read_log(m)
    assert (e.offset, e.elr) == (0x280, symbol(m, "after"))  # IRQ at EL2 with SP_EL2, after the WFI
    assert m.cpu.icount < 100


PERIODIC = (
    install(2, "pvec")
    + set_hcr(HCR_IMO)
    + """
    mov x7, #0
    mov x2, #1
    msr cnthp_ctl_el2, x2
    ldr x1, =250000
    msr cnthp_tval_el2, x1
    msr daifclr, #2
1:  wfi
    add x8, x8, #1
    cmp x7, #20
    b.lo 1b
    mrs x11, cntpct_el0
    b _armnv_exit

    .balign 2048
pvec:
    .skip 0x280  // IRQ, current EL with SP_ELx
    add x7, x7, #1
    mrs x12, cntpct_el0
    msr cnthp_tval_el2, x1
    eret
"""
)


def test_idle_skipping_is_the_same_in_both_engine_modes():
    # a guest ticking 20 times at 250 us, waiting in WFI between ticks: the time line (counter,
    # instruction count, idle time) does not depend on how code is split into blocks
    elf = assemble(PERIODIC)
    runs = []
    for single in (False, True):
        m = make_machine("max,gicv3=off", one_insn_per_block=single, icount_shift=1)
        m.load(str(elf))
        m.cpu.x[31] = STACK_TOP
        stop = m.run(100_000)
        runs.append((stop.kind, list(m.cpu.x), m.cpu.icount, m.clock.idle))
    assert runs[0] == runs[1]
    kind, x, icount, idle = runs[0]
    assert kind == "exit" and x[7] == 20
    assert idle > 0
    assert x[11] >= 20 * 250_000  # twenty periods of 250k ticks at 1 GHz went by
    assert icount < 20 * 20


def test_semihosting_elapsed_counts_the_waits(run_asm):
    # SYS_ELAPSED (0x30) counts at SYS_TICKFREQ (0x31) ticks per second of virtual time
    m = run_asm(
        el2(
            ONE_SECOND_WAIT.format(wait="wfi")
            + """
    mov x0, #0x31
    hlt #0xf000
    mov x15, x0
    adr x1, elapsed
    mov x0, #0x30
    hlt #0xf000
    ldr x14, elapsed
    b _armnv_exit
    .balign 8
elapsed:
    .quad 0, 0
"""
        ),
        max_insns=1000,
    )
    assert m.cpu.x[14] >= m.cpu.x[15]  # at least one second went by
