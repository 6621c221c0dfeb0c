"""Load/store exclusive (local monitor) and the ordered load-acquire/store-release forms."""

from __future__ import annotations

import pytest
from ldst_support import BUF, M64, PATTERN, fill, le, sym, with_vectors


def sx(value: int, bits: int) -> int:
    return value - (1 << bits) if value >> (bits - 1) else value


def features(*, add: tuple[str, ...] = (), remove: tuple[str, ...] = (), then=None):
    """A setup that switches kernel features (FEAT_LSE2, FEAT_LOR) on or off before the run."""

    def setup(m):
        m.features = (m.features | set(add)) - set(remove)
        if then is not None:
            then(m)

    return setup


# ---- exclusives ---------------------------------------------------------------------------------


def test_ldxr_stxr_to_the_same_address_succeeds_once(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldxr x2, [x1]
    add x3, x2, #1
    stxr w4, x3, [x1]
    add x5, x2, #2
    stxr w6, x5, [x1]
    """,
        setup=fill(PATTERN),
    )
    x = m.cpu.x
    assert x[2] == le(PATTERN, 0, 8)
    assert x[4] == 0  # success
    assert x[6] == 1  # the first STXR cleared the monitor
    assert m.bus.read(BUF, 8) == le(PATTERN, 0, 8) + 1
    assert m.cpu.excl is None


def test_stxr_without_ldxr_fails_and_stores_nothing(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    mov x4, #7
    stxr w4, xzr, [x1]
    """,
        setup=fill(PATTERN),
    )
    assert m.cpu.x[4] == 1
    assert m.bus.read_bytes(BUF, 8) == PATTERN[:8]


def test_clrex_between_ldxr_and_stxr_makes_it_fail(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldxr w2, [x1]
    clrex
    stxr w3, wzr, [x1]
    """,
        setup=fill(PATTERN),
    )
    assert m.cpu.x[3] == 1
    assert m.bus.read_bytes(BUF, 4) == PATTERN[:4]


def test_exception_return_clears_the_monitor(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldxr x2, [x1]
    adr x9, 1f
    msr elr_el2, x9
    mov x9, #0x3c9
    msr spsr_el2, x9
    eret
1:
    stxr w3, x2, [x1]
    """,
        setup=fill(PATTERN),
    )
    assert m.cpu.x[3] == 1


@pytest.mark.parametrize(
    ("load", "store"),
    [
        ("ldxr x2, [x1]", "stxr w3, x2, [x5]"),  # another address
        ("ldxr w2, [x1]", "stxr w3, x2, [x1]"),  # another size
        ("ldxrb w2, [x1]", "stxrh w3, w2, [x1]"),
    ],
)
def test_stxr_to_another_address_or_size_fails(run_asm, load, store):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    add x5, x1, #8
    {load}
    mov x2, #0
    {store}
    """,
        setup=fill(PATTERN),
    )
    assert m.cpu.x[3] == 1
    assert m.bus.read_bytes(BUF, 16) == PATTERN[:16]


@pytest.mark.parametrize(
    ("suffix", "reg", "nbytes"),
    [("b", "w", 1), ("h", "w", 2), ("", "w", 4), ("", "x", 8)],
)
@pytest.mark.parametrize("ordering", ["", "a"])
def test_exclusive_sizes_and_acquire_release(run_asm, suffix, reg, nbytes, ordering):
    release = "l" if ordering else ""
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    mov x2, #-1
    ld{ordering}xr{suffix} {reg}2, [x1]
    mov x3, #-1
    st{release}xr{suffix} w4, {reg}3, [x1]
    """,
        setup=fill(PATTERN),
    )
    assert m.cpu.x[2] == le(PATTERN, 0, nbytes)  # zero-extended to 64 bits
    assert m.cpu.x[4] == 0
    assert m.bus.read_bytes(BUF, 16) == b"\xff" * nbytes + PATTERN[nbytes:16]


def test_exclusive_pairs_32_and_64(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldxp w2, w3, [x1]
    stxp w4, w3, w2, [x1]
    ldaxp x5, x6, [x1, #0]
    add x10, x1, #16
    ldaxp x7, x8, [x10]
    stlxp w9, x8, x7, [x10]
    stxp w11, x8, x7, [x10]
    """,
        setup=fill(PATTERN),
    )
    x = m.cpu.x
    assert (x[2], x[3]) == (le(PATTERN, 0, 4), le(PATTERN, 4, 4))
    assert x[4] == 0
    assert m.bus.read_bytes(BUF, 8) == PATTERN[4:8] + PATTERN[0:4]
    assert (x[5], x[6]) == (le(PATTERN, 4, 4) | le(PATTERN, 0, 4) << 32, le(PATTERN, 8, 8))
    assert (x[7], x[8]) == (le(PATTERN, 16, 8), le(PATTERN, 24, 8))
    assert x[9] == 0
    assert x[11] == 1
    assert m.bus.read_bytes(BUF + 16, 16) == PATTERN[24:32] + PATTERN[16:24]


def test_stxr_status_register_may_be_the_base(run_asm):
    # Ws is written after the store, so a status register equal to Rt still stores the old value
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldxr x2, [x1]
    mov x3, #0x55
    stxr w3, x3, [x1]
    """,
        setup=fill(PATTERN),
    )
    assert m.cpu.x[3] == 0
    assert m.bus.read(BUF, 8) == 0x55


def test_unaligned_exclusive_across_16_bytes_is_an_alignment_fault(run_asm):
    # DFSC 0x21, ESR_EL2 0x96000021 (syndromes.md §6, §8); the monitor is not set
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + 12}
    mov x2, #2
fault_insn:
    ldxr x2, [x11]
""")
    )
    cpu = m.cpu
    assert m.stop.exit_code == 1
    assert cpu.sr["ESR_EL2"] == 0x96000021
    assert cpu.sr["FAR_EL2"] == BUF + 12
    assert cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    assert cpu.x[28] == sym(m, "vectors") + 0x200
    assert cpu.x[2] == 2


def test_unaligned_store_exclusive_fault_is_a_write(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + 14}
fault_insn:
    stxr w3, w2, [x11]
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000061
    assert m.cpu.sr["FAR_EL2"] == BUF + 14


def test_exclusive_pair_of_doublewords_must_be_16_byte_aligned(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + 8}
fault_insn:
    ldxp x2, x3, [x11]
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000021
    assert m.cpu.sr["FAR_EL2"] == BUF + 8


def test_lse2_unaligned_exclusive_within_16_bytes_is_allowed(run_asm):
    # FEAT_LSE2: bytes 4..11 of an aligned 16-byte quantity (Arm ARM AArch64.UnalignedAccessFaults)
    m = run_asm(
        f"""
    ldr x1, ={BUF + 4}
    ldxr x2, [x1]
    stxr w3, xzr, [x1]
    """,
        setup=features(add=("lse2",), then=fill(PATTERN)),
    )
    assert m.cpu.x[2] == le(PATTERN, 4, 8)
    assert m.cpu.x[3] == 0
    assert m.bus.read_bytes(BUF, 16) == PATTERN[:4] + b"\0" * 8 + PATTERN[12:16]


def test_without_lse2_any_unaligned_exclusive_faults(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + 4}
fault_insn:
    ldxr x2, [x11]
"""),
        setup=features(remove=("lse2",)),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000021
    assert m.cpu.sr["FAR_EL2"] == BUF + 4
    assert m.cpu.sr["ELR_EL2"] == sym(m, "fault_insn")


def test_sctlr_a_makes_any_unaligned_exclusive_fault(run_asm):
    m = run_asm(
        with_vectors(f"""
    mrs x9, sctlr_el2
    orr x9, x9, #2
    msr sctlr_el2, x9
    ldr x11, ={BUF + 2}
fault_insn:
    ldxr w2, [x11]
"""),
        setup=features(add=("lse2",)),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000021
    assert m.cpu.sr["ELR_EL2"] == sym(m, "fault_insn")


# ---- ordered: LDAR/STLR, LDLAR/STLLR, LDAPR, LDAPUR/STLUR ------------------------------------------------


def test_load_acquire_and_store_release_all_sizes(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldarb w2, [x1]
    ldarh w3, [x1]
    ldar w4, [x1]
    ldar x5, [x1]
    ldlar x6, [x1]
    ldlarb w7, [x1]
    add x10, x1, #32
    ldr x9, =0x1122334455667788
    stlrb w9, [x10]
    add x15, x10, #2
    stlrh w9, [x15]
    add x11, x10, #4
    stlr w9, [x11]
    add x12, x10, #8
    stlr x9, [x12]
    add x13, x10, #16
    stllr x9, [x13]
    add x14, x10, #24
    stllrh w9, [x14]
    """,
        setup=features(add=("lor",), then=fill(PATTERN)),
    )
    x = m.cpu.x
    assert [x[2], x[3], x[4], x[5], x[6], x[7]] == [le(PATTERN, 0, n) for n in (1, 2, 4, 8, 8, 1)]
    mem = m.bus.read_bytes(BUF + 32, 32)
    v = (0x1122334455667788).to_bytes(8, "little")
    assert mem[0:1] == v[:1] and mem[2:4] == v[:2] and mem[4:8] == v[:4] and mem[8:16] == v
    assert mem[16:24] == v and mem[24:26] == v[:2]


def test_ldapr_and_unscaled_rcpc2_forms(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF + 16}
    ldaprb w2, [x1]
    ldapr x3, [x1]
    ldapurb w4, [x1, #-1]
    ldapursb x5, [x1, #-16]
    ldapursb w6, [x1, #-16]
    ldapursh x7, [x1, #-14]
    ldapursw x8, [x1, #-12]
    ldapur x9, [x1, #-8]
    ldapurh w10, [x1, #254]
    ldr x11, =0xa0b0c0d0e0f01020
    stlur x11, [x1, #-256]
    stlurb w11, [x1, #32]
    stlurh w11, [x1, #34]
    stlur w11, [x1, #36]
    """,
        setup=lambda m: (fill(PATTERN)(m), fill(bytes([0x12, 0x34]), BUF + 16 + 254)(m)),
    )
    x = m.cpu.x
    assert x[2] == PATTERN[16]
    assert x[3] == le(PATTERN, 16, 8)
    assert x[4] == PATTERN[15]
    assert x[5] == sx(PATTERN[0], 8) & M64
    assert x[6] == sx(PATTERN[0], 8) & 0xFFFFFFFF
    assert x[7] == sx(le(PATTERN, 2, 2), 16) & M64
    assert x[8] == sx(le(PATTERN, 4, 4), 32) & M64
    assert x[9] == le(PATTERN, 8, 8)
    assert x[10] == 0x3412
    assert m.bus.read(BUF + 16 - 256, 8) == 0xA0B0C0D0E0F01020
    assert m.bus.read_bytes(BUF + 48, 8) == bytes([0x20, PATTERN[49], 0x20, 0x10, 0x20, 0x10, 0xF0, 0xE0])


@pytest.mark.parametrize(
    ("insn", "offset", "esr"),
    [
        ("ldar x2, [x11]", 12, 0x96000021),
        ("stlr w2, [x11]", 14, 0x96000061),
        ("ldaprh w2, [x11]", 15, 0x96000021),
        ("ldapur x2, [x11, #-4]", 32, 0x96000021),
    ],
)
def test_ordered_access_across_16_bytes_is_an_alignment_fault(run_asm, insn, offset, esr):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + offset}
fault_insn:
    {insn}
"""),
        setup=features(add=("lse2",)),
    )
    assert m.cpu.sr["ESR_EL2"] == esr
    assert m.cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    fault_va = BUF + offset - (4 if "#-4" in insn else 0)
    assert m.cpu.sr["FAR_EL2"] == fault_va


def test_ordered_unaligned_within_16_bytes_and_naa(run_asm):
    # FEAT_LSE2: inside a 16-byte quantity no fault; SCTLR_EL2.nAA = 1 lifts the 16-byte limit
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={BUF + 3}
    ldar x2, [x1]
    mrs x9, sctlr_el2
    orr x9, x9, #(1 << 6)
    msr sctlr_el2, x9
    ldr x3, ={BUF + 13}
    ldar x4, [x3]
    stlr x4, [x1, #0]
"""),
        setup=features(add=("lse2",), then=fill(PATTERN)),
    )
    assert m.stop.exit_code == 0
    x = m.cpu.x
    assert x[2] == le(PATTERN, 3, 8)
    assert x[4] == le(PATTERN, 13, 8)
    assert m.bus.read(BUF + 3, 8) == le(PATTERN, 13, 8)


ORDERED_UNALLOCATED = {
    # LDAPUR with size 0b11, opc 0b10 (no PRFM here) and size 0b10, opc 0b11
    "ldapur-size3-opc2": (0b11 << 30) | (0b011001 << 24) | (0b10 << 22) | (1 << 5),
    "ldapur-size2-opc3": (0b10 << 30) | (0b011001 << 24) | (0b11 << 22) | (1 << 5),
    # LDAPR space with o3 = 1 but opc not 0b100 (LD64B and friends: not implemented)
    "atomic-o3-opc101": (0b11111000101 << 21) | (31 << 16) | (1 << 15) | (0b101 << 12) | (1 << 5),
}


@pytest.mark.parametrize("word", ORDERED_UNALLOCATED.values(), ids=ORDERED_UNALLOCATED.keys())
def test_unallocated_ordered_encodings_are_undefined(run_asm, word):
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={BUF}
undef_insn:
    .inst {word:#010x}
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x02000000
    assert m.cpu.sr["ELR_EL2"] == sym(m, "undef_insn")


def test_without_lse2_an_unaligned_ordered_access_faults(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + 1}
fault_insn:
    stlrh w2, [x11, #0]
    ldarh w3, [x11]
"""),
        setup=features(remove=("lse2",)),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000061
    assert m.cpu.sr["FAR_EL2"] == BUF + 1
    assert m.cpu.sr["ELR_EL2"] == sym(m, "fault_insn")


@pytest.mark.parametrize("insn", ["ldlar x2, [x1]", "stllrb w2, [x1]"])
def test_loregions_forms_undefined_without_feat_lor(run_asm, insn):
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={BUF}
undef_insn:
    {insn}
"""),
        setup=features(remove=("lor",)),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x02000000
    assert m.cpu.sr["ELR_EL2"] == sym(m, "undef_insn")


@pytest.mark.parametrize("insn", ["ldapr x2, [x1]", "ldapur w2, [x1, #4]", "stlur x2, [x1]"])
def test_rcpc_forms_undefined_without_their_features(run_asm, insn):
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={BUF}
undef_insn:
    {insn}
"""),
        cpu="max,lrcpc=off,lrcpc2=off",
    )
    assert m.cpu.sr["ESR_EL2"] == 0x02000000
    assert m.cpu.sr["ELR_EL2"] == sym(m, "undef_insn")
