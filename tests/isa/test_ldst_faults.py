"""Data aborts from loads and stores: external aborts, address-size and alignment faults, the ISV
syndrome of stage-2 faults (syndromes.md §6) and the WnR bit of read-modify-writes.

Stage-2 and permission faults come from a stand-in translation plugin registered on the machine,
so these tests do not depend on page tables.
"""

from __future__ import annotations

import pytest
from ldst_support import BUF, VECTORS, sym

from framework import hookimpl
from framework.vmem import TranslationFault

FAULT_PAGE = 0x4020_0000  # stage-2 translation fault, level 3
RO_PAGE = 0x4020_2000  # writes: permission fault, level 3 (the page below is plain RAM)
EL1_ONLY_PAGE = 0x4020_4000  # EL0 permissions: permission fault, level 3


def with_vectors(body: str) -> str:
    return f"""
    adr x9, vectors
    msr vbar_el2, x9
    msr vbar_el1, x9
{body}
    b _armnv_exit
{VECTORS}
"""


def at_el1(body: str) -> str:
    return with_vectors(f"""
    mov x9, #(1 << 31)
    msr hcr_el2, x9
    adr x9, el1_code
    msr elr_el2, x9
    mov x9, #0x3c5
    msr spsr_el2, x9
    eret
el1_code:
{body}""")


class StandInTranslation:
    """Answers the translation hook for three pages and declines (flat map) everywhere else."""

    @hookimpl
    def armnv_translate(self, cpu, va, access):
        page = va & ~0xFFF
        if access.fetch:
            return None
        if page == FAULT_PAGE:
            raise TranslationFault(0x07, stage2=True, ipa=va)
        if page == RO_PAGE and access.write:
            raise TranslationFault(0x0F)
        if page == EL1_ONLY_PAGE and access.el == 0:
            raise TranslationFault(0x0F)
        return None


def stand_in(extra=None):
    def setup(m):
        m.register_plugin(StandInTranslation())
        if extra is not None:
            extra(m)

    return setup


# ---- faults without translation ------------------------------------------------------------------


@pytest.mark.parametrize(("insn", "esr"), [("ldr x2, [x11]", 0x96000010), ("str w2, [x11]", 0x96000050)])
def test_unbacked_physical_address_is_a_synchronous_external_abort(run_asm, insn, esr):
    m = run_asm(
        with_vectors(f"""
    mov x11, #0x60000000
    mov x2, #2
fault_insn:
    {insn}
""")
    )
    cpu = m.cpu
    assert cpu.sr["ESR_EL2"] == esr
    assert cpu.sr["FAR_EL2"] == 0x60000000
    assert cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    assert cpu.x[28] == sym(m, "vectors") + 0x200
    assert cpu.x[2] == 2


def test_address_beyond_the_pa_size_with_mmu_off_is_an_address_size_fault(run_asm):
    # syndromes.md §6: VA 0xFFFFFFFFFFFFFFF8 with the MMU off, level 0
    m = run_asm(
        with_vectors("""
    mov x11, #0
fault_insn:
    ldr x2, [x11, #-8]
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000000
    assert m.cpu.sr["FAR_EL2"] == 0xFFFFFFFFFFFFFFF8
    assert m.cpu.sr["ELR_EL2"] == sym(m, "fault_insn")


def test_unaligned_access_to_device_memory_is_an_alignment_fault(run_asm):
    # syndromes.md §6: LDR W from 0x09000001 (the PL011, Device memory) -> DFSC 0x21
    m = run_asm(
        with_vectors("""
    ldr x11, =0x09000001
fault_insn:
    ldr w5, [x11]
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000021
    assert m.cpu.sr["FAR_EL2"] == 0x09000001


def test_sctlr_a_makes_unaligned_normal_accesses_fault(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + 2}
    ldrh w3, [x11]
    mrs x9, sctlr_el2
    orr x9, x9, #2
    msr sctlr_el2, x9
    ldrh w4, [x11]
fault_insn:
    ldr w5, [x11]
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000021
    assert m.cpu.sr["ELR_EL2"] == sym(m, "fault_insn")


# ---- ISV: stage-2 faults of single-register accesses without writeback (syndromes.md §6) --------------

ISV_CASES = {
    # worked values of syndromes.md §6
    "ldr-x5": ("ldr x5, [x11]", 0x93C58007),
    "ldr-w5": ("ldr w5, [x11]", 0x93850007),
    "ldrb-w7": ("ldrb w7, [x11]", 0x93070007),
    "str-x6": ("str x6, [x11]", 0x93C68047),
    "ldp-x5-x6": ("ldp x5, x6, [x11]", 0x92000007),
    # SSE for sign-extending loads, SF by the register width, SAS by the size
    "ldrsw-x5": ("ldrsw x5, [x11]", 0x93A58007),
    "ldrsb-w5": ("ldrsb w5, [x11]", 0x93250007),
    "ldrsh-x5": ("ldrsh x5, [x11, #2]", 0x93658007),
    "strh-w3": ("strh w3, [x11]", 0x93430047),
    "ldur-x4-unscaled": ("ldur x4, [x11, #1]", 0x93C48007),
    "ldr-register-offset": ("ldr x4, [x11, xzr]", 0x93C48007),
    "ldtr-x4": ("ldtr x4, [x11]", 0x93C48007),
    # AR for acquire/release
    "ldar-x5": ("ldar x5, [x11]", 0x93C5C007),
    "stlr-w5": ("stlr w5, [x11]", 0x93854047),
    "ldapur-x5": ("ldapur x5, [x11]", 0x93C5C007),
    # ISV = 0: writeback, pairs, exclusives, atomics, FP/SIMD registers
    "ldr-pre-index": ("ldr x5, [x11, #0]!", 0x92000007),
    "str-post-index": ("str x5, [x11], #8", 0x92000047),
    "stp": ("stp x5, x6, [x11]", 0x92000047),
    "ldxr": ("ldxr x5, [x11]", 0x92000007),
    "ldadd": ("ldadd x5, x6, [x11]", 0x92000007),
    "cas": ("cas x5, x6, [x11]", 0x92000007),
    "ldr-q": ("ldr q5, [x11]", 0x92000007),
    "str-d": ("str d5, [x11]", 0x92000047),
}


@pytest.mark.parametrize(("insn", "esr"), ISV_CASES.values(), ids=ISV_CASES.keys())
def test_stage2_fault_syndromes_from_el1(run_asm, insn, esr):
    m = run_asm(
        at_el1(f"""
    ldr x11, ={FAULT_PAGE}
    mov x9, #3 << 20
    msr cpacr_el1, x9
fault_insn:
    {insn}
"""),
        setup=stand_in(),
    )
    cpu = m.cpu
    assert cpu.sr["ESR_EL2"] == esr
    assert cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    va = FAULT_PAGE + (1 if "#1]" in insn else 2 if "#2]" in insn else 0)
    assert cpu.sr["FAR_EL2"] == va
    assert cpu.sr["HPFAR_EL2"] == (FAULT_PAGE >> 12) << 4
    assert cpu.x[28] == sym(m, "vectors") + 0x400


def test_store_exclusive_faults_only_when_the_monitor_passes(run_asm):
    # AArch64.ExclusiveMonitorsPass: a store exclusive that fails the monitor check is not translated
    m = run_asm(
        at_el1(f"""
    ldr x11, ={FAULT_PAGE}
    stxr w4, x5, [x11]
    mov x20, #20
"""),
        setup=stand_in(),
    )
    assert m.cpu.x[4] == 1
    assert m.cpu.x[20] == 20
    assert m.stop.exit_code == 0


# ---- read-modify-write: WnR ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "insn",
    [
        "ldadd x2, x3, [x11]",
        "swpal x2, x3, [x11]",
        "cas x4, x3, [x11]",
        "stset x2, [x11]",
        "casp x4, x5, x2, x3, [x11]",
    ],
)
def test_atomic_on_a_read_only_page_is_a_write_permission_fault(run_asm, insn):
    # the comparison of CAS fails (x4 != memory) and still the write permission is checked first
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={RO_PAGE}
    ldr x12, [x11]
    mov x2, #2
    mov x3, #3
    mov x4, #4
fault_insn:
    {insn}
"""),
        setup=stand_in(lambda m: m.bus.write(RO_PAGE, 8, 0x77)),
    )
    cpu = m.cpu
    assert cpu.x[12] == 0x77  # reading the page is allowed
    assert cpu.sr["ESR_EL2"] == 0x9600004F
    assert cpu.sr["FAR_EL2"] == RO_PAGE
    assert cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    assert (cpu.x[3], cpu.x[4]) == (3, 4)
    assert m.bus.read(RO_PAGE, 8) == 0x77


def test_atomic_translation_fault_is_reported_as_a_read(run_asm):
    # WnR = 0 when a read of the address would take the same fault (Arm ARM, Data Abort ISS.WnR)
    m = run_asm(
        at_el1(f"""
    ldr x11, ={FAULT_PAGE}
    ldeor x2, x3, [x11]
"""),
        setup=stand_in(),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x92000007


def test_stp_whose_second_element_is_read_only_stores_nothing(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={RO_PAGE - 8}
    mov x2, #2
    mov x3, #3
fault_insn:
    stp x2, x3, [x11]
"""),
        setup=stand_in(lambda m: m.bus.write(RO_PAGE - 8, 8, 0x66)),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x9600004F
    assert m.cpu.sr["FAR_EL2"] == RO_PAGE
    assert m.bus.read(RO_PAGE - 8, 8) == 0x66


def test_unaligned_store_across_into_a_read_only_page_stores_nothing(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={RO_PAGE - 4}
    mov x2, #-1
    str x2, [x11]
"""),
        setup=stand_in(lambda m: m.bus.write(RO_PAGE - 8, 8, 0)),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x9600004F
    assert m.bus.read(RO_PAGE - 8, 8) == 0


# ---- unprivileged accesses use EL0 permissions (pan.md §5) ----------------------------------------------


def test_ldtr_at_el1_is_checked_with_el0_permissions(run_asm):
    # the plain load fills the EL1 TLB first: LDTR must still be checked as EL0
    m = run_asm(
        at_el1(f"""
    ldr x11, ={EL1_ONLY_PAGE}
    ldr x2, [x11]
fault_insn:
    ldtr x3, [x11]
"""),
        setup=stand_in(),
    )
    assert m.cpu.sr["ESR_EL1"] == 0x9600000F
    assert m.cpu.sr["FAR_EL1"] == EL1_ONLY_PAGE
    assert m.cpu.sr["ELR_EL1"] == sym(m, "fault_insn")


def test_sttr_at_el1_is_checked_with_el0_permissions(run_asm):
    m = run_asm(
        at_el1(f"""
    ldr x11, ={EL1_ONLY_PAGE}
    str xzr, [x11]
    sttrb w2, [x11, #1]
"""),
        setup=stand_in(),
    )
    assert m.cpu.sr["ESR_EL1"] == 0x9600004F
