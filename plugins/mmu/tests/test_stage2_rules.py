"""Stage-2 rules (MMU-05, MMU-06, syndromes.md §6-7): S2AP, FEAT_XNX, VTCR_EL2.SL0 start
levels, the IPA range, output size, HCR_EL2.PTW and HCR_EL2.DC.

S2AP[1:0] (descriptor bits [7:6]): bit 6 allows reads, bit 7 writes. With FEAT_XNX the
stage-2 XN[1:0] (bits [54:53]) read 0b00 executable at EL1 and EL0, 0b01 at EL0 only,
0b10 at neither, 0b11 at EL1 only; without it bit 54 alone is XN. VTCR_EL2.SL0 names
the start level (4 KiB: 0 -> level 2, 1 -> level 1, 2 -> level 0; 16 KiB and 64 KiB:
0 -> level 3, 1 -> level 2, 2 -> level 1), and the start-level table, concatenated up to
16 times, must resolve between 1 and stride + 4 bits of the IPA; any other setup is a
stage-2 Translation fault at level 0.
"""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import (
    CODE,
    HCR_RW,
    HCR_VM,
    SCTLR_EL1_M,
    VTCR,
    call,
    code_block,
    el1_regs,
    load,
    run,
    store,
    write_ret_code,
)
from plugins.mmu.tests.tables import (
    DATA,
    NORMAL,
    S2_DEVICE,
    S2_NORMAL,
    S2_TABLES,
    S2AP_RW,
    TABLES,
    Tables,
)

S2_EL2 = {"hcr_el2": HCR_RW | HCR_VM, "vtcr_el2": VTCR, "vttbr_el2": S2_TABLES}
HCR_PTW = 1 << 2
HCR_DC = 1 << 12
FN = DATA + 0x4000


def hpfar(ipa: int) -> int:
    return (ipa >> 12) << 4


def s2_setup(build, **tables):
    """Stage 2 at S2_TABLES with the code block mapped read/write, then `build(s2, m)`."""

    def setup(m):
        s2 = Tables(m, S2_TABLES, **({"start_level": 1} | tables))
        s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
        build(s2, m)

    return setup


# ---- S2AP ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("s2ap", [0b00, 0b01, 0b10, 0b11])
def test_mmu05_s2ap_bit6_allows_reads_and_bit7_writes(run_asm, s2ap):
    def build(s2, m):
        s2.map(DATA, DATA, attrs=S2_NORMAL | s2ap << 6)
        m.bus.write(DATA, 8, 0x5A)

    m = run(run_asm, load(DATA), s2_setup(build), el=1, el2=S2_EL2)
    if s2ap & 1:
        assert m.cpu.x[2] == 0x5A
    else:
        assert m.cpu.sr["ESR_EL2"] == 0x93C2_800F  # LDR X2: stage-2 Permission fault, level 3
        assert m.cpu.sr["HPFAR_EL2"] == hpfar(DATA)
    m = run(run_asm, store(DATA + 8), s2_setup(build), el=1, el2=S2_EL2)
    if s2ap & 2:
        assert m.cpu.x[9] == 1
        assert m.bus.read(DATA + 8, 8) == DATA + 8
    else:
        assert m.cpu.sr["ESR_EL2"] == 0x93C1_804F  # STR X1
        assert m.cpu.x[9] == 0
        assert m.bus.read(DATA + 8, 8) == 0


# ---- FEAT_XNX ------------------------------------------------------------------------------------------

# XN[1:0] -> (executable at EL0, executable at EL1)
XNX = {0b00: (True, True), 0b01: (True, False), 0b10: (False, False), 0b11: (False, True)}
# without FEAT_XNX bit 53 is RES0: only encodings that leave it 0 are used
NO_XNX = {0b00: (True, True), 0b10: (False, False)}


def xn_setup(xn: int):
    def build(s2, m):
        s2.map(FN, FN, attrs=S2_NORMAL | S2AP_RW | xn << 53)
        write_ret_code(m, FN)

    return s2_setup(build)


XN_CASES = [
    (cpu, xn, el, table[xn][el])
    for cpu, table in (("max,mmu=on", XNX), ("max,mmu=on,xnx=off", NO_XNX))
    for xn in table
    for el in (0, 1)
]


@pytest.mark.parametrize(("cpu", "xn", "el", "runs"), XN_CASES)
def test_mmu06_stage2_xn_for_el0_and_el1_fetches(run_asm, cpu, xn, el, runs):
    m = run(run_asm, call(FN), xn_setup(xn), el=el, el2=S2_EL2, cpu=cpu)
    if runs:
        assert (m.cpu.x[9], m.cpu.x[10]) == (7, 1)
    else:
        assert m.cpu.sr["ESR_EL2"] == 0x8200_000F  # EC 0x20 from EL0 and EL1 alike
        assert m.cpu.sr["ELR_EL2"] == m.cpu.sr["FAR_EL2"] == FN
        assert m.cpu.sr["HPFAR_EL2"] == hpfar(FN)
        assert m.cpu.sr["SPSR_EL2"] & 0xF == (0x5 if el else 0x0)
        assert m.cpu.x[9] == 0


# ---- VTCR_EL2.SL0 and T0SZ -------------------------------------------------------------------------

TG0 = {4096: 0b00, 16384: 0b10, 65536: 0b01}
SL0_LEVEL = {4096: {0: 2, 1: 1, 2: 0}, 16384: {0: 3, 1: 2, 2: 1}, 65536: {0: 3, 1: 2, 2: 1}}


def vtcr(granule: int, inputsize: int, sl0: int) -> int:
    """T0SZ, SL0, TG0, PS = 48 bits, WBWA inner-shareable walks, RES1 bit 31."""
    return 1 << 31 | 5 << 16 | TG0[granule] << 14 | 0x35 << 8 | sl0 << 6 | (64 - inputsize)


@pytest.mark.parametrize(
    ("granule", "inputsize", "sl0", "ok"),
    [
        (4096, 39, 1, True),
        (4096, 39, 0, False),  # level 2 would have to resolve 18 bits
        (4096, 31, 0, True),  # level 2, two concatenated tables
        (4096, 42, 1, True),  # level 1, eight concatenated tables
        (4096, 44, 1, False),  # level 1 would have to resolve 14 bits
        (4096, 44, 2, True),
        (4096, 48, 2, True),
        (16384, 39, 1, True),  # level 2, eight concatenated tables
        (16384, 39, 2, True),
        (16384, 39, 0, False),
        (16384, 39, 3, False),  # reserved without FEAT_LPA2
        (16384, 41, 1, False),
        (65536, 39, 1, True),
        (65536, 39, 0, False),
        (65536, 39, 3, False),
        (65536, 47, 2, True),
        (65536, 47, 1, False),  # level 2 would have to resolve 18 bits
    ],
)
def test_mmu05_vtcr_sl0_start_level_and_concatenation(run_asm, granule, inputsize, sl0, ok):
    ipa = 1 << (inputsize - 1) | 0x3000_0000 | 0x2A << 20 | 0x5 << 16
    if inputsize == 31:
        ipa = 0x7A5B_0000
    level = SL0_LEVEL[granule][sl0] if ok else None  # tables of no use when nothing translates

    def build(s2, m):
        s2.map(ipa, DATA + granule, attrs=S2_NORMAL | S2AP_RW)
        m.bus.write(DATA + granule + 0x18, 8, 0x600D)

    setup = s2_setup(build, granule=granule, inputsize=inputsize, start_level=level)
    m = run(run_asm, load(ipa + 0x18), setup, el=1, el2={**S2_EL2, "vtcr_el2": vtcr(granule, inputsize, sl0)})
    if ok:
        assert m.cpu.x[2] == 0x600D
    else:
        # nothing translates, not even the first EL1 instruction: an Instruction Abort
        assert m.cpu.sr["ESR_EL2"] == 0x8200_0004
        assert m.cpu.x[2] == 0


def test_mmu06_ipa_beyond_the_stage2_input_size_is_a_level0_translation_fault(run_asm):
    ipa = 1 << 39  # T0SZ = 25: a 39-bit IPA space

    def setup(m):
        s2 = Tables(m, S2_TABLES, start_level=1)
        s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
        t = Tables(m, TABLES)
        code_block(t)
        t.map(0x1000_0000, ipa, attrs=NORMAL)
        for page in range(TABLES, t.next, 0x1000):
            s2.map(page, page, attrs=S2_NORMAL | S2AP_RW)

    m = run(run_asm, load(0x1000_0010), setup, el=1, el2=S2_EL2, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL2"] == 0x93C2_8004
    assert m.cpu.sr["FAR_EL2"] == 0x1000_0010
    assert m.cpu.sr["HPFAR_EL2"] == hpfar(ipa)


def test_mmu06_stage2_output_address_beyond_vtcr_ps_is_an_address_size_fault(run_asm):
    def build(s2, m):
        s2.map(DATA, 1 << 40, attrs=S2_NORMAL | S2AP_RW)  # PS = 40 bits in VTCR

    m = run(run_asm, load(DATA), s2_setup(build), el=1, el2=S2_EL2)
    assert m.cpu.sr["ESR_EL2"] == 0x93C2_8003
    assert m.cpu.sr["HPFAR_EL2"] == hpfar(DATA)


# ---- HCR_EL2.PTW ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("ptw", "ok"), [(0, True), (HCR_PTW, False)])
def test_mmu06_hcr_ptw_makes_a_stage1_table_in_device_memory_a_stage2_permission_fault(run_asm, ptw, ok):
    def setup(m):
        s2 = Tables(m, S2_TABLES, start_level=1)
        s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
        s2.map(DATA, DATA, attrs=S2_NORMAL | S2AP_RW)
        t = Tables(m, TABLES)
        code_block(t)
        t.map(DATA, DATA, attrs=NORMAL)
        m.table = t.entry(DATA, 3) & ~0xFFF  # the level-3 table that maps DATA
        for page in range(TABLES, t.next, 0x1000):
            s2.map(page, page, attrs=(S2_DEVICE if page == m.table else S2_NORMAL) | S2AP_RW)
        m.bus.write(DATA, 8, 0x5A)

    el2 = {**S2_EL2, "hcr_el2": S2_EL2["hcr_el2"] | ptw}
    m = run(run_asm, load(DATA), setup, el=1, el2=el2, el1=el1_regs(TABLES))
    if ok:
        assert m.cpu.x[2] == 0x5A
    else:
        assert m.cpu.sr["ESR_EL2"] == 0x9200_008F  # S1PTW, ISV = 0, Permission fault level 3
        assert m.cpu.sr["FAR_EL2"] == DATA
        assert m.cpu.sr["HPFAR_EL2"] == hpfar(m.table)


# ---- HCR_EL2.DC -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hcr", "sctlr", "value"),
    [
        (HCR_DC, SCTLR_EL1_M, 0xD2),  # stage 1 off whatever SCTLR_EL1.M says, stage 2 on
        (HCR_DC, 0, 0xD2),
        (HCR_VM, 0, 0xD2),
        (0, 0, 0xD1),  # neither stage: flat
    ],
)
def test_mmu06_hcr_dc_disables_stage1_and_enables_stage2(run_asm, hcr, sctlr, value):
    def build(s2, m):
        s2.map(DATA, DATA + 0x7000, attrs=S2_NORMAL | S2AP_RW)
        m.bus.write(DATA, 8, 0xD1)
        m.bus.write(DATA + 0x7000, 8, 0xD2)
        # stage-1 tables that map nothing: any stage-1 walk would fault
        Tables(m, TABLES)

    el1 = {**el1_regs(TABLES), "sctlr_el1": sctlr}
    el2 = {**S2_EL2, "hcr_el2": HCR_RW | hcr}
    m = run(run_asm, load(DATA), s2_setup(build), el=1, el2=el2, el1=el1)
    assert m.cpu.x[2] == value


# ---- stage-2 block levels and the walk's own read permission ------------------------------------------


@pytest.mark.parametrize(("level", "ok"), [(1, False), (2, True)])
def test_mmu06_stage2_64k_blocks_only_at_level2(run_asm, level, ok):
    # 64 KiB granule, 47-bit IPA, SL0 = 2: the walk starts at level 1, which may not hold blocks
    ipa = 1 << 46

    def build(s2, m):
        s2.map(ipa, 0x4000_0000, level=level, attrs=S2_NORMAL | S2AP_RW)
        m.bus.write(0x4000_0000 + 0x18, 8, 0xB2)

    setup = s2_setup(build, granule=65536, inputsize=47, start_level=1)
    m = run(run_asm, load(ipa + 0x18), setup, el=1, el2={**S2_EL2, "vtcr_el2": vtcr(65536, 47, 2)})
    if ok:
        assert m.cpu.x[2] == 0xB2
    else:
        assert m.cpu.sr["ESR_EL2"] == 0x93C2_8005  # stage-2 Translation fault, level 1
        assert m.cpu.sr["HPFAR_EL2"] == hpfar(ipa)


@pytest.mark.parametrize(("s2ap", "ok"), [(0b00, False), (0b10, False), (0b01, True)])
def test_mmu06_stage1_walk_needs_stage2_read_permission(run_asm, s2ap, ok):
    def setup(m):
        s2 = Tables(m, S2_TABLES, start_level=1)
        s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
        s2.map(DATA, DATA, attrs=S2_NORMAL | S2AP_RW)
        t = Tables(m, TABLES)
        code_block(t)
        t.map(DATA, DATA, attrs=NORMAL)
        m.table = t.entry(DATA, 3) & ~0xFFF
        for page in range(TABLES, t.next, 0x1000):
            s2.map(page, page, attrs=S2_NORMAL | (s2ap << 6 if page == m.table else S2AP_RW))
        m.bus.write(DATA, 8, 0x5A)

    m = run(run_asm, load(DATA), setup, el=1, el2=S2_EL2, el1=el1_regs(TABLES))
    if ok:
        assert m.cpu.x[2] == 0x5A
    else:
        assert m.cpu.sr["ESR_EL2"] == 0x9200_008F  # S1PTW, stage-2 Permission fault level 3
        assert m.cpu.sr["HPFAR_EL2"] == hpfar(m.table)
