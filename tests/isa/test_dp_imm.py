"""Data processing — immediate: ADD/SUB(S), logical, move wide, bitfield (and aliases), EXTR, ADR/ADRP.

Expected values come from the reference model in conftest.py (the Arm ARM pseudocode) or from
the alias definitions of the Arm ARM (UBFX, BFI… described as field moves), never from the
emulator's own decoder.
"""

from __future__ import annotations

import random

import pytest
from conftest import Case

M32 = 0xFFFF_FFFF
M64 = (1 << 64) - 1
EDGES = (
    0,
    1,
    0x7F,
    0x7FFF_FFFF,
    0x8000_0000,
    M32,
    0x7FFF_FFFF_FFFF_FFFF,
    0x8000_0000_0000_0000,
    M64,
    0x1234_5678_9ABC_DEF0,
)


def check(outcomes, cases, expected) -> None:
    for out, case, (x5, nzcv) in zip(outcomes, cases, expected, strict=True):
        got = (out.x5, out.nzcv)
        want = (x5, case.nzcv if nzcv is None else nzcv)
        assert got == want, f"{case.insn!r} x2={case.x2:#x} x5={case.x5:#x} nzcv={case.nzcv:04b}: {got} != {want}"


# ---- ADD / SUB (immediate) ------------------------------------------------------------------------


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("mnemonic", ["add", "adds", "sub", "subs"])
def test_add_sub_immediate_matches_add_with_carry(run_cases, a64, sf, mnemonic):
    width = 64 if sf else 32
    r = "x" if sf else "w"
    cases, expected = [], []
    for value in EDGES:
        for imm, shift in ((0, 0), (1, 0), (0xFFF, 0), (1, 12), (0xFFF, 12), (0x800, 0)):
            operand = imm << shift
            cases.append(Case(f"{mnemonic} {r}5, {r}2, #{imm}, lsl #{shift}", x2=value, nzcv=0b1010))
            if mnemonic.startswith("add"):
                result, flags = a64.add_with_carry(value, operand, 0, width)
            else:
                result, flags = a64.add_with_carry(value, ~operand, 1, width)
            expected.append((result, flags if mnemonic.endswith("s") else None))
    check(run_cases(cases), cases, expected)


def test_cmp_cmn_immediate_carry_and_overflow_boundaries(run_cases):
    # CMP is SUBS: C = NOT borrow; V when the signed result leaves the range
    table = [
        ("cmp x2, #0", 0, 0b0110),
        ("cmp x2, #1", 0, 0b1000),
        ("cmp x2, #1", 0x8000_0000_0000_0000, 0b0011),
        ("cmn x2, #1", M64, 0b0110),
        ("cmn x2, #1", 0x7FFF_FFFF_FFFF_FFFF, 0b1001),
        ("cmp w2, #1", 0x1_0000_0000, 0b1000),  # only the low 32 bits count
        ("cmp w2, #1", 0x8000_0000, 0b0011),
        ("cmn w2, #1", M32, 0b0110),
        ("cmn w2, #1", 0x7FFF_FFFF, 0b1001),
        ("cmp w2, #4095", 4095, 0b0110),
    ]
    cases = [Case(insn, x2=x2, x5=0x55) for insn, x2, _ in table]
    check(run_cases(cases), cases, [(0x55, nzcv) for _, _, nzcv in table])


def test_add_sub_immediate_sp_forms(run_cases):
    cases = [
        Case("add sp, sp, #16", sp=0x4018_0000),
        Case("sub sp, sp, #1, lsl #12", sp=0x4018_0000),
        Case("add x5, sp, #8", sp=0x4018_0010),
        Case("mov x5, sp", sp=0x4017_FFF0),
        Case("mov sp, x2", x2=0x4016_0000),
        Case("add wsp, w2, #4", x2=0xFFFF_FFFF_4000_0000),  # a W write to SP clears the top half
        Case("adds x5, sp, #1", sp=M64),  # flag-setting forms take SP as the source only
        Case("cmp sp, #0x10", sp=0x10),
    ]
    outcomes = run_cases(cases)
    assert outcomes[0].sp == 0x4018_0010
    assert outcomes[1].sp == 0x4017_F000
    assert outcomes[2].x5 == 0x4018_0018
    assert outcomes[3].x5 == 0x4017_FFF0
    assert outcomes[4].sp == 0x4016_0000
    assert outcomes[5].sp == 0x4000_0004
    assert (outcomes[6].x5, outcomes[6].nzcv) == (0, 0b0110)
    assert outcomes[7].nzcv == 0b0110


def test_adds_to_xzr_writes_only_flags(run_cases):
    cases = [Case("adds xzr, x2, #1\nmov x5, x2", x2=M64)]
    out = run_cases(cases)[0]
    assert (out.x5, out.nzcv) == (M64, 0b0110)


# ---- logical (immediate) ------------------------------------------------------------------------------


def bitmask_immediates(width: int):
    """Every logical immediate of `width`: a rotated run of ones in a 2..64-bit element, replicated."""
    for esize in (2, 4, 8, 16, 32, 64):
        if esize > width:
            break
        for run in range(1, esize):
            for rot in range(esize):
                elem = (1 << run) - 1
                elem = ((elem >> rot) | (elem << (esize - rot))) & ((1 << esize) - 1)
                yield sum(elem << i for i in range(0, width, esize))


@pytest.mark.parametrize("sf", [1, 0])
def test_every_logical_immediate_decodes(run_asm, sf):
    values = sorted(set(bitmask_immediates(64 if sf else 32)))
    r = "x" if sf else "w"
    body = [f"ldr x28, ={0x4010_0000:#x}"]
    for v in values:
        body += [f"orr {r}5, {r}zr, #{v:#x}", "str x5, [x28], #8"]
    m = run_asm("\n".join("    " + line for line in body), max_insns=10 * len(values) + 100)
    data = m.bus.read_bytes(0x4010_0000, 8 * len(values))
    got = [int.from_bytes(data[8 * i : 8 * i + 8], "little") for i in range(len(values))]
    wrong = [(hex(v), hex(g)) for v, g in zip(values, got, strict=True) if v != g]
    assert not wrong, f"{len(wrong)} immediates decode wrongly, e.g. {wrong[:5]}"
    assert len(values) == (5334 if sf else 1302)


@pytest.mark.parametrize("sf", [1, 0])
def test_logical_immediate_operations_and_ands_flags(run_cases, sf):
    width = 64 if sf else 32
    mask = (1 << width) - 1
    r = "x" if sf else "w"
    rng = random.Random(7)
    imms = [
        0x1,
        0xFF,
        0x5555_5555_5555_5555 & mask,
        (1 << (width - 1)),
        mask >> 1,
        mask ^ 1,
        *rng.sample(list(bitmask_immediates(width)), 8),
    ]
    ops = {"and": lambda a, b: a & b, "orr": lambda a, b: a | b, "eor": lambda a, b: a ^ b, "ands": lambda a, b: a & b}
    cases, expected = [], []
    for name, fn in ops.items():
        for imm in imms:
            for value in (0, mask, 0x8000_0000_0000_0000 | 0x8000_0000, 0x1234_5678_9ABC_DEF0):
                cases.append(Case(f"{name} {r}5, {r}2, #{imm:#x}", x2=value, nzcv=0b0011))
                result = fn(value & mask, imm)
                flags = (result >> (width - 1)) << 3 | (result == 0) << 2 if name == "ands" else None
                expected.append((result, flags))
    check(run_cases(cases), cases, expected)


def test_logical_immediate_writes_sp_and_tst_writes_flags_only(run_cases):
    cases = [
        Case("and sp, x2, #0xfffffffffffffff0", x2=0x4017_FFFF),
        Case("orr wsp, w2, #0x40000000", x2=0xFFFF_FFFF_0000_0008),
        Case("tst x2, #0x8000000000000000\nmov x5, x2", x2=0x8000_0000_0000_0000),
        Case("tst w2, #0xff", x2=0xFFFF_FF00, x5=7),
    ]
    out = run_cases(cases)
    assert out[0].sp == 0x4017_FFF0
    assert out[1].sp == 0x4000_0008
    assert (out[2].x5, out[2].nzcv) == (0x8000_0000_0000_0000, 0b1000)
    assert (out[3].x5, out[3].nzcv) == (7, 0b0100)


@pytest.mark.parametrize(
    "word",
    [
        0x92400000 | (0x3F << 10) | (1 << 22),  # AND X0, X0: N=1 imms=111111 (all ones) is reserved
        0x32000000 | (0x1F << 10) | (0 << 16),  # ORR W0: imms=011111, a 32-bit element of all ones
        0x12000000 | (1 << 22),  # AND W0 with N=1: 64-bit element in a 32-bit register
        0xB2000000 | (0x3D << 10),  # ORR X0: imms=111101, element size 2 with both bits set
    ],
)
def test_reserved_logical_immediates_are_undefined(assert_undef, word):
    assert_undef(word)


# ---- move wide --------------------------------------------------------------------------------------------


def test_move_wide_all_shifts(run_cases):
    cases, expected = [], []
    for sf, hws in ((1, range(4)), (0, range(2))):
        width = 64 if sf else 32
        mask = (1 << width) - 1
        r = "x" if sf else "w"
        for hw in hws:
            for imm in (0, 0xFFFF, 0x8001):
                before = 0x0123_4567_89AB_CDEF
                cases += [
                    Case(f"movz {r}5, #{imm:#x}, lsl #{16 * hw}", x5=before),
                    Case(f"movn {r}5, #{imm:#x}, lsl #{16 * hw}", x5=before),
                    Case(f"movk {r}5, #{imm:#x}, lsl #{16 * hw}", x5=before),
                ]
                keep = before & mask & ~(0xFFFF << (16 * hw))
                expected += [(imm << (16 * hw), None), (~(imm << (16 * hw)) & mask, None)]
                expected += [(keep | imm << (16 * hw), None)]
    check(run_cases(cases), cases, expected)


@pytest.mark.parametrize(
    "word",
    [
        0x52C00000,  # MOVZ W0, #0, LSL #32: hw >= 2 needs a 64-bit register
        0x12E00000,  # MOVN W0, LSL #48
        0xB2800000,  # opc = 01 is unallocated
    ],
)
def test_move_wide_unallocated_is_undefined(assert_undef, word):
    assert_undef(word)


# ---- bitfield ------------------------------------------------------------------------------------------------


def field_moves(width: int, op: str, immr: int, imms: int, src: int, dst: int) -> int:
    """SBFM/BFM/UBFM through the alias definitions: a field extract (imms >= immr) or insert."""
    mask = (1 << width) - 1
    src &= mask
    dst &= mask
    if imms >= immr:  # UBFX/SBFX/BFXIL: bits [imms:immr] of the source to the bottom
        lsb, nbits = immr, imms - immr + 1
        field = (src >> lsb) & ((1 << nbits) - 1)
        pos = 0
    else:  # UBFIZ/SBFIZ/BFI: bits [imms:0] of the source to position width - immr
        lsb, nbits = width - immr, imms + 1
        field = src & ((1 << nbits) - 1)
        pos = lsb
    top = pos + nbits
    if op == "bfm":
        clear = ((1 << nbits) - 1) << pos
        return (dst & ~clear) | (field << pos)
    value = field << pos
    if op == "sbfm" and field >> (nbits - 1):
        value |= mask & ~((1 << top) - 1)
    return value


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("op", ["sbfm", "bfm", "ubfm"])
def test_bitfield_move_matches_field_definitions(run_cases, sf, op):
    width = 64 if sf else 32
    r = "x" if sf else "w"
    rng = random.Random(f"{op}{sf}")
    positions = {(0, 0), (0, width - 1), (width - 1, width - 1), (width - 1, 0), (1, 0), (0, 1), (width - 1, width - 2)}
    while len(positions) < 60:
        positions.add((rng.randrange(width), rng.randrange(width)))
    cases, expected = [], []
    for immr, imms in sorted(positions):
        for src in (0x8000_0000_8000_0001, 0x7FFF_FFFF_7FFF_FFFE, 0xF0E1_D2C3_B4A5_9687):
            dst = 0x5A5A_5A5A_5A5A_5A5A
            cases.append(Case(f"{op} {r}5, {r}2, #{immr}, #{imms}", x2=src, x5=dst, nzcv=0b0101))
            expected.append((field_moves(width, op, immr, imms, src, dst), None))
    check(run_cases(cases), cases, expected)


def test_bitfield_aliases(run_cases):
    src = 0x8123_4567_89AB_CDEF
    table = [
        ("ubfx x5, x2, #4, #8", 0xDE),
        ("sbfx x5, x2, #60, #4", M64 & ~0x7),  # field 0b1000 sign-extends
        ("sbfx w5, w2, #28, #4", 0xFFFF_FFF8),
        ("ubfx w5, w2, #31, #1", 1),
        ("bfi x5, x2, #8, #16", 0x5A5A_5A5A_5ACD_EF5A),
        ("bfxil x5, x2, #12, #8", 0x5A5A_5A5A_5A5A_5ABC),
        ("bfi w5, w2, #0, #32", 0x89AB_CDEF),  # a W write clears bits [63:32]
        ("lsl x5, x2, #63", 0x8000_0000_0000_0000),
        ("lsl w5, w2, #4", 0x9ABC_DEF0),
        ("lsr x5, x2, #63", 1),
        ("asr x5, x2, #63", M64),
        ("asr x5, x2, #0", src),
        ("asr w5, w2, #31", M32),
        ("lsr w5, w2, #31", 1),
        ("uxtb w5, w2", 0xEF),
        ("uxth w5, w2", 0xCDEF),
        ("sxtb x5, w2", M64 & ~0x10),
        ("sxth w5, w2", 0xFFFF_CDEF),
        ("sxtw x5, w2", 0xFFFF_FFFF_89AB_CDEF),
        ("ubfiz x5, x2, #60, #4", 0xF000_0000_0000_0000),
        ("sbfiz x5, x2, #4, #4", M64 & ~0xF),
    ]
    cases = [Case(insn, x2=src, x5=0x5A5A_5A5A_5A5A_5A5A) for insn, _ in table]
    check(run_cases(cases), cases, [(want, None) for _, want in table])


@pytest.mark.parametrize(
    "word",
    [
        0x93000000,  # SBFM X0 with N = 0 (sf = 1 needs N = 1)
        0x13400000,  # SBFM W0 with N = 1
        0x13200000,  # SBFM W0, immr = 32
        0x13008000,  # SBFM W0, imms = 32
        0x73000000,  # opc = 11 is unallocated
    ],
)
def test_bitfield_unallocated_is_undefined(assert_undef, word):
    assert_undef(word)


# ---- EXTR ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sf", [1, 0])
def test_extr_takes_bits_from_the_concatenation(run_cases, sf):
    width = 64 if sf else 32
    mask = (1 << width) - 1
    r = "x" if sf else "w"
    hi, lo = 0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210
    cases, expected = [], []
    for lsb in (0, 1, 4, width // 2, width - 1):
        cases.append(Case(f"extr {r}5, {r}2, {r}3, #{lsb}", x2=hi, x3=lo))
        expected.append(((((hi & mask) << width | (lo & mask)) >> lsb) & mask, None))
        cases.append(Case(f"ror {r}5, {r}2, #{lsb}", x2=hi))
        expected.append(((((hi & mask) << width | (hi & mask)) >> lsb) & mask, None))
    check(run_cases(cases), cases, expected)


@pytest.mark.parametrize("word", [0x13808000, 0x93800000, 0x13A00000])
def test_extr_unallocated_is_undefined(assert_undef, word):
    # W form with imms >= 32; X form with N = 0; o0 = 1
    assert_undef(word)


# ---- ADR / ADRP ----------------------------------------------------------------------------------------------


def test_adr_and_adrp(run_asm):
    m = run_asm(
        """
    nop
back:
    adr x2, back
    adr x3, fwd
    adrp x4, low_page
    adrp x5, high_page
here:
    adrp x6, here
    adr x7, here + 0xfffff
fwd:
    nop
    .set low_page, 0x40000123
    .set high_page, 0x5ffff456
"""
    )
    sym = {name: addr for addr, name in m.symbols.items()}
    x = m.cpu.x
    assert x[2] == sym["back"]
    assert x[3] == sym["fwd"]
    assert x[4] == 0x4000_0000  # ADRP clears the low 12 bits of the PC and of the result
    assert x[5] == 0x5FFF_F000
    assert x[6] == sym["here"] & ~0xFFF
    assert x[7] == sym["here"] + 0xFFFFF
