"""VA ranges: TTBR0/TTBR1 selection, TCR.EPDn and top-byte-ignore (TBIn, TBIDn) (MMU-02).

With TBIn = 1, bits [63:56] of a data address in that range take no part in translation;
TBIDn = 1 keeps that for data but not for instruction addresses, whose top byte then has
to be a proper extension of bit 55. A walk that EPDn disables is a level-0 Translation
fault (PAR_EL1 0x809 for an AT).
"""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import (
    EL1,
    TCR_EL1,
    TCR_EL2,
    call,
    code_block,
    el1_regs,
    el2_regs,
    load,
    run,
    write_ret_code,
)
from plugins.mmu.tests.tables import DATA, NORMAL, TABLES, Tables

TABLES_UP = 0x404C_0000
UP = 0xFFFF_FF80_0060_0000  # the upper range with T1SZ = 25
EPD1 = 1 << 23
TCR_BOTH = (TCR_EL1 & ~EPD1) | 25 << 16 | 2 << 30  # T1SZ 25, TG1 4 KiB, TTBR1 walks on
TBI0, TBI1, TBID0, TBID1 = 1 << 37, 1 << 38, 1 << 51, 1 << 52
EL2_TBI, EL2_TBID = 1 << 20, 1 << 29
TAG = 0x5A << 56
FN = DATA + 0x4000
FN_UP = UP + 0x4000  # FN again, in the TTBR1 range


def setup(m):
    """TTBR0: code + DATA (0x11 at +0x40) + FN; TTBR1: UP -> DATA + 0x1000 (0x22 at +0x40), FN_UP -> FN."""
    t = Tables(m, TABLES)
    code_block(t)
    t.map(DATA, DATA, attrs=NORMAL)
    t.map(FN, FN, attrs=NORMAL)
    write_ret_code(m, FN)
    up = Tables(m, TABLES_UP)
    up.map(UP, DATA + 0x1000, attrs=NORMAL)
    up.map(FN_UP, FN, attrs=NORMAL)
    m.bus.write(DATA + 0x40, 8, 0x11)
    m.bus.write(DATA + 0x1040, 8, 0x22)


def run_el1(run_asm, body, tcr):
    return run(run_asm, body, setup, el=1, el2=EL1, el1=el1_regs(TABLES, tcr=tcr, ttbr1_el1=TABLES_UP))


# ---- data accesses -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("va", "tbi", "value"),
    [
        (DATA + 0x40, 0, 0x11),
        (UP + 0x40, 0, 0x22),
        (TAG | DATA + 0x40, TBI0, 0x11),
        (TAG | DATA + 0x40, TBI0 | TBID0, 0x11),  # TBID concerns instruction addresses only
        (TAG | DATA + 0x40, TBI1, None),  # TBI1 says nothing about the lower range
        (TAG | DATA + 0x40, 0, None),
        ((0x5A << 56) | (UP & ((1 << 56) - 1)) + 0x40, TBI1, 0x22),
        ((0x5A << 56) | (UP & ((1 << 56) - 1)) + 0x40, TBI0, None),
        # without TBI every bit above the range must equal bit 55, bit 63 included
        ((0x80 << 56) | DATA + 0x40, 0, None),
        ((0x7F << 56) | (UP & ((1 << 56) - 1)) + 0x40, 0, None),
        # bit 55 selects the range whatever the top byte holds
        ((0xFF << 56) | DATA + 0x40, TBI0, 0x11),
        ((0x00 << 56) | (UP & ((1 << 56) - 1)) + 0x40, TBI1, 0x22),
    ],
)
def test_mmu02_tbi_ignores_the_top_byte_of_data_addresses_per_range(run_asm, va, tbi, value):
    m = run_el1(run_asm, load(va), TCR_BOTH | tbi)
    if value is None:
        assert m.cpu.sr["ESR_EL1"] == 0x9600_0004
    else:
        assert m.cpu.x[2] == value


def test_mmu02_el2_regime_tbi(run_asm):
    for tcr, ok in ((TCR_EL2 | EL2_TBI, True), (TCR_EL2 | EL2_TBI | EL2_TBID, True), (TCR_EL2, False)):
        m = run(run_asm, load(TAG | DATA + 0x40), setup, el2=el2_regs(TABLES, tcr_el2=tcr))
        if ok:
            assert m.cpu.x[2] == 0x11, hex(tcr)
        else:
            assert m.cpu.sr["ESR_EL2"] == 0x9600_0004


# ---- instruction addresses --------------------------------------------------------------------------


@pytest.mark.parametrize(("tcr", "runs"), [(TBI0, True), (TBI0 | TBID0, False), (TBI0 | TBID1, True), (0, False)])
def test_mmu03_tbid_keeps_the_top_byte_of_instruction_addresses(run_asm, tcr, runs):
    m = run_el1(run_asm, call(TAG | FN), TCR_BOTH | tcr)
    if runs:
        assert (m.cpu.x[9], m.cpu.x[10]) == (7, 1)
    else:
        # the branch target keeps its tag, and the fetch from it is outside the range
        assert m.cpu.sr["ESR_EL1"] == 0x8600_0004
        assert m.cpu.sr["ELR_EL1"] == m.cpu.sr["FAR_EL1"] == TAG | FN
        assert m.cpu.x[9] == 0


@pytest.mark.parametrize(("tcr", "runs"), [(TCR_EL2 | EL2_TBI, True), (TCR_EL2 | EL2_TBI | EL2_TBID, False)])
def test_mmu03_el2_regime_tbid(run_asm, tcr, runs):
    m = run(run_asm, call(TAG | FN), setup, el2=el2_regs(TABLES, tcr_el2=tcr))
    if runs:
        assert m.cpu.x[9] == 7
    else:
        assert m.cpu.sr["ESR_EL2"] == 0x8600_0004
        assert m.cpu.sr["FAR_EL2"] == TAG | FN


# ---- EPDn -------------------------------------------------------------------------------------------

MARK = 0x1234_5000


def at_s1e1r(va: int) -> str:
    return f"    ldr x0, ={MARK:#x}\n    msr par_el1, x0\n    ldr x1, ={va:#x}\n    at s1e1r, x1\n    mrs x2, par_el1\n"


@pytest.mark.parametrize(
    ("epd", "va", "par"),
    [
        (0, DATA, 0xFF00_0000_4060_0B80),
        (1 << 7, DATA, 0x809),  # EPD0
        (EPD1, DATA, 0xFF00_0000_4060_0B80),
        (0, UP, 0xFF00_0000_4060_1B80),
        (EPD1, UP, 0x809),
        (1 << 7, UP, 0xFF00_0000_4060_1B80),
    ],
)
def test_mmu02_epdn_disables_the_walks_of_its_range_only(run_asm, epd, va, par):
    # AT S1E1R at EL2 (its own MMU off) translates in the EL1&0 regime without fetching from it
    regs = {"hcr_el2": EL1["hcr_el2"], **el1_regs(TABLES, tcr=TCR_BOTH | epd, ttbr1_el1=TABLES_UP)}
    m = run(run_asm, at_s1e1r(va), setup, el2=regs)
    assert m.cpu.x[2] == par


def test_mmu02_epd1_data_access_from_el1_is_a_level0_translation_fault(run_asm):
    m = run_el1(run_asm, load(UP + 0x40), TCR_BOTH | EPD1)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0004
    assert m.cpu.sr["FAR_EL1"] == UP + 0x40


# ---- TCR_EL1.TG1 has its own encoding (0b01 16 KiB, 0b10 4 KiB, 0b11 64 KiB) ------------------------


@pytest.mark.parametrize(("tg1", "granule"), [(0b10, 4096), (0b01, 16384), (0b11, 65536)])
def test_mmu01_tg1_selects_the_granule_of_the_ttbr1_range(run_asm, tg1, granule):
    def setup_up(m):
        t = Tables(m, TABLES)
        code_block(t)
        up = Tables(m, TABLES_UP, granule=granule)
        up.map(UP, DATA + 0x1_0000, attrs=NORMAL)
        m.bus.write(DATA + 0x1_0000 + 0x48, 8, 0x33)

    tcr = (TCR_BOTH & ~(3 << 30)) | tg1 << 30
    m = run(run_asm, load(UP + 0x48), setup_up, el=1, el2=EL1, el1=el1_regs(TABLES, tcr=tcr, ttbr1_el1=TABLES_UP))
    assert m.cpu.x[2] == 0x33


@pytest.mark.parametrize(("tcr", "runs"), [(TBI1, True), (TBI1 | TBID1, False), (TBI1 | TBID0, True)])
def test_mmu03_tbid1_keeps_the_top_byte_of_upper_instruction_addresses(run_asm, tcr, runs):
    target = 0x3C << 56 | FN_UP & ((1 << 56) - 1)
    m = run_el1(run_asm, call(target), TCR_BOTH | tcr)
    if runs:
        assert (m.cpu.x[9], m.cpu.x[10]) == (7, 1)
    else:
        assert m.cpu.sr["ESR_EL1"] == 0x8600_0004
        assert m.cpu.sr["ELR_EL1"] == m.cpu.sr["FAR_EL1"] == target
