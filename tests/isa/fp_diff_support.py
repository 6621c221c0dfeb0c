"""Random floating-point cases for the differential test against unicorn (QEMU's softfloat).

A case is one FP instruction with its inputs: V0-V3 (128 bits each, every element drawn from
the special values — zeros, infinities, quiet and signalling NaNs with payloads, denormals,
the extreme normals, integer and half-way boundaries — or at random), X1, NZCV and an FPCR
with a random rounding mode, FZ, DN and AHP. It runs from FPSR = 0 and leaves V3, X3, NZCV
and the FPSR, which both emulators must agree on bit for bit.
"""

from __future__ import annotations

import random
from collections.abc import Callable

FORMATS = {16: (5, 10), 32: (8, 23), 64: (11, 52)}
SCALAR = {32: "s", 64: "d", 16: "h"}
CONDS = ("eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", "nv")


def fp_value(rng: random.Random, n: int) -> int:
    """One n-bit float, special more often than not."""
    e_bits, f_bits = FORMATS[n]
    bias = (1 << (e_bits - 1)) - 1
    emax = (1 << e_bits) - 1
    sign = rng.getrandbits(1) << (n - 1)
    k = rng.randrange(14)
    if k == 0:
        return sign
    if k == 1:
        return sign | emax << f_bits
    if k == 2:  # quiet NaN with a payload
        return sign | emax << f_bits | 1 << (f_bits - 1) | rng.getrandbits(f_bits - 1)
    if k == 3:  # signalling NaN
        return sign | emax << f_bits | (rng.getrandbits(f_bits - 1) or 1)
    if k == 4:  # denormal
        return sign | (rng.getrandbits(f_bits) or 1)
    if k == 5:  # the smallest normals and the largest finite values
        return sign | rng.choice((1 << f_bits, (1 << f_bits) + 1, (emax << f_bits) - 1, (emax << f_bits) - 2))
    if k == 6:  # near the top of the integer conversions, the half-precision range and 2**0
        e = _clamp(bias + rng.choice((0, 1, 15, 16, 31, 32, 63, 64, -1, -2)), emax)
        return sign | e << f_bits | rng.choice((0, 1, (1 << f_bits) - 1, rng.getrandbits(f_bits)))
    if k == 7:  # halves and small integers, where rounding to integral ties
        whole = rng.randrange(1, 16)
        e = whole.bit_length() - 1
        frac = (whole << (f_bits - e)) | (1 << (f_bits - e - 1) if rng.getrandbits(1) else 0)
        return sign | (bias + e) << f_bits | (frac & ((1 << f_bits) - 1))
    if k == 8:  # short significands: exact products and sums happen
        e = bias + rng.randrange(-8, 9)
        return sign | e << f_bits | rng.getrandbits(4) << (f_bits - 4)
    if k == 9:  # results that underflow or overflow
        e = rng.choice((rng.randrange(1, 12), rng.randrange(emax - 12, emax)))
        return sign | e << f_bits | rng.getrandbits(f_bits)
    e = _clamp(bias + rng.randrange(-30, 31), emax)
    return sign | e << f_bits | rng.getrandbits(f_bits)


def _clamp(e: int, emax: int) -> int:
    return min(max(e, 1), emax - 1)


def vector_value(rng: random.Random, n: int) -> int:
    """A 128-bit register of n-bit elements (n = 64 for scalar operands: the rest random)."""
    out = 0
    for i in range(128 // n):
        out |= fp_value(rng, n) << (i * n)
    return out


def related(rng: random.Random, base: int, n: int) -> int:
    """A value close to `base` (same exponent, or the negation): cancellation, ties, equality."""
    mask = (1 << n) - 1
    k = rng.randrange(4)
    if k == 0:
        return base
    if k == 1:
        return base ^ (1 << (n - 1))
    low = FORMATS[n][1] // 2
    return (base & ~((1 << low) - 1) | rng.getrandbits(low)) & mask


def fpcr_value(rng: random.Random) -> int:
    fpcr = rng.randrange(4) << 22
    if rng.random() < 0.3:
        fpcr |= 1 << 24  # FZ
    if rng.random() < 0.3:
        fpcr |= 1 << 25  # DN
    if rng.random() < 0.2:
        fpcr |= 1 << 26  # AHP
    return fpcr


Generator = Callable[[random.Random], tuple[str, int]]  # -> (instruction, element width of V0-V2)


def _t(n: int) -> str:
    return SCALAR[n]


def scalar_binary(rng: random.Random) -> tuple[str, int]:
    n = rng.choice((32, 64))
    mn = rng.choice(("fadd", "fsub", "fmul", "fdiv", "fmax", "fmin", "fmaxnm", "fminnm", "fnmul"))
    t = _t(n)
    return f"{mn} {t}3, {t}0, {t}1", n


def scalar_fused(rng: random.Random) -> tuple[str, int]:
    n = rng.choice((32, 64))
    mn = rng.choice(("fmadd", "fmsub", "fnmadd", "fnmsub"))
    t = _t(n)
    return f"{mn} {t}3, {t}0, {t}1, {t}2", n


def scalar_unary(rng: random.Random) -> tuple[str, int]:
    n = rng.choice((32, 64))
    mn = rng.choice(("fmov", "fabs", "fneg", "fsqrt", *(f"frint{r}" for r in "npmzaxi")))
    t = _t(n)
    return f"{mn} {t}3, {t}0", n


def scalar_fcvt(rng: random.Random) -> tuple[str, int]:
    src, dst = rng.sample((16, 32, 64), 2)
    return f"fcvt {_t(dst)}3, {_t(src)}0", src


def scalar_compare(rng: random.Random) -> tuple[str, int]:
    n = rng.choice((32, 64))
    t = _t(n)
    mn = rng.choice(("fcmp", "fcmpe"))
    k = rng.randrange(4)
    if k == 0:
        return f"{mn} {t}0, #0.0", n
    if k == 1:
        return f"{mn} {t}0, {t}1", n
    cond = rng.choice(CONDS)
    if k == 2:
        return f"{'fccmp' if mn == 'fcmp' else 'fccmpe'} {t}0, {t}1, #{rng.randrange(16)}, {cond}", n
    return f"fcsel {t}3, {t}0, {t}1, {cond}", n


def to_int(rng: random.Random) -> tuple[str, int]:
    n = rng.choice((32, 64))
    r = rng.choice("wx")
    if rng.random() < 0.25:
        mn = rng.choice(("fcvtzs", "fcvtzu"))
        return f"{mn} {r}3, {_t(n)}0, #{rng.randrange(1, 33 if r == 'w' else 65)}", n
    mn = "fcvt" + rng.choice("npmza") + rng.choice("su")
    return f"{mn} {r}3, {_t(n)}0", n


def from_int(rng: random.Random) -> tuple[str, int]:
    n = rng.choice((32, 64))
    r = rng.choice("wx")
    mn = rng.choice(("scvtf", "ucvtf"))
    if rng.random() < 0.25:
        return f"{mn} {_t(n)}3, {r}1, #{rng.randrange(1, 33 if r == 'w' else 65)}", n
    return f"{mn} {_t(n)}3, {r}1", n


def moves(rng: random.Random) -> tuple[str, int]:
    k = rng.randrange(6)
    if k == 0:
        n = rng.choice((32, 64))
        imm = rng.choice((1 + rng.randrange(16) / 16, 2.0 ** rng.randrange(-3, 5), 0.125, 31.0, 1.9375))
        return f"fmov {_t(n)}3, #{'-' if rng.getrandbits(1) else ''}{imm!r}", n
    return (
        ("fmov x3, d0", 64),
        ("fmov w3, s0", 32),
        ("fmov d3, x1", 64),
        ("fmov s3, w1", 32),
        ("fmov v3.d[1], x1", 64),
        ("fmov x3, v0.d[1]", 64),
    )[rng.randrange(6)]


SCALAR_GENERATORS: tuple[tuple[Generator, int], ...] = (
    (scalar_binary, 6),
    (scalar_fused, 3),
    (scalar_unary, 3),
    (scalar_fcvt, 2),
    (scalar_compare, 3),
    (to_int, 3),
    (from_int, 2),
    (moves, 1),
)


def pick(rng: random.Random, generators: tuple[tuple[Generator, int], ...]) -> tuple[str, int]:
    total = sum(w for _, w in generators)
    x = rng.randrange(total)
    for gen, w in generators:
        if x < w:
            return gen(rng)
        x -= w
    raise AssertionError("unreachable")


def gpr_value(rng: random.Random) -> int:
    k = rng.randrange(5)
    if k == 0:
        return rng.choice((0, 1, (1 << 63), (1 << 64) - 1, (1 << 31), (1 << 32) - 1, (1 << 53) + 1, (1 << 24) + 1))
    if k == 1:
        return rng.getrandbits(rng.randrange(1, 65))
    if k == 2:
        return ((1 << 64) - rng.getrandbits(rng.randrange(1, 64))) & ((1 << 64) - 1)
    return rng.getrandbits(64)


def operands(rng: random.Random, n: int) -> tuple[int, int, int, int]:
    """V0-V3: random elements of width n, V1 sometimes close to V0 element by element."""
    v0 = vector_value(rng, n)
    v1 = vector_value(rng, n)
    if rng.random() < 0.4:
        mask = (1 << n) - 1
        v1 = sum(related(rng, (v0 >> (i * n)) & mask, n) << (i * n) for i in range(128 // n))
    return v0, v1, vector_value(rng, n), rng.getrandbits(128)


# ---- AdvSIMD ----------------------------------------------------------------------------------------

ARRANGEMENTS = {32: ("2s", "4s"), 64: ("2d",)}
SCALAR_THREE_SAME = ["fmulx", "fabd", "fcmeq", "fcmge", "fcmgt", "facge", "facgt"]
THREE_SAME = [
    *SCALAR_THREE_SAME,
    *("fadd", "fsub", "fmul", "fdiv", "fmax", "fmin", "fmaxnm", "fminnm", "fmla", "fmls"),
    *("faddp", "fmaxp", "fminp", "fmaxnmp", "fminnmp"),
]
CONVERSIONS = [f"fcvt{r}{s}" for r in "nmapz" for s in "su"] + ["scvtf", "ucvtf"]
TWO_MISC = ["fabs", "fneg", "fsqrt", *(f"frint{r}" for r in "nmpzaxi"), *CONVERSIONS]
ZERO_COMPARES = ("fcmeq", "fcmge", "fcmgt", "fcmle", "fcmlt")


def _element(rng: random.Random) -> tuple[int, str]:
    n = rng.choice((32, 64))
    return n, rng.choice(ARRANGEMENTS[n])


def vector_three_same(rng: random.Random) -> tuple[str, int]:
    n, arr = _element(rng)
    return f"{rng.choice(THREE_SAME)} v3.{arr}, v0.{arr}, v1.{arr}", n


def vector_two_misc(rng: random.Random) -> tuple[str, int]:
    n, arr = _element(rng)
    k = rng.randrange(5)
    if k == 0:
        return f"{rng.choice(ZERO_COMPARES)} v3.{arr}, v0.{arr}, #0.0", n
    if k == 1:
        mn = rng.choice(("fcvtzs", "fcvtzu", "scvtf", "ucvtf"))
        return f"{mn} v3.{arr}, v0.{arr}, #{rng.randrange(1, n + 1)}", n
    return f"{rng.choice(TWO_MISC)} v3.{arr}, v0.{arr}", n


def vector_precision(rng: random.Random) -> tuple[str, int]:
    k = rng.randrange(9)
    return (
        ("fcvtl v3.4s, v0.4h", 16),
        ("fcvtl2 v3.4s, v0.8h", 16),
        ("fcvtl v3.2d, v0.2s", 32),
        ("fcvtl2 v3.2d, v0.4s", 32),
        ("fcvtn v3.4h, v0.4s", 32),
        ("fcvtn2 v3.8h, v0.4s", 32),
        ("fcvtn v3.2s, v0.2d", 64),
        ("fcvtn2 v3.4s, v0.2d", 64),
        (rng.choice(("fcvtxn v3.2s, v0.2d", "fcvtxn2 v3.4s, v0.2d", "fcvtxn s3, d0")), 64),
    )[k]


def reductions(rng: random.Random) -> tuple[str, int]:
    if rng.getrandbits(1):
        return f"{rng.choice(('fmaxv', 'fminv', 'fmaxnmv', 'fminnmv'))} s3, v0.4s", 32
    n = rng.choice((32, 64))
    mn = rng.choice(("faddp", "fmaxp", "fminp", "fmaxnmp", "fminnmp"))
    return f"{mn} {SCALAR[n]}3, v0.{'2s' if n == 32 else '2d'}", n


def by_element(rng: random.Random) -> tuple[str, int]:
    n, arr = _element(rng)
    mn = rng.choice(("fmla", "fmls", "fmul", "fmulx"))
    t = "s" if n == 32 else "d"
    idx = rng.randrange(128 // n)
    rm = rng.choice((1, 2, 17))
    if rng.getrandbits(1):
        return f"{mn} {t}3, {t}0, v{rm}.{t}[{idx}]", n
    return f"{mn} v3.{arr}, v0.{arr}, v{rm}.{t}[{idx}]", n


def scalar_simd(rng: random.Random) -> tuple[str, int]:
    n = rng.choice((32, 64))
    t = SCALAR[n]
    k = rng.randrange(5)
    if k == 0:
        return f"{rng.choice(SCALAR_THREE_SAME)} {t}3, {t}0, {t}1", n
    if k == 1:
        return f"{rng.choice(ZERO_COMPARES)} {t}3, {t}0, #0.0", n
    if k == 2:
        mn = rng.choice(("fcvtzs", "fcvtzu", "scvtf", "ucvtf"))
        return f"{mn} {t}3, {t}0, #{rng.randrange(1, n + 1)}", n
    if k == 3:
        return f"{rng.choice(CONVERSIONS)} {t}3, {t}0", n
    imm = rng.choice((1.0, 0.5, 31.0, 0.1875, 1.9375, 2.0**-3))
    arr = "2d" if n == 64 else rng.choice(ARRANGEMENTS[32])
    return f"fmov v3.{arr}, #{'-' if rng.getrandbits(1) else ''}{imm!r}", n


VECTOR_GENERATORS: tuple[tuple[Generator, int], ...] = (
    (vector_three_same, 6),
    (vector_two_misc, 5),
    (vector_precision, 2),
    (reductions, 2),
    (by_element, 3),
    (scalar_simd, 3),
)


def normal_double(rng: random.Random) -> int:
    """A normal double near 1.0 (sums and products stay normal), with a short significand at times."""
    frac = rng.getrandbits(52) if rng.getrandbits(1) else rng.getrandbits(8) << 44
    return rng.getrandbits(1) << 63 | (1023 + rng.randrange(-40, 41)) << 52 | frac


def double_common(rng: random.Random) -> tuple[str, int]:
    mn = rng.choice(("fadd", "fsub", "fmul", "fnmul", "fmadd", "fmsub", "fnmadd", "fnmsub", "scvtf", "fcvtzs"))
    if mn.startswith("scvtf"):
        return "scvtf d3, x1", 64
    if mn.startswith("fcvtz"):
        return f"{mn} {rng.choice('wx')}3, d0", 64
    if mn in ("fadd", "fsub", "fmul", "fnmul"):
        return f"{mn} d3, d0, d1", 64
    return f"{mn} d3, d0, d1, d2", 64


# the common double-precision operations in round-to-nearest on normal operands (their fast paths)
DOUBLE_GENERATORS: tuple[tuple[Generator, int], ...] = ((double_common, 1),)
