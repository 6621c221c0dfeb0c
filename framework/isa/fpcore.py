"""IEEE 754 binary16/32/64 arithmetic as the Arm ARM pseudocode defines it, exact in integers.

Every operation works on raw bit patterns and follows the Arm ARM functions of the same
name: FPUnpack, FPProcessNaN(s)(3), FPRoundBase, FPAdd/FPMul/FPDiv/FPSqrt/FPMulAdd,
FPMax/FPMin(Num), FPCompare, FPToFixed/FixedToFP, FPConvert, FPRoundInt. A finite operand
is an exact `mant * 2**exp` with integer `mant`; results are rounded once, by `fp_round`,
from an exact value (or, for division and square root, from a value carrying a sticky bit
below every bit that can matter), so every rounding mode and every FPSR flag is exact.
Python floats are binary64 with round-to-nearest only, and not used at all.

`fpcr` is the FPCR value; functions return the result bits and OR the exception flags
into `Flags.bits` (the FPSR cumulative bits). armnv has no trapped FP exceptions
(FPCR.{IOE,DZE,OFE,UFE,IXE,IDE} are RAZ), nor FEAT_AFP, so FPCR.{AH,FIZ,NEP} do not exist.
Half precision is only converted (FCVT): FEAT_FP16 arithmetic is not implemented, so
FPCR.FZ16 never matters.
"""

from __future__ import annotations

from math import isqrt

from framework.arch import FPCR_AHP, FPCR_DN, FPCR_FZ, FPCR_RMODE
from framework.arch import FPSR_DZC as DZC
from framework.arch import FPSR_IDC as IDC
from framework.arch import FPSR_IOC as IOC
from framework.arch import FPSR_IXC as IXC
from framework.arch import FPSR_OFC as OFC
from framework.arch import FPSR_UFC as UFC

# rounding modes: FPCR.RMode values, then the ones only instructions select
RN, RP, RM, RZ, RA, RO = 0, 1, 2, 3, 4, 5

# kinds of an unpacked operand
ZERO, FINITE, INF, QNAN, SNAN = range(5)

# (exponent bits, fraction bits, minimum exponent) by width
FORMATS = {16: (5, 10, -14), 32: (8, 23, -126), 64: (11, 52, -1022)}


class Flags:
    """FPSR bits raised by one operation (ORed into the FPSR by the caller)."""

    __slots__ = ("bits",)

    def __init__(self) -> None:
        self.bits = 0


def rmode(fpcr: int) -> int:
    return FPCR_RMODE.get(fpcr)


def unpack(bits: int, n: int, fpcr: int, fl: Flags, *, fz: bool = True) -> tuple[int, int, int, int]:
    """FPUnpack: (kind, sign, mant, exp) with value mant * 2**exp for FINITE.

    Single and double denormals are flushed to zero (IDC) when FPCR.FZ; half precision
    operands only come from conversions, which ignore FZ16, and FPCR.AHP reads exponent 31
    as an ordinary number.
    """
    e_bits, f_bits, emin = FORMATS[n]
    sign = bits >> (n - 1)
    exp = (bits >> f_bits) & ((1 << e_bits) - 1)
    frac = bits & ((1 << f_bits) - 1)
    if exp == 0:
        if frac == 0:
            return ZERO, sign, 0, 0
        if n != 16 and fz and fpcr & FPCR_FZ:
            fl.bits |= IDC
            return ZERO, sign, 0, 0
        return FINITE, sign, frac, emin - f_bits
    if exp == (1 << e_bits) - 1 and not (n == 16 and fpcr & FPCR_AHP):
        if frac == 0:
            return INF, sign, 0, 0
        return (SNAN if not frac >> (f_bits - 1) else QNAN), sign, frac, 0
    return FINITE, sign, frac | (1 << f_bits), exp - ((1 << (e_bits - 1)) - 1) - f_bits


def default_nan(n: int) -> int:
    _, f_bits, _ = FORMATS[n]
    return ((1 << (n - 1 - f_bits)) - 1) << f_bits | 1 << (f_bits - 1)


def infinity(sign: int, n: int) -> int:
    e_bits, f_bits, _ = FORMATS[n]
    return sign << (n - 1) | ((1 << e_bits) - 1) << f_bits


def zero(sign: int, n: int) -> int:
    return sign << (n - 1)


def max_normal(sign: int, n: int) -> int:
    e_bits, f_bits, _ = FORMATS[n]
    return sign << (n - 1) | ((1 << e_bits) - 2) << f_bits | ((1 << f_bits) - 1)


def process_nan(kind: int, bits: int, n: int, fpcr: int, fl: Flags) -> int:
    """FPProcessNaN: quiet a signalling NaN (IOC), or the default NaN under FPCR.DN."""
    if kind == SNAN:
        fl.bits |= IOC
        bits |= 1 << (FORMATS[n][1] - 1)
    return default_nan(n) if fpcr & FPCR_DN else bits


def process_nans(ops: tuple[tuple[int, int], ...], n: int, fpcr: int, fl: Flags) -> int | None:
    """FPProcessNaNs/FPProcessNaNs3: the first signalling NaN, else the first quiet one.

    `ops` are (kind, bits) in the architecture's operand order; None when there is no NaN.
    """
    for kind, bits in ops:
        if kind == SNAN:
            return process_nan(kind, bits, n, fpcr, fl)
    for kind, bits in ops:
        if kind == QNAN:
            return process_nan(kind, bits, n, fpcr, fl)
    return None


def fp_round(sign: int, mant: int, exp: int, n: int, fpcr: int, mode: int, fl: Flags, *, fz: bool = True) -> int:
    """FPRoundBase of the nonzero value (-1)**sign * mant * 2**exp.

    Tininess is detected before rounding; a tiny result under FPCR.FZ becomes zero with UFC
    only. `mode` RO is round-to-odd (FCVTXN). Half precision with FPCR.AHP has no infinity:
    overflow saturates with IOC instead.
    """
    e_bits, f_bits, emin = FORMATS[n]
    top = mant.bit_length() - 1 + exp  # 2**top <= |value| < 2**(top+1)
    if top < emin and fz and n != 16 and fpcr & FPCR_FZ:
        fl.bits |= UFC
        return zero(sign, n)
    biased = top - emin + 1
    if biased <= 0:
        biased = 0
        ulp = emin - f_bits
    else:
        ulp = top - f_bits
    shift = ulp - exp
    if shift <= 0:
        int_mant = mant << -shift
        rem = half = 0
    else:
        int_mant = mant >> shift
        rem = mant & ((1 << shift) - 1)
        half = 1 << (shift - 1)
    if biased == 0 and rem:
        fl.bits |= UFC
    if mode == RN:
        round_up = rem > half or (rem == half and rem and int_mant & 1)
        overflow_to_inf = True
    elif mode == RA:
        round_up = rem >= half and rem != 0
        overflow_to_inf = True
    elif mode == RP:
        round_up = rem != 0 and not sign
        overflow_to_inf = not sign
    elif mode == RM:
        round_up = rem != 0 and sign
        overflow_to_inf = bool(sign)
    else:
        round_up = overflow_to_inf = False
    if round_up:
        int_mant += 1
        if int_mant == 1 << f_bits:  # a denormal rounded up to the smallest normal
            biased = 1
        if int_mant == 1 << (f_bits + 1):
            biased += 1
            int_mant >>= 1
    if rem and mode == RO:
        int_mant |= 1
    inexact = rem != 0
    if n == 16 and fpcr & FPCR_AHP:
        if biased >= 1 << e_bits:
            fl.bits |= IOC
            return sign << 15 | 0x7FFF
    elif biased >= (1 << e_bits) - 1:
        fl.bits |= OFC | IXC
        return infinity(sign, n) if overflow_to_inf else max_normal(sign, n)
    if inexact:
        fl.bits |= IXC
    return sign << (n - 1) | biased << f_bits | (int_mant & ((1 << f_bits) - 1))


def _exact_zero(mode: int, n: int) -> int:
    """An exact zero sum of opposite operands: -0 only when rounding toward minus infinity."""
    return zero(1 if mode == RM else 0, n)


def _sum(s1: int, m1: int, e1: int, s2: int, m2: int, e2: int) -> tuple[int, int, int]:
    """The exact signed sum of two finite values as (sign, mant, exp); mant 0 for zero."""
    e = min(e1, e2)
    a = (m1 << (e1 - e)) * (-1 if s1 else 1)
    b = (m2 << (e2 - e)) * (-1 if s2 else 1)
    t = a + b
    return (1 if t < 0 else 0), abs(t), e


def fp_add(a: int, b: int, n: int, fpcr: int, fl: Flags, negate_b: bool = False) -> int:
    """FPAdd (FPSub with `negate_b`)."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    kb, sb, mb, eb = unpack(b, n, fpcr, fl)
    nan = process_nans(((ka, a), (kb, b)), n, fpcr, fl)
    if nan is not None:
        return nan
    if negate_b:
        sb ^= 1
    if ka == INF and kb == INF and sa != sb:
        fl.bits |= IOC
        return default_nan(n)
    if ka == INF or kb == INF:
        return infinity(sa if ka == INF else sb, n)
    mode = rmode(fpcr)
    if ka == ZERO and kb == ZERO and sa == sb:
        return zero(sa, n)
    s, m, e = _sum(sa, ma, ea, sb, mb, eb)
    if m == 0:
        return _exact_zero(mode, n)
    return fp_round(s, m, e, n, fpcr, mode, fl)


def fp_mul(a: int, b: int, n: int, fpcr: int, fl: Flags) -> int:
    """FPMul."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    kb, sb, mb, eb = unpack(b, n, fpcr, fl)
    nan = process_nans(((ka, a), (kb, b)), n, fpcr, fl)
    if nan is not None:
        return nan
    s = sa ^ sb
    if (ka == INF and kb == ZERO) or (ka == ZERO and kb == INF):
        fl.bits |= IOC
        return default_nan(n)
    if ka == INF or kb == INF:
        return infinity(s, n)
    if ka == ZERO or kb == ZERO:
        return zero(s, n)
    return fp_round(s, ma * mb, ea + eb, n, fpcr, rmode(fpcr), fl)


def fp_div(a: int, b: int, n: int, fpcr: int, fl: Flags) -> int:
    """FPDiv."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    kb, sb, mb, eb = unpack(b, n, fpcr, fl)
    nan = process_nans(((ka, a), (kb, b)), n, fpcr, fl)
    if nan is not None:
        return nan
    s = sa ^ sb
    if (ka == INF and kb == INF) or (ka == ZERO and kb == ZERO):
        fl.bits |= IOC
        return default_nan(n)
    if ka == INF or kb == ZERO:
        if ka != INF:
            fl.bits |= DZC
        return infinity(s, n)
    if ka == ZERO or kb == INF:
        return zero(s, n)
    # enough quotient bits that the round and sticky positions lie below all kept bits
    k = max(0, FORMATS[n][1] + 4 + mb.bit_length() - ma.bit_length())
    q, r = divmod(ma << k, mb)
    return fp_round(s, q << 1 | (r != 0), ea - eb - k - 1, n, fpcr, rmode(fpcr), fl)


def fp_sqrt(a: int, n: int, fpcr: int, fl: Flags) -> int:
    """FPSqrt."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    if ka in (QNAN, SNAN):
        return process_nan(ka, a, n, fpcr, fl)
    if ka == ZERO:
        return zero(sa, n)
    if sa:
        fl.bits |= IOC
        return default_nan(n)
    if ka == INF:
        return a
    k = max(0, 2 * (FORMATS[n][1] + 4) - ma.bit_length())
    if (ea - k) & 1:
        k += 1
    m = ma << k
    r = isqrt(m)
    return fp_round(0, r << 1 | (r * r != m), (ea - k) // 2 - 1, n, fpcr, rmode(fpcr), fl)


def fp_muladd(addend: int, a: int, b: int, n: int, fpcr: int, fl: Flags) -> int:
    """FPMulAdd: addend + a * b with one rounding; the addend's NaN comes first."""
    kc, sc, mc, ec = unpack(addend, n, fpcr, fl)
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    kb, sb, mb, eb = unpack(b, n, fpcr, fl)
    inf_times_zero = (ka == INF and kb == ZERO) or (ka == ZERO and kb == INF)
    nan = process_nans(((kc, addend), (ka, a), (kb, b)), n, fpcr, fl)
    if kc == QNAN and inf_times_zero:
        fl.bits |= IOC
        return default_nan(n)
    if nan is not None:
        return nan
    sp = sa ^ sb
    inf_p = ka == INF or kb == INF
    zero_p = ka == ZERO or kb == ZERO
    if inf_times_zero or (kc == INF and inf_p and sc != sp):
        fl.bits |= IOC
        return default_nan(n)
    if kc == INF or inf_p:
        return infinity(sc if kc == INF else sp, n)
    if kc == ZERO and zero_p and sc == sp:
        return zero(sc, n)
    mode = rmode(fpcr)
    if zero_p:
        s, m, e = sc, mc, ec
    elif kc == ZERO:
        s, m, e = sp, ma * mb, ea + eb
    else:
        s, m, e = _sum(sc, mc, ec, sp, ma * mb, ea + eb)
    if m == 0:
        return _exact_zero(mode, n)
    return fp_round(s, m, e, n, fpcr, mode, fl)


def compare_values(ka: int, sa: int, ma: int, ea: int, kb: int, sb: int, mb: int, eb: int) -> int:
    """-1, 0 or 1 as value a is less than, equal to or greater than value b (no NaNs)."""
    ra = (0 if sa else 2) if ka == INF else 1
    rb = (0 if sb else 2) if kb == INF else 1
    if ra != rb:
        return -1 if ra < rb else 1
    if ra != 1:
        return 0
    s, m, _ = _sum(sa, ma, ea, sb ^ 1, mb, eb)
    if m == 0:
        return 0
    return -1 if s else 1


def fp_compare(a: int, b: int, n: int, fpcr: int, fl: Flags, signal_nans: bool) -> int:
    """FPCompare: the NZCV nibble (0b0110 equal, 0b1000 less, 0b0010 greater, 0b0011 unordered)."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    kb, sb, mb, eb = unpack(b, n, fpcr, fl)
    if ka >= QNAN or kb >= QNAN:
        if signal_nans or ka == SNAN or kb == SNAN:
            fl.bits |= IOC
        return 0b0011
    c = compare_values(ka, sa, ma, ea, kb, sb, mb, eb)
    return 0b0110 if c == 0 else 0b1000 if c < 0 else 0b0010


def fp_compare_cond(a: int, b: int, n: int, fpcr: int, fl: Flags, cond: str) -> bool:
    """FPCompareEQ/GE/GT: a NaN makes the result false; EQ signals only for signalling NaNs."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    kb, sb, mb, eb = unpack(b, n, fpcr, fl)
    if ka >= QNAN or kb >= QNAN:
        if cond != "eq" or ka == SNAN or kb == SNAN:
            fl.bits |= IOC
        return False
    c = compare_values(ka, sa, ma, ea, kb, sb, mb, eb)
    if cond == "eq":
        return c == 0
    if cond == "ge":
        return c >= 0
    return c > 0


def fp_minmax(a: int, b: int, n: int, fpcr: int, fl: Flags, is_max: bool, num: bool) -> int:
    """FPMax/FPMin, and FPMaxNum/FPMinNum (`num`: a quiet NaN loses to a number)."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    kb, sb, mb, eb = unpack(b, n, fpcr, fl)
    if num:
        # the quiet NaN becomes the infinity that can never win
        if ka == QNAN and kb != QNAN:
            a = infinity(1 if is_max else 0, n)
            ka, sa = INF, 1 if is_max else 0
        elif kb == QNAN and ka != QNAN:
            b = infinity(1 if is_max else 0, n)
            kb, sb = INF, 1 if is_max else 0
    nan = process_nans(((ka, a), (kb, b)), n, fpcr, fl)
    if nan is not None:
        return nan
    c = compare_values(ka, sa, ma, ea, kb, sb, mb, eb)
    if ka == ZERO and kb == ZERO:
        s = (sa & sb) if is_max else (sa | sb)
        return zero(s, n)
    first = c > 0 if is_max else c < 0
    kind, sign, mant, exp = (ka, sa, ma, ea) if first else (kb, sb, mb, eb)
    if kind == INF:
        return infinity(sign, n)
    if kind == ZERO:
        return zero(sign, n)
    return fp_round(sign, mant, exp, n, fpcr, rmode(fpcr), fl)


# ---- conversions ------------------------------------------------------------------------------


def rounds_away(mode: int, sign: int, truncated: int, rem: int, half: int) -> int:
    """1 when a magnitude truncated to `truncated`, with a nonzero remainder `rem` (`half` is
    half a unit of the last place), rounds away from zero in `mode`; else 0."""
    if mode == RN:
        return int(rem > half or (rem == half and truncated & 1))
    if mode == RA:
        return int(rem >= half)
    if mode == RP:
        return int(not sign)
    if mode == RM:
        return int(bool(sign))
    return 0


def fp_to_fixed(a: int, n: int, fbits: int, width: int, unsigned: bool, fpcr: int, mode: int, fl: Flags) -> int:
    """FPToFixed: the integer (as `width` unsigned bits) nearest a * 2**fbits in `mode`, saturated."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    if ka >= QNAN:
        fl.bits |= IOC
        return 0
    if ka == INF:
        lo, hi = (0, (1 << width) - 1) if unsigned else (-(1 << (width - 1)), (1 << (width - 1)) - 1)
        fl.bits |= IOC
        return (lo if sa else hi) & ((1 << width) - 1)
    if ka == ZERO:
        return 0
    e = ea + fbits
    if e >= 0:
        int_res, rem, half = ma << e, 0, 0
    else:
        int_res = ma >> -e
        rem = ma & ((1 << -e) - 1)
        half = 1 << (-e - 1)
    # int_res is the magnitude rounded down; rounding works on the signed value
    if rem:
        int_res += rounds_away(mode, sa, int_res, rem, half)
    value = -int_res if sa else int_res
    lo, hi = (0, (1 << width) - 1) if unsigned else (-(1 << (width - 1)), (1 << (width - 1)) - 1)
    if value < lo or value > hi:
        fl.bits |= IOC
        value = lo if value < lo else hi
    elif rem:
        fl.bits |= IXC
    return value & ((1 << width) - 1)


def fixed_to_fp(value: int, width: int, fbits: int, unsigned: bool, n: int, fpcr: int, mode: int, fl: Flags) -> int:
    """FixedToFP: the `width`-bit integer `value` / 2**fbits, rounded to an n-bit float."""
    if not unsigned and value >> (width - 1):
        value -= 1 << width
    if value == 0:
        return 0
    sign = 1 if value < 0 else 0
    return fp_round(sign, abs(value), -fbits, n, fpcr, mode, fl)


def fp_convert(a: int, n: int, m: int, fpcr: int, mode: int, fl: Flags) -> int:
    """FPConvert from an n-bit to an m-bit float (FCVT, FCVTL/N/XN); FZ16 is ignored."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    alt_hp = m == 16 and fpcr & FPCR_AHP
    if ka >= QNAN:
        if alt_hp:
            result = zero(sa, m)
        elif fpcr & FPCR_DN:
            result = default_nan(m)
        else:
            # FPConvertNaN: quiet, keep the sign and the top of the payload
            fn = FORMATS[n][1]
            fm = FORMATS[m][1]
            payload = a & ((1 << (fn - 1)) - 1)
            payload = payload >> (fn - fm) if fn > fm else payload << (fm - fn)
            result = sa << (m - 1) | infinity(0, m) | 1 << (fm - 1) | payload
        if ka == SNAN or alt_hp:
            fl.bits |= IOC
        return result
    if ka == INF:
        if alt_hp:
            fl.bits |= IOC
            return sa << 15 | 0x7FFF
        return infinity(sa, m)
    if ka == ZERO:
        return zero(sa, m)
    return fp_round(sa, ma, ea, m, fpcr, mode, fl)


def fp_round_int(a: int, n: int, fpcr: int, mode: int, exact: bool, fl: Flags) -> int:
    """FPRoundInt (FRINT*): the integral value in `mode`; `exact` (FRINTX) raises IXC."""
    ka, sa, ma, ea = unpack(a, n, fpcr, fl)
    if ka >= QNAN:
        return process_nan(ka, a, n, fpcr, fl)
    if ka != FINITE:
        return a if ka == INF else zero(sa, n)
    if ea >= 0:
        return fp_round(sa, ma, ea, n, fpcr, mode, fl)
    int_res = ma >> -ea
    rem = ma & ((1 << -ea) - 1)
    half = 1 << (-ea - 1)
    if rem:
        int_res += rounds_away(mode, sa, int_res, rem, half)
        if exact:
            fl.bits |= IXC
    if int_res == 0:
        return zero(sa, n)
    return fp_round(sa, int_res, 0, n, fpcr, mode, Flags())


def expand_imm(imm8: int, n: int) -> int:
    """VFPExpandImm: the FMOV (immediate) constant of an 8-bit encoding."""
    e_bits, f_bits, _ = FORMATS[n]
    sign = imm8 >> 7
    b6 = (imm8 >> 6) & 1
    exp = ((b6 ^ 1) << (e_bits - 1)) | ((-b6 & ((1 << (e_bits - 3)) - 1)) << 2) | ((imm8 >> 4) & 3)
    frac = (imm8 & 15) << (f_bits - 4)
    return sign << (n - 1) | exp << f_bits | frac


def fp_mulx(a: int, b: int, n: int, fpcr: int, fl: Flags) -> int:
    """FPMulX: FPMul, except that infinity times zero is 2.0 with the product's sign."""
    ka = unpack(a, n, fpcr, fl)[0]
    kb = unpack(b, n, fpcr, fl)[0]
    if (ka == INF and kb == ZERO) or (ka == ZERO and kb == INF):
        return ((a ^ b) >> (n - 1)) << (n - 1) | expand_imm(0, n)
    return fp_mul(a, b, n, fpcr, fl)
