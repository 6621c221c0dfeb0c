"""Granules, start levels and fault levels (MMU-01, MMU-02, syndromes.md §8).

VMSAv8-64 without FEAT_LPA2 (TCR.DS = 0) and with a 48-bit PA: 4 KiB tables hold blocks at
levels 1 and 2, 16 KiB and 64 KiB tables only at level 2; a block descriptor anywhere else,
and bit[1] = 0 at level 3, is a Translation fault at that level. The start level is the
lowest one whose table still resolves at least one bit of the input address:
4 KiB: 31..39 bits start at level 1, 40..48 at level 0; 16 KiB: 26..36 at level 2,
37..47 at level 1, 48 at level 0; 64 KiB: 30..42 at level 2, 43..48 at level 1.
"""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import EL1, TCR_EL1, el1_regs, el1_setup, load, run, store
from plugins.mmu.tests.tables import AF, AP_RO_EL1, BLOCK, DATA, NORMAL, TABLES

TG0 = {4096: 0b00, 16384: 0b10, 65536: 0b01}
IPS_48 = 5


def tcr_for(granule: int, inputsize: int) -> int:
    """TCR_EL1 of MMU-01 with another granule, T0SZ and a 48-bit IPS."""
    tcr = TCR_EL1 & ~(0x3F | 3 << 14 | 7 << 32)
    return tcr | (64 - inputsize) | TG0[granule] << 14 | IPS_48 << 32


def run_el1(run_asm, body, build, *, granule=4096, inputsize=39):
    setup = el1_setup(build, granule=granule, inputsize=inputsize)
    return run(run_asm, body, setup, el=1, el2=EL1, el1=el1_regs(TABLES, tcr=tcr_for(granule, inputsize)))


# ---- start level from TnSZ ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granule", "inputsize", "level"),
    [
        (4096, 31, 1),
        (4096, 39, 1),
        (4096, 40, 0),
        (4096, 48, 0),
        (16384, 36, 2),
        (16384, 37, 1),
        (16384, 47, 1),
        (16384, 48, 0),
        (65536, 31, 2),
        (65536, 42, 2),
        (65536, 43, 1),
        (65536, 48, 1),
    ],
)
def test_mmu01_start_level_follows_tnsz_and_granule(run_asm, granule, inputsize, level):
    # a VA with a bit set in the index of every level from the start level down
    top = 1 << (inputsize - 1) if inputsize > 31 else 0
    va = top | 0x4000_0000 | 0x2A << 20 | 0x5 << 16 if inputsize > 31 else 0x5A5B_0000

    def build(t, m):
        assert t.start == level
        t.map(va, DATA + granule, attrs=NORMAL)
        m.bus.write(DATA + granule + 0x18, 8, 0x600D)

    m = run_el1(run_asm, load(va + 0x18), build, granule=granule, inputsize=inputsize)
    assert m.cpu.x[2] == 0x600D


# ---- which levels may hold blocks --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granule", "inputsize", "level", "ok"),
    [
        (4096, 48, 0, False),
        (4096, 39, 1, True),
        (4096, 39, 2, True),
        (16384, 48, 1, False),
        (16384, 39, 2, True),
        (65536, 48, 1, False),
        (65536, 48, 2, True),
    ],
)
def test_mmu01_block_descriptor_levels_by_granule(run_asm, granule, inputsize, level, ok):
    shift = granule.bit_length() - 1
    size = 1 << (shift + (3 - level) * (shift - 3))  # what one entry at `level` maps
    va = 4 * size  # block-aligned, away from the code's tables
    offset = 0x3018

    def build(t, m):
        t.map(va, 0x4000_0000, level=level, attrs=NORMAL)  # RAM base: aligned for every valid block
        m.bus.write(0x4000_0000 + offset, 8, 0xB10C)

    m = run_el1(run_asm, load(va + offset), build, granule=granule, inputsize=inputsize)
    if ok:
        assert m.cpu.x[2] == 0xB10C
    else:
        assert m.cpu.sr["ESR_EL1"] == 0x9600_0004 + level
        assert m.cpu.sr["FAR_EL1"] == va + offset


@pytest.mark.parametrize("granule", [4096, 16384, 65536])
def test_mmu02_level3_descriptor_with_bit1_clear_is_a_level3_translation_fault(run_asm, granule):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL)
        addr = t.entry(DATA, 3)
        t.set(addr, t.get(addr) & ~0b10)

    m = run_el1(run_asm, load(DATA), build, granule=granule)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0007


# ---- fault levels of blocks ----------------------------------------------------------------------

BLOCK_VA = {1: 0x8000_0000, 2: 0x4020_0000}  # a 1 GiB and a 2 MiB block outside the code's


@pytest.mark.parametrize("level", [1, 2])
def test_mmu02_access_flag_fault_on_a_block_reports_its_level(run_asm, level):
    def build(t, m):
        t.map(BLOCK_VA[level], 0x4000_0000, level=level, attrs=NORMAL & ~AF)

    m = run_el1(run_asm, load(BLOCK_VA[level] + 0x10), build)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0008 + level


@pytest.mark.parametrize("level", [1, 2])
def test_mmu02_permission_fault_on_a_block_reports_its_level(run_asm, level):
    def build(t, m):
        t.map(BLOCK_VA[level], 0x4000_0000, level=level, attrs=NORMAL | AP_RO_EL1)

    m = run_el1(run_asm, store(BLOCK_VA[level] + 0x10), build)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_004C + level
    assert m.cpu.x[9] == 0


def test_mmu03_fetch_from_a_page_with_af_clear_is_an_access_flag_instruction_abort(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL & ~AF)

    m = run_el1(run_asm, f"    ldr x1, ={DATA:#x}\n    blr x1\n", build)
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000B
    assert m.cpu.sr["ELR_EL1"] == m.cpu.sr["FAR_EL1"] == DATA


# ---- address size faults ----------------------------------------------------------------------------

IPS_32 = TCR_EL1 & ~(7 << 32)


def run_ips32(run_asm, body, build, **el1):
    return run(run_asm, body, el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=IPS_32, **el1))


def test_mmu02_block_output_address_beyond_ips_is_an_address_size_fault_at_its_level(run_asm):
    def build(t, m):
        t.map(0x8000_0000, 0x1_0000_0000, level=2, attrs=NORMAL)

    m = run_ips32(run_asm, load(0x8000_0010), build)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0002


@pytest.mark.parametrize("level", [1, 2])
def test_mmu02_next_table_address_beyond_ips_is_an_address_size_fault_at_the_table_level(run_asm, level):
    va = 0x8000_0000 if level == 1 else 0x4020_0000

    def build(t, m):
        t.map(va, va, attrs=NORMAL)
        t.set(t.entry(va, level), 0x1_0000_0000 | 0b11)

    m = run_ips32(run_asm, load(va), build)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0000 + level


def test_mmu02_ttbr_beyond_ips_is_a_level0_address_size_fault(run_asm):
    # the upper range (TTBR1_EL1) has its base above 4 GiB while IPS is 32 bits
    tcr = (IPS_32 & ~(1 << 23)) | 25 << 16 | 2 << 30

    def build(t, m):
        pass

    m = run(
        run_asm,
        load(0xFFFF_FF80_0000_0000),
        el1_setup(build),
        el=1,
        el2=EL1,
        el1=el1_regs(TABLES, tcr=tcr, ttbr1_el1=0x1_0000_0000),
    )
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0000
    assert m.cpu.sr["FAR_EL1"] == 0xFFFF_FF80_0000_0000


def test_mmu02_block_descriptor_bits_are_block_and_not_table(run_asm):
    # a level-2 entry with bits[1:0] = 0b01 is a block, with 0b11 a table: the same output
    # address read as a table gives a different translation (or a fault)
    def build(t, m):
        t.set(t.entry(0x4020_0000, 2), 0x4000_0000 | NORMAL | BLOCK)
        m.bus.write(0x4000_0000 + 0x8, 8, 0xB1)

    m = run_el1(run_asm, load(0x4020_0008), build)
    assert m.cpu.x[2] == 0xB1


def test_mmu02_access_flag_fault_comes_before_a_permission_fault(run_asm):
    # a store to a read-only page whose AF is 0: the Access flag fault has priority
    def build(t, m):
        t.map(DATA, DATA, attrs=(NORMAL & ~AF) | AP_RO_EL1)

    m = run_el1(run_asm, store(DATA), build)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_004B
