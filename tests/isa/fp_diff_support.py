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
