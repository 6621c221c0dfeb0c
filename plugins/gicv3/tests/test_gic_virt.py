"""The virtual CPU interface: ICH_* reset values and masks (GIC-12), list registers holding SPIs and
LPIs (GIC-09, GIC-14), the maintenance interrupt (GIC-11), ICH_HCR_EL2 traps (GIC-04) and the ICH_*
registers under FEAT_NV/NV2 (GIC-05)."""

from __future__ import annotations

import pytest

from plugins.gicv3.tests.guest import (
    CPUIF_ON,
    CUR_IRQ,
    HCR_FMO,
    HCR_IMO,
    HCR_NV,
    HCR_NV2,
    HCR_RW,
    LOW_IRQ,
    LOW_SYNC,
    RESULTS,
    UNEXPECTED,
    enter_el1,
    gic_setup,
    results,
    vectors,
)

VIRT = HCR_RW | HCR_IMO | HCR_FMO
EC_SYSREG_TRAP = 0x18


def store(reg: str) -> str:
    return f"    mrs x3, {reg}\n    str x3, [x20], #8\n"


@pytest.mark.parametrize(("cpu", "lr_ones"), [("max", 0xFFF8FFFFFFFFFFFF), ("neoverse-n2", 0xF7F8FFFFFFFFFFFF)])
def test_gic12_ich_reset_values_and_write_masks(run_asm, cpu, lr_ones):
    body = f"    ldr x20, ={RESULTS:#x}\n"
    for name in ("ich_hcr_el2", "ich_vmcr_el2", "ich_elrsr_el2", "ich_eisr_el2", "ich_misr_el2", "ich_vtr_el2"):
        body += store(name)
    body += "    mov x4, #-1\n"
    for name in ("ich_lr0_el2", "ich_ap0r0_el2", "ich_vmcr_el2", "ich_hcr_el2"):
        body += f"    msr {name}, x4\n" + store(name)
    body += "    msr ich_hcr_el2, xzr\n    ldr x4, =0xFF000002\n    msr ich_vmcr_el2, x4\n" + store("ich_vmcr_el2")
    m = run_asm(body, cpu=cpu)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, m.stop
    assert results(m, 11) == [
        0, 0x004C0008, 0xF, 0, 0, 0x90B80003,
        lr_ones, 0xFFFFFFFF, 0xFFFC021B, 0xF8007CFF, 0xFF4C000A,
    ]  # fmt: skip


VIRQ_GUEST = """
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={results:#x}
{setup}
    mov x21, #0
{enter}
el1:
    adr x9, vec1
    msr vbar_el1, x9
    msr daifclr, #3
1:  cmp x21, #{count}
    b.lt 1b
    hvc #0

virq:
    mrs x10, icc_hppir1_el1
    str x10, [x20], #8
    mrs x10, icc_iar1_el1
    str x10, [x20], #8
    mrs x11, icc_rpr_el1
    str x11, [x20], #8
{eoi}
    add x21, x21, #1
    eret

hvc_el2:
{report}
    b _armnv_exit
{extra}
{unexpected}
{vec2}
{vec1}
"""


def virq_guest(setup: str, count: int, report: list[str], eoi: str = "    msr icc_eoir1_el1, x10", extra: str = "",
               el2_handlers: dict[int, str] | None = None) -> str:  # fmt: skip
    return VIRQ_GUEST.format(
        results=RESULTS, setup=setup, enter=enter_el1("el1", VIRT), count=count, eoi=eoi,
        report="".join(store(r) for r in report), extra=extra, unexpected=UNEXPECTED,
        vec2=vectors("vec2", {LOW_SYNC: "hvc_el2", **(el2_handlers or {})}), vec1=vectors("vec1", {CUR_IRQ: "virq"}),
    )  # fmt: skip


def test_gic14_worked_example_spi_and_lpi_in_list_registers(run_asm):
    # gicv3-virt §4: LR0 = pending G1 vINTID 32 prio 0xA0, LR1 = pending G1 LPI 8192 prio 0x80
    setup = f"""
    ldr x4, =0xFF000002
    msr ich_vmcr_el2, x4
    ldr x4, =0x50A0000000000020
    msr ich_lr0_el2, x4
    ldr x4, =0x5080000000002000
    msr ich_lr1_el2, x4
    mov x4, #1
    msr ich_hcr_el2, x4
{store("ich_elrsr_el2")}{store("ich_misr_el2")}"""
    report = ["ich_lr0_el2", "ich_lr1_el2", "ich_elrsr_el2", "ich_eisr_el2", "ich_misr_el2", "ich_ap1r0_el2",
              "ich_vmcr_el2"]  # fmt: skip
    m = run_asm(virq_guest(setup, 2, report))
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    assert results(m, 2) == [0xC, 0]
    # the LPI first (lower priority value), then the SPI: HPPIR, IAR, RPR for each
    assert results(m, 8)[2:] == [8192, 8192, 0x80, 32, 32, 0xA0]
    assert results(m, 15)[8:] == [0x10A0000000000020, 0x1080000000002000, 0xF, 0, 0, 0, 0xFF4C000A]


MAINTENANCE_EL2 = """
maint_el2:
    mrs x12, icc_iar1_el1
    str x12, [x20], #8
    mrs x13, ich_misr_el2
    str x13, [x20], #8
    mrs x13, ich_eisr_el2
    str x13, [x20], #8
    mrs x13, ich_lr0_el2
    str x13, [x20], #8
    msr ich_lr0_el2, xzr
    msr icc_eoir1_el1, x12
    mrs x13, ich_misr_el2
    str x13, [x20], #8
    eret
"""


def test_gic11_injected_virq_acknowledged_at_el1_then_the_eoi_maintenance_interrupt(run_asm):
    # LR0: pending, Group 1, EOI (maintenance on deactivation), priority 0x90, vINTID 40
    setup = f"""
{gic_setup(25, priority=0x20)}
{CPUIF_ON}
    ldr x4, =0xFF000002
    msr ich_vmcr_el2, x4
    ldr x4, =0x5090020000000028
    msr ich_lr0_el2, x4
    mov x4, #1
    msr ich_hcr_el2, x4
"""
    m = run_asm(virq_guest(setup, 1, ["ich_lr0_el2", "ich_hcr_el2"], extra=MAINTENANCE_EL2,
                           el2_handlers={LOW_IRQ: "maint_el2"}))  # fmt: skip
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    hppir, iar, rpr, maint_intid, misr, eisr, lr0, misr_after = results(m, 8)
    assert (hppir, iar, rpr) == (40, 40, 0x90)
    # the EOI deactivated LR0 (State 0, EOI still set): EISR bit 0, MISR.EOI, PPI 25 taken at EL2
    assert (maint_intid, misr, eisr) == (25, 1, 1)
    assert lr0 == 0x1090020000000028
    assert misr_after == 0
    assert results(m, 10)[8:] == [0, 1]


def test_gic09_lpi_eoi_deactivates_even_with_eoimode_1(run_asm):
    # VEOIM = 1: the SPI stays active after EOI until DIR, the LPI is deactivated by its EOI
    setup = """
    ldr x4, =0xFF000202
    msr ich_vmcr_el2, x4
    ldr x4, =0x5090000000002010
    msr ich_lr0_el2, x4
    ldr x4, =0x50A0000000000021
    msr ich_lr1_el2, x4
    mov x4, #1
    msr ich_hcr_el2, x4
"""
    m = run_asm(virq_guest(setup, 2, ["ich_lr0_el2", "ich_lr1_el2", "ich_hcr_el2"]))
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    assert results(m, 6) == [8208, 8208, 0x90, 33, 33, 0xA0]
    assert results(m, 9)[6:] == [0x1090000000002010, 0x90A0000000000021, 1]


def test_gic11_eoicount_counts_unmatched_eois_but_not_lpis(run_asm):
    # the first handler EOIs LPI 9000, which no LR holds: a priority drop and nothing else; the next two
    # EOI INTIDs 135 and 136, which no LR holds: each drops the priority and increments EOIcount, and
    # with LRENPIE the maintenance condition LRENP holds
    eoi = """
    cbnz x21, 2f
    mov x5, #9000
    b 3f
2:  add x5, x10, #100
3:  msr icc_eoir1_el1, x5
"""
    setup = """
    ldr x4, =0xFF000002
    msr ich_vmcr_el2, x4
    ldr x4, =0x5080000000000022
    msr ich_lr0_el2, x4
    ldr x4, =0x5090000000000023
    msr ich_lr2_el2, x4
    ldr x4, =0x50A0000000000024
    msr ich_lr3_el2, x4
    mov x4, #5
    msr ich_hcr_el2, x4
"""
    m = run_asm(virq_guest(setup, 3, ["ich_hcr_el2", "ich_misr_el2", "ich_lr0_el2", "ich_ap1r0_el2"], eoi=eoi))
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    assert results(m, 9)[:3] == [34, 34, 0x80]
    hcr, misr, lr0, ap1r0 = results(m, 13)[9:]
    assert hcr == 2 << 27 | 5
    assert misr == 1 << 2
    assert lr0 == 0x9080000000000022  # still active: its EOI named another INTID
    assert ap1r0 == 0  # every priority was dropped


TRAP_GUEST = """
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={results:#x}
    ldr x4, ={ich_hcr:#x}
    msr ich_hcr_el2, x4
{enter}
el1:
    {insn}
    hvc #0
trap_el2:
    mrs x3, esr_el2
    str x3, [x20], #8
    b _armnv_exit
{unexpected}
{vec2}
"""


def sysreg_iss(op0, op1, crn, crm, op2, rt, is_read):
    return op0 << 20 | op2 << 17 | op1 << 14 | crn << 10 | rt << 5 | crm << 1 | int(is_read)


@pytest.mark.parametrize(
    ("ich_hcr", "hcr", "insn", "enc", "is_read"),
    [
        (1 << 12, VIRT, "mrs x5, icc_iar1_el1", (3, 0, 12, 12, 0), True),  # TALL1
        (1 << 12, HCR_RW, "mrs x5, icc_iar1_el1", (3, 0, 12, 12, 0), True),  # TALL1, physical interface
        (1 << 11, VIRT, "mrs x5, icc_iar0_el1", (3, 0, 12, 8, 0), True),  # TALL0
        (1 << 10, VIRT, "msr icc_pmr_el1, x5", (3, 0, 4, 6, 0), False),  # TC
        (1 << 14, VIRT, "msr icc_dir_el1, x5", (3, 0, 12, 11, 1), False),  # TDIR
        (0, VIRT, "msr icc_sgi1r_el1, x5", (3, 0, 12, 11, 5), False),  # SGIs with IMO/FMO
    ],
    ids=["tall1", "tall1-physical", "tall0", "tc", "tdir", "sgi-imo"],
)
def test_gic04_ich_hcr_traps_el1_accesses_to_el2(run_asm, ich_hcr, hcr, insn, enc, is_read):
    source = TRAP_GUEST.format(
        results=RESULTS, ich_hcr=ich_hcr, enter=enter_el1("el1", hcr), insn=insn, unexpected=UNEXPECTED,
        vec2=vectors("vec2", {LOW_SYNC: "trap_el2"}),
    )  # fmt: skip
    m = run_asm(source)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, m.stop
    esr = results(m, 1)[0]
    assert esr == EC_SYSREG_TRAP << 26 | 1 << 25 | sysreg_iss(*enc, 5, is_read)


def test_gic04_without_trap_bits_el1_reaches_the_virtual_interface(run_asm):
    source = TRAP_GUEST.format(
        results=RESULTS, ich_hcr=0, enter=enter_el1("el1", VIRT), insn="mrs x5, icc_iar1_el1", unexpected=UNEXPECTED,
        vec2=vectors("vec2", {LOW_SYNC: "trap_el2"}),
    )  # fmt: skip
    m = run_asm(source)
    # no trap: the HVC is the first exit, and IAR1 read the (empty) virtual interface
    assert results(m, 1)[0] >> 26 == 0x16
    assert m.cpu.x[5] == 1023


def test_gic05_el1_accesses_to_ich_registers_under_nv_and_nv2(run_asm):
    # NV: MRS ICH_VTR_EL2 traps (EC 0x18); NV2: MSR ICH_LR0_EL2 is a store to VNCR page + 0x400 and
    # MRS ICH_MISR_EL2 (no VNCR slot) still traps
    vncr = 0x4070_0000
    source = f"""
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={RESULTS:#x}
    ldr x4, ={vncr:#x}
    msr vncr_el2, x4
    ldr x6, =0x5080000000000030
{enter_el1("el1", HCR_RW | HCR_NV)}
el1:
    mrs x5, ich_vtr_el2
    hvc #1
el1_nv2:
    msr ich_lr0_el2, x6
    mrs x5, ich_misr_el2
    hvc #0
trap_el2:
    mrs x3, esr_el2
    lsr x7, x3, #26
    cmp x7, #0x16
    b.eq hvc_el2
    str x3, [x20], #8
    mrs x3, elr_el2
    add x3, x3, #4
    msr elr_el2, x3
    eret
hvc_el2:
    and x7, x3, #0xffff
    cbz x7, done
{enter_el1("el1_nv2", HCR_RW | HCR_NV | HCR_NV2)}
done:
{store("ich_lr0_el2")}
    ldr x3, ={vncr + 0x400:#x}
    ldr x3, [x3]
    str x3, [x20], #8
    b _armnv_exit
{UNEXPECTED}
{vectors("vec2", {LOW_SYNC: "trap_el2"})}
"""
    m = run_asm(source)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    vtr, misr, real_lr0, mem_lr0 = results(m, 4)
    assert vtr == EC_SYSREG_TRAP << 26 | 1 << 25 | sysreg_iss(3, 4, 12, 11, 1, 5, True)
    assert misr == EC_SYSREG_TRAP << 26 | 1 << 25 | sysreg_iss(3, 4, 12, 11, 2, 5, True)
    assert real_lr0 == 0
    assert mem_lr0 == 0x5080000000000030
