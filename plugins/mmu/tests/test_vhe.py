"""The EL2&0 regime (HCR_EL2.E2H = 1): two VA ranges, ASIDs, host EL0 (MMU-04, pan.md §7 regimes)."""

from __future__ import annotations

from plugins.mmu.tests.guest import HCR_E2H, HCR_RW, HCR_TGE, SCTLR_EL2_M, code_block, run
from plugins.mmu.tests.tables import AP_RW_EL1, DATA, MAIR, NG, NORMAL, TABLES, Tables

HOST = HCR_E2H | HCR_TGE | HCR_RW
# TCR_EL2 in the EL1 layout: T0SZ = T1SZ = 25, TG1 4 KiB, IPS 40 bits, 16-bit ASIDs
TCR_VHE = 0x19 | 0x3500 | 0x19 << 16 | 2 << 30 | 2 << 32 | 1 << 36
TABLES_B = 0x4048_0000
TABLES_UP = 0x404C_0000
UP = 0xFFFF_FF80_0060_0000
VA = 0x1000_0000


def vhe_regs(ttbr0: int, ttbr1: int = TABLES_UP) -> dict[str, int]:
    return {
        "hcr_el2": HOST,
        "mair_el2": MAIR,
        "tcr_el2": TCR_VHE,
        "ttbr0_el2": ttbr0,
        "ttbr1_el2": ttbr1,
        "sctlr_el2": SCTLR_EL2_M,
    }


def setup_two_asids(m):
    """Tables A (x0 -> 0xA) and B (-> 0xB); x20 = A's descriptor for VA (as data), x21 = a new one."""
    a, b = DATA + 0x1000, DATA + 0x2000
    m.bus.write(a, 8, 0xA)
    m.bus.write(b, 8, 0xB)
    m.bus.write(DATA + 0x3000, 8, 0xC)
    ta, tb = Tables(m, TABLES), Tables(m, TABLES_B)
    for t in (ta, tb):
        code_block(t)
    m.cpu.x[20] = ta.map(VA, a, attrs=NORMAL | NG) + 0x1000_0000
    m.cpu.x[21] = (DATA + 0x3000) | NORMAL | NG | 3
    tb.map(VA, b, attrs=NORMAL | NG)
    ta.map(DATA + 0x5000, DATA + 0x5000, attrs=NORMAL | AP_RW_EL1)  # no EL0 access
    for t in (ta, tb):
        for page in range(TABLES, ta.next, 0x1000):
            t.map(page + 0x1000_0000, page, attrs=NORMAL)
    up = Tables(m, TABLES_UP)
    up.map(UP, DATA, attrs=NORMAL)
    m.bus.write(DATA + 0x40, 8, 0x77)


def load(reg: str, va: int = VA) -> str:
    return f"    ldr x1, ={va:#x}\n    ldr {reg}, [x1]\n"


def test_vhe_el20_regime_uses_ttbr1_el2_for_the_upper_range(run_asm):
    m = run(run_asm, load("x2", UP + 0x40), setup_two_asids, el2=vhe_regs(TABLES))
    assert m.cpu.x[2] == 0x77


def test_vhe_aside1_makes_the_new_descriptor_visible_in_el20(run_asm):
    body = f"""
    ldr x10, ={TABLES | 1 << 48:#x}
    ldr x11, ={TABLES_B | 2 << 48:#x}
{load("x2")}
    msr ttbr0_el2, x11
    isb
{load("x3")}
    str x21, [x20]
    dsb ish
    msr ttbr0_el2, x10
    isb
{load("x4")}
    mov x5, #1 << 48
    tlbi aside1, x5
    dsb ish
    isb
{load("x6")}
"""
    m = run(run_asm, body, setup_two_asids, el2=vhe_regs(TABLES | 1 << 48))
    assert [m.cpu.x[i] for i in (2, 3, 6)] == [0xA, 0xB, 0xC]
    assert m.cpu.x[4] in (0xA, 0xC)  # changed, not yet invalidated: old or new


def test_vhe_host_el0_fault_goes_to_el2_with_ec_0x24(run_asm):
    m = run(run_asm, load("x2", DATA + 0x5000), setup_two_asids, el=0, el2=vhe_regs(TABLES))
    assert m.cpu.sr["ESR_EL2"] == 0x9200_000F
    assert m.cpu.sr["FAR_EL2"] == DATA + 0x5000


def test_vhe_at_s1e1r_in_host_translates_in_el20(run_asm):
    body = f"    ldr x1, ={UP + 0x40:#x}\n    at s1e1r, x1\n    mrs x2, par_el1\n"
    m = run(run_asm, body, setup_two_asids, el2=vhe_regs(TABLES))
    assert m.cpu.x[2] == 0xFF00_0000_4060_0B80
