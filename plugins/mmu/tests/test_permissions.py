"""Stage-1 permission rules (MMU-02, MMU-03): WXN, the implicit PXN of EL0-writable pages,
APTable, UXNTable/PXNTable and TCR.HPDn, in the EL1&0, EL2 and EL2&0 regimes.

Expected outcomes follow the Arm ARM's stage-1 direct permission model: the table
limits (APTable, XNTable) are applied to the leaf's AP/XN first, then a page EL0 can
write is not executable at EL1, and WXN removes execution from whatever the regime's
own privilege level can write.
"""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import (
    EL1,
    HCR_E2H,
    HCR_RW,
    HCR_TGE,
    SCTLR_EL1_M,
    SCTLR_EL2_M,
    TCR_EL1,
    TCR_EL2,
    WXN,
    call,
    code_block,
    el1_regs,
    el1_setup,
    el2_regs,
    load,
    run,
    store,
    write_ret_code,
)
from plugins.mmu.tests.tables import DATA, MAIR, NORMAL, PXN, TABLES, UXN, Tables

FN = DATA + 0x4000  # a page holding `mov x9, #7; ret`
# VAs in the second GiB: their level-1 table descriptor is not the one that maps the code
VDATA = 0x8060_0000
VFN = VDATA + 0x4000
AP = {"RW_EL1": 0b00, "RW_ALL": 0b01, "RO_EL1": 0b10, "RO_ALL": 0b11}
ESR_IABT = {0: 0x8200_000F, 1: 0x8600_000F}  # Permission fault level 3, from EL0 / same EL
APTABLE = 61
UXNTABLE, PXNTABLE = 60, 59
HPD0, HPD1 = 1 << 41, 1 << 42


def fn_page(attrs: int, *, table_bits: int = 0, table_level: int = 2):
    """EL1&0 tables with VFN mapped to FN with `attrs`; `table_bits` ORed into the table descriptor
    at `table_level` that leads to it."""

    def build(t, m):
        t.map(VFN, FN, attrs=attrs)
        write_ret_code(m, FN)
        if table_bits:
            addr = t.table_entry(VFN, table_level)
            t.set(addr, t.get(addr) | table_bits)

    return el1_setup(build)


def assert_ran(m) -> None:
    assert (m.cpu.x[9], m.cpu.x[10]) == (7, 1)


def assert_fetch_fault(m, el: int, va: int = VFN, regs: tuple[str, str, str] = ("ESR_EL1", "FAR_EL1", "ELR_EL1")):
    esr_reg, far_reg, elr_reg = regs
    assert m.cpu.sr[esr_reg] == ESR_IABT[el]
    assert m.cpu.sr[elr_reg] == m.cpu.sr[far_reg] == va
    assert m.cpu.x[9] == 0


# ---- WXN and the implicit PXN (EL1&0 regime) -------------------------------------------------------


@pytest.mark.parametrize(
    ("el", "ap", "wxn", "runs"),
    [
        # EL0: execution depends on UXN, and with WXN on whether EL0 can write the page
        (0, "RW_ALL", False, True),
        (0, "RW_ALL", True, False),
        (0, "RO_ALL", True, True),
        (0, "RW_EL1", True, True),  # EL0 cannot write it: execute-only for EL0
        (0, "RO_EL1", True, True),
        # EL1: WXN looks at EL1's write permission; an EL0-writable page is never EL1-executable
        (1, "RW_EL1", False, True),
        (1, "RW_EL1", True, False),
        (1, "RO_EL1", True, True),
        (1, "RO_ALL", True, True),
        (1, "RO_ALL", False, True),
        (1, "RW_ALL", False, False),
    ],
)
def test_mmu03_wxn_and_implicit_pxn_decide_fetch_permission(run_asm, el, ap, wxn, runs):
    sctlr = SCTLR_EL1_M | (WXN if wxn else 0)
    m = run(
        run_asm, call(VFN), fn_page(NORMAL | AP[ap] << 6), el=el, el2=EL1, el1={**el1_regs(TABLES), "sctlr_el1": sctlr}
    )
    if runs:
        assert_ran(m)
    else:
        assert_fetch_fault(m, el)


@pytest.mark.parametrize(("el", "xn", "runs"), [(0, PXN, True), (0, UXN, False), (1, PXN, False), (1, UXN, True)])
def test_mmu03_pxn_applies_to_el1_and_uxn_to_el0(run_asm, el, xn, runs):
    m = run(run_asm, call(VFN), fn_page(NORMAL | AP["RO_ALL"] << 6 | xn), el=el, el2=EL1, el1=el1_regs(TABLES))
    if runs:
        assert_ran(m)
    else:
        assert_fetch_fault(m, el)


def test_mmu03_wxn_does_not_stop_data_accesses(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL)

    m = run(
        run_asm, store(DATA), el1_setup(build), el=1, el2=EL1, el1={**el1_regs(TABLES), "sctlr_el1": SCTLR_EL1_M | WXN}
    )
    assert m.cpu.x[9] == 1
    assert m.bus.read(DATA, 8) == DATA


# ---- APTable ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aptable", "el", "write", "allowed"),
    [
        (0b10, 0, True, False),  # APTable[1]: no write at any EL
        (0b10, 0, False, True),
        (0b10, 1, False, True),
        (0b01, 1, True, True),  # APTable[0]: no EL0 access, EL1 keeps the page's permissions
        (0b01, 0, False, False),
        (0b11, 1, True, False),
        (0b11, 1, False, True),
        (0b11, 0, False, False),
    ],
)
@pytest.mark.parametrize("table_level", [1, 2])
def test_mmu02_aptable_at_any_level_limits_an_el0_rw_page(run_asm, aptable, el, write, allowed, table_level):
    def build(t, m):
        t.map(VDATA, DATA, attrs=NORMAL | AP["RW_ALL"] << 6)
        m.bus.write(DATA, 8, 0x5A)
        addr = t.table_entry(VDATA, table_level)
        t.set(addr, t.get(addr) | aptable << APTABLE)

    body = store(VDATA) if write else load(VDATA) + "    mov x9, #1\n"
    m = run(run_asm, body, el1_setup(build), el=el, el2=EL1, el1=el1_regs(TABLES))
    if allowed:
        assert m.cpu.x[9] == 1
        assert m.bus.read(DATA, 8) == (VDATA if write else 0x5A)
    else:
        assert m.cpu.sr["ESR_EL1"] == (0x9200_000F if el == 0 else 0x9600_000F) | (write << 6)
        assert m.cpu.sr["FAR_EL1"] == VDATA
        assert m.cpu.x[9] == 0
        assert m.bus.read(DATA, 8) == 0x5A


@pytest.mark.parametrize("aptable", [0b01, 0b10])
def test_mmu03_aptable_that_takes_el0_write_away_lifts_the_implicit_pxn(run_asm, aptable):
    # an AP = 0b01 page is EL0-writable, so not EL1-executable; once the table above makes it
    # EL1-only (APTable[0]) or read-only (APTable[1]) EL0 can no longer write it
    setup = fn_page(NORMAL | AP["RW_ALL"] << 6, table_bits=aptable << APTABLE)
    m = run(run_asm, call(VFN), setup, el=1, el2=EL1, el1=el1_regs(TABLES))
    assert_ran(m)


def test_mmu03_wxn_looks_at_write_permission_after_aptable(run_asm):
    setup = fn_page(NORMAL | AP["RW_EL1"] << 6, table_bits=0b10 << APTABLE)
    m = run(run_asm, call(VFN), setup, el=1, el2=EL1, el1={**el1_regs(TABLES), "sctlr_el1": SCTLR_EL1_M | WXN})
    assert_ran(m)


# ---- UXNTable / PXNTable, TCR.HPDn -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("bit", "el", "runs"),
    [(PXNTABLE, 1, False), (PXNTABLE, 0, True), (UXNTABLE, 0, False), (UXNTABLE, 1, True)],
)
def test_mmu03_xntables_at_level1_apply_to_every_page_below(run_asm, bit, el, runs):
    setup = fn_page(NORMAL | AP["RO_ALL"] << 6, table_bits=1 << bit, table_level=1)
    m = run(run_asm, call(VFN), setup, el=el, el2=EL1, el1=el1_regs(TABLES))
    if runs:
        assert_ran(m)
    else:
        assert_fetch_fault(m, el)


@pytest.mark.parametrize(("bit", "el"), [(PXNTABLE, 1), (UXNTABLE, 0)])
def test_mmu03_hpd0_disables_the_xntables(run_asm, bit, el):
    setup = fn_page(NORMAL | AP["RO_ALL"] << 6, table_bits=1 << bit)
    m = run(run_asm, call(VFN), setup, el=el, el2=EL1, el1=el1_regs(TABLES, tcr=TCR_EL1 | HPD0))
    assert_ran(m)


# The upper VA range: TTBR1_EL1 with T1SZ = 25, 4 KiB (TG1 = 0b10), walks enabled (EPD1 = 0)
TCR_UPPER = (TCR_EL1 & ~(1 << 23)) | 25 << 16 | 2 << 30
TABLES_UP = 0x404C_0000
UP = 0xFFFF_FF80_0060_0000


def upper_setup(aptable: int):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        up = Tables(m, TABLES_UP)
        up.map(UP, DATA, attrs=NORMAL)
        addr = up.table_entry(UP, 2)
        up.set(addr, up.get(addr) | aptable << APTABLE)

    return setup


@pytest.mark.parametrize(("hpd", "allowed"), [(0, False), (HPD0, False), (HPD1, True), (HPD0 | HPD1, True)])
def test_mmu02_hpd1_and_not_hpd0_governs_the_ttbr1_range(run_asm, hpd, allowed):
    tcr = TCR_UPPER | hpd
    m = run(
        run_asm, store(UP + 8), upper_setup(0b10), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=tcr, ttbr1_el1=TABLES_UP)
    )
    if allowed:
        assert m.cpu.x[9] == 1
        assert m.bus.read(DATA + 8, 8) == UP + 8
    else:
        assert m.cpu.sr["ESR_EL1"] == 0x9600_004F
        assert m.cpu.sr["FAR_EL1"] == UP + 8


def test_mmu02_hpd1_leaves_aptable_of_the_ttbr0_range_in_force(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL)
        addr = t.table_entry(DATA, 2)
        t.set(addr, t.get(addr) | 0b10 << APTABLE)

    m = run(run_asm, store(DATA), el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=TCR_EL1 | HPD1))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_004F


# ---- the EL2 regime (E2H = 0): one privilege level -------------------------------------------------

TCR_EL2_HPD = 1 << 24
EL2_REGS = ("ESR_EL2", "FAR_EL2", "ELR_EL2")


def el2_fn_page(attrs: int, table_bits: int = 0):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        t.map(FN, FN, attrs=attrs)
        t.map(DATA, DATA, attrs=attrs)
        write_ret_code(m, FN)
        if table_bits:
            addr = t.table_entry(FN, 2)
            t.set(addr, t.get(addr) | table_bits)

    return setup


@pytest.mark.parametrize(
    ("ap", "wxn", "runs"),
    [("RW_EL1", True, False), ("RO_EL1", True, True), ("RW_EL1", False, True), ("RW_ALL", False, True)],
)
def test_mmu03_el2_regime_wxn_looks_at_ap2_only(run_asm, ap, wxn, runs):
    # AP[1] has no meaning with one privilege level: no implicit PXN for AP = 0b01
    regs = {**el2_regs(TABLES), "sctlr_el2": SCTLR_EL2_M | (WXN if wxn else 0)}
    m = run(run_asm, call(FN), el2_fn_page(NORMAL | AP[ap] << 6), el2=regs)
    if runs:
        assert_ran(m)
    else:
        assert_fetch_fault(m, 1, FN, EL2_REGS)


@pytest.mark.parametrize(("tcr", "runs"), [(TCR_EL2, False), (TCR_EL2 | TCR_EL2_HPD, True)])
def test_mmu03_el2_regime_xntable_and_tcr_el2_hpd(run_asm, tcr, runs):
    m = run(run_asm, call(FN), el2_fn_page(NORMAL, 1 << UXNTABLE), el2=el2_regs(TABLES, tcr_el2=tcr))
    if runs:
        assert_ran(m)
    else:
        assert_fetch_fault(m, 1, FN, EL2_REGS)


@pytest.mark.parametrize(("tcr", "allowed"), [(TCR_EL2, False), (TCR_EL2 | TCR_EL2_HPD, True)])
def test_mmu02_el2_regime_aptable1_and_tcr_el2_hpd(run_asm, tcr, allowed):
    m = run(run_asm, store(FN + 0x100), el2_fn_page(NORMAL, 0b10 << APTABLE), el2=el2_regs(TABLES, tcr_el2=tcr))
    if allowed:
        assert m.cpu.x[9] == 1
    else:
        assert m.cpu.sr["ESR_EL2"] == 0x9600_004F
        assert m.cpu.x[9] == 0


# ---- the EL2&0 regime (E2H = 1): two privilege levels under SCTLR_EL2 ------------------------------

# TCR_EL2 in the EL1 layout: T0SZ 25, 4 KiB, TTBR1 walks disabled (EPD1), IPS 40 bits
TCR_VHE = 0x19 | 0x3500 | 1 << 23 | 2 << 32


@pytest.mark.parametrize(("el", "ap", "runs"), [(2, "RW_EL1", False), (2, "RO_EL1", True), (0, "RW_ALL", False)])
def test_mmu03_el20_regime_wxn_from_sctlr_el2(run_asm, el, ap, runs):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        t.map(FN, FN, attrs=NORMAL | AP[ap] << 6)
        write_ret_code(m, FN)

    regs = {
        "hcr_el2": HCR_E2H | HCR_TGE | HCR_RW,
        "mair_el2": MAIR,
        "tcr_el2": TCR_VHE,
        "ttbr0_el2": TABLES,
        "sctlr_el2": SCTLR_EL2_M | WXN,
    }
    m = run(run_asm, call(FN), setup, el=el, el2=regs)
    if runs:
        assert_ran(m)
    else:
        # host EL0 faults go to EL2 (TGE), as from a lower EL
        assert m.cpu.sr["ESR_EL2"] == ESR_IABT[0 if el == 0 else 1]
        assert m.cpu.sr["ELR_EL2"] == m.cpu.sr["FAR_EL2"] == FN


@pytest.mark.parametrize(("el", "xn", "runs"), [(2, PXN, False), (2, UXN, True), (0, UXN, False), (0, PXN, True)])
def test_mmu03_el20_regime_pxn_is_for_el2_and_uxn_for_host_el0(run_asm, el, xn, runs):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        t.map(FN, FN, attrs=NORMAL | AP["RO_ALL"] << 6 | xn)
        write_ret_code(m, FN)

    regs = {
        "hcr_el2": HCR_E2H | HCR_TGE | HCR_RW,
        "mair_el2": MAIR,
        "tcr_el2": TCR_VHE,
        "ttbr0_el2": TABLES,
        "sctlr_el2": SCTLR_EL2_M,
    }
    m = run(run_asm, call(FN), setup, el=el, el2=regs)
    if runs:
        assert_ran(m)
    else:
        assert_fetch_fault(m, 0 if el == 0 else 1, FN, EL2_REGS)
