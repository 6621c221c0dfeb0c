"""Stage 2 (HCR_EL2.VM = 1): configuration (MMU-05), faults, HPFAR_EL2 and S1PTW (MMU-06, syndromes.md §6)."""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import CODE, HCR_RW, HCR_VM, VTCR, addr_of, code_block, el1_regs, run
from plugins.mmu.tests.tables import (
    AF,
    DATA,
    NORMAL,
    S2_NORMAL,
    S2_TABLES,
    S2_XN,
    S2AP_RO,
    S2AP_RW,
    TABLES,
    Tables,
)

S2_EL2 = {"hcr_el2": HCR_RW | HCR_VM, "vtcr_el2": VTCR, "vttbr_el2": S2_TABLES}


def s2_tables(m) -> Tables:
    s2 = Tables(m, S2_TABLES, inputsize=39, start_level=1)
    s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
    return s2


def s2_setup(build):
    def setup(m):
        build(s2_tables(m), m)

    return setup


def access(insn: str, addr: int) -> str:
    return f"    ldr x1, ={addr:#x}\n    mov x9, #1\nfault_here:\n    {insn}\n    mov x9, #2\n"


# ---- MMU-06 with stage 1 off: IPA = VA ---------------------------------------------------------


@pytest.mark.parametrize(
    ("insn", "esr"),
    [
        ("ldr x5, [x1]", 0x93C5_8007),
        ("ldr w5, [x1]", 0x9385_0007),
        ("ldrb w7, [x1]", 0x9307_0007),
        ("str x6, [x1]", 0x93C6_8047),
        ("ldp x5, x6, [x1]", 0x9200_0007),
    ],
)
def test_mmu06_stage2_translation_fault_syndrome_and_hpfar(run_asm, insn, esr):
    def build(s2, m):
        s2.map(DATA, DATA, attrs=S2_NORMAL | S2AP_RW)  # the level-3 table exists; 0x4060_2000 is invalid

    m = run(run_asm, access(insn, 0x4060_2010), s2_setup(build), el=1, el2=S2_EL2)
    sr = m.cpu.sr
    assert sr["ESR_EL2"] == esr
    assert sr["HPFAR_EL2"] == 0x40_6020
    assert sr["FAR_EL2"] == 0x4060_2010
    assert sr["SPSR_EL2"] & 0x3FF == 0x3C5  # the EL1 PSTATE
    assert sr["ELR_EL2"] == addr_of(m, "fault_here")
    assert m.cpu.x[9] == 1


def test_mmu06_stage2_read_only_page_store_is_permission_fault(run_asm):
    def build(s2, m):
        s2.map(DATA, DATA, attrs=S2_NORMAL | S2AP_RO)

    m = run(run_asm, access("str x5, [x1]", DATA), s2_setup(build), el=1, el2=S2_EL2)
    assert m.cpu.sr["ESR_EL2"] == 0x93C5_804F
    assert m.cpu.sr["HPFAR_EL2"] == 0x40_6000


def test_mmu06_stage2_access_flag_fault(run_asm):
    def build(s2, m):
        s2.map(DATA, DATA, attrs=(S2_NORMAL & ~AF) | S2AP_RW)

    m = run(run_asm, access("ldr x5, [x1]", DATA), s2_setup(build), el=1, el2=S2_EL2)
    assert m.cpu.sr["ESR_EL2"] == 0x93C5_800B


def test_mmu06_stage2_invalid_level2_block_is_level2_fault(run_asm):
    m = run(run_asm, access("ldr x5, [x1]", 0x40A0_0040), s2_setup(lambda s2, m: None), el=1, el2=S2_EL2)
    assert m.cpu.sr["ESR_EL2"] == 0x93C5_8006
    assert m.cpu.sr["HPFAR_EL2"] == 0x40_A000


def test_mmu05_stage2_remaps_ipa_and_reads_back_vtcr(run_asm):
    def build(s2, m):
        s2.map(DATA, DATA + 0x7000, attrs=S2_NORMAL | S2AP_RW)
        m.bus.write(DATA + 0x7018, 8, 0x1234)

    body = f"    ldr x1, ={DATA + 0x18:#x}\n    ldr x2, [x1]\n    mov x3, #0x77\n    str x3, [x1, #8]\n"
    m = run(run_asm, body, s2_setup(build), el=1, el2=S2_EL2)
    assert m.cpu.x[2] == 0x1234
    assert m.bus.read(DATA + 0x7020, 8) == 0x77
    assert m.cpu.sr["VTCR_EL2"] == 0x8002_3559


# ---- stage 1 and stage 2 together -----------------------------------------------------------------


def s12_setup(build):
    """Stage-1 tables at IPA = PA TABLES, identity-mapped at stage 2 page by page."""

    def setup(m):
        s2 = s2_tables(m)
        t = Tables(m, TABLES)
        code_block(t)
        build(t, s2, m)
        for page in range(TABLES, t.next, 0x1000):
            if page not in getattr(m, "s2_holes", ()):
                s2.map(page, page, attrs=S2_NORMAL | S2AP_RW)

    return setup


def test_mmu06_stage1_and_stage2_compose(run_asm):
    def build(t, s2, m):
        t.map(0x1000_0000, DATA, attrs=NORMAL)  # VA -> IPA
        s2.map(DATA, DATA + 0x9000, attrs=S2_NORMAL | S2AP_RW)  # IPA -> PA
        m.bus.write(DATA + 0x9010, 8, 0xCAFE)

    body = "    ldr x1, =0x10000010\n    ldr x2, [x1]\n"
    m = run(run_asm, body, s12_setup(build), el=1, el2=S2_EL2, el1=el1_regs(TABLES))
    assert m.cpu.x[2] == 0xCAFE


def test_mmu06_stage2_fault_after_stage1_reports_va_in_far_and_ipa_in_hpfar(run_asm):
    def build(t, s2, m):
        t.map(0x1000_0000, 0x4070_0000, attrs=NORMAL)  # IPA not mapped at stage 2

    body = access("ldr x5, [x1]", 0x1000_0040)
    m = run(run_asm, body, s12_setup(build), el=1, el2=S2_EL2, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL2"] == 0x93C5_8006
    assert m.cpu.sr["FAR_EL2"] == 0x1000_0040
    assert m.cpu.sr["HPFAR_EL2"] == 0x40_7000


@pytest.mark.parametrize(("insn", "esr"), [("ldr x5, [x1]", 0x9200_0087), ("str x5, [x1]", 0x9200_00C7)])
def test_mmu06_stage2_fault_on_stage1_walk_sets_s1ptw(run_asm, insn, esr):
    def build(t, s2, m):
        t.map(DATA, DATA, attrs=NORMAL)
        s2.map(DATA, DATA, attrs=S2_NORMAL | S2AP_RW)
        m.s2_holes = (t.entry(DATA, 3) & ~0xFFF,)  # the stage-1 level-3 table's page

    def setup(m):
        s12_setup(build)(m)
        m.hole = m.s2_holes[0]

    m = run(run_asm, access(insn, DATA + 8), setup, el=1, el2=S2_EL2, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL2"] == esr
    assert m.cpu.sr["FAR_EL2"] == DATA + 8
    assert m.cpu.sr["HPFAR_EL2"] == (m.hole >> 12) << 4
    assert m.cpu.x[9] == 1


def test_mmu06_instruction_fetch_stage2_faults(run_asm):
    target = DATA + 0x3000
    body = f"    ldr x1, ={target:#x}\n    blr x1\n"

    def build(xn):
        def b(s2, m):
            s2.map(DATA, DATA, attrs=S2_NORMAL | S2AP_RW)
            if xn:
                s2.map(target, target, attrs=S2_NORMAL | S2AP_RW | S2_XN)
                m.bus.write(target, 4, 0xD65F03C0)

        return s2_setup(b)

    m = run(run_asm, body, build(False), el=1, el2=S2_EL2)
    assert m.cpu.sr["ESR_EL2"] == 0x8200_0007
    assert m.cpu.sr["HPFAR_EL2"] == (target >> 12) << 4
    assert m.cpu.sr["ELR_EL2"] == m.cpu.sr["FAR_EL2"] == target
    m = run(run_asm, body, build(True), el=1, el2=S2_EL2)
    assert m.cpu.sr["ESR_EL2"] == 0x8200_000F


def test_mmu06_stage2_invalid_vtcr_faults_at_level0(run_asm):
    # SL0 = 2 (level 0) with a 40-bit PA size is not a valid start level for 4 KiB
    el2 = {**S2_EL2, "vtcr_el2": (VTCR & ~(3 << 6)) | 2 << 6}
    m = run(run_asm, access("ldr x5, [x1]", DATA), s2_setup(lambda s2, m: None), el=1, el2=el2)
    assert m.cpu.sr["ESR_EL2"] & 0x3F == 0x04
