"""AT instructions and PAR_EL1 (MMU-07, MMU-08, syndromes.md §6 for the walk that faults at stage 2)."""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import CODE, HCR_RW, HCR_VM, VTCR, code_block, el1_regs, el2_regs, run
from plugins.mmu.tests.tables import (
    AF,
    AP_RO_EL1,
    DATA,
    NORMAL,
    NORMAL_NC,
    S2_NORMAL,
    S2_TABLES,
    S2AP_RW,
    TABLES,
    Tables,
)

EL1 = {"hcr_el2": HCR_RW}
S2_EL2 = {"hcr_el2": HCR_RW | HCR_VM, "vtcr_el2": VTCR, "vttbr_el2": S2_TABLES}
MARK = 0x1234_5000  # a PAR_EL1 value no AT produces here


def at(op: str, va: int) -> str:
    return f"    ldr x0, ={MARK:#x}\n    msr par_el1, x0\n    ldr x1, ={va:#x}\n    at {op}, x1\n    mrs x2, par_el1\n"


def s1(build):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        t.map(DATA, DATA, attrs=NORMAL)
        build(t, m)

    return setup


def par_at_el1(run_asm, op, va, build=lambda t, m: None, **kw):
    m = run(run_asm, at(op, va), s1(build), el=1, el2=kw.pop("el2", EL1), el1=el1_regs(TABLES), **kw)
    return m.cpu.x[2]


def test_mmu07_success_normal_wb_inner_shareable(run_asm):
    assert par_at_el1(run_asm, "s1e1r", DATA + 0x123) == 0xFF00_0000_4060_0B80


def test_mmu07_success_normal_non_cacheable_reports_outer_shareable(run_asm):
    def build(t, m):
        t.map(0x4060_8000, 0x4060_8000, attrs=NORMAL_NC)

    assert par_at_el1(run_asm, "s1e1r", 0x4060_8000, build) == 0x4400_0000_4060_8B00


def test_mmu07_stage1_off_reports_device_ngnrne(run_asm):
    m = run(run_asm, at("s1e1r", 0x4060_2000), lambda m: None, el=1, el2=EL1)
    assert m.cpu.x[2] == 0x0000_0000_4060_2B00


@pytest.mark.parametrize(
    ("op", "va", "attrs", "par"),
    [
        ("s1e1w", DATA + 0x1000, NORMAL | AP_RO_EL1, 0x81F),  # write to a read-only page
        ("s1e0r", DATA + 0x1000, NORMAL, 0x81F),  # EL0 read of an EL1-only page
        ("s1e1r", DATA + 0x1000, None, 0x80F),  # translation fault, level 3
        ("s1e1r", DATA + 0x20_0000, None, 0x80D),  # level 2
        ("s1e1r", 0x0100_0000, None, 0x80B),  # level 1
    ],
)
def test_mmu07_failures_report_fst_in_par(run_asm, op, va, attrs, par):
    def build(t, m):
        if attrs is not None:
            t.map(va, va, attrs=attrs)

    assert par_at_el1(run_asm, op, va, build) == par


def test_mmu08_access_flag_clear_succeeds_in_at_but_faults_a_load(run_asm):
    def build(t, m):
        t.map(0x4060_6000, 0x4060_6000, attrs=NORMAL & ~AF)

    body = at("s1e1r", 0x4060_6000) + "    ldr x3, [x1]\n"
    m = run(run_asm, body, s1(build), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.x[2] == 0xFF00_0000_4060_6B80
    assert m.cpu.sr["ESR_EL1"] == 0x9600_000B


def test_mmu08_s1e0w_and_s1e1w_succeed_on_writable_pages(run_asm):
    def build(t, m):
        t.map(DATA + 0x1000, DATA + 0x1000, attrs=NORMAL | 1 << 6)

    assert par_at_el1(run_asm, "s1e0w", DATA + 0x1000, build) == 0xFF00_0000_4060_1B80
    assert par_at_el1(run_asm, "s1e1w", DATA) == 0xFF00_0000_4060_0B80


# ---- stage 2 ---------------------------------------------------------------------------------------


def s2_setup(build):
    def setup(m):
        s2 = Tables(m, S2_TABLES, start_level=1)
        s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
        build(s2, m)

    return setup


def test_mmu08_s12e1r_at_el2_combines_stage1_off_with_stage2(run_asm):
    def build(s2, m):
        s2.map(0x4070_0000, 0x4060_6000, attrs=S2_NORMAL | S2AP_RW)

    m = run(run_asm, at("s12e1r", 0x4070_0000), s2_setup(build), el2=S2_EL2)
    assert m.cpu.x[2] == 0x0000_0000_4060_6B00
    m = run(run_asm, at("s12e1r", 0x4070_1000), s2_setup(build), el2=S2_EL2)
    assert m.cpu.x[2] == 0xA0F


def test_mmu08_s12e1r_with_vm_clear_is_the_stage1_result(run_asm):
    def setup(m):
        t = Tables(m, TABLES)
        t.map(0x1000_0000, DATA, attrs=NORMAL)

    m = run(run_asm, at("s12e1r", 0x1000_0000), setup, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.x[2] == 0xFF00_0000_4060_0B80


def s12(build_s1, holes=()):
    def setup(m):
        s2 = Tables(m, S2_TABLES, start_level=1)
        s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
        t = Tables(m, TABLES)
        code_block(t)
        build_s1(t, s2, m)
        for page in range(TABLES, t.next, 0x1000):
            if page not in m.holes:
                s2.map(page, page, attrs=S2_NORMAL | S2AP_RW)

    return setup


def test_mmu08_stage1_at_at_el1_under_stage2_reports_the_ipa(run_asm):
    def build(t, s2, m):
        m.holes = ()
        t.map(0x1000_0000, 0x4070_0000, attrs=NORMAL)  # IPA 0x4070_0000, not even mapped at stage 2

    m = run(run_asm, at("s1e1r", 0x1000_0000), s12(build), el=1, el2=S2_EL2, el1=el1_regs(TABLES))
    assert m.cpu.x[2] == 0xFF00_0000_4070_0B80


def test_mmu08_stage2_fault_on_the_walk_of_an_el1_at_is_a_data_abort_to_el2(run_asm):
    def build(t, s2, m):
        t.map(DATA, DATA, attrs=NORMAL)
        m.holes = (t.entry(DATA, 3) & ~0xFFF,)

    m = run(run_asm, at("s1e1r", DATA), s12(build), el=1, el2=S2_EL2, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL2"] == 0x9200_01C7  # CM = 1, S1PTW = 1, WnR = 1 even for S1E1R
    assert m.cpu.sr["FAR_EL2"] == DATA
    assert m.cpu.sr["HPFAR_EL2"] == (m.holes[0] >> 12) << 4
    assert m.cpu.sr["PAR_EL1"] == MARK  # unchanged


# ---- availability --------------------------------------------------------------------------------


def test_mmu08_s1e1rp_is_undefined_without_feat_pan(run_asm):
    m = run(run_asm, "    at s1e1rp, x1\n", lambda m: None, el=1, el2=EL1, cpu="max,pan=off")
    assert "pan" not in m.features
    assert m.cpu.sr["ESR_EL1"] == 0x0200_0000


def test_mmu08_s12e1r_is_undefined_at_el1_and_at_is_undefined_at_el0(run_asm):
    m = run(run_asm, "    at s12e1r, x1\n", lambda m: None, el=1, el2=EL1)
    assert m.cpu.sr["ESR_EL1"] == 0x0200_0000
    m = run(run_asm, "    at s1e1r, x1\n", lambda m: None, el=0, el2=EL1)
    assert m.cpu.sr["ESR_EL1"] == 0x0200_0000


def test_mmu08_s1e2r_translates_in_the_el2_regime(run_asm):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        t.map(0x2000_0000, DATA + 0x2000, attrs=NORMAL)

    m = run(
        run_asm, at("s1e2r", 0x2000_0000) + "    mov x3, x2\n" + at("s1e2w", 0x2000_1000), setup, el2=el2_regs(TABLES)
    )
    assert m.cpu.x[3] == 0xFF00_0000_4060_2B80
    assert m.cpu.x[2] == 0x80F
