"""FEAT_HAFDBS: hardware Access flag and dirty-state updates (MMU-01 "unless TCR.HA/HD").

With TCR_ELx.HA (VTCR_EL2.HA at stage 2) an access through a descriptor with AF = 0
sets AF in memory instead of faulting. With HD as well, a store to a page whose
descriptor has DBM = 1 and is read-only (AP[2] = 1; S2AP[1] = 0 at stage 2) makes the
descriptor writable in memory (clears AP[2]; sets S2AP[1]) instead of faulting; a load
leaves it read-only. Without DBM, or without HD, the store is a Permission fault.
"""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import (
    CODE,
    EL1,
    HCR_RW,
    HCR_VM,
    TCR_EL1,
    TCR_EL2,
    VTCR,
    code_block,
    el1_regs,
    el1_setup,
    el2_regs,
    load,
    run,
    store,
)
from plugins.mmu.tests.tables import (
    AF,
    AP_RO_ALL,
    AP_RO_EL1,
    DATA,
    DBM,
    NORMAL,
    S2_NORMAL,
    S2_TABLES,
    S2AP_RO,
    S2AP_RW,
    TABLES,
    Tables,
)

HA, HD = 1 << 39, 1 << 40
EL2_HA, EL2_HD = 1 << 21, 1 << 22
VTCR_HA, VTCR_HD = 1 << 21, 1 << 22
AP2 = 1 << 7


def page_setup(attrs: int, *, level: int = 3):
    """DATA mapped with `attrs`; the descriptor's address is kept in m.desc."""

    def build(t, m):
        va = DATA if level == 3 else 0x4020_0000
        m.desc = t.map(va, va, level=level, attrs=attrs)
        m.bus.write(va, 8, 0x5A)

    return el1_setup(build)


def run_el1(run_asm, body, setup, tcr, *, el=1, cpu=None):
    kw = {"cpu": cpu} if cpu else {}
    return run(run_asm, body, setup, el=el, el2=EL1, el1=el1_regs(TABLES, tcr=tcr), **kw)


# ---- stage 1 Access flag ------------------------------------------------------------------------


@pytest.mark.parametrize("level", [3, 2])
def test_mmu01_tcr_ha_sets_the_access_flag_instead_of_faulting(run_asm, level):
    setup = page_setup(NORMAL & ~AF, level=level)
    va = DATA if level == 3 else 0x4020_0000
    m = run_el1(run_asm, load(va), setup, TCR_EL1 | HA)
    assert m.cpu.x[2] == 0x5A
    assert m.bus.read(m.desc, 8) & AF


def test_mmu01_without_ha_or_without_hafdbs_an_access_flag_of_zero_faults(run_asm):
    setup = page_setup(NORMAL & ~AF)
    m = run_el1(run_asm, load(DATA), setup, TCR_EL1)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_000B
    assert not m.bus.read(m.desc, 8) & AF
    m = run_el1(run_asm, load(DATA), setup, TCR_EL1 | HA, cpu="max,mmu=on,hafdbs=off")
    assert m.cpu.sr["ESR_EL1"] == 0x9600_000B


def test_mmu01_tcr_ha_on_a_fetch(run_asm):
    def build(t, m):
        m.desc = t.map(DATA, DATA, attrs=NORMAL & ~AF)
        m.bus.write(DATA, 4, 0xD65F_03C0)  # ret

    body = f"    ldr x1, ={DATA:#x}\n    blr x1\n    mov x9, #1\n"
    m = run_el1(run_asm, body, el1_setup(build), TCR_EL1 | HA)
    assert m.cpu.x[9] == 1
    assert m.bus.read(m.desc, 8) & AF


# ---- stage 1 dirty state --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attrs", "tcr", "el", "writable"),
    [
        (NORMAL | AP_RO_EL1 | DBM, HA | HD, 1, True),
        (NORMAL | AP_RO_ALL | DBM, HA | HD, 0, True),
        (NORMAL | AP_RO_EL1 | DBM, HA, 1, False),  # no HD: DBM means nothing
        (NORMAL | AP_RO_EL1, HA | HD, 1, False),  # no DBM
        (NORMAL | AP_RO_EL1 | DBM, HA | HD, 0, False),  # DBM does not give EL0 access
    ],
)
def test_mmu01_tcr_hd_and_dbm_make_a_read_only_page_dirty_on_a_store(run_asm, attrs, tcr, el, writable):
    m = run_el1(run_asm, store(DATA), page_setup(attrs), TCR_EL1 | tcr, el=el)
    desc = m.bus.read(m.desc, 8)
    if writable:
        assert m.cpu.x[9] == 1
        assert m.bus.read(DATA, 8) == DATA
        assert not desc & AP2
        assert desc & ~AP2 == (DATA | attrs | 0b11) & ~AP2  # nothing else changed
    else:
        assert m.cpu.sr["ESR_EL1"] == (0x9200_004F if el == 0 else 0x9600_004F)
        assert m.bus.read(DATA, 8) == 0x5A
        assert desc & AP2


def test_mmu01_a_load_leaves_a_dbm_page_clean(run_asm):
    m = run_el1(run_asm, load(DATA), page_setup(NORMAL | AP_RO_EL1 | DBM), TCR_EL1 | HA | HD)
    assert m.cpu.x[2] == 0x5A
    assert m.bus.read(m.desc, 8) & AP2


def test_mmu01_el2_regime_ha_and_hd_bits(run_asm):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        m.descs = (
            t.map(DATA, DATA, attrs=NORMAL & ~AF),
            t.map(DATA + 0x1000, DATA + 0x1000, attrs=NORMAL | AP_RO_EL1 | DBM),
        )

    body = load(DATA) + store(DATA + 0x1000)
    m = run(run_asm, body, setup, el2=el2_regs(TABLES, tcr_el2=TCR_EL2 | EL2_HA | EL2_HD))
    assert m.cpu.x[9] == 1
    assert m.bus.read(m.descs[0], 8) & AF
    assert not m.bus.read(m.descs[1], 8) & AP2
    m = run(run_asm, body, setup, el2=el2_regs(TABLES))
    assert m.cpu.sr["ESR_EL2"] == 0x9600_000B
    # HA without HD: the DBM page stays read-only (TCR_EL2 bit 23 next to HD is RES1)
    m = run(run_asm, body, setup, el2=el2_regs(TABLES, tcr_el2=TCR_EL2 | EL2_HA))
    assert m.cpu.sr["ESR_EL2"] == 0x9600_004F
    assert m.bus.read(m.descs[1], 8) & AP2


# ---- stage 2 ------------------------------------------------------------------------------------

S2_EL2 = {"hcr_el2": HCR_RW | HCR_VM, "vttbr_el2": S2_TABLES}


def s2_setup(m):
    s2 = Tables(m, S2_TABLES, start_level=1)
    s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
    m.descs = (
        s2.map(DATA, DATA, attrs=(S2_NORMAL & ~AF) | S2AP_RW),
        s2.map(DATA + 0x1000, DATA + 0x1000, attrs=S2_NORMAL | S2AP_RO | DBM),
    )
    m.bus.write(DATA, 8, 0x5A)


@pytest.mark.parametrize(("vtcr", "ok"), [(VTCR | VTCR_HA | VTCR_HD, True), (VTCR | VTCR_HA, False)])
def test_mmu06_vtcr_ha_and_hd_update_stage2_descriptors(run_asm, vtcr, ok):
    body = load(DATA) + store(DATA + 0x1000)
    m = run(run_asm, body, s2_setup, el=1, el2={**S2_EL2, "vtcr_el2": vtcr})
    assert m.cpu.x[2] == 0x5A
    assert m.bus.read(m.descs[0], 8) & AF
    s2ap = m.bus.read(m.descs[1], 8) >> 6 & 3
    if ok:
        assert m.cpu.x[9] == 1
        assert s2ap == 0b11
        assert m.bus.read(DATA + 0x1000, 8) == DATA + 0x1000
    else:
        assert m.cpu.sr["ESR_EL2"] == 0x93C1_804F  # STR X1: stage-2 permission fault, level 3
        assert s2ap == 0b01


def test_mmu06_without_vtcr_ha_a_stage2_access_flag_of_zero_faults(run_asm):
    m = run(run_asm, load(DATA), s2_setup, el=1, el2={**S2_EL2, "vtcr_el2": VTCR | VTCR_HD})
    assert m.cpu.sr["ESR_EL2"] == 0x93C2_800B  # LDR X2, stage-2 Access flag fault level 3
