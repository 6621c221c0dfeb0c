"""The generic timer: the counter advances one tick per instruction at 1 GHz (icount * CNTFRQ / 1e9),
CNTVOFF_EL2, CTL/CVAL/TVAL with ISTATUS and IMASK, interrupts at an exact instruction count, WFI
skipping ahead in time, EL0/EL1 access control (CNTKCTL_EL1, CNTHCTL_EL2) and the PPIs handed to
an interrupt controller (INTIDs 30, 27, 26, 28)."""

from __future__ import annotations

import pytest

from .conftest import (
    EL0T,
    EL1H,
    ESR_UNDEF,
    HCR_E2H,
    HCR_IMO,
    eret_to,
    install,
    read_log,
    set_hcr,
    symbol,
    sysreg_esr,
    vectors,
)


# every entry reads the counter first, then stops the machine with ELR in x13 and the offset in x14
@pytest.fixture
def run_asm(run_asm):
    """`run_asm` on a board without an interrupt controller (gicv3=off) unless a test names a CPU:
    the timers' PPIs then drive the IRQ line directly, which is what these tests take."""

    def run(source: str, cpu: str = "max,gicv3=off", **kw):
        return run_asm(source, cpu=cpu, **kw)

    return run


TIMESTAMP_VECTORS = """
    .balign 2048
tvec:
    .rept 16
    mrs x12, cntpct_el0
    mrs x13, elr_el2
    mov x14, #(. - tvec - 8)
    b _armnv_exit
    .balign 128
    .endr
"""


def el2(body: str) -> str:
    return install(2, "vec2") + body + "\n    b _armnv_exit\n" + vectors(2, "vec2")


@pytest.mark.parametrize(
    ("cpu", "freq"), [("max", 1_000_000_000), ("neoverse-n2", 62_500_000), ("neoverse-v1", 62_500_000)]
)
def test_cntfrq_is_the_models_frequency(run_asm, cpu, freq):
    m = run_asm("    mrs x10, cntfrq_el0\n", cpu=cpu)
    assert m.cpu.x[10] == freq


def test_counter_counts_instructions_at_1ghz(run_asm):
    m = run_asm("    mrs x10, cntpct_el0\n" + "    nop\n" * 10 + "    mrs x11, cntpct_el0\n")
    assert m.cpu.x[11] - m.cpu.x[10] == 11  # the first MRS and ten NOPs completed in between


def test_counter_at_62_5_mhz_ticks_every_16_instructions(run_asm):
    m = run_asm(
        """
    mrs x10, cntpct_el0
    ldr x2, =1599
loop:
    subs x2, x2, #1
    b.ne loop
    mrs x11, cntpct_el0
""",
        cpu="neoverse-n2",
    )
    assert m.cpu.x[11] - m.cpu.x[10] == 200  # 1 + 1 + 2 * 1599 = 3200 instructions


def test_virtual_count_subtracts_cntvoff(run_asm):
    m = run_asm("    mov x1, #1000\n    msr cntvoff_el2, x1\n    mrs x10, cntpct_el0\n    mrs x11, cntvct_el0\n")
    assert m.cpu.x[11] == (m.cpu.x[10] + 1 - 1000) & ((1 << 64) - 1)


def test_tval_is_a_signed_view_of_cval(run_asm):
    # TVAL reads are defined only while ENABLE = 1: enable both timers, masked
    m = run_asm(
        el2(
            """
    mov x3, #3
    msr cntp_ctl_el0, x3
    msr cnthp_ctl_el2, x3
    mov x1, #1000
    mrs x10, cntpct_el0
    msr cntp_tval_el0, x1
    mrs x11, cntp_cval_el0
    mrs x12, cntp_tval_el0
    mov x1, #-5
    msr cnthp_tval_el2, x1
    mrs x13, cnthp_cval_el2
    mrs x14, cnthp_tval_el2
"""
        )
    )
    x = m.cpu.x
    assert x[11] == x[10] + 1 + 1000  # written one instruction after the counter read
    assert x[12] == 1000 - 2  # read two instructions after the write
    assert x[13] == x[10]  # written at count x10 + 5 with TVAL = -5
    assert x[14] == (-7) & 0xFFFFFFFF  # read two instructions after the write


def test_ctl_istatus_and_imask(run_asm):
    m = run_asm(
        el2(
            """
    ldr x1, =0xFFFFFFFFFFFF
    msr cntp_cval_el0, x1
    mov x2, #1
    msr cntp_ctl_el0, x2
    mrs x10, cntp_ctl_el0
    msr cntp_cval_el0, xzr
    mrs x11, cntp_ctl_el0
    mov x2, #3
    msr cntp_ctl_el0, x2
    mrs x12, cntp_ctl_el0
    mov x2, #0xff
    msr cntp_ctl_el0, x2
    mrs x13, cntp_ctl_el0
"""
        )
    )
    x = m.cpu.x
    assert (x[10], x[11], x[12], x[13]) == (1, 5, 7, 7)  # ISTATUS is read-only, other bits RES0


def _timer_irq(run_asm, prefix: str, ctl: str, cval: str, hcr: int = HCR_IMO, delta: int = 100):
    return run_asm(
        "    adr x19, tvec\n    msr vbar_el2, x19\n"
        + set_hcr(hcr)
        + prefix
        + f"""
    mrs x10, cntpct_el0
    add x1, x10, #{delta}
    msr {cval}, x1
    mov x2, #1
    msr {ctl}, x2
    msr daifclr, #2
spin:
    b spin
"""
        + TIMESTAMP_VECTORS,
        max_insns=10_000,
    )


@pytest.mark.parametrize(("ctl", "cval"), [("cnthp_ctl_el2", "cnthp_cval_el2"), ("cntp_ctl_el0", "cntp_cval_el0")])
def test_timer_interrupt_taken_at_the_exact_count(run_asm, ctl, cval):
    m = _timer_irq(run_asm, "", ctl, cval)
    x = m.cpu.x
    assert x[14] == 0x280  # IRQ, current EL with SP_EL2 (HCR_EL2.IMO routes it to EL2)
    assert x[12] == x[10] + 100  # the first handler instruction sees the compare value exactly
    assert x[13] == symbol(m, "spin")


def test_virtual_timer_fires_against_the_offset_count(run_asm):
    # CNTVOFF_EL2 = -1000: the virtual count runs 1000 ahead of the physical one, so a compare
    # value 1100 above the physical count is reached 100 instructions later
    prefix = "    mov x3, #-1000\n    msr cntvoff_el2, x3\n"
    m = _timer_irq(run_asm, prefix, "cntv_ctl_el0", "cntv_cval_el0", delta=1100)
    assert m.cpu.x[14] == 0x280
    assert m.cpu.x[12] == m.cpu.x[10] + 100


def test_masked_timer_raises_no_interrupt(run_asm):
    m = run_asm(
        el2(
            set_hcr(HCR_IMO)
            + """
    mov x2, #3
    msr cnthp_ctl_el2, x2
    msr daifclr, #2
    mov x9, #1
"""
        )
    )
    assert read_log(m) == [] and m.cpu.x[9] == 1


def test_wfi_skips_ahead_to_the_timer_event(run_asm):
    m = run_asm(
        el2(
            set_hcr(HCR_IMO)
            + """
    mrs x10, cntpct_el0
    ldr x1, =5000000
    add x1, x10, x1
    msr cnthp_cval_el2, x1
    mov x2, #1
    msr cnthp_ctl_el2, x2
    wfi
    mrs x11, cntpct_el0
    msr daifclr, #2
after:
    mov x9, #1
"""
        ),
        max_insns=6_000_000,
    )
    x = m.cpu.x
    assert x[11] == x[10] + 5_000_000  # woke exactly when the timer fired
    (e,) = read_log(m)
    assert (e.offset, e.elr) == (0x280, symbol(m, "after"))
    assert x[9] == 0


def test_wfi_wait_costs_no_instructions_of_max_insns(run_asm):
    # the wait is idle virtual time, not instructions: a wait longer than --max-insns ends at the event
    m = run_asm(
        el2(
            """
    mrs x10, cntpct_el0
    ldr x1, =5000000
    add x1, x10, x1
    msr cnthp_cval_el2, x1
    mov x2, #1
    msr cnthp_ctl_el2, x2
    wfi
    mrs x11, cntpct_el0
"""
        ),
        max_insns=100_000,
    )
    assert m.stop.kind == "exit"
    assert m.cpu.x[11] == m.cpu.x[10] + 5_000_000
    assert m.cpu.icount < 100


def test_el1_physical_timer_interrupt_to_el1(run_asm):
    m = run_asm(
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(0)
        + eret_to("el1", EL1H, daif=0)
        + """
el1:
    mrs x10, cntpct_el0
    add x1, x10, #50
    msr cntp_cval_el0, x1
    mov x2, #1
    msr cntp_ctl_el0, x2
spin:
    b spin
"""
        + vectors(2, "vec2")
        + vectors(1, "vec1"),
        max_insns=10_000,
    )
    (e,) = read_log(m)
    assert m.cpu.el == 1
    assert (e.offset, e.elr) == (0x280, symbol(m, "spin"))


def test_disabling_the_timer_lowers_its_output(run_asm):
    m = run_asm(
        el2(
            """
    mov x2, #1
    msr cntp_ctl_el0, x2
    mrs x10, isr_el1
    msr cntp_ctl_el0, xzr
    mrs x11, isr_el1
"""
        )
    )
    assert (m.cpu.x[10], m.cpu.x[11]) == (0x80, 0)  # pending IRQ (targets EL1), then none


class RecordingController:
    def __init__(self) -> None:
        self.calls: list[tuple[int, bool]] = []

    def set_ppi(self, intid: int, level: bool) -> None:
        self.calls.append((intid, level))


@pytest.mark.parametrize(
    ("ctl", "intid"), [("cntp_ctl_el0", 30), ("cntv_ctl_el0", 27), ("cnthp_ctl_el2", 26), ("cnthv_ctl_el2", 28)]
)
def test_timer_outputs_are_ppis_for_an_interrupt_controller(run_asm, ctl, intid):
    controller = RecordingController()
    m = run_asm(
        el2(f"    mov x2, #1\n    msr {ctl}, x2\n    mrs x10, isr_el1\n    msr {ctl}, xzr\n"),
        setup=lambda m: m.interrupts.attach_controller(controller),
    )
    assert controller.calls == [(intid, True), (intid, False)]
    assert m.cpu.x[10] == 0  # the controller, not the kernel, drives the IRQ line


# ---- access control ---------------------------------------------------------------------------


def lower(body: str, *, mode: int, setup: str = "", hcr: int = 0) -> str:
    return (
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(hcr)
        + setup
        + eret_to("lower", mode)
        + f"lower:\n{body}\n    svc #0x7ff\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1")
    )


def trap_of(m):
    (e,) = read_log(m)
    return m.cpu.el, e.esr


CNTKCTL = "    mov x19, #{:#x}\n    msr cntkctl_el1, x19\n"


@pytest.mark.parametrize(
    ("asm", "enc", "enable"),
    [
        ("mrs x1, cntvct_el0", (3, 3, 14, 0, 2), 0x2),  # EL0VCTEN
        ("mrs x1, cntpct_el0", (3, 3, 14, 0, 1), 0x1),  # EL0PCTEN
        ("mrs x1, cntp_ctl_el0", (3, 3, 14, 2, 1), 0x200),  # EL0PTEN
        ("mrs x1, cntv_cval_el0", (3, 3, 14, 3, 2), 0x100),  # EL0VTEN
        ("mrs x1, cntfrq_el0", (3, 3, 14, 0, 0), 0x2),  # either counter enable
    ],
)
def test_el0_access_needs_cntkctl_enable(run_asm, asm, enc, enable):
    m = run_asm(lower(f"    {asm}", mode=EL0T, setup=CNTKCTL.format(0)))
    assert trap_of(m) == (1, sysreg_esr(*enc, 1, True))
    m = run_asm(lower(f"    {asm}", mode=EL0T, setup=CNTKCTL.format(enable)))
    assert trap_of(m) == (1, 0x560007FF)


def test_cntfrq_is_read_only_at_el0(run_asm):
    m = run_asm(lower("    msr cntfrq_el0, x1", mode=EL0T, setup=CNTKCTL.format(3)))
    assert trap_of(m) == (1, ESR_UNDEF)


@pytest.mark.parametrize(
    ("asm", "enc", "cnthctl"),
    [
        ("mrs x1, cntpct_el0", (3, 3, 14, 0, 1), 0x2),  # EL1PCTEN (bit 0) clear
        ("mrs x1, cntp_ctl_el0", (3, 3, 14, 2, 1), 0x1),  # EL1PCEN (bit 1) clear
    ],
)
def test_el1_physical_access_needs_cnthctl_enable(run_asm, asm, enc, cnthctl):
    setup = f"    mov x19, #{cnthctl:#x}\n    msr cnthctl_el2, x19\n"
    m = run_asm(lower(f"    {asm}", mode=EL1H, setup=setup))
    assert trap_of(m) == (2, sysreg_esr(*enc, 1, True))


def test_el1_virtual_counter_is_not_controlled_by_cnthctl(run_asm):
    m = run_asm(
        lower("    mrs x1, cntvct_el0\n    mrs x2, cntv_ctl_el0", mode=EL1H, setup="    msr cnthctl_el2, xzr\n")
    )
    assert trap_of(m) == (1, 0x560007FF)


@pytest.mark.parametrize(("cnthctl", "trapped"), [(0x3, True), (0xC03, False)])
def test_e2h_layout_uses_el1pcten_bit_10(run_asm, cnthctl, trapped):
    # with E2H = 1 (TGE = 0) EL1PCTEN/EL1PTEN are CNTHCTL_EL2 bits 10/11; the reset value 3 leaves them 0
    setup = f"    mov x19, #{cnthctl:#x}\n    msr cnthctl_el2, x19\n"
    m = run_asm(lower("    mrs x1, cntpct_el0", mode=EL1H, setup=setup, hcr=HCR_E2H))
    expected = (2, sysreg_esr(3, 3, 14, 0, 1, 1, True)) if trapped else (1, 0x560007FF)
    assert trap_of(m) == expected
