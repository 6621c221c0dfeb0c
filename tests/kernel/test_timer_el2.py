"""The four timers of a PE with EL2 and their offsets (Arm ARM D12 "The Generic Timer", D24.10).

The EL1 physical timer (CNTP_*) and the EL2 physical timer (CNTHP_*) compare CVAL with the
physical count, the EL1 virtual timer (CNTV_*) with the physical count minus CNTVOFF_EL2, the EL2
virtual timer (CNTHV_*) with the physical count (it has no offset). The timer condition is met
when count - CVAL >= 0 (unsigned), and while ENABLE = 1 it sets ISTATUS whatever IMASK says; the
interrupt is asserted while ENABLE = 1, ISTATUS = 1 and IMASK = 0. TVAL is the signed 32-bit view
CVAL - count, where the count is the timer's own one. CNTVCT_EL0 reads the physical count minus
CNTVOFF_EL2, except at EL2 with E2H = 1 and at a host EL0 ({E2H,TGE} = {1,1}), where the offset
is 0. TVAL reads are only defined while ENABLE = 1, so every read here has the timer enabled
(with IMASK set where no interrupt is wanted).

One instruction is one tick of the 1 GHz counter on `max`: the count an MRS reads is the
instruction count at that MRS.
"""

from __future__ import annotations

import pytest

from .conftest import (
    EL0T,
    EL1H,
    HCR_E2H,
    HCR_IMO,
    HCR_TGE,
    eret_to,
    install,
    read_log,
    set_hcr,
    symbol,
    vectors,
)

M64 = (1 << 64) - 1
OFFSET = 0x10000  # CNTVOFF_EL2 used below: the virtual count runs 0x10000 behind
ISTATUS, ENABLE, IMASK = 4, 1, 2


@pytest.fixture
def run_asm(run_asm):
    """The timers alone: without a GIC (gicv3=off) their interrupt outputs drive the IRQ line."""

    def run(source, *, cpu="max", **kw):
        return run_asm(source, cpu=f"{cpu},gicv3=off", **kw)

    return run


def el2(body: str) -> str:
    return install(2, "vec2") + body + "\n    b _armnv_exit\n" + vectors(2, "vec2")


# name prefix at EL2 with E2H = 0, and whether its count is offset by CNTVOFF_EL2
TIMERS = {"cntp": ("cntp", "el0", False), "cntv": ("cntv", "el0", True), "cnthp": ("cnthp", "el2", False),
          "cnthv": ("cnthv", "el2", False)}  # fmt: skip


def regs(timer: str) -> tuple[str, str, str, bool]:
    name, suffix, offset = TIMERS[timer]
    return f"{name}_ctl_{suffix}", f"{name}_cval_{suffix}", f"{name}_tval_{suffix}", offset


@pytest.mark.parametrize("timer", TIMERS)
def test_istatus_set_exactly_when_the_count_reaches_cval(run_asm, timer):
    ctl, cval, _, offset = regs(timer)
    m = run_asm(
        el2(
            f"""
    ldr x5, ={OFFSET:#x}
    msr cntvoff_el2, x5
    {"mov x6, x5" if offset else "mov x6, xzr"}
    mov x3, #(ENABLE_IMASK)
    msr {ctl}, x3
    mrs x10, cntpct_el0
    add x1, x10, #5
    sub x1, x1, x6
    msr {cval}, x1
    mrs x11, {ctl}
    mrs x12, {ctl}
""".replace("ENABLE_IMASK", str(ENABLE | IMASK))
        )
    )
    x = m.cpu.x
    # the reads run at counts x10 + 4 and x10 + 5; the compare value is x10 + 5 in the timer's count
    assert (x[11], x[12]) == (ENABLE | IMASK, ISTATUS | ENABLE | IMASK)


@pytest.mark.parametrize("timer", TIMERS)
def test_interrupt_asserted_exactly_when_the_count_reaches_cval(run_asm, timer):
    # no interrupt controller: the timer outputs drive the IRQ line, seen in ISR_EL1 (DAIF masked)
    ctl, cval, _, offset = regs(timer)
    m = run_asm(
        el2(
            f"""
    ldr x5, ={OFFSET:#x}
    msr cntvoff_el2, x5
    {"mov x6, x5" if offset else "mov x6, xzr"}
    mov x3, #{ENABLE}
    msr {ctl}, x3
    mrs x10, cntpct_el0
    add x1, x10, #5
    sub x1, x1, x6
    msr {cval}, x1
    mrs x11, isr_el1
    mrs x12, isr_el1
"""
        )
    )
    assert (m.cpu.x[11], m.cpu.x[12]) == (0, 0x80)


@pytest.mark.parametrize("timer", TIMERS)
def test_output_follows_enable_imask_and_the_compare_value(run_asm, timer):
    ctl, cval, tval, _ = regs(timer)
    m = run_asm(
        el2(
            f"""
    msr cntvoff_el2, xzr
    msr {cval}, xzr
    mov x2, #{ENABLE}
    msr {ctl}, x2
    mrs x10, isr_el1
    mov x2, #{ENABLE | IMASK}
    msr {ctl}, x2
    mrs x11, isr_el1
    mrs x12, {ctl}
    mov x2, #{ENABLE}
    msr {ctl}, x2
    mrs x13, isr_el1
    mov x1, #-1
    msr {cval}, x1
    mrs x14, isr_el1
    mrs x15, {ctl}
    msr {tval}, x1
    mrs x16, isr_el1
    msr {ctl}, xzr
    mrs x17, isr_el1
"""
        )
    )
    x = m.cpu.x
    assert x[10] == 0x80  # enabled, condition met, not masked: asserted
    assert (x[11], x[12]) == (0, ISTATUS | IMASK | ENABLE)  # IMASK lowers the output, not ISTATUS
    assert x[13] == 0x80
    assert (x[14], x[15]) == (0, ENABLE)  # CVAL = 2^64 - 1: not met (unsigned compare)
    assert x[16] == 0x80  # TVAL = -1: CVAL one tick in the past
    assert x[17] == 0  # disabled


@pytest.mark.parametrize("timer", TIMERS)
def test_ctl_enable_and_imask_read_back_as_written(run_asm, timer):
    # ISTATUS (bit 2) is UNKNOWN while ENABLE = 0, so only bits [1:0] are compared
    ctl, cval, _, _ = regs(timer)
    body = f"    ldr x1, =0xFFFFFFFFFFFF\n    msr {cval}, x1\n"
    for value, reg in ((0, 10), (1, 11), (2, 12), (3, 13)):
        body += f"    mov x2, #{value}\n    msr {ctl}, x2\n    mrs x{reg}, {ctl}\n"
    m = run_asm(el2(body))
    x = m.cpu.x
    assert [x[r] & ~ISTATUS for r in (10, 11, 12, 13)] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("body_hcr", "tval", "cval", "offset"),
    [
        (0, "cntv_tval_el0", "cntv_cval_el0", True),  # EL1 virtual timer, E2H = 0 at EL2
        (0, "cnthv_tval_el2", "cnthv_cval_el2", False),  # EL2 virtual timer: no offset
        (0, "cntp_tval_el0", "cntp_cval_el0", False),
        (0, "cnthp_tval_el2", "cnthp_cval_el2", False),
        (HCR_E2H, "cntv_tval_el02", "cntv_cval_el02", True),  # the EL1 virtual timer from a VHE EL2
        (HCR_E2H, "cntv_tval_el0", "cnthv_cval_el2", False),  # NV-13: the EL2 virtual timer
        (HCR_E2H, "cntp_tval_el02", "cntp_cval_el02", False),
        (HCR_E2H, "cntp_tval_el0", "cnthp_cval_el2", False),
    ],
)
def test_tval_is_relative_to_the_timers_own_count(run_asm, body_hcr, tval, cval, offset):
    ctl = tval.replace("tval", "ctl")
    m = run_asm(
        el2(
            f"""
    ldr x5, ={OFFSET:#x}
    msr cntvoff_el2, x5
"""
            + set_hcr(body_hcr)
            + f"""
    mov x3, #{ENABLE | IMASK}
    msr {ctl}, x3
    mov x1, #1000
    mrs x10, cntpct_el0
    msr {tval}, x1
    mrs x11, {cval}
    mrs x12, {tval}
"""
        )
    )
    x = m.cpu.x
    off = OFFSET if offset else 0
    assert x[11] == (x[10] + 1 + 1000 - off) & M64  # written one tick after the counter read
    assert x[12] == 1000 - 2  # read two ticks after the write


def test_nv13_tval_through_el2_names_leaves_the_el1_timers_alone(run_asm):
    m = run_asm(
        el2(
            set_hcr(HCR_E2H)
            + """
    mov x1, #1000
    msr cntv_tval_el0, x1
    msr cntp_tval_el0, x1
    mrs x10, cntv_cval_el02
    mrs x11, cntp_cval_el02
"""
        )
    )
    assert (m.cpu.x[10], m.cpu.x[11]) == (0, 0)


# ---- CNTVCT_EL0 and CNTVOFF_EL2 per configuration ------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "hcr", "offset"),
    [
        (EL1H, 0, True),
        (EL1H, HCR_E2H, True),  # E2H alone does not remove the offset at EL1
        (EL0T, 0, True),
        (EL0T, HCR_E2H, True),  # a guest EL0 under a VHE host
        (EL0T, HCR_TGE, True),  # TGE alone: EL0 is still not a host EL0
        (EL0T, HCR_E2H | HCR_TGE, False),  # host EL0: the offset is 0
    ],
    ids=["el1", "el1-e2h", "el0", "el0-e2h", "el0-tge", "el0-host"],
)
def test_cntvct_offset_by_cntvoff_except_in_a_host(run_asm, mode, hcr, offset):
    m = run_asm(
        install(2, "vec2")
        + install(1, "vec1")
        + f"""
    ldr x5, ={OFFSET:#x}
    msr cntvoff_el2, x5
    mov x5, #3
    msr cntkctl_el1, x5
    mov x5, #0xC03
    msr cnthctl_el2, x5
"""
        + set_hcr(hcr)
        + eret_to("lower", mode)
        + "lower:\n    mrs x10, cntpct_el0\n    mrs x11, cntvct_el0\n    svc #0\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1")
    )
    (e,) = read_log(m)
    assert e.esr == 0x56000000  # both reads completed
    x = m.cpu.x
    assert (x[11] - x[10]) & M64 == (1 - (OFFSET if offset else 0)) & M64


# ---- interrupts at the compare value -------------------------------------------------------------

# every entry reads the counter and the timer's CTL, then stops with ELR in x13 and the offset in x14
TIMESTAMP_VECTORS = """
    .balign 2048
tvec:
    .rept 16
    mrs x12, cntpct_el0
    mrs x15, {ctl}
    mrs x13, elr_el2
    mov x14, #(. - tvec - 12)
    b _armnv_exit
    .balign 128
    .endr
"""


def timer_irq(run_asm, ctl: str, cval: str, *, delta: int, hcr: int = 0, prefix: str = "", cpu: str = "max"):
    return run_asm(
        "    adr x19, tvec\n    msr vbar_el2, x19\n"
        + f"    ldr x5, ={OFFSET:#x}\n    msr cntvoff_el2, x5\n"
        + set_hcr(HCR_IMO | hcr)
        + prefix
        + f"""
    ldr x7, ={delta & M64:#x}
    mrs x10, cntpct_el0
    add x1, x10, x7
    msr {cval}, x1
    mov x2, #1
    msr {ctl}, x2
    msr daifclr, #2
spin:
    b spin
"""
        + TIMESTAMP_VECTORS.format(ctl=ctl),
        max_insns=100_000,
        cpu=cpu,
    )


@pytest.mark.parametrize(
    ("hcr", "ctl", "cval"),
    [
        (0, "cnthv_ctl_el2", "cnthv_cval_el2"),
        (HCR_E2H, "cntv_ctl_el0", "cntv_cval_el0"),  # NV-13: the EL2 virtual timer
        (HCR_E2H, "cntp_ctl_el0", "cntp_cval_el0"),  # NV-13: the EL2 physical timer
    ],
)
def test_el2_timers_fire_against_the_physical_count(run_asm, hcr, ctl, cval):
    m = timer_irq(run_asm, ctl, cval, delta=100, hcr=hcr)
    x = m.cpu.x
    assert x[14] == 0x280  # IRQ at EL2 with SP_EL2 (HCR_EL2.IMO)
    assert x[12] == x[10] + 100
    assert x[15] & ISTATUS
    assert x[13] == symbol(m, "spin")


def test_el1_virtual_timer_from_a_vhe_el2_fires_against_the_offset_count(run_asm):
    # CNTVOFF_EL2 = 0x10000: a compare value 0x10000 + 100 below the physical count is met 100 later
    m = timer_irq(run_asm, "cntv_ctl_el02", "cntv_cval_el02", delta=100 - OFFSET, hcr=HCR_E2H)
    x = m.cpu.x
    assert x[14] == 0x280
    assert x[12] == x[10] + 100
    assert x[15] & ISTATUS


@pytest.mark.parametrize("cpu", ["neoverse-n2", "neoverse-v1"])
def test_interrupt_at_the_compare_value_at_62_5_mhz(run_asm, cpu):
    # 16 instructions per tick: the interrupt must not come before the count reaches CVAL (the
    # handler would read CVAL - 1), and armnv takes it at the first instruction that sees CVAL
    m = timer_irq(run_asm, "cnthp_ctl_el2", "cnthp_cval_el2", delta=10, cpu=cpu)
    x = m.cpu.x
    assert x[14] == 0x280
    assert x[15] & ISTATUS
    assert x[12] == x[10] + 10


def test_writing_cntvoff_moves_the_virtual_timer_at_once(run_asm):
    # the EL1 virtual timer compares CVAL with physical count - CNTVOFF_EL2: a new offset can meet
    # (or un-meet) the condition without any timer register being written
    m = run_asm(
        el2(
            """
    msr cntvoff_el2, xzr
    mrs x10, cntpct_el0
    add x1, x10, #1000
    msr cntv_cval_el0, x1
    mov x2, #1
    msr cntv_ctl_el0, x2
    mrs x11, isr_el1
    mov x3, #-2000
    msr cntvoff_el2, x3
    mrs x12, isr_el1
    msr cntvoff_el2, xzr
    mrs x13, isr_el1
"""
        )
    )
    assert (m.cpu.x[11], m.cpu.x[12], m.cpu.x[13]) == (0, 0x80, 0)


def test_virtual_timer_interrupt_after_a_cntvoff_write(run_asm):
    # CVAL 1000 ahead; CNTVOFF_EL2 = -950 then leaves 50 ticks to go, counted from that write
    prefix = "    msr cntvoff_el2, xzr\n"
    body = """
    mrs x10, cntpct_el0
    add x1, x10, #1000
    msr cntv_cval_el0, x1
    mov x2, #1
    msr cntv_ctl_el0, x2
    mov x3, #-950
    msr cntvoff_el2, x3
    msr daifclr, #2
spin:
    b spin
"""
    m = run_asm(
        "    adr x19, tvec\n    msr vbar_el2, x19\n"
        + set_hcr(HCR_IMO)
        + prefix
        + body
        + TIMESTAMP_VECTORS.format(ctl="cntv_ctl_el0"),
        max_insns=100_000,
    )
    x = m.cpu.x
    assert x[14] == 0x280
    assert x[12] == x[10] + 50
    assert x[15] & ISTATUS
