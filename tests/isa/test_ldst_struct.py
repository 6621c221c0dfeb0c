"""AdvSIMD structure loads and stores: exact register and memory layouts, post-index forms, faults.

Expected layouts follow the Arm ARM: LDn/STn multiple structures move element
e of register t+s to/from address base + (e * n + s) * esize/8; LDnR
replicates; a single-structure form moves one lane. A faulting access does
not write the base back (the destination registers are UNKNOWN, so the
tests do not look at them).
"""

from __future__ import annotations

import pytest
from ldst_support import BUF, PATTERN, RAM_END, VECTORS, fill, le, sym
from test_ldst_faults import FAULT_PAGE, at_el1, stand_in

ONES = (1 << 128) - 1
DATA = bytes(range(64)) + bytes(range(0x80, 0xC0))
FP_TRAP = 0x1E000000


def with_vectors(body: str) -> str:
    return f"""
    adr x9, vectors
    msr vbar_el2, x9
    msr vbar_el1, x9
{body}
    b _armnv_exit
{VECTORS}
"""


def lanes(data: bytes, esize: int) -> list[int]:
    step = esize // 8
    return [int.from_bytes(data[i : i + step], "little") for i in range(0, len(data), step)]


def join(values: list[int], esize: int) -> int:
    return sum(v << (i * esize) for i, v in enumerate(values))


def ones_in_v(m) -> None:
    m.cpu.v[:] = [ONES] * 32


def test_ld4_deinterleaves_bytes_and_st4_writes_them_back(run_asm):
    m = run_asm(
        f"""
    ldr x3, ={BUF}
    ld4 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [x3]
    add x2, x3, #64
    st4 {{v0.16b, v1.16b, v2.16b, v3.16b}}, [x2]
    """,
        setup=fill(DATA),
    )
    for k in range(4):
        assert m.cpu.v[k] == join([DATA[4 * i + k] for i in range(16)], 8)
    assert m.bus.read_bytes(BUF + 64, 64) == DATA[:64]


def test_ld1_four_registers_post_index_immediate(run_asm):
    m = run_asm(
        f"""
    ldr x3, ={BUF}
    ld1 {{v30.2d, v31.2d, v0.2d, v1.2d}}, [x3], #64
    """,
        setup=fill(DATA),
    )
    assert [m.cpu.v[r] for r in (30, 31, 0, 1)] == [le(DATA, 16 * i, 16) for i in range(4)]
    assert m.cpu.x[3] == BUF + 64


def test_ld2_halfwords_64_bit_clears_the_upper_half_and_post_index_register(run_asm):
    m = run_asm(
        f"""
    ldr x3, ={BUF}
    mov x2, #5
    ld2 {{v4.4h, v5.4h}}, [x3], x2
    """,
        setup=lambda m: (fill(DATA)(m), ones_in_v(m)),
    )
    h = lanes(DATA[:16], 16)
    assert m.cpu.v[4] == join(h[0::2], 16)
    assert m.cpu.v[5] == join(h[1::2], 16)
    assert m.cpu.x[3] == BUF + 5


def test_st3_words_interleave(run_asm):
    def setup(m):
        fill(b"\xee" * 64)(m)
        for k in range(3):
            m.cpu.v[k] = le(DATA, 16 * k, 16)

    m = run_asm(f"ldr x3, ={BUF}\n    st3 {{v0.4s, v1.4s, v2.4s}}, [x3]", setup=setup)
    words = [lanes(DATA[16 * k : 16 * k + 16], 32) for k in range(3)]
    expected = b"".join(words[k][i].to_bytes(4, "little") for i in range(4) for k in range(3))
    assert m.bus.read_bytes(BUF, 64) == expected + b"\xee" * 16


def test_ld3_single_lane_keeps_the_other_lanes(run_asm):
    m = run_asm(
        f"""
    ldr x3, ={BUF}
    ld3 {{v7.s, v8.s, v9.s}}[2], [x3], #12
    """,
        setup=lambda m: (fill(DATA)(m), ones_in_v(m)),
    )
    for k, r in enumerate((7, 8, 9)):
        word = le(DATA, 4 * k, 4)
        assert m.cpu.v[r] == ONES & ~(0xFFFFFFFF << 64) | (word << 64)
    assert m.cpu.x[3] == BUF + 12


def test_ld1r_and_ld4r_replicate(run_asm):
    m = run_asm(
        f"""
    ldr x3, ={BUF}
    ld1r {{v0.8b}}, [x3]
    add x2, x3, #8
    ld4r {{v1.8h, v2.8h, v3.8h, v4.8h}}, [x2], #8
    """,
        setup=lambda m: (fill(DATA)(m), ones_in_v(m)),
    )
    assert m.cpu.v[0] == DATA[0] * 0x0101010101010101
    for k in range(4):
        assert m.cpu.v[1 + k] == le(DATA, 8 + 2 * k, 2) * sum(1 << (16 * i) for i in range(8))
    assert m.cpu.x[2] == BUF + 16


def test_st1_lane_writes_only_its_element_and_st2_lane(run_asm):
    def setup(m):
        fill(b"\xee" * 32)(m)
        m.cpu.v[0] = le(DATA, 0, 16)
        m.cpu.v[1] = le(DATA, 16, 16)

    m = run_asm(
        f"""
    ldr x3, ={BUF}
    st1 {{v0.h}}[5], [x3]
    add x2, x3, #4
    st2 {{v0.d, v1.d}}[1], [x2]
    """,
        setup=setup,
    )
    mem = m.bus.read_bytes(BUF, 24)
    assert mem[:4] == DATA[10:12] + b"\xee\xee"
    assert mem[4:20] == DATA[8:16] + DATA[24:32]
    assert mem[20:] == b"\xee" * 4


@pytest.mark.parametrize(
    ("insn", "esr"),
    [
        ("ld1 {v0.16b, v1.16b, v2.16b, v3.16b}, [x11], #64", 0x96000010),
        ("ld4 {v0.4s, v1.4s, v2.4s, v3.4s}, [x11], x12", 0x96000010),
        ("st2 {v0.16b, v1.16b}, [x11], #32", 0x96000050),
        ("st1 {v0.2d, v1.2d, v2.2d}, [x11], x12", 0x96000050),
    ],
)
def test_fault_in_the_middle_of_a_structure_access_does_not_write_the_base_back(run_asm, insn, esr):
    # the span starts in RAM and runs into unbacked physical memory: a synchronous external abort
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={RAM_END - 16}
    mov x12, #64
fault_insn:
    {insn}
""")
    )
    cpu = m.cpu
    assert cpu.sr["ESR_EL2"] == esr
    assert RAM_END <= cpu.sr["FAR_EL2"] < RAM_END + 48
    assert cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    assert cpu.x[11] == RAM_END - 16


@pytest.mark.parametrize(
    ("insn", "offset", "faults"),
    [
        ("ld1 {v0.4s}, [x11]", 4, False),
        ("ld1 {v0.4s}, [x11]", 2, True),
        ("ld1 {v0.16b, v1.16b}, [x11]", 1, False),
        ("st2 {v0.8h, v1.8h}, [x11]", 1, True),
        ("ld1r {v0.2d}, [x11]", 8, False),
        ("st1 {v0.s}[1], [x11]", 6, True),
    ],
)
def test_sctlr_a_checks_alignment_to_the_element_size(run_asm, insn, offset, faults):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + offset}
    mrs x9, sctlr_el2
    orr x9, x9, #2
    msr sctlr_el2, x9
    mov x20, #0
fault_insn:
    {insn}
    mov x20, #1
""")
    )
    if faults:
        assert m.cpu.sr["ESR_EL2"] >> 26 == 0x25
        assert m.cpu.sr["ESR_EL2"] & 0x3F == 0x21
        assert m.cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
        assert m.cpu.x[20] == 0
    else:
        assert m.cpu.x[20] == 1


@pytest.mark.parametrize(
    "insn",
    ["ld1 {v0.16b}, [x11], #16", "st4 {v0.8b, v1.8b, v2.8b, v3.8b}, [x11], #32", "ld2r {v0.4s, v1.4s}, [x11], #8"],
)
def test_syndromes_s3_structure_access_takes_the_fp_access_trap_first(run_asm, insn):
    m = run_asm(
        with_vectors(f"""
    msr cpacr_el1, xzr
    mov x9, #(1 << 31)
    msr hcr_el2, x9
    ldr x11, ={BUF}
    adr x9, el1
    msr elr_el2, x9
    mov x9, #0x3c5
    msr spsr_el2, x9
    eret
el1:
    mov x20, #0
fp_insn:
    {insn}
"""),
        setup=fill(PATTERN),
    )
    assert m.cpu.sr["ESR_EL1"] == FP_TRAP
    assert m.cpu.sr["ELR_EL1"] == sym(m, "fp_insn")
    assert m.cpu.x[11] == BUF
    assert m.bus.read_bytes(BUF, len(PATTERN)) == PATTERN


@pytest.mark.parametrize(
    "word",
    [
        0x0C408C00,  # LD2 {v0.1d, v1.1d}: 64-bit elements need Q = 1 for LD2-LD4
        0x0C401C00,  # multiple structures opcode 0b0001: unallocated
        0x0D40D400,  # LD1R with S = 1
        0x0D408800,  # single structure, 32-bit lane with size<1> = 1
    ],
)
def test_unallocated_structure_encodings_undef(assert_undef, word):
    assert_undef(word)


@pytest.mark.parametrize(
    ("insn", "esr"),
    [
        ("ld1 {v0.16b}, [x11]", 0x92000007),
        ("ld2 {v0.4s, v1.4s}, [x11], #32", 0x92000007),
        ("st1 {v0.d}[1], [x11]", 0x92000047),
        ("ld1r {v0.8h}, [x11]", 0x92000007),
    ],
)
def test_syndromes_s6_stage2_fault_on_a_structure_access_has_no_isv(run_asm, insn, esr):
    # ISV is set only for single general-purpose register accesses without writeback
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
    assert cpu.sr["FAR_EL2"] == FAULT_PAGE
    assert cpu.x[11] == FAULT_PAGE
