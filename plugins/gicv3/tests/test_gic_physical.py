"""The physical GIC: distributor and redistributor values (GIC-13), ICC registers (GIC-02, GIC-12),
SGIs, SPIs and timer PPIs taken at EL1 and EL2 with the IAR/EOIR flow, bad MMIO, gicv3=off."""

from __future__ import annotations

import pytest

from framework.testing import make_machine
from plugins.gicv3.tests.guest import (
    CPUIF_ON,
    CUR_IRQ,
    GICD,
    GICR,
    HCR_IMO,
    HCR_RW,
    LOW_IRQ,
    RESULTS,
    UNEXPECTED,
    SpiSource,
    enter_el1,
    gic_setup,
    results,
    vectors,
)


def test_gic13_distributor_and_redistributor_values(run_asm):
    m = run_asm(f"""
    ldr x1, ={GICD:#x}
    ldr x2, ={GICR:#x}
    ldr x20, ={RESULTS:#x}
    ldr w3, [x1]
    str x3, [x20], #8
    mov w3, #0x12
    str w3, [x1]
    ldr w3, [x1]
    str x3, [x20], #8
    ldr w3, [x1, #4]
    str x3, [x20], #8
    ldr x4, ={GICD + 0xFFE8:#x}
    ldr w3, [x4]
    str x3, [x20], #8
    ldr w3, [x2, #0x14]
    str x3, [x20], #8
    str wzr, [x2, #0x14]
    ldr w3, [x2, #0x14]
    str x3, [x20], #8
    ldr x3, [x2, #8]
    str x3, [x20], #8
    ldr x4, ={GICR + 0xFFE8:#x}
    ldr w3, [x4]
    str x3, [x20], #8
    """)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, m.stop
    assert results(m, 8) == [0x50, 0x52, 0x037A0208, 0x3B, 0x6, 0x0, 0x01000011, 0x3B]


def test_gic13_typer_has_no_nmi_on_neoverse_n2():
    m = make_machine("neoverse-n2")
    assert m.bus.read(GICD + 4, 4) == 0x037A0008


def test_gic13_bad_mmio_is_raz_wi(run_asm):
    # a halfword access to a word register, a reserved offset, a byte write to GICD_CTLR
    m = run_asm(f"""
    ldr x1, ={GICD:#x}
    ldr x20, ={RESULTS:#x}
    ldrh w3, [x1]
    str x3, [x20], #8
    mov w3, #0xffff
    str w3, [x1, #0x40]
    ldr w3, [x1, #0x40]
    str x3, [x20], #8
    mov w3, #3
    strb w3, [x1]
    ldr w3, [x1]
    str x3, [x20], #8
    """)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, m.stop
    assert results(m, 3) == [0, 0, 0x50]


def test_gic12_icc_reset_values_and_write_masks(run_asm):
    m = run_asm(f"""
    ldr x20, ={RESULTS:#x}
    mrs x3, icc_sre_el2
    str x3, [x20], #8
    mrs x3, icc_sre_el1
    str x3, [x20], #8
    mrs x3, icc_ctlr_el1
    str x3, [x20], #8
    mrs x3, icc_pmr_el1
    str x3, [x20], #8
    mov x3, #0xf0
    msr icc_pmr_el1, x3
    mrs x3, icc_pmr_el1
    str x3, [x20], #8
    mov x3, #0xff
    msr icc_pmr_el1, x3
    mrs x3, icc_pmr_el1
    str x3, [x20], #8
    mrs x3, icc_bpr0_el1
    str x3, [x20], #8
    mrs x3, icc_bpr1_el1
    str x3, [x20], #8
    mrs x3, icc_rpr_el1
    str x3, [x20], #8
    mrs x3, icc_igrpen1_el1
    str x3, [x20], #8
    msr icc_bpr0_el1, xzr
    mrs x3, icc_bpr0_el1
    str x3, [x20], #8
    mrs x3, icc_iar1_el1
    str x3, [x20], #8
    """)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, m.stop
    assert results(m, 12) == [0xF, 0x7, 0x8C00, 0, 0xF0, 0xF8, 2, 3, 0xFF, 0, 2, 1023]


def test_gic13_sgi_to_self_taken_at_el2(run_asm):
    # gicv3-virt §3.8: SGI 5 sent with ICC_SGI1R_EL1 (TargetList bit 0), taken at EL2 with IMO = 1
    m = run_asm(f"""
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={RESULTS:#x}
    {gic_setup(5, priority=0x40)}
    {CPUIF_ON}
    ldr x2, ={HCR_RW | HCR_IMO:#x}
    msr hcr_el2, x2
    mov x21, #0
    ldr x2, =(5 << 24) | 1
    msr icc_sgi1r_el1, x2
    isb
    msr daifclr, #2
1:  cbz x21, 1b
    mrs x3, icc_rpr_el1
    str x3, [x20], #8
    b _armnv_exit

irq_el2:
    mrs x10, icc_iar1_el1
    str x10, [x20], #8
    mrs x11, icc_rpr_el1
    str x11, [x20], #8
    mrs x11, icc_iar1_el1
    str x11, [x20], #8
    msr icc_eoir1_el1, x10
    mov x21, #1
    eret
{UNEXPECTED}
{vectors("vec2", {CUR_IRQ: "irq_el2"})}
""")
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    # INTID, running priority 0x40 while active, nothing else pending, 0xFF after EOI
    assert results(m, 4) == [5, 0x40, 1023, 0xFF]


SPI_GUEST = """
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={results:#x}
    {setup}
    {cpuif}
    mov x21, #0
    {enter}
el1:
    adr x9, vec1
    msr vbar_el1, x9
    msr daifclr, #2
1:  cbz x21, 1b
    mrs x3, icc_rpr_el1
    str x3, [x20], #8
    hvc #0

el2_wait:
    ldr x2, ={hcr_imo:#x}
    msr hcr_el2, x2
    msr daifclr, #2
1:  cbz x21, 1b
    mrs x3, icc_rpr_el1
    str x3, [x20], #8
    b _armnv_exit

irq:
    mrs x10, icc_iar1_el1
    str x10, [x20], #8
    mrs x11, cntpct_el0
    str x11, [x20], #8
    msr icc_eoir1_el1, x10
    mov x21, #1
    eret
hvc_el2:
    b _armnv_exit
{unexpected}
{vec2}
{vec1}
"""


def spi_guest(at_el1: bool, intid: int = 40) -> str:
    enter = enter_el1("el1", HCR_RW) if at_el1 else "b el2_wait"
    return SPI_GUEST.format(
        results=RESULTS, setup=gic_setup(intid, edge=True), cpuif=CPUIF_ON, enter=enter, hcr_imo=HCR_RW | HCR_IMO,
        unexpected=UNEXPECTED, vec2=vectors("vec2", {CUR_IRQ: "irq", 0x400: "hvc_el2"}),
        vec1=vectors("vec1", {CUR_IRQ: "irq"}),
    )  # fmt: skip


@pytest.mark.parametrize("at_el1", [False, True], ids=["el2", "el1"])
def test_gic13_spi_from_a_device_taken_with_iar_and_eoir(run_asm, at_el1):
    at = 2000
    m = run_asm(spi_guest(at_el1), setup=lambda m: SpiSource(m, 40, at))
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    intid, count, rpr = results(m, 3)
    assert intid == 40
    assert rpr == 0xFF  # no interrupt active after the EOI
    assert count >= at  # taken once the device raised it (max: one count per instruction)


def test_gic13_spi_taken_at_the_same_instruction_in_both_engine_modes(asm):
    from framework.testing import run_program

    counts = set()
    for single in (False, True, False):
        m = run_program(spi_guest(False), one_insn_per_block=single, setup=lambda m: SpiSource(m, 40, 1234))
        assert m.stop.kind == "exit", m.stop
        counts.add((results(m, 2)[1], m.cpu.icount))
    assert len(counts) == 1


TIMER_GUEST = """
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={results:#x}
    {setup}
    {cpuif}
    mov x21, #0
    {enter}
el1:
    adr x9, vec1
    msr vbar_el1, x9
    mov x2, #500
    msr cntv_tval_el0, x2
    mov x2, #1
    msr cntv_ctl_el0, x2
    msr daifclr, #2
1:  cbz x21, 1b
    hvc #0

el2_timer:
    ldr x2, ={hcr_imo:#x}
    msr hcr_el2, x2
    mov x2, #500
    msr cnthp_tval_el2, x2
    mov x2, #1
    msr cnthp_ctl_el2, x2
    msr daifclr, #2
1:  cbz x21, 1b
    b _armnv_exit

irq:
    mrs x10, icc_iar1_el1
    str x10, [x20], #8
    mov x11, #0
    msr {ctl}, x11
    msr icc_eoir1_el1, x10
    mov x21, #1
    eret
hvc_el2:
    b _armnv_exit
{unexpected}
{vec2}
{vec1}
"""


@pytest.mark.parametrize(("at_el1", "intid"), [(False, 26), (True, 27)], ids=["el2-cnthp", "el1-cntv"])
def test_gic13_timer_ppi_through_the_redistributor(run_asm, at_el1, intid):
    source = TIMER_GUEST.format(
        results=RESULTS, setup=gic_setup(intid), cpuif=CPUIF_ON, hcr_imo=HCR_RW | HCR_IMO,
        enter=enter_el1("el1", HCR_RW) if at_el1 else "b el2_timer",
        ctl="cntv_ctl_el0" if at_el1 else "cnthp_ctl_el2", unexpected=UNEXPECTED,
        vec2=vectors("vec2", {CUR_IRQ: "irq", 0x400: "hvc_el2"}), vec1=vectors("vec1", {CUR_IRQ: "irq"}),
    )  # fmt: skip
    m = run_asm(source)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    assert results(m, 1) == [intid]


def test_gic13_disabled_ppi_is_not_taken(run_asm):
    # the timer fires but PPI 26 was never enabled in GICR_ISENABLER0: the guest runs out of time
    source = TIMER_GUEST.format(
        results=RESULTS, setup=gic_setup(27), cpuif=CPUIF_ON, hcr_imo=HCR_RW | HCR_IMO, enter="b el2_timer",
        ctl="cnthp_ctl_el2", unexpected=UNEXPECTED, vec2=vectors("vec2", {CUR_IRQ: "irq", LOW_IRQ: "irq"}),
        vec1=vectors("vec1", {}),
    )  # fmt: skip
    m = run_asm(source, max_insns=20_000)
    assert m.stop.kind == "max-insns"


def test_gicv3_off_leaves_the_board_without_a_gic(run_asm):
    m = run_asm(
        f"""
    adr x9, vec2
    msr vbar_el2, x9
    mrs x3, id_aa64pfr0_el1
    ubfx x3, x3, #24, #4
    ldr x20, ={RESULTS:#x}
    str x3, [x20], #8
    mrs x3, icc_pmr_el1
    b _armnv_exit
undef:
    mrs x3, esr_el2
    str x3, [x20], #8
    b _armnv_exit
{UNEXPECTED}
{vectors("vec2", {0x200: "undef"})}
""",
        cpu="max,gicv3=off",
    )
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, m.stop
    assert results(m, 2) == [0, 0x2000000]  # GIC field 0; MRS ICC_PMR_EL1 is UNDEFINED (EC 0)
    assert "gic" not in m.devices
    assert m.bus.find_device(GICD) is None
