"""TLB maintenance corners (MMU-04): what must be visible after TLBI + DSB + ISB.

Each guest reads through a translation (so a TLB may hold it), changes the descriptor,
then invalidates. Before the TLBI either the old or the new translation is allowed, and
these tests do not look; after the TLBI the new descriptor must be used. The cases are
the ones where a cached copy lives somewhere the TLBI may not obviously reach: the EL2&0
regime and its ASIDs, the TTBR1 range, another ASID or VMID than the current one, host
EL0, stage 2 under stage 1, block mappings and decoded code.
"""

from __future__ import annotations

import pytest

from framework.devices.semihosting import SemihostingConfig
from plugins.mmu.tests.guest import (
    CODE,
    EL1,
    HCR_E2H,
    HCR_RW,
    HCR_TGE,
    HCR_VM,
    RET,
    SCTLR_EL2_M,
    TCR_EL1,
    VTCR,
    code_block,
    code_pages,
    el1_regs,
    el2_regs,
    run,
)
from plugins.mmu.tests.tables import (
    AP_RO_ALL,
    DATA,
    MAIR,
    NG,
    NORMAL,
    PXN,
    S2_NORMAL,
    S2_TABLES,
    S2AP_RW,
    TABLES,
    Tables,
)

A, B = DATA + 0x1000, DATA + 0x2000  # two pages holding 0xA and 0xB
VA = 0x1000_0000
UP = 0xFFFF_FF80_0060_0000  # upper range with T1SZ = 25
TABLES_UP = 0x404C_0000
ALIAS = 0x1000_0000  # the tables are also mapped as data at +ALIAS
SYNC = "    dsb ish\n    isb\n"


def va_operand(va: int, asid: int = 0) -> int:
    """Xt of a TLBI by VA: ASID in [63:48], VA[55:12] in [43:0]."""
    return asid << 48 | (va >> 12) & ((1 << 44) - 1)


def tlbi(op: str, xt: int | None = None) -> str:
    if xt is None:
        return f"    tlbi {op}\n" + SYNC
    return f"    ldr x3, ={xt:#x}\n    tlbi {op}, x3\n" + SYNC


def load(reg: str, va: int = VA) -> str:
    return f"    ldr x1, ={va:#x}\n    ldr {reg}, [x1]\n"


SWAP = "    str x21, [x20]\n    dsb ish\n"


def remap_setup(*, va: int = VA, attrs: int = NORMAL | NG, upper: bool = False, level: int = 3, pages=False):
    """`va` -> A (a block holding A when level < 3); x20 = the descriptor (as data), x21 = one for B.

    The lower range (TTBR0) has the code and the tables as data; with `upper` the remapped
    VA is in the TTBR1 tables at TABLES_UP. With `pages` the code is mapped with pages
    rather than a block, so that no block mapping is in use at all.
    """

    def setup(m):
        m.bus.write(A, 8, 0xA)
        m.bus.write(B, 8, 0xB)
        t = Tables(m, TABLES)
        if pages:
            code_pages(t)
        else:
            code_block(t)
        tv = Tables(m, TABLES_UP) if upper else t
        if level == 3:
            addr = tv.map(va, A, attrs=attrs)
            new = B | attrs | 0b11
        else:
            # 2 MiB blocks at 0x4080_0000 and 0x40A0_0000, each holding its value at +0x3000
            m.bus.write(0x4080_3000, 8, 0xA)
            m.bus.write(0x40A0_3000, 8, 0xB)
            addr = tv.map(va, 0x4080_0000, level=2, attrs=attrs)
            new = 0x40A0_0000 | attrs | 0b01
        for page in range(TABLES, max(t.next, tv.next), 0x1000):
            t.map(page + ALIAS, page, attrs=NORMAL)
        m.cpu.x[20] = addr + ALIAS
        m.cpu.x[21] = new

    return setup


def assert_new(m, reg: int = 5, value: int = 0xB) -> None:
    assert m.cpu.x[2] == 0xA  # the first read went through the old descriptor
    assert m.cpu.x[reg] == value


# ---- the EL2&0 regime (E2H = 1) -------------------------------------------------------------------

# TCR_EL2 in the EL1 layout: T0SZ = T1SZ = 25, TG1 4 KiB, IPS 40 bits, 16-bit ASIDs
TCR_VHE = 0x19 | 0x3500 | 0x19 << 16 | 2 << 30 | 2 << 32 | 1 << 36
ASID = 0x1234


def vhe_regs(asid: int = ASID) -> dict[str, int]:
    return {
        "hcr_el2": HCR_E2H | HCR_TGE | HCR_RW,
        "mair_el2": MAIR,
        "tcr_el2": TCR_VHE,
        "ttbr0_el2": TABLES | asid << 48,
        "ttbr1_el2": TABLES_UP,
        "sctlr_el2": SCTLR_EL2_M,
    }


@pytest.mark.parametrize(
    "op",
    [
        tlbi("vae2", va_operand(VA, ASID)),
        tlbi("vale2", va_operand(VA, ASID)),
        tlbi("vae2is", va_operand(VA, ASID)),
        tlbi("alle2"),
        # with {E2H, TGE} = {1, 1} the EL1 forms apply to the EL2&0 regime
        tlbi("vae1", va_operand(VA, ASID)),
        tlbi("aside1", va_operand(0, ASID)),
        tlbi("vmalle1"),
    ],
)
def test_mmu04_el20_tlbi_with_asid_makes_the_new_descriptor_visible(run_asm, op):
    body = load("x2") + SWAP + op + load("x5")
    m = run(run_asm, body, remap_setup(), el2=vhe_regs())
    assert_new(m)


def test_mmu04_el20_tlbi_vae2_reaches_entries_cached_by_host_el0(run_asm):
    # host EL0 reads the page, an SVC takes it to EL2 (TGE) which remaps and invalidates
    hvc = SWAP + tlbi("vae2", va_operand(VA, ASID))
    body = load("x2") + "    svc #0\n" + load("x5")
    setup = remap_setup(attrs=NORMAL | NG | AP_RO_ALL)
    # the guest's exit is a semihosting call made at EL0
    host_el0 = SemihostingConfig(userspace=True)
    m = run(run_asm, body, setup, el=0, el2=vhe_regs(), hvc=hvc, semihosting=host_el0)
    assert_new(m)


@pytest.mark.parametrize("op", [tlbi("vae2", va_operand(UP)), tlbi("vale2", va_operand(UP)), tlbi("alle2")])
def test_mmu04_el20_tlbi_of_an_upper_half_va(run_asm, op):
    body = load("x2", UP) + SWAP + op + load("x5", UP)
    m = run(run_asm, body, remap_setup(va=UP, attrs=NORMAL, upper=True), el2=vhe_regs())
    assert_new(m)


# ---- the TTBR1 range of EL1&0 ------------------------------------------------------------------------

TCR_UPPER = (TCR_EL1 & ~(1 << 23)) | 25 << 16 | 2 << 30
TBI1 = 1 << 38


PAGES = pytest.mark.parametrize("pages", [False, True], ids=["code-block", "code-pages"])


@PAGES
@pytest.mark.parametrize(
    "op", [tlbi("vae1", va_operand(UP)), tlbi("vaae1", va_operand(UP)), tlbi("vale1is", va_operand(UP))]
)
def test_mmu04_tlbi_by_va_of_an_upper_half_address(run_asm, op, pages):
    body = load("x2", UP) + SWAP + op + load("x5", UP)
    el1 = el1_regs(TABLES, tcr=TCR_UPPER, ttbr1_el1=TABLES_UP)
    m = run(run_asm, body, remap_setup(va=UP, attrs=NORMAL, upper=True, pages=pages), el=1, el2=EL1, el1=el1)
    assert_new(m)


@PAGES
def test_mmu04_tlbi_by_va_drops_what_a_tagged_address_cached(run_asm, pages):
    # TBI1: the tag is no part of the translation, so TLBI of the untagged VA names the entry
    tagged = 0x3C << 56 | UP & ((1 << 56) - 1)
    body = load("x2", tagged) + SWAP + tlbi("vae1", va_operand(UP)) + load("x5", tagged)
    el1 = el1_regs(TABLES, tcr=TCR_UPPER | TBI1, ttbr1_el1=TABLES_UP)
    m = run(run_asm, body, remap_setup(va=UP, attrs=NORMAL, upper=True, pages=pages), el=1, el2=EL1, el1=el1)
    assert_new(m)


# ---- ASIDs: an entry of an ASID that is not the current one -------------------------------------------


def ttbr(asid: int) -> int:
    return TABLES | asid << 48


SWITCH = "    ldr x10, ={:#x}\n    msr ttbr0_el1, x10\n    isb\n"


@pytest.mark.parametrize(
    ("attrs", "op"),
    [
        (NORMAL | NG, tlbi("aside1", va_operand(0, 1))),
        (NORMAL | NG, tlbi("vae1", va_operand(VA, 1))),
        (NORMAL | NG, tlbi("vaae1", va_operand(VA))),
        (NORMAL | NG, tlbi("vmalle1")),
        # a global entry matches a TLBI by VA whatever ASID the TLBI names
        (NORMAL, tlbi("vae1", va_operand(VA, 2))),
        (NORMAL, tlbi("vale1", va_operand(VA, 7))),
    ],
)
def test_mmu04_tlbi_from_another_asid_reaches_the_entries_of_asid1(run_asm, attrs, op):
    # ASID 1 reads, ASID 2 becomes current, the descriptor changes, the TLBI is issued
    # under ASID 2, then ASID 1 is current again and must see the new descriptor
    body = SWITCH.format(ttbr(1)) + load("x2") + SWITCH.format(ttbr(2)) + SWAP + op
    body += SWITCH.format(ttbr(1)) + load("x5")
    m = run(run_asm, body, remap_setup(attrs=attrs), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert_new(m)


# ---- VMIDs ---------------------------------------------------------------------------------------------

S2_EL2 = {"hcr_el2": HCR_RW | HCR_VM, "vtcr_el2": VTCR, "vttbr_el2": S2_TABLES | 1 << 48}


def s2_remap_setup(*, level: int = 3, s1: bool = False):
    """Stage 2 (VMID 1): IPA VA -> A (or a 2 MiB block); x20 = its descriptor, x21 = one for B.

    With `s1`, EL1 stage 1 maps VA 0x2000_0000 -> IPA VA through tables at TABLES.
    """

    def setup(m):
        s2 = Tables(m, S2_TABLES, start_level=1)
        s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
        m.bus.write(A, 8, 0xA)
        m.bus.write(B, 8, 0xB)
        if level == 3:
            m.cpu.x[20] = s2.map(VA, A, attrs=S2_NORMAL | S2AP_RW)
            m.cpu.x[21] = B | S2_NORMAL | S2AP_RW | 0b11
        else:
            m.bus.write(0x4080_3000, 8, 0xA)
            m.bus.write(0x40A0_3000, 8, 0xB)
            m.cpu.x[20] = s2.map(VA, 0x4080_0000, level=2, attrs=S2_NORMAL | S2AP_RW)
            m.cpu.x[21] = 0x40A0_0000 | S2_NORMAL | S2AP_RW | 0b01
        if s1:
            t = Tables(m, TABLES)
            code_block(t)
            t.map(0x2000_0000, VA, level=2, attrs=NORMAL)
            for page in range(TABLES, t.next, 0x1000):
                s2.map(page, page, attrs=S2_NORMAL | S2AP_RW)

    return setup


def hvc_dispatch(*handlers: str) -> str:
    """An EL2 handler that runs handlers[imm16] for `hvc #imm16`."""
    src = "    mrs x9, esr_el2\n    and x9, x9, #0xffff\n"
    for i in range(len(handlers)):
        src += f"    cmp x9, #{i}\n    b.eq hvc_{i}\n"
    src += "    b hvc_done\n"
    for i, code in enumerate(handlers):
        src += f"hvc_{i}:\n{code}    b hvc_done\n"
    return src + "hvc_done:\n"


def set_vmid(vmid: int) -> str:
    return f"    ldr x10, ={S2_TABLES | vmid << 48:#x}\n    msr vttbr_el2, x10\n    isb\n"


IPA_OP = va_operand(VA)  # Xt of TLBI IPAS2E1: IPA[47:12] in [35:0]


@pytest.mark.parametrize(
    "invalidate",
    [
        set_vmid(1) + tlbi("ipas2e1", IPA_OP) + tlbi("vmalle1"),
        set_vmid(1) + tlbi("ipas2le1is", IPA_OP) + tlbi("vmalle1is"),
        set_vmid(1) + tlbi("vmalls12e1"),
        tlbi("alle1") + set_vmid(1),  # every VMID, issued while VMID 2 is current
    ],
)
def test_mmu04_stage2_entries_of_a_vmid_that_is_not_current(run_asm, invalidate):
    # VMID 1 reads, VMID 2 runs, then EL2 changes VMID 1's stage 2 and invalidates
    hvc = hvc_dispatch(set_vmid(2), SWAP + invalidate)
    body = load("x2") + "    hvc #0\n" + load("x4") + "    hvc #1\n" + load("x5")
    m = run(run_asm, body, s2_remap_setup(), el=1, el2=S2_EL2, hvc=hvc)
    assert_new(m)


@pytest.mark.parametrize("level", [3, 2])
def test_mmu04_ipas2e1_then_vmalle1_drops_combined_stage1_and_stage2_entries(run_asm, level):
    # stage 1 maps VA 0x2000_0000 with a 2 MiB block onto IPA VA; stage 2 changes under it.
    # The TLBI IPAS2E1 names a page of the stage-2 block other than the one that was read.
    offset = 0 if level == 3 else 0x3000
    ipa_named = VA if level == 3 else VA + 0x1_0000
    hvc = SWAP + tlbi("ipas2e1", va_operand(ipa_named)) + tlbi("vmalle1")
    body = load("x2", 0x2000_0000 + offset) + "    hvc #0\n" + load("x5", 0x2000_0000 + offset)
    setup = s2_remap_setup(level=level, s1=True)
    m = run(run_asm, body, setup, el=1, el2=S2_EL2, el1=el1_regs(TABLES), hvc=hvc)
    assert_new(m)


# ---- block mappings ----------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["vale1", "vaae1", "vae1is"])
def test_mmu04_tlbi_by_va_anywhere_in_a_block_drops_the_block(run_asm, op):
    # the TLBI names the block's first page; the read was from its page at +0x3000
    body = load("x2", VA + 0x3000) + SWAP + tlbi(op, va_operand(VA)) + load("x5", VA + 0x3000)
    m = run(run_asm, body, remap_setup(level=2), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert_new(m)


def test_mmu04_tlbi_vae2_in_a_block_of_the_el2_regime(run_asm):
    body = load("x2", VA + 0x3000) + SWAP + tlbi("vae2", va_operand(VA + 0x1F_F000)) + load("x5", VA + 0x3000)
    m = run(run_asm, body, remap_setup(level=2), el2=el2_regs(TABLES))
    assert_new(m)


# ---- decoded code after a TLBI ---------------------------------------------------------------------

MOV_X9 = 0xD280_0009  # mov x9, #imm16 (imm16 at bit 5)


def code_remap_setup(*, level: int = 3):
    """Code at VA (page) or in a 2 MiB block at VA: `mov x9, #1; ret` now, `#2` after the remap."""

    def setup(m):
        remap_setup(level=level)(m)
        for pa, imm in ((A, 1), (B, 2), (0x4080_3000, 1), (0x40A0_3000, 2)):
            m.bus.write(pa, 4, MOV_X9 | imm << 5)
            m.bus.write(pa + 4, 4, RET)

    return setup


def call(va: int, reg: str) -> str:
    return f"    ldr x1, ={va:#x}\n    blr x1\n    mov {reg}, x9\n"


@pytest.mark.parametrize(
    ("level", "op"),
    [
        (3, tlbi("vae1", va_operand(VA))),
        (3, tlbi("vmalle1")),
        (2, tlbi("vale1", va_operand(VA))),  # the block's first page; the code is at +0x3000
    ],
)
def test_mmu04_code_at_a_remapped_va_runs_the_new_page_after_tlbi(run_asm, level, op):
    target = VA if level == 3 else VA + 0x3000
    # run the old code twice so that it is surely translated and cached
    body = call(target, "x11") + call(target, "x12") + SWAP + op + call(target, "x13")
    m = run(run_asm, body, code_remap_setup(level=level), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert (m.cpu.x[11], m.cpu.x[12], m.cpu.x[13]) == (1, 1, 2)


def test_mmu04_code_remapped_at_stage2_runs_the_new_page_after_ipas2e1_and_vmalle1(run_asm):
    def setup(m):
        s2_remap_setup()(m)
        for pa, imm in ((A, 1), (B, 2)):
            m.bus.write(pa, 4, MOV_X9 | imm << 5)
            m.bus.write(pa + 4, 4, RET)

    hvc = SWAP + tlbi("ipas2e1", IPA_OP) + tlbi("vmalle1")
    body = call(VA, "x11") + call(VA, "x12") + "    hvc #0\n" + call(VA, "x13")
    m = run(run_asm, body, setup, el=1, el2=S2_EL2, hvc=hvc)
    assert (m.cpu.x[11], m.cpu.x[12], m.cpu.x[13]) == (1, 1, 2)


def test_code_at_two_vas_of_one_physical_page_sees_each_its_own_pc(run_asm):
    # PC-relative results come from the VA the code runs at, not from where it was first decoded
    second = VA + 0x10_0000

    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        t.map(VA, A, attrs=NORMAL)
        t.map(second, A, attrs=NORMAL)
        m.bus.write(A, 4, 0x1000_0009)  # adr x9, .
        m.bus.write(A + 4, 4, RET)

    body = call(VA, "x11") + call(second, "x12") + call(VA, "x13")
    m = run(run_asm, body, setup, el=1, el2=EL1, el1=el1_regs(TABLES))
    assert (m.cpu.x[11], m.cpu.x[12], m.cpu.x[13]) == (VA, second, VA)


# ---- which ASID / VMID is current: TCR_EL1.A1 and AS, VTCR_EL2.VS ----------------------------------
# An entry tagged with one ASID (VMID) is never used for another, and an ASID (VMID) that was
# never current before the descriptor changed cannot hold the old translation: its first
# read must walk the changed tables. Each case switches to another ASID (VMID) only after
# the change, so it must read 0xB.

A1, AS = 1 << 22, 1 << 36


@pytest.mark.parametrize(
    ("tcr", "reg", "first", "second"),
    [
        (TCR_EL1 | A1, "ttbr1_el1", TABLES_UP | 1 << 48, TABLES_UP | 2 << 48),  # A1: TTBR1 holds the ASID
        (TCR_EL1 | AS, "ttbr0_el1", TABLES | 0x101 << 48, TABLES | 0x201 << 48),  # AS: 16-bit ASIDs
    ],
)
def test_mmu04_a_new_asid_walks_the_changed_tables(run_asm, tcr, reg, first, second):
    switch = f"    ldr x10, ={{:#x}}\n    msr {reg}, x10\n    isb\n"
    body = switch.format(first) + load("x2") + SWAP + switch.format(second) + load("x5")
    m = run(run_asm, body, remap_setup(), el=1, el2=EL1, el1=el1_regs(TABLES, tcr=tcr))
    assert_new(m)


def test_mmu04_a_new_16bit_vmid_walks_the_changed_stage2_tables(run_asm):
    vs = 1 << 19
    hvc = SWAP + f"    ldr x10, ={S2_TABLES | 0x201 << 48:#x}\n    msr vttbr_el2, x10\n    isb\n"
    el2 = {**S2_EL2, "vtcr_el2": VTCR | vs, "vttbr_el2": S2_TABLES | 0x101 << 48}
    m = run(run_asm, load("x2") + "    hvc #0\n" + load("x5"), s2_remap_setup(), el=1, el2=el2, hvc=hvc)
    assert_new(m)


@pytest.mark.parametrize("op", [tlbi("vae1", va_operand(VA)), tlbi("vmalle1"), tlbi("vaale1", va_operand(VA))])
def test_mmu04_el1_tlbi_at_el2_with_e2h_and_not_tge_is_for_the_guest_regime(run_asm, op):
    # a VHE hypervisor (E2H = 1, TGE = 0, its own MMU off) edits the guest's stage-1 table
    hvc = f"    ldr x22, ={ALIAS:#x}\n    sub x20, x20, x22\n" + SWAP + op
    # E2H is set after the EL1 registers are written (with E2H = 1 their names reach EL2's)
    el1 = {**el1_regs(TABLES), "hcr_el2": HCR_E2H | HCR_RW}
    m = run(run_asm, load("x2") + "    hvc #0\n" + load("x5"), remap_setup(), el=1, el2=EL1, el1=el1, hvc=hvc)
    assert_new(m)


# ---- permissions that shrink --------------------------------------------------------------------


def test_mmu04_store_to_a_page_made_read_only_faults_after_tlbi(run_asm):
    # x21 = the same page read-only; the first store may leave a writable entry behind
    body = "    ldr x1, =0x10000000\n    str x1, [x1]\n    ldr x9, [x20]\n    orr x21, x9, #0x80\n"
    body += SWAP + tlbi("vae1", va_operand(VA)) + "    str xzr, [x1]\n    mov x12, #1\n"
    m = run(run_asm, body, remap_setup(), el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_004F
    assert m.cpu.x[12] == 0
    assert m.bus.read(A, 8) == VA  # the first store went through, the second did not


def test_mmu04_fetch_from_a_page_made_execute_never_faults_after_tlbi(run_asm):
    def setup(m):
        code_remap_setup()(m)
        m.cpu.x[21] = A | NORMAL | NG | PXN | 0b11

    body = call(VA, "x11") + SWAP + tlbi("vae1", va_operand(VA)) + call(VA, "x12")
    m = run(run_asm, body, setup, el=1, el2=EL1, el1=el1_regs(TABLES))
    assert m.cpu.x[11] == 1
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F
    assert m.cpu.sr["ELR_EL1"] == m.cpu.sr["FAR_EL1"] == VA
