"""More flows: ICC to ICV redirection by group (GIC-03), EOImode 1 with ICC_DIR_EL1 (GIC-02), a list
register tied to a physical interrupt (HW = 1, GIC-09), and an interrupt made pending through the
distributor taken at the same instruction in both engine modes."""

from __future__ import annotations

from framework.testing import run_program
from plugins.gicv3.tests.guest import (
    CPUIF_ON,
    CUR_IRQ,
    GICD,
    HCR_IMO,
    HCR_RW,
    LOW_SYNC,
    RESULTS,
    SGI_BASE,
    UNEXPECTED,
    enter_el1,
    gic_setup,
    results,
    vectors,
)


def store(reg: str) -> str:
    return f"    mrs x3, {reg}\n    str x3, [x20], #8\n"


def test_gic03_imo_alone_redirects_group1_and_common_registers_not_group0(run_asm):
    # VMCR: VPMR 0x70, VENG1, VBPR0 4; physical PMR 0xF0, BPR0 2: EL1 with IMO = 1 and FMO = 0
    source = f"""
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={RESULTS:#x}
    ldr x4, =0x70800002
    msr ich_vmcr_el2, x4
    mov x4, #0xf0
    msr icc_pmr_el1, x4
{enter_el1("el1", HCR_RW | HCR_IMO)}
el1:
{store("icc_pmr_el1")}{store("icc_igrpen1_el1")}{store("icc_bpr0_el1")}{store("icc_igrpen0_el1")}
    hvc #0
hvc_el2:
    b _armnv_exit
{UNEXPECTED}
{vectors("vec2", {LOW_SYNC: "hvc_el2"})}
"""
    m = run_asm(source)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    # PMR (common) and IGRPEN1 from VMCR; BPR0 and IGRPEN0 (group 0, FMO = 0) physical
    assert results(m, 4) == [0x70, 1, 2, 0]


def test_gic02_eoimode1_drops_priority_and_dir_deactivates(run_asm):
    source = f"""
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={RESULTS:#x}
{gic_setup(3, priority=0x60)}
{CPUIF_ON}
    mov x4, #2
    msr icc_ctlr_el1, x4
    ldr x4, =(3 << 24) | 1
    msr icc_sgi1r_el1, x4
    isb
    mrs x10, icc_iar1_el1
    str x10, [x20], #8
    msr icc_eoir1_el1, x10
{store("icc_rpr_el1")}
    ldr x5, ={SGI_BASE:#x}
    ldr w3, [x5, #0x300]
    str x3, [x20], #8
    msr icc_dir_el1, x10
    ldr w3, [x5, #0x300]
    str x3, [x20], #8
    b _armnv_exit
{UNEXPECTED}
{vectors("vec2", {})}
"""
    m = run_asm(source)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    # INTID 3; running priority back to idle after the EOI; still active (ISACTIVER0 bit 3) until DIR
    assert results(m, 4) == [3, 0xFF, 1 << 3, 0]


def test_gic09_hw_list_register_deactivates_the_physical_interrupt(run_asm):
    # EL2 takes SGI 7 with EOImode 1, drops its priority, and hands it to EL1 in LR0 with HW = 1,
    # pINTID 7; the guest's virtual EOI deactivates SGI 7 on the physical interface
    source = f"""
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={RESULTS:#x}
{gic_setup(7, priority=0x60)}
{CPUIF_ON}
    mov x4, #2
    msr icc_ctlr_el1, x4
    ldr x4, =(7 << 24) | 1
    msr icc_sgi1r_el1, x4
    isb
    mrs x10, icc_iar1_el1
    msr icc_eoir1_el1, x10
    ldr x4, =0xFF000002
    msr ich_vmcr_el2, x4
    ldr x4, =0x70A0000700000027
    msr ich_lr0_el2, x4
    mov x4, #1
    msr ich_hcr_el2, x4
    mov x21, #0
{enter_el1("el1", HCR_RW | HCR_IMO)}
el1:
    adr x9, vec1
    msr vbar_el1, x9
    msr daifclr, #2
1:  cbz x21, 1b
    hvc #0
virq:
    mrs x10, icc_iar1_el1
    str x10, [x20], #8
    msr icc_eoir1_el1, x10
    mov x21, #1
    eret
hvc_el2:
    ldr x5, ={SGI_BASE:#x}
    ldr w3, [x5, #0x300]
    str x3, [x20], #8
{store("ich_lr0_el2")}{store("ich_eisr_el2")}
    b _armnv_exit
{UNEXPECTED}
{vectors("vec2", {LOW_SYNC: "hvc_el2"})}
{vectors("vec1", {CUR_IRQ: "virq"})}
"""
    m = run_asm(source)
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, (m.stop, hex(m.cpu.x[26]))
    vintid, active, lr0, eisr = results(m, 4)
    assert vintid == 39
    assert active == 0  # SGI 7 deactivated through the list register
    assert lr0 == 0x30A0000700000027
    assert eisr == 0  # HW = 1: no EOI maintenance request


ISPENDR_GUEST = f"""
    adr x9, vec2
    msr vbar_el2, x9
    ldr x20, ={RESULTS:#x}
{gic_setup(50)}
{CPUIF_ON}
    ldr x2, ={HCR_RW | HCR_IMO:#x}
    msr hcr_el2, x2
    mov x21, #0
    msr daifclr, #2
    ldr x1, ={GICD:#x}
    ldr w2, =(1 << 18)
    str w2, [x1, #0x204]
    add x6, x6, #1
    add x6, x6, #1
    add x6, x6, #1
    msr daifset, #2
    msr daifclr, #2
    add x6, x6, #1
1:  cbz x21, 1b
    b _armnv_exit
irq:
    mrs x10, icc_iar1_el1
    str x10, [x20], #8
    mrs x11, elr_el2
    str x11, [x20], #8
    msr icc_eoir1_el1, x10
    mov x21, #1
    eret
{UNEXPECTED}
{vectors("vec2", {CUR_IRQ: "irq"})}
"""


def test_gic13_ispendr_write_is_taken_at_the_same_instruction_in_both_engine_modes(asm):
    seen = set()
    for single in (False, True):
        m = run_program(ISPENDR_GUEST, one_insn_per_block=single)
        assert m.stop.kind == "exit" and m.stop.exit_code == 0, m.stop
        intid, elr = results(m, 2)
        assert intid == 50
        seen.add((elr, m.cpu.x[6], m.cpu.icount))
    assert len(seen) == 1
