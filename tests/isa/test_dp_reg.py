"""Data processing — register: every instruction family, W and X forms, SP and XZR operands,
flag boundaries, the conditions read by later instructions of the same block, and UNDEF corners.

Expected values come from the reference model in conftest.py (Arm ARM pseudocode), from Python's
own arithmetic (fractions for truncating division, zlib for CRC-32) or are derived by hand.
"""

from __future__ import annotations

import random
import zlib
from fractions import Fraction

import pytest
from conftest import Case
from dp_support import M32, M64, PAIRS, VALUES, check, regs

# ---- ADD / SUB (shifted register) ---------------------------------------------------------------


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("mnemonic", ["add", "adds", "sub", "subs"])
def test_add_sub_shifted_register(run_cases, a64, sf, mnemonic):
    width = 64 if sf else 32
    r = regs(sf)
    cases, expected = [], []
    for kind in ("lsl", "lsr", "asr"):
        for amount in (0, 1, width // 2, width - 1):
            for a, b in PAIRS[::3]:
                cases.append(Case(f"{mnemonic} {r}5, {r}2, {r}3, {kind} #{amount}", x2=a, x3=b, nzcv=0b0101))
                op2 = a64.shift(b, kind, amount, width)
                if mnemonic.startswith("add"):
                    result, flags = a64.add_with_carry(a, op2, 0, width)
                else:
                    result, flags = a64.add_with_carry(a, ~op2, 1, width)
                expected.append((result, flags if mnemonic.endswith("s") else None))
    check(run_cases(cases), cases, expected)


def test_add_sub_shifted_register_31_is_xzr(run_cases):
    # in the shifted-register form register 31 is XZR, never SP
    sp = 0x4017_0000
    table = [
        ("add x5, xzr, x3", 7),
        ("add x5, x3, xzr", 7),
        ("neg x5, x3", M64 - 6),
        ("neg w5, w3, lsl #1", M32 - 13),
        ("sub x5, x3, xzr, lsl #5", 7),
        ("negs x5, x3", M64 - 6),
    ]
    cases = [Case(insn, x3=7, sp=sp) for insn, _ in table]
    out = run_cases(cases)
    check(out, cases, [(want, None if i < 5 else 0b1000) for i, (_, want) in enumerate(table)])
    assert all(o.sp == sp for o in out)


def test_cmp_shifted_register_flag_boundaries(run_cases):
    table = [
        ("cmp x2, x3", 5, 5, 0b0110),
        ("cmp x2, x3", 4, 5, 0b1000),
        ("cmp x2, x3", 1 << 63, 1, 0b0011),
        ("cmp x2, x3", 0x7FFF_FFFF_FFFF_FFFF, M64, 0b1001),
        ("cmn x2, x3", M64, 1, 0b0110),
        ("cmn x2, x3", 1 << 63, 1 << 63, 0b0111),
        ("cmp w2, w3", 0xFFFF_FFFF_0000_0000, 0, 0b0110),
        ("cmp w2, w3, lsl #31", 0, 1, 0b1001),  # 0 - INT32_MIN overflows
        ("cmn w2, w3, asr #31", 1, 0x8000_0000, 0b0110),
    ]
    cases = [Case(insn, x2=a, x3=b) for insn, a, b, _ in table]
    check(run_cases(cases), cases, [(0, nzcv) for *_, nzcv in table])


# ---- ADD / SUB (extended register) ---------------------------------------------------------------


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("mnemonic", ["add", "adds", "sub", "subs"])
def test_add_sub_extended_register(run_cases, a64, sf, mnemonic):
    width = 64 if sf else 32
    r = regs(sf)
    cases, expected = [], []
    for ext in ("uxtb", "uxth", "uxtw", "uxtx", "sxtb", "sxth", "sxtw", "sxtx"):
        rm = "x3" if sf and ext.endswith("x") else "w3"
        for amount in range(5):
            for a, b in PAIRS[1::7]:
                cases.append(Case(f"{mnemonic} {r}5, {r}2, {rm}, {ext} #{amount}", x2=a, x3=b, nzcv=0b1111))
                op2 = a64.extend(b, ext, amount, width)
                if mnemonic.startswith("add"):
                    result, flags = a64.add_with_carry(a, op2, 0, width)
                else:
                    result, flags = a64.add_with_carry(a, ~op2, 1, width)
                expected.append((result, flags if mnemonic.endswith("s") else None))
    check(run_cases(cases), cases, expected)


def test_add_sub_extended_register_sp_forms(run_cases):
    sp = 0x4017_FF00
    cases = [
        Case("add sp, sp, x3, uxtx #1", x3=0x40, sp=sp),
        Case("sub sp, sp, w3, uxtw #4", x3=0xFFFF_FFFF_0000_0001, sp=sp),
        Case("add x5, sp, w3, sxtw #2", x3=M32, sp=sp),  # -1 * 4
        Case("add x5, sp, x3, lsl #3", x3=2, sp=sp),  # LSL is UXTX when SP is involved
        Case("cmp sp, x3", x3=sp, sp=sp),
        Case("adds x5, sp, x3", x3=(1 << 64) + 1 - sp, sp=sp),
        Case("add wsp, wsp, w3, uxtb", x3=0x1FF, sp=0xFFFF_FFFF_0000_0010),  # W result zero-extended
        Case("cmn wsp, w3, sxth", x3=0xFFFF, sp=1),
        Case("sub x5, sp, w3, sxtb #4", x3=0x80, sp=sp),
    ]
    out = run_cases(cases)
    assert out[0].sp == sp + 0x80
    assert out[1].sp == sp - 0x10
    assert out[2].x5 == sp - 4
    assert out[3].x5 == sp + 16
    assert out[4].nzcv == 0b0110
    assert (out[5].x5, out[5].nzcv) == (1, 0b0010)
    assert out[6].sp == 0x10 + 0xFF
    assert out[7].nzcv == 0b0110
    assert out[8].x5 == sp + 0x800


# ---- logical (shifted register) ---------------------------------------------------------------------

LOGICAL = {
    "and": (lambda a, b: a & b, False),
    "bic": (lambda a, b: a & b, True),
    "orr": (lambda a, b: a | b, False),
    "orn": (lambda a, b: a | b, True),
    "eor": (lambda a, b: a ^ b, False),
    "eon": (lambda a, b: a ^ b, True),
    "ands": (lambda a, b: a & b, False),
    "bics": (lambda a, b: a & b, True),
}


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("mnemonic", list(LOGICAL))
def test_logical_shifted_register(run_cases, a64, sf, mnemonic):
    width = 64 if sf else 32
    mask = a64.mask(width)
    r = regs(sf)
    fn, invert = LOGICAL[mnemonic]
    cases, expected = [], []
    for kind in ("lsl", "lsr", "asr", "ror"):
        for amount in (0, 1, 4, width - 1):
            for a, b in PAIRS[::4]:
                cases.append(Case(f"{mnemonic} {r}5, {r}2, {r}3, {kind} #{amount}", x2=a, x3=b, nzcv=0b0011))
                op2 = a64.shift(b, kind, amount, width)
                result = fn(a & mask, op2 ^ mask if invert else op2)
                flags = (result >> (width - 1)) << 3 | (result == 0) << 2  # C and V cleared
                expected.append((result, flags if mnemonic.endswith("s") else None))
    check(run_cases(cases), cases, expected)


def test_logical_aliases(run_cases):
    x3 = 0x8000_0000_0000_00F1
    table = [
        ("mov x5, x3", x3, None),
        ("mov w5, w3", 0xF1, None),
        ("mvn x5, x3", M64 ^ x3, None),
        ("mvn w5, w3, ror #4", M32 ^ 0x1000_000F, None),
        ("orr x5, xzr, x3, lsl #63", 1 << 63, None),
        ("tst x3, x3, lsr #63", 0x55, 0b0000),
        ("tst w3, w3, lsl #31", 0x55, 0b0100),
        ("bics xzr, x3, x3", 0x55, 0b0100),
        ("eon x5, x3, xzr", M64 ^ x3, None),
    ]
    cases = [Case(insn, x3=x3, x5=0x55, nzcv=0b0111) for insn, _, _ in table]
    check(run_cases(cases), cases, [(want, nzcv) for _, want, nzcv in table])


# ---- ADC / SBC ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("mnemonic", ["adc", "adcs", "sbc", "sbcs"])
def test_add_sub_with_carry(run_cases, a64, sf, mnemonic):
    width = 64 if sf else 32
    r = regs(sf)
    cases, expected = [], []
    for carry in (0, 1):
        for a, b in PAIRS:
            nzcv = 0b1101 if not carry else 0b0010
            cases.append(Case(f"{mnemonic} {r}5, {r}2, {r}3", x2=a, x3=b, nzcv=nzcv))
            y = b if mnemonic.startswith("adc") else ~b
            result, flags = a64.add_with_carry(a, y, carry, width)
            expected.append((result, flags if mnemonic.endswith("s") else None))
    check(run_cases(cases), cases, expected)


def test_carry_chain_of_a_128_bit_addition_and_subtraction(run_cases):
    # (2**64 - 1) + 1 carries into the high word; 0 - 1 borrows from it
    cases = [
        Case("adds x9, x2, x3\nadc x5, x4, xzr", x2=M64, x3=1, x4=7),
        Case("subs x9, x2, x3\nsbc x5, x4, xzr", x2=0, x3=1, x4=7),
        Case("subs x9, x2, x3\nsbc x5, x4, xzr", x2=1, x3=1, x4=7),
        Case("ngc x5, x3", x3=5, nzcv=0b0000),
        Case("ngcs w5, w3", x3=0, nzcv=0b0010),
    ]
    out = run_cases(cases)
    assert out[0].x5 == 8
    assert out[1].x5 == 6
    assert out[2].x5 == 7
    assert out[3].x5 == M64 - 5  # NOT(5) + 0
    assert (out[4].x5, out[4].nzcv) == (0, 0b0110)


# ---- conditional compare and select ---------------------------------------------------------------------


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("form", ["ccmp-reg", "ccmn-reg", "ccmp-imm", "ccmn-imm"])
def test_conditional_compare(run_cases, a64, sf, form):
    width = 64 if sf else 32
    r = regs(sf)
    mnemonic, operand = form.split("-")
    cases, expected = [], []
    rng = random.Random(form + str(sf))
    for cond in a64.CONDS:
        for nzcv_in in (0b0000, 0b0100, 0b0010, 0b1001, 0b0110, 0b1000):
            a, b = rng.choice(PAIRS)
            if operand == "imm":
                b = rng.choice((0, 1, 31))
            second = f"#{b}" if operand == "imm" else f"{r}3"
            imm_nzcv = rng.randrange(16)
            cases.append(Case(f"{mnemonic} {r}2, {second}, #{imm_nzcv}, {cond}", x2=a, x3=b, nzcv=nzcv_in, x5=9))
            if a64.cond_holds(cond, nzcv_in):
                y, carry = (b, 0) if mnemonic == "ccmn" else (~b, 1)
                flags = a64.add_with_carry(a, y, carry, width)[1]
            else:
                flags = imm_nzcv
            expected.append((9, flags))
    check(run_cases(cases), cases, expected)


SELECT = {
    "csel": lambda b, mask: b,
    "csinc": lambda b, mask: (b + 1) & mask,
    "csinv": lambda b, mask: b ^ mask,
    "csneg": lambda b, mask: -b & mask,
}


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("mnemonic", list(SELECT))
def test_conditional_select(run_cases, a64, sf, mnemonic):
    width = 64 if sf else 32
    mask = a64.mask(width)
    r = regs(sf)
    cases, expected = [], []
    for cond in a64.CONDS:
        for nzcv_in in range(16):
            a, b = PAIRS[(nzcv_in * 7 + len(cases)) % len(PAIRS)]
            cases.append(Case(f"{mnemonic} {r}5, {r}2, {r}3, {cond}", x2=a, x3=b, nzcv=nzcv_in))
            result = a & mask if a64.cond_holds(cond, nzcv_in) else SELECT[mnemonic](b & mask, mask)
            expected.append((result, None))
    check(run_cases(cases), cases, expected)


@pytest.mark.parametrize("cond", ["eq", "ne", "hs", "lo", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le"])
def test_conditional_select_aliases(run_cases, a64, cond):
    canonical = {"hs": "cs", "lo": "cc"}.get(cond, cond)
    cases, expected = [], []
    for nzcv_in in range(16):
        holds = a64.cond_holds(canonical, nzcv_in)
        for insn, want in (
            (f"cset x5, {cond}", int(holds)),
            (f"csetm w5, {cond}", M32 if holds else 0),
            (f"cinc x5, x3, {cond}", 8 if holds else 7),
            (f"cinv w5, w3, {cond}", M32 ^ 7 if holds else 7),
            (f"cneg x5, x3, {cond}", M64 - 6 if holds else 7),
        ):
            cases.append(Case(insn, x3=7, nzcv=nzcv_in))
            expected.append((want, None))
    check(run_cases(cases), cases, expected)


# ---- conditions read from flags set earlier in the same block -------------------------------------------

PRODUCERS = {
    # mnemonic: (model of the flags from x2, x3 and the incoming flags, sf)
    "subs": lambda m, a, b, w, f: m.add_with_carry(a, ~b, 1, w)[1],
    "adds": lambda m, a, b, w, f: m.add_with_carry(a, b, 0, w)[1],
    "ands": lambda m, a, b, w, f: (((a & b & m.mask(w)) >> (w - 1)) << 3) | ((a & b & m.mask(w)) == 0) << 2,
    "adcs": lambda m, a, b, w, f: m.add_with_carry(a, b, (f >> 1) & 1, w)[1],
    "sbcs": lambda m, a, b, w, f: m.add_with_carry(a, ~b, (f >> 1) & 1, w)[1],
}


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("producer", list(PRODUCERS))
def test_conditions_after_flag_setting_instruction(run_cases, a64, sf, producer):
    """CSET and B.cond right after the flags are set must see exactly the architectural NZCV."""
    width = 64 if sf else 32
    r = regs(sf)
    cases, expected = [], []
    pairs = [*PAIRS, (5, 5), (4, 5), (5, 4), (M64 - 1, M64), (0x8000_0000, 0x7FFF_FFFF), (0x7FFF_FFFF, 0x8000_0000)]
    for cond in a64.CONDS:
        for i, (a, b) in enumerate(pairs[:: 3 if cond in ("al", "nv") else 1]):
            flags_in = 0b0010 if i % 2 else 0b1101
            flags = PRODUCERS[producer](a64, a, b, width, flags_in)
            holds = a64.cond_holds(cond, flags)
            if i % 2 and cond not in ("al", "nv"):  # CSET takes no AL/NV
                insn = f"{producer} {r}9, {r}2, {r}3\ncset x5, {cond}"
            else:
                insn = f"{producer} {r}9, {r}2, {r}3\nmov x5, #1\nb.{cond} 1f\nmov x5, #0\n1:"
            cases.append(Case(insn, x2=a, x3=b, nzcv=flags_in))
            expected.append((int(holds), flags))
    check(run_cases(cases), cases, expected)


def test_flags_survive_a_taken_branch_and_a_loop(run_asm):
    # the lazy flags of SUBS inside a loop must be written back on every exit path
    m = run_asm(
        """
    mov x2, #5
    mov x3, #0
1:  add x3, x3, #2
    subs x2, x2, #1
    b.ne 1b
    cset x4, eq
    mrs x5, nzcv
    adds x6, x3, #-10
    b.eq 2f
    mov x4, #99
2:  mrs x7, nzcv
"""
    )
    x = m.cpu.x
    assert (x[2], x[3], x[4]) == (0, 10, 1)
    assert x[5] == 0x6000_0000  # Z and C after 1 - 1
    assert x[6] == 0
    assert x[7] == 0x6000_0000  # 10 - 10 (the assembler makes ADDS #-10 a SUBS): Z, and C for no borrow


# ---- data processing, 1 source -----------------------------------------------------------------------------


def rbit(v: int, width: int) -> int:
    return int(f"{v & ((1 << width) - 1):0{width}b}"[::-1], 2)


def rev_containers(v: int, width: int, container: int) -> int:
    data = (v & ((1 << width) - 1)).to_bytes(width // 8, "little")
    n = container // 8
    return int.from_bytes(b"".join(data[i : i + n][::-1] for i in range(0, len(data), n)), "little")


def clz(v: int, width: int) -> int:
    bits = f"{v & ((1 << width) - 1):0{width}b}"
    return len(bits) - len(bits.lstrip("0"))


def cls(v: int, width: int) -> int:
    bits = f"{v & ((1 << width) - 1):0{width}b}"
    return len(bits) - len(bits.lstrip(bits[0])) - 1


ONE_SOURCE = {
    "rbit": lambda v, w: rbit(v, w),
    "rev16": lambda v, w: rev_containers(v, w, 16),
    "rev32": lambda v, w: rev_containers(v, w, 32),
    "rev": lambda v, w: rev_containers(v, w, w),
    "clz": clz,
    "cls": cls,
}


@pytest.mark.parametrize(
    ("sf", "mnemonic"),
    [(sf, m) for sf in (1, 0) for m in ONE_SOURCE if sf or m != "rev32"],  # no REV32 Wd
)
def test_one_source(run_cases, sf, mnemonic):
    width = 64 if sf else 32
    r = regs(sf)
    rng = random.Random(mnemonic)
    values = [*VALUES, 0x4000_0000_0000_0000, 0xC000_0000, 0x1_0000_0000, *(rng.getrandbits(64) for _ in range(12))]
    cases = [Case(f"{mnemonic} {r}5, {r}2", x2=v, nzcv=0b1010) for v in values]
    expected = [(ONE_SOURCE[mnemonic](v, width), None) for v in values]
    check(run_cases(cases), cases, expected)


def test_rev64_and_one_source_of_xzr(run_cases):
    v = 0x0102_0304_0506_0708
    cases = [
        Case("rev64 x5, x2", x2=v),  # another name of REV Xd
        Case("clz x5, xzr"),
        Case("cls w5, wzr"),
        Case("rbit x5, xzr", x5=3),
    ]
    check(run_cases(cases), cases, [(0x0807_0605_0403_0201, None), (64, None), (31, None), (0, None)])


# ---- data processing, 2 sources ----------------------------------------------------------------------------


def divide(a: int, b: int, width: int, signed: bool, a64) -> int:
    if signed:
        a, b = a64.sint(a, width), a64.sint(b, width)
    else:
        a, b = a & a64.mask(width), b & a64.mask(width)
    if b == 0:
        return 0
    return int(Fraction(a, b)) & a64.mask(width)  # int() of a Fraction truncates towards zero


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("mnemonic", ["udiv", "sdiv"])
def test_divide(run_cases, a64, sf, mnemonic):
    width = 64 if sf else 32
    r = regs(sf)
    extra = [(7, 2), (M64 - 6, 2), (7, M64 - 1), (M64 - 6, M64 - 1), (1 << 63, M64), (0x8000_0000, M32), (5, 0)]
    cases = [Case(f"{mnemonic} {r}5, {r}2, {r}3", x2=a, x3=b, nzcv=0b0110) for a, b in PAIRS + extra]
    expected = [(divide(a, b, width, mnemonic == "sdiv", a64), None) for a, b in PAIRS + extra]
    check(run_cases(cases), cases, expected)


def test_divide_edge_cases_by_hand(run_cases):
    table = [
        ("sdiv x5, x2, x3", 1 << 63, M64, 1 << 63),  # INT64_MIN / -1 overflows to INT64_MIN
        ("sdiv w5, w2, w3", 0x8000_0000, M32, 0x8000_0000),
        ("sdiv x5, x2, x3", M64 - 6, 2, M64 - 2),  # -7 / 2 = -3 (towards zero)
        ("udiv x5, x2, x3", 12345, 0, 0),  # division by zero gives zero, no exception
        ("sdiv w5, w2, w3", 12345, 0, 0),
        ("udiv w5, w2, w3", 0xFFFF_FFFF_0000_0010, 4, 4),  # only the low 32 bits are divided
    ]
    cases = [Case(insn, x2=a, x3=b, x5=99) for insn, a, b, _ in table]
    check(run_cases(cases), cases, [(want, None) for *_, want in table])


@pytest.mark.parametrize("sf", [1, 0])
@pytest.mark.parametrize("mnemonic", ["lslv", "lsrv", "asrv", "rorv"])
def test_variable_shifts_use_the_amount_modulo_the_width(run_cases, a64, sf, mnemonic):
    width = 64 if sf else 32
    r = regs(sf)
    kind = {"lslv": "lsl", "lsrv": "lsr", "asrv": "asr", "rorv": "ror"}[mnemonic]
    amounts = (0, 1, 5, 31, 32, 33, 63, 64, 65, 0xFFFF_FFFF_FFFF_FFC1, M64)
    cases, expected = [], []
    for v in (0x8000_0000_8000_0001, 0x7654_3210_FEDC_BA98, 1, M64):
        for amount in amounts:
            cases.append(Case(f"{mnemonic} {r}5, {r}2, {r}3", x2=v, x3=amount))
            expected.append((a64.shift(v, kind, amount % width, width), None))
    check(run_cases(cases), cases, expected)


def crc32c_bitwise(acc: int, data: bytes) -> int:
    """CRC-32C update without the initial and final inversion, one bit at a time."""
    for byte in data:
        acc ^= byte
        for _ in range(8):
            acc = (acc >> 1) ^ (0x82F6_3B78 if acc & 1 else 0)
    return acc


@pytest.mark.parametrize("size", ["b", "h", "w", "x"])
@pytest.mark.parametrize("castagnoli", [False, True])
def test_crc32(run_cases, size, castagnoli):
    nbytes = {"b": 1, "h": 2, "w": 4, "x": 8}[size]
    mnemonic = f"crc32{'c' if castagnoli else ''}{size}"
    rm = "x3" if size == "x" else "w3"
    rng = random.Random(mnemonic)
    inputs = [(0, 0), (M32, M64), (0xFFFF_FFFF_1234_5678, 0xA5A5_A5A5_5A5A_5A5A)]
    inputs += [(rng.getrandbits(64), rng.getrandbits(64)) for _ in range(8)]
    cases = [Case(f"{mnemonic} w5, w2, {rm}", x2=acc, x3=val, x5=M64) for acc, val in inputs]
    expected = []
    for acc, val in inputs:
        data = (val & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little")
        acc &= M32
        if castagnoli:
            want = crc32c_bitwise(acc, data)
        else:
            # zlib adds an inversion on entry and exit that the instruction does not have
            want = zlib.crc32(data, acc ^ M32) ^ M32
        expected.append((want, None))
    check(run_cases(cases), cases, expected)
