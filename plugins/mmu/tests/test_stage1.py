"""Stage-1 translation: granules and start levels (MMU-01), faults (MMU-02), fetches (MMU-03)."""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import (
    SCTLR_EL1_M,
    TCR_EL1,
    TCR_EL1_64K,
    TCR_EL2,
    code_block,
    code_pages,
    el1_regs,
    el2_regs,
    run,
)
from plugins.mmu.tests.tables import (
    AF,
    AP_RO_EL1,
    AP_RW_ALL,
    AP_RW_EL1,
    DATA,
    DEVICE,
    NORMAL,
    PXN,
    TABLES,
    UXN,
    Tables,
    attr_index,
)

EL1 = {"hcr_el2": 1 << 31}


def el1_setup(build, *, granule=4096, inputsize=39):
    """A setup function: EL1&0 tables with the code identity-mapped, then `build(t, m)`."""

    def setup(m):
        t = Tables(m, TABLES, granule=granule, inputsize=inputsize)
        if granule == 4096:
            code_block(t)
        else:
            code_pages(t)
        build(t, m)

    return setup


def load(addr: int, reg: str = "x2") -> str:
    return f"    ldr x1, ={addr:#x}\n    ldr {reg}, [x1]\n"


# ---- MMU-01: granules and start levels ------------------------------------------------------


def test_mmu01_4k_t0sz25_starts_at_level1_with_1g_2m_blocks_and_pages(run_asm):
    def build(t, m):
        assert t.start == 1
        t.map(0x8000_0000, 0x4000_0000, level=1, attrs=NORMAL)  # 1 GiB block
        t.map(0x4020_0000, 0x4080_0000, level=2, attrs=NORMAL)  # 2 MiB block
        t.map(DATA, DATA + 0x5000, attrs=NORMAL)  # 4 KiB page
        m.bus.write(0x4000_1238, 8, 0x11)
        m.bus.write(0x4080_1238, 8, 0x22)
        m.bus.write(DATA + 0x5008, 8, 0x33)

    body = load(0x8000_1238, "x2") + load(0x4020_1238, "x3") + load(DATA + 8, "x4") + "    mrs x5, tcr_el1\n"
    m = run(run_asm, body, el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert [m.cpu.x[i] for i in (2, 3, 4)] == [0x11, 0x22, 0x33]
    assert m.cpu.x[5] == 0x2_0080_3519  # TCR_EL1 reads back unchanged


def test_mmu01_64k_t0sz25_starts_at_level2_with_512m_blocks_and_64k_pages(run_asm):
    def build(t, m):
        assert t.start == 2
        t.map(0x6000_0000, 0x4000_0000, level=2, attrs=NORMAL)  # 512 MiB block
        t.map(DATA, DATA + 0x2_0000, attrs=NORMAL)  # 64 KiB page
        m.bus.write(0x4000_1238, 8, 0x44)
        m.bus.write(DATA + 0x2_F008, 8, 0x55)

    body = load(0x6000_1238, "x2") + load(DATA + 0xF008, "x3") + "    mrs x5, tcr_el1\n"
    m = run(run_asm, body, el1_setup(build, granule=65536), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=TCR_EL1_64K))
    assert (m.cpu.x[2], m.cpu.x[3]) == (0x44, 0x55)
    assert m.cpu.x[5] == 0x2_0080_7519


def test_mmu01_16k_granule_level2_block_and_page(run_asm):
    # TG0 = 0b10: 16 KiB; 39-bit input starts at level 1, level-2 blocks map 32 MiB
    def build(t, m):
        assert t.start == 1
        t.map(0x4200_0000, 0x4000_0000, level=2, attrs=NORMAL)
        t.map(DATA, DATA + 0x8000, attrs=NORMAL)
        m.bus.write(0x4000_1238, 8, 0x66)
        m.bus.write(DATA + 0xB008, 8, 0x77)

    tcr = (TCR_EL1 & ~(3 << 14)) | (2 << 14)
    body = load(0x4200_1238, "x2") + load(DATA + 0x3008, "x3")
    m = run(run_asm, body, el1_setup(build, granule=16384), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=tcr))
    assert (m.cpu.x[2], m.cpu.x[3]) == (0x66, 0x77)


def test_mmu01_48bit_va_starts_at_level0(run_asm):
    va = 0x0000_8000_0060_0000

    def build(t, m):
        assert t.start == 0
        t.map(va, DATA, attrs=NORMAL)
        m.bus.write(DATA, 8, 0x88)

    tcr = (TCR_EL1 & ~0x3F) | 16 | (5 << 32)  # T0SZ 16, IPS 48 bits
    m = run(run_asm, load(va), el1_setup(build, inputsize=48), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=tcr))
    assert m.cpu.x[2] == 0x88


def test_mmu01_52bit_input_size_is_rejected_with_level0_translation_fault(run_asm):
    # T1SZ = 12 would need FEAT_LVA/LPA2, which are not implemented: the range faults at level 0
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL)

    tcr = (TCR_EL1 & ~(0xFF << 16)) | 12 << 16 | 2 << 30  # T1SZ 12, EPD1 0, TG1 4 KiB
    va = 0xFFF0_0000_0000_0000
    m = run(run_asm, load(va), el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=tcr, ttbr1_el1=TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0004
    assert m.cpu.sr["FAR_EL1"] == va


# ---- MMU-02: fault kinds and levels ------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "esr"),
    [(3, 0x9600_0007), (2, 0x9600_0006), (1, 0x9600_0005)],
)
def test_mmu02_invalid_descriptor_gives_translation_fault_at_its_level(run_asm, level, esr):
    va = 0x0100_0000 if level == 1 else DATA + 0x20_0000 if level == 2 else DATA + 0x1000

    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL)  # creates the level-2 table and a level-3 table
        if level == 1:
            assert t.get(t.entry(va, 1)) == 0

    body = load(va)
    m = run(run_asm, body, el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == esr
    assert m.cpu.sr["FAR_EL1"] == va


def test_mmu02_store_to_invalid_page_sets_wnr(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL)

    body = f"    ldr x1, ={DATA + 0x1008:#x}\n    str x1, [x1]\n    mov x9, #1\n"
    m = run(run_asm, body, el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0047
    assert m.cpu.sr["FAR_EL1"] == DATA + 0x1008
    assert m.cpu.x[9] == 0  # the instruction after the store did not run


def test_mmu02_elr_is_the_faulting_load(run_asm):
    body = "    ldr x1, =0x40601000\n    nop\nfault_here:\n    ldr x2, [x1]\n    adr x3, fault_here\n"
    m = run(run_asm, body, el1_setup(lambda t, m: t.map(DATA, DATA, attrs=NORMAL)), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0007
    elr = m.cpu.sr["ELR_EL1"]
    word = m.bus.read(elr, 4)
    assert word & 0xFFC0_0000 == 0xF940_0000  # LDR (unsigned offset, 64-bit)


def test_mmu02_va_outside_t0sz_range_is_level0_translation_fault(run_asm):
    m = run(run_asm, load(0x80_0000_0000), el1_setup(lambda t, m: None), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0004
    assert m.cpu.sr["FAR_EL1"] == 0x80_0000_0000


def test_mmu02_access_flag_clear_gives_access_flag_fault(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL & ~AF)

    m = run(run_asm, load(DATA), el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_000B


def test_mmu02_write_to_read_only_page_is_permission_fault(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL | AP_RO_EL1)
        m.bus.write(DATA, 8, 0x99)

    body = load(DATA) + "    str x1, [x1]\n"
    m = run(run_asm, body, el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.x[2] == 0x99  # EL1 may read an AP = 0b10 page
    assert m.cpu.sr["ESR_EL1"] == 0x9600_004F
    assert m.bus.read(DATA, 8) == 0x99


def test_mmu02_el0_load_from_el1_only_page_faults_to_el1_with_ec_0x24(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL | AP_RW_EL1)

    m = run(run_asm, load(DATA), el1_setup(build), el=0, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x9200_000F
    assert m.cpu.sr["SPSR_EL1"] & 0xF == 0  # from EL0t


def test_mmu02_el0_reads_and_writes_an_el0_page(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL | AP_RW_ALL)

    body = load(DATA) + "    mov x3, #0x5a\n    str x3, [x1, #8]\n    mov x9, #1\n"
    m = run(run_asm, body, el1_setup(build), el=0, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.x[9] == 1
    assert m.bus.read(DATA + 8, 8) == 0x5A


def test_mmu02_unaligned_device_access_is_alignment_fault(run_asm):
    def build(t, m):
        t.map(0x0900_0000, 0x0900_0000, attrs=DEVICE)

    body = "    ldr x1, =0x09000001\n    ldr w5, [x1]\n"
    m = run(run_asm, body, el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0021
    assert m.cpu.sr["FAR_EL1"] == 0x0900_0001


def test_mmu02_unaligned_normal_access_succeeds_and_faults_with_sctlr_a(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL)
        m.bus.write(DATA, 8, 0x8877_6655_4433_2211)

    body = f"    ldr x1, ={DATA + 1:#x}\n    ldr w5, [x1]\n"
    m = run(run_asm, body, el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.x[5] == 0x5544_3322
    m = run(run_asm, body, el1_setup(build), el=1, el2=EL1, el1={**el1_regs(TABLES), "sctlr_el1": SCTLR_EL1_M | 2})
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0021


def test_mmu02_output_address_beyond_ips_is_address_size_fault(run_asm):
    def build(t, m):
        t.map(DATA, 0x1_0000_0000, attrs=NORMAL)  # 33 bits

    tcr = TCR_EL1 & ~(7 << 32)  # IPS 32 bits
    m = run(run_asm, load(DATA), el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=tcr))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0003


def test_mmu02_table_in_unbacked_memory_is_external_abort_on_walk(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL)
        t.set(t.entry(DATA, 2), 0x6000_0000 | 3)  # the level-3 table is nowhere

    m = run(run_asm, load(DATA), el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0017  # synchronous external abort on walk, level 3


def test_mmu02_mmu_off_pa_beyond_parange_is_address_size_fault(run_asm):
    body = "    mov x1, #0\n    ldr x2, [x1, #-8]\n"
    m = run(run_asm, body, lambda m: None, el=1, el2=EL1)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0000
    assert m.cpu.sr["FAR_EL1"] == 0xFFFF_FFFF_FFFF_FFF8


@pytest.mark.parametrize(
    ("aptable", "el", "store", "esr"),
    [(2, 1, True, 0x9600_004F), (1, 0, False, 0x9200_000F)],
)
def test_mmu02_aptable_limits_the_pages_below(run_asm, aptable, el, store, esr):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL | AP_RW_ALL)
        addr = t.table_entry(DATA, 2)
        t.set(addr, t.get(addr) | aptable << 61)

    body = f"    ldr x1, ={DATA:#x}\n" + ("    str x1, [x1]\n" if store else "    ldr x2, [x1]\n")
    m = run(run_asm, body, el1_setup(build), el=el, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == esr


def test_mmu02_hpd_disables_hierarchical_permissions(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL)
        addr = t.table_entry(DATA, 2)
        t.set(addr, t.get(addr) | 2 << 61)  # APTable[1]: read-only below

    body = f"    ldr x1, ={DATA:#x}\n    str x1, [x1]\n    mov x9, #1\n"
    m = run(run_asm, body, el1_setup(build), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=TCR_EL1 | 1 << 41))
    assert m.cpu.x[9] == 1
    assert m.bus.read(DATA, 8) == DATA


# ---- MMU-03: instruction fetch ---------------------------------------------------------------------

RET_PAGE = DATA + 0x4000  # a page holding "mov x9, #7; ret"


def code_page(t, m, attrs):
    t.map(RET_PAGE, RET_PAGE, attrs=attrs)
    m.bus.write(RET_PAGE, 4, 0xD28000E9)  # mov x9, #7
    m.bus.write(RET_PAGE + 4, 4, 0xD65F03C0)  # ret


CALL = f"    ldr x1, ={RET_PAGE:#x}\n    blr x1\n    mov x10, #1\n"


def test_mmu03_el1_fetch_from_pxn_page_is_instruction_abort(run_asm):
    m = run(run_asm, CALL, el1_setup(lambda t, m: code_page(t, m, NORMAL | PXN)), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F
    assert m.cpu.sr["ELR_EL1"] == RET_PAGE
    assert m.cpu.sr["FAR_EL1"] == RET_PAGE
    assert m.cpu.x[9] == 0


def test_mmu03_uxn_page_is_executable_at_el1(run_asm):
    m = run(run_asm, CALL, el1_setup(lambda t, m: code_page(t, m, NORMAL | UXN)), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert (m.cpu.x[9], m.cpu.x[10]) == (7, 1)


def test_mmu03_el0_writable_page_is_never_executable_at_el1(run_asm):
    m = run(
        run_asm, CALL, el1_setup(lambda t, m: code_page(t, m, NORMAL | AP_RW_ALL)), el=1, el2=EL1, el1=el1_regs(TABLES)
    )
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F


def test_mmu03_wxn_makes_writable_pages_execute_never(run_asm):
    setup = el1_setup(lambda t, m: code_page(t, m, NORMAL))
    m = run(run_asm, CALL, setup, el=1, el2=EL1, el1={**el1_regs(TABLES), "sctlr_el1": SCTLR_EL1_M | 1 << 19})
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F


def test_mmu03_el0_fetch_from_uxn_page_faults_to_el1_with_ec_0x20(run_asm):
    m = run(
        run_asm,
        CALL,
        el1_setup(lambda t, m: code_page(t, m, NORMAL | UXN | 3 << 6)),
        el=0,
        el2=EL1,
        el1=el1_regs(TABLES),
    )
    assert m.cpu.sr["ESR_EL1"] == 0x8200_000F
    assert m.cpu.sr["FAR_EL1"] == RET_PAGE


def test_mmu03_uxntable_and_pxntable(run_asm):
    def build(bit):
        def b(t, m):
            code_page(t, m, NORMAL | 3 << 6)
            addr = t.table_entry(RET_PAGE, 2)
            t.set(addr, t.get(addr) | 1 << bit)

        return el1_setup(b)

    m = run(run_asm, CALL, build(59), el=1, el2=EL1, el1=el1_regs(TABLES))  # PXNTable
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F
    m = run(run_asm, CALL, build(60), el=1, el2=EL1, el1=el1_regs(TABLES))  # UXNTable: EL1 may still run it
    assert m.cpu.x[9] == 7
    m = run(run_asm, CALL, build(60), el=0, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x8200_000F


# ---- the EL2 regime (E2H = 0) ---------------------------------------------------------------------


def el2_setup(build):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        build(t, m)

    return setup


def test_mmu02_el2_regime_faults_are_taken_to_el2_with_ec_0x25(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL | AP_RO_EL1)

    body = f"    ldr x1, ={DATA:#x}\n    ldr x2, [x1]\n    str x2, [x1]\n"
    m = run(run_asm, body, el2_setup(build), el2=el2_regs(TABLES))
    assert m.cpu.sr["ESR_EL2"] == 0x9600_004F
    assert m.cpu.sr["FAR_EL2"] == DATA


def test_mmu03_el2_regime_xn_bit54(run_asm):
    m = run(run_asm, CALL, el2_setup(lambda t, m: code_page(t, m, NORMAL | UXN)), el2=el2_regs(TABLES))
    assert m.cpu.sr["ESR_EL2"] == 0x8600_000F
    # bit 53 is RES0 in the EL2 regime: a page with only bit 53 set runs
    m = run(run_asm, CALL, el2_setup(lambda t, m: code_page(t, m, NORMAL | PXN)), el2=el2_regs(TABLES))
    assert m.cpu.x[9] == 7


def test_mmu01_el2_tcr_with_64k_granule(run_asm):
    def setup(m):
        t = Tables(m, TABLES, granule=65536)
        code_pages(t)
        t.map(0x7000_0000, DATA, attrs=NORMAL | attr_index(0))
        m.bus.write(DATA + 0x18, 8, 0xAB)

    tcr = (TCR_EL2 & ~(3 << 14)) | 1 << 14
    m = run(run_asm, load(0x7000_0018), setup, el2=el2_regs(TABLES, tcr_el2=tcr))
    assert m.cpu.x[2] == 0xAB
