"""TLB maintenance (MMU-04): what TLBI makes visible, code after a remap.

Between a descriptor change and its TLBI + DSB + ISB a TLB may hold the old
translation or not (the architecture allows both), so reads made there accept
either value; after the TLBI the new translation is required.
"""

from __future__ import annotations

from framework.cpu.syndrome import sysreg_trap
from plugins.mmu.tests.guest import CODE, HCR_RW, HCR_VM, VTCR, code_block, el1_regs, el2_regs, run
from plugins.mmu.tests.tables import (
    DATA,
    NG,
    NORMAL,
    S2_NORMAL,
    S2_TABLES,
    S2AP_RW,
    TABLES,
    Tables,
)

EL1 = {"hcr_el2": HCR_RW}
A, B = DATA + 0x1000, DATA + 0x2000  # two physical pages holding 0xA and 0xB
VA = 0x1000_0000


def remap_setup(extra=lambda t, m: None, *, block=False):
    """VA -> A; the guest finds the descriptor's address in x20 and B's descriptor in x21."""

    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        m.bus.write(A, 8, 0xA)
        m.bus.write(B, 8, 0xB)
        if block:
            m.bus.write(0x4080_0000 + 0x3000, 8, 0xA3)
            m.bus.write(0x40A0_0000 + 0x3000, 8, 0xB3)
            addr = t.map(VA, 0x4080_0000, level=2, attrs=NORMAL | NG)
            new = 0x40A0_0000 | NORMAL | NG | 1
        else:
            addr = t.map(VA, A, attrs=NORMAL | NG)
            new = B | NORMAL | NG | 3
        for page in range(TABLES, t.next, 0x1000):  # the tables themselves, as data
            t.map(page + 0x1000_0000, page, attrs=NORMAL)
        extra(t, m)
        m.cpu.x[20] = addr + 0x1000_0000
        m.cpu.x[21] = new

    return setup


def load_va(reg: str, offset: int = 0) -> str:
    return f"    ldr x1, ={VA + offset:#x}\n    ldr {reg}, [x1]\n"


SWAP = "    str x21, [x20]\n    dsb ish\n"
VA_OP = f"    mov x3, #{VA >> 12:#x}\n"


def test_mmu04_changed_descriptor_is_used_after_tlbi_vae1(run_asm):
    body = load_va("x2") + SWAP + load_va("x4") + VA_OP + "    tlbi vae1, x3\n    dsb ish\n    isb\n" + load_va("x5")
    m = run(run_asm, body, remap_setup(), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert (m.cpu.x[2], m.cpu.x[5]) == (0xA, 0xB)
    assert m.cpu.x[4] in (0xA, 0xB)  # before the TLBI: old or new


def test_mmu04_unmap_then_tlbi_vale1_faults(run_asm):
    body = load_va("x2") + "    str xzr, [x20]\n    dsb ish\n" + VA_OP + "    tlbi vale1, x3\n    dsb ish\n    isb\n"
    body += load_va("x5")
    m = run(run_asm, body, remap_setup(), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.x[2] == 0xA
    assert m.cpu.sr["ESR_EL1"] == 0x9600_0007


def test_mmu04_tlbi_vmalle1_and_vaae1(run_asm):
    for op in ("tlbi vmalle1", "tlbi vaae1, x3", "tlbi vmalle1is", "tlbi vae1is, x3", "tlbi vmalle1os"):
        body = load_va("x2") + SWAP + VA_OP + f"    {op}\n    dsb ish\n    isb\n" + load_va("x5")
        m = run(run_asm, body, remap_setup(), el=1, el2=EL1, el1=el1_regs(TABLES))
        assert (m.cpu.x[2], m.cpu.x[5]) == (0xA, 0xB), op


def test_mmu04_tlbi_by_va_drops_the_whole_block(run_asm):
    # pages of a 2 MiB block other than the one named by the TLBI must not stay cached
    body = load_va("x2", 0x3000) + load_va("x6", 0x5000) + SWAP + VA_OP + "    tlbi vae1, x3\n    dsb ish\n    isb\n"
    body += load_va("x5", 0x3000)
    m = run(run_asm, body, remap_setup(block=True), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert (m.cpu.x[2], m.cpu.x[5]) == (0xA3, 0xB3)


def test_mmu04_aside1_of_the_asid_that_read_makes_the_new_descriptor_visible(run_asm):
    ttbr_asid = lambda asid: TABLES | asid << 48  # noqa: E731
    body = f"""
    ldr x10, ={ttbr_asid(1):#x}
    ldr x11, ={ttbr_asid(2):#x}
    msr ttbr0_el1, x10
    isb
{load_va("x2")}
    msr ttbr0_el1, x11
    isb
{SWAP}
{load_va("x4")}
    msr ttbr0_el1, x10
    isb
{load_va("x5")}
    mov x3, #2 << 48
    tlbi aside1, x3
    dsb ish
    isb
{load_va("x6")}
    mov x3, #1 << 48
    tlbi aside1, x3
    dsb ish
    isb
{load_va("x7")}
"""
    m = run(run_asm, body, remap_setup(), el=1, el2=EL1, el1=el1_regs(TABLES))
    # until ASIDE1 names ASID 1 (x7), a TLB may or may not hold ASID 1's old entry, and
    # ASID 2 may have cached the old descriptor from a walk made before the store
    assert (m.cpu.x[2], m.cpu.x[7]) == (0xA, 0xB)
    assert {m.cpu.x[4], m.cpu.x[5], m.cpu.x[6]} <= {0xA, 0xB}


def test_mmu04_el2_regime_tlbi_vae2_and_alle2(run_asm):
    for op in ("tlbi vae2, x3", "tlbi alle2", "tlbi alle2is", "tlbi vale2is, x3"):
        body = load_va("x2") + SWAP + VA_OP + f"    {op}\n    dsb ish\n    isb\n" + load_va("x5")
        m = run(run_asm, body, remap_setup(), el2=el2_regs(TABLES))
        assert (m.cpu.x[2], m.cpu.x[5]) == (0xA, 0xB), op


def s2_remap_setup(m):
    """Stage 1 off at EL1; stage 2 maps IPA VA -> A; x20 = its descriptor, x21 = one for B."""
    s2 = Tables(m, S2_TABLES, start_level=1)
    s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
    m.bus.write(A, 8, 0xA)
    m.bus.write(B, 8, 0xB)
    m.cpu.x[20] = s2.map(VA, A, attrs=S2_NORMAL | S2AP_RW)
    m.cpu.x[21] = B | S2_NORMAL | S2AP_RW | 3


S2_EL2 = {"hcr_el2": HCR_RW | HCR_VM, "vtcr_el2": VTCR, "vttbr_el2": S2_TABLES}


def test_mmu04_stage2_change_is_visible_after_ipas2e1_and_vmalle1(run_asm):
    body = load_va("x2") + "    hvc #0\n" + load_va("x4") + "    hvc #1\n" + load_va("x5")
    # the EL2 handler: first call swaps the descriptor only, second call invalidates
    hvc = f"""
    mrs x9, esr_el2
    and x9, x9, #0xffff
    cbnz x9, 1f
    str x21, [x20]
    dsb ish
    eret
1:  mov x3, #{VA >> 12:#x}
    tlbi ipas2e1, x3
    dsb ish
    tlbi vmalle1
    dsb ish
    isb
"""
    m = run(run_asm, body, s2_remap_setup, el=1, el2=S2_EL2, hvc=hvc)
    assert (m.cpu.x[2], m.cpu.x[5]) == (0xA, 0xB)
    assert m.cpu.x[4] in (0xA, 0xB)  # changed, not yet invalidated: old or new


def test_mmu04_stage2_change_with_vmalls12e1(run_asm):
    hvc = "    str x21, [x20]\n    dsb ish\n    tlbi vmalls12e1\n    dsb ish\n    isb\n"
    body = load_va("x2") + "    hvc #0\n" + load_va("x5")
    m = run(run_asm, body, s2_remap_setup, el=1, el2=S2_EL2, hvc=hvc)
    assert (m.cpu.x[2], m.cpu.x[5]) == (0xA, 0xB)


def test_mmu04_hcr_ttlb_traps_el1_tlbi_to_el2(run_asm):
    m = run(run_asm, "    tlbi vmalle1\n", lambda m: None, el=1, el2={"hcr_el2": HCR_RW | 1 << 25})
    assert m.cpu.sr["ESR_EL2"] == sysreg_trap(1, 0, 8, 7, 0, 31, False)


def test_mmu04_tlbi_os_forms_undefined_without_feat_tlbios(run_asm):
    m = run(run_asm, "    tlbi vmalle1os\n    mov x9, #1\n", lambda m: None, cpu="neoverse-v1")
    assert m.cpu.sr["ESR_EL2"] == 0x0200_0000
    assert m.cpu.x[9] == 0
    body = "    tlbi vmalle1os\n    tlbi rvae1, x1\n    sys #0, c9, c7, #0\n    mov x9, #1\n"
    m = run(run_asm, body, lambda m: None, cpu="max")
    assert m.cpu.x[9] == 1


# ---- code after a remap --------------------------------------------------------------------------

MOV_X9 = 0xD280_0009  # mov x9, #imm16 (imm16 at bit 5)
RET = 0xD65F_03C0


def test_mmu04_code_after_a_page_is_remapped_and_rewritten(run_asm):
    code_va = 0x2000_0000

    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        for pa, imm in ((A, 1), (B, 2)):
            m.bus.write(pa, 4, MOV_X9 | imm << 5)
            m.bus.write(pa + 4, 4, RET)
        m.cpu.x[20] = t.map(code_va, A, attrs=NORMAL) + 0x1000_0000
        m.cpu.x[21] = B | NORMAL | 3
        t.map(0x3000_0000, B, attrs=NORMAL)  # B as data, to rewrite its code
        for page in range(TABLES, t.next, 0x1000):
            t.map(page + 0x1000_0000, page, attrs=NORMAL)

    body = f"""
    ldr x1, ={code_va:#x}
    blr x1
    mov x10, x9
    str x21, [x20]
    dsb ish
    mov x3, #{code_va >> 12:#x}
    tlbi vae2, x3
    dsb ish
    isb
    ldr x1, ={code_va:#x}
    blr x1
    mov x11, x9
    ldr x4, =0x30000000
    ldr w5, ={MOV_X9 | 3 << 5:#x}
    str w5, [x4]
    dsb ish
    ic iallu
    dsb ish
    isb
    ldr x1, ={code_va:#x}
    blr x1
    mov x12, x9
"""
    m = run(run_asm, body, setup, el2=el2_regs(TABLES))
    assert (m.cpu.x[10], m.cpu.x[11], m.cpu.x[12]) == (1, 2, 3)
