"""Data processing — register, 3 sources (multiply-add, long and high multiplies), FEAT_FlagM
(RMIF, SETF8, SETF16) and the unallocated encodings of the group.

Expected values come from the reference model in conftest.py (Arm ARM pseudocode) or Python's
own arithmetic.
"""

from __future__ import annotations

import random

import pytest
from conftest import Case
from dp_support import M32, M64, PAIRS, VALUES, check, regs

# ---- data processing, 3 sources ----------------------------------------------------------------------------


@pytest.mark.parametrize("sf", [1, 0])
def test_multiply_add_subtract(run_cases, a64, sf):
    width = 64 if sf else 32
    mask = a64.mask(width)
    r = regs(sf)
    cases, expected = [], []
    for (a, b), acc in zip(PAIRS, VALUES * 9, strict=False):
        for insn, fn in (
            (f"madd {r}5, {r}2, {r}3, {r}4", lambda a, b, c: c + a * b),
            (f"msub {r}5, {r}2, {r}3, {r}4", lambda a, b, c: c - a * b),
            (f"mul {r}5, {r}2, {r}3", lambda a, b, c: a * b),
            (f"mneg {r}5, {r}2, {r}3", lambda a, b, c: -a * b),
        ):
            cases.append(Case(insn, x2=a, x3=b, x4=acc, nzcv=0b1001))
            expected.append((fn(a & mask, b & mask, acc & mask) & mask, None))
    check(run_cases(cases), cases, expected)


LONG_MULTIPLY = {
    "smaddl": (True, lambda p, c: c + p),
    "smsubl": (True, lambda p, c: c - p),
    "umaddl": (False, lambda p, c: c + p),
    "umsubl": (False, lambda p, c: c - p),
}


@pytest.mark.parametrize("mnemonic", list(LONG_MULTIPLY))
def test_long_multiply(run_cases, a64, mnemonic):
    signed, fn = LONG_MULTIPLY[mnemonic]
    cases, expected = [], []
    for (a, b), acc in zip(PAIRS, VALUES * 9, strict=False):
        cases.append(Case(f"{mnemonic} x5, w2, w3, x4", x2=a, x3=b, x4=acc))
        if signed:
            p = a64.sint(a, 32) * a64.sint(b, 32)
        else:
            p = (a & M32) * (b & M32)
        expected.append((fn(p, acc) & M64, None))
    check(run_cases(cases), cases, expected)


def test_long_multiply_aliases_and_high_multiplies(run_cases):
    table = [
        ("smull x5, w2, w3", M32, 0x8000_0000, 1 << 31),  # -1 * INT32_MIN
        ("umull x5, w2, w3", M32, M32, 0xFFFF_FFFE_0000_0001),
        ("smnegl x5, w2, w3", 3, 5, M64 - 14),
        ("umnegl x5, w2, w3", 3, 5, M64 - 14),
        ("smulh x5, x2, x3", M64, M64, 0),  # (-1) * (-1) = 1: high half 0
        ("smulh x5, x2, x3", 1 << 63, 1 << 63, 1 << 62),
        ("smulh x5, x2, x3", 1 << 63, 1, M64),
        ("umulh x5, x2, x3", M64, M64, M64 - 1),
        ("umulh x5, x2, x3", 1 << 63, 2, 1),
    ]
    cases = [Case(insn, x2=a, x3=b) for insn, a, b, _ in table]
    check(run_cases(cases), cases, [(want, None) for *_, want in table])


@pytest.mark.parametrize("signed", [True, False])
def test_high_multiply_matches_the_128_bit_product(run_cases, a64, signed):
    mnemonic = "smulh" if signed else "umulh"
    cases, expected = [], []
    for a, b in PAIRS:
        cases.append(Case(f"{mnemonic} x5, x2, x3", x2=a, x3=b))
        p = a64.sint(a, 64) * a64.sint(b, 64) if signed else a * b
        expected.append(((p >> 64) & M64, None))
    check(run_cases(cases), cases, expected)


# ---- FEAT_FlagM: RMIF, SETF8, SETF16 -------------------------------------------------------------------------


def test_rmif_rotates_bits_into_the_selected_flags(run_cases, a64):
    rng = random.Random(3)
    cases, expected = [], []
    for _ in range(48):
        value, lsb, mask, flags_in = rng.getrandbits(64), rng.randrange(64), rng.randrange(16), rng.randrange(16)
        cases.append(Case(f"rmif x2, #{lsb}, #{mask}", x2=value, nzcv=flags_in, x5=1))
        bits = a64.shift(value, "ror", lsb, 64) & 0xF
        expected.append((1, (flags_in & ~mask) | (bits & mask)))
    check(run_cases(cases), cases, expected)


@pytest.mark.parametrize("bits", [8, 16])
def test_setf_sets_n_z_v_from_the_low_bits(run_cases, bits):
    cases, expected = [], []
    top = 1 << (bits - 1)
    for value in (0, top, top - 1, 2 * top, 3 * top, 0xFFFF_FF00 | (top - 1), M32):
        for flags_in in (0b0000, 0b1111):
            cases.append(Case(f"setf{bits} w2", x2=value, nzcv=flags_in, x5=1))
            n = (value >> (bits - 1)) & 1
            z = int(value & (2 * top - 1) == 0)
            v = ((value >> bits) ^ (value >> (bits - 1))) & 1
            expected.append((1, n << 3 | z << 2 | (flags_in & 0b0010) | v))
    check(run_cases(cases), cases, expected)


# ---- unallocated encodings ---------------------------------------------------------------------------------------

UNALLOCATED = {
    "add shifted, shift=11": 0x8B000000 | (3 << 22),
    "add w shifted, imm6=32": 0x0B000000 | (32 << 10),
    "and w shifted, imm6=63": 0x0A000000 | (63 << 10),
    "add extended, imm3=5": 0x8B200000 | (5 << 10),
    "add extended, opt=01": 0x8B200000 | (1 << 22),
    "adc, bits[15:10]=000010": 0x9A000000 | (2 << 10),
    "ccmp register, o2=1": 0xFA400000 | (1 << 10),
    "ccmp register, o3=1": 0xFA400000 | (1 << 4),
    "ccmp w, S=0": 0x5A400000,
    "csel, S=1": 0x9A800000 | (1 << 29),
    "csel, op2=10": 0x9A800000 | (2 << 10),
    "rev w with opc=000011": 0x5AC00C00,
    "dp-1src, opcode=001001": 0xDAC02400,
    "dp-1src, opcode2=00010": 0xDAC20000,
    "dp-2src, opcode=000000 w": 0x1AC00000,
    "dp-2src, opcode=000001": 0x9AC00400,
    "crc32x with sf=0": 0x1AC04C00,
    "crc32w with sf=1": 0x9AC04800,
    "smaddl with sf=0": 0x1B200000,
    "madd op54=01": 0x9B000000 | (1 << 29),
    "smulh with o0=1": 0x9B400000 | (1 << 15),
    "dp-3src op31=100": 0x9B800000,
    "rmif with o2=1": 0xBA000400 | (1 << 4),
    "setf8 with sf=1": 0xBA00080D,
}


@pytest.mark.parametrize("word", list(UNALLOCATED.values()), ids=list(UNALLOCATED))
def test_unallocated_data_processing_register_is_undefined(assert_undef, word):
    assert_undef(word)
