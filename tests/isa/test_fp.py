"""Scalar and AdvSIMD floating point, case by case, with expected values from IEEE 754 and the
Arm ARM pseudocode (FPRoundBase, FPProcessNaNs3, FPMulAdd, FPToFixed, FPConvert, FPRoundInt,
FPMaxNum, FPCompare): rounding modes, flush-to-zero, default NaN and the FPSR flags.

Reference values come from Python floats (binary64, round-to-nearest-even) and `struct`
(the nearest single), or are written out from the architecture's definitions.
"""

from __future__ import annotations

import struct

import pytest
from test_ldst_fp import FP_TRAP, fp_at, sym

IOC, DZC, OFC, UFC, IXC, IDC = 1, 2, 4, 8, 16, 128
RN, RP, RM, RZ = (m << 22 for m in range(4))
FZ, DN, AHP = 1 << 24, 1 << 25, 1 << 26
D_QNAN = 0x7FF8_0000_0000_0000  # the default NaN (FPDefaultNaN)
S_QNAN = 0x7FC0_0000
D_ONE = 0x3FF0_0000_0000_0000
D_MIN_NORMAL = 0x0010_0000_0000_0000
D_MAX = 0x7FEF_FFFF_FFFF_FFFF
D_INF = 0x7FF0_0000_0000_0000
SIGN64 = 1 << 63


def d(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def f(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def as_double(bits: int) -> float:
    return struct.unpack("<d", struct.pack("<Q", bits & (1 << 64) - 1))[0]


def run_fp(run_asm, body: str, *, v: dict[int, int] | None = None, fpcr: int = 0, x: dict[int, int] | None = None):
    """Run `body` with V/X registers preset and FPCR set by MSR; FPSR starts at 0."""

    def setup(m):
        for n, value in (v or {}).items():
            m.cpu.v[n] = value
        for n, value in (x or {}).items():
            m.cpu.x[n] = value

    return run_asm(f"    ldr x9, ={fpcr:#x}\n    msr fpcr, x9\n    msr fpsr, xzr\n{body}", setup=setup)


# ---- arithmetic and rounding ------------------------------------------------------------------------


def test_double_arithmetic_is_ieee_round_to_nearest(run_asm):
    a, b = 0.1, 3.7
    m = run_fp(
        run_asm,
        "    fadd d2, d0, d1\n    fsub d3, d0, d1\n    fmul d4, d0, d1\n    fdiv d5, d0, d1\n    fsqrt d6, d1",
        v={0: d(a), 1: d(b)},
    )
    v = m.cpu.v
    assert [v[2], v[3], v[4], v[5]] == [d(a + b), d(a - b), d(a * b), d(a / b)]
    assert v[6] == d(b**0.5)
    assert m.cpu.fpsr == IXC


def test_single_arithmetic_rounds_to_single_and_zeroes_the_rest_of_the_register(run_asm):
    # the exact double result of single operands rounds once to the nearest single
    a, b = f(1.1), f(3.3)
    fa, fb = struct.unpack("<f", struct.pack("<I", a))[0], struct.unpack("<f", struct.pack("<I", b))[0]
    m = run_fp(run_asm, "    fmul s2, s0, s1\n    fadd s3, s0, s1", v={0: a, 1: b, 2: -1, 3: -1})
    assert m.cpu.v[2] == f(fa * fb)
    assert m.cpu.v[3] == f(fa + fb)


@pytest.mark.parametrize(
    ("rmode", "pos", "neg"),
    [
        (RN, D_ONE, D_ONE | SIGN64),
        (RP, D_ONE + 1, D_ONE | SIGN64),
        (RM, D_ONE, (D_ONE + 1) | SIGN64),
        (RZ, D_ONE, D_ONE | SIGN64),
    ],
)
def test_fpcr_rmode_rounds_sums(run_asm, rmode, pos, neg):
    # 1 + 2**-60 lies strictly between 1.0 and its successor: each mode picks its side, IXC
    tiny = d(2.0**-60)
    body = "    fadd d2, d0, d1\n    fsub d3, d4, d1"
    m = run_fp(run_asm, body, v={0: D_ONE, 1: tiny, 4: D_ONE | SIGN64}, fpcr=rmode)
    assert (m.cpu.v[2], m.cpu.v[3]) == (pos, neg)
    assert m.cpu.fpsr == IXC


def test_exact_zero_sum_is_minus_zero_only_rounding_down(run_asm):
    body = "    fsub d2, d0, d0\n    fadd d3, d0, d1"
    for rmode, zero in ((RN, 0), (RP, 0), (RZ, 0), (RM, SIGN64)):
        m = run_fp(run_asm, body, v={0: D_ONE, 1: D_ONE | SIGN64}, fpcr=rmode)
        assert m.cpu.v[2] == m.cpu.v[3] == zero
        assert m.cpu.fpsr == 0


def test_overflow_gives_infinity_or_the_largest_normal_by_rounding_mode(run_asm):
    body = "    fmul d2, d0, d1\n    fmul d3, d4, d1"
    two = d(2.0)
    for rmode, pos, neg in ((RN, D_INF, D_INF | SIGN64), (RZ, D_MAX, D_MAX | SIGN64), (RP, D_INF, D_MAX | SIGN64)):
        m = run_fp(run_asm, body, v={0: D_MAX, 1: two, 4: D_MAX | SIGN64}, fpcr=rmode)
        assert (m.cpu.v[2], m.cpu.v[3]) == (pos, neg)
        assert m.cpu.fpsr == OFC | IXC


def test_underflow_flag_needs_an_inexact_tiny_result(run_asm):
    # min_normal / 2 is an exact denormal (no UFC); min_normal / 3 is not (UFC and IXC)
    m = run_fp(run_asm, "    fdiv d2, d0, d1", v={0: D_MIN_NORMAL, 1: d(2.0)})
    assert m.cpu.v[2] == D_MIN_NORMAL >> 1
    assert m.cpu.fpsr == 0
    m = run_fp(run_asm, "    fdiv d2, d0, d1", v={0: D_MIN_NORMAL, 1: d(3.0)})
    assert m.cpu.v[2] == d(as_double(D_MIN_NORMAL) / 3)
    assert m.cpu.fpsr == UFC | IXC


def test_flush_to_zero_of_inputs_sets_idc_and_of_results_ufc(run_asm):
    denormal = 0x0000_0000_0000_0001
    m = run_fp(run_asm, "    fadd d2, d0, d1", v={0: denormal, 1: D_ONE}, fpcr=FZ)
    assert m.cpu.v[2] == D_ONE  # the denormal read as +0: the sum is exact
    assert m.cpu.fpsr == IDC
    m = run_fp(run_asm, "    fmul d2, d0, d1", v={0: D_MIN_NORMAL | SIGN64, 1: d(0.5)}, fpcr=FZ)
    assert m.cpu.v[2] == SIGN64  # a tiny result is flushed to a zero of its sign: UFC only
    assert m.cpu.fpsr == UFC


def test_division_by_zero_and_invalid_operations(run_asm):
    m = run_fp(run_asm, "    fdiv d2, d0, d1", v={0: d(-3.0), 1: 0})
    assert (m.cpu.v[2], m.cpu.fpsr) == (D_INF | SIGN64, DZC)
    m = run_fp(run_asm, "    fdiv d2, d1, d1", v={1: 0})
    assert (m.cpu.v[2], m.cpu.fpsr) == (D_QNAN, IOC)
    m = run_fp(run_asm, "    fsqrt s2, s0", v={0: f(-4.0)})
    assert (m.cpu.v[2], m.cpu.fpsr) == (S_QNAN, IOC)
    m = run_fp(run_asm, "    fsub d2, d0, d0", v={0: D_INF})
    assert (m.cpu.v[2], m.cpu.fpsr) == (D_QNAN, IOC)


# ---- NaNs ----------------------------------------------------------------------------------------------

SNAN = 0x7FF0_0000_0000_0042
QNAN = 0xFFF8_0000_0000_0017


def test_signalling_nan_is_quieted_and_wins_over_an_earlier_quiet_nan(run_asm):
    m = run_fp(run_asm, "    fadd d2, d0, d1", v={0: QNAN, 1: SNAN})
    assert m.cpu.v[2] == SNAN | 1 << 51
    assert m.cpu.fpsr == IOC
    m = run_fp(run_asm, "    fmul d2, d0, d1", v={0: QNAN, 1: d(2.0)})
    assert (m.cpu.v[2], m.cpu.fpsr) == (QNAN, 0)


def test_default_nan_mode_replaces_propagated_nans(run_asm):
    m = run_fp(run_asm, "    fadd d2, d0, d1", v={0: QNAN, 1: SNAN}, fpcr=DN)
    assert (m.cpu.v[2], m.cpu.fpsr) == (D_QNAN, IOC)


def test_fmadd_nan_order_addend_first_and_qnan_addend_with_inf_times_zero(run_asm):
    # FPProcessNaNs3(addend, n, m): signalling NaNs first in that order, then quiet ones
    m = run_fp(run_asm, "    fmadd d3, d0, d1, d2", v={0: SNAN, 1: d(1.0), 2: QNAN})
    assert (m.cpu.v[3], m.cpu.fpsr) == (SNAN | 1 << 51, IOC)
    m = run_fp(run_asm, "    fmadd d3, d0, d1, d2", v={0: QNAN ^ SIGN64 | 5, 1: d(1.0), 2: QNAN})
    assert (m.cpu.v[3], m.cpu.fpsr) == (QNAN, 0)
    # a quiet NaN addend with infinity times zero is the default NaN and Invalid Operation
    m = run_fp(run_asm, "    fmadd d3, d0, d1, d2", v={0: D_INF, 1: 0, 2: QNAN})
    assert (m.cpu.v[3], m.cpu.fpsr) == (D_QNAN, IOC)


def test_fnmul_and_fmsub_negate_nans_too(run_asm):
    # FNMUL negates the product, a NaN result included; FMSUB negates Rn before FPMulAdd
    m = run_fp(run_asm, "    fnmul d2, d0, d1\n    fmsub d3, d0, d1, d4", v={0: QNAN, 1: d(1.0), 4: d(1.0)})
    assert m.cpu.v[2] == QNAN ^ SIGN64
    assert m.cpu.v[3] == QNAN ^ SIGN64


def test_fused_multiply_add_rounds_once(run_asm):
    # (1 + 2**-30)**2 - 1 keeps the 2**-60 term only without an intermediate rounding
    x = 1 + 2.0**-30
    m = run_fp(run_asm, "    fmsub d3, d0, d0, d1\n    fnmsub d4, d0, d0, d1", v={0: d(x), 1: D_ONE})
    exact = 2.0**-29 + 2.0**-60
    assert m.cpu.v[4] == d(exact)  # FNMSUB: -Ra + Rn*Rm
    assert m.cpu.v[3] == d(-exact)  # FMSUB: Ra - Rn*Rm
    assert m.cpu.fpsr == 0


# ---- min/max, compares, selects ----------------------------------------------------------------------------


def test_fmaxnm_prefers_numbers_fmax_propagates_nans(run_asm):
    body = "    fmaxnm d2, d0, d1\n    fmax d3, d0, d1\n    fminnm d4, d1, d0\n    fmin d5, d6, d7"
    m = run_fp(run_asm, body, v={0: QNAN, 1: d(-7.5), 6: 0, 7: SIGN64})
    assert m.cpu.v[2] == d(-7.5)
    assert m.cpu.v[3] == QNAN
    assert m.cpu.v[4] == d(-7.5)
    assert m.cpu.v[5] == SIGN64  # min(+0, -0) is -0
    assert m.cpu.fpsr == 0


@pytest.mark.parametrize(
    ("a", "b", "nzcv"),
    [(1.0, 1.0, 0b0110), (1.0, 2.0, 0b1000), (2.0, 1.0, 0b0010), (0.0, -0.0, 0b0110)],
)
def test_fcmp_flags(run_asm, a, b, nzcv):
    m = run_fp(run_asm, "    fcmp d0, d1\n    mrs x2, nzcv", v={0: d(a), 1: d(b)})
    assert m.cpu.x[2] == nzcv << 28


def test_fcmp_quiet_nan_signals_only_for_fcmpe(run_asm):
    m = run_fp(run_asm, "    fcmp d0, #0.0\n    mrs x2, nzcv", v={0: QNAN})
    assert (m.cpu.x[2], m.cpu.fpsr) == (0b0011 << 28, 0)
    m = run_fp(run_asm, "    fcmpe d0, #0.0\n    mrs x2, nzcv", v={0: QNAN})
    assert (m.cpu.x[2], m.cpu.fpsr) == (0b0011 << 28, IOC)


def test_fccmp_and_fcsel(run_asm):
    body = """
    mov x4, #0
    cmp x4, #1
    fccmp d0, d1, #5, eq
    mrs x2, nzcv
    cmp x4, #1
    fccmp d0, d1, #5, ne
    mrs x3, nzcv
    fcsel d2, d0, d1, lt
    fcsel d3, d0, d1, ge
    """
    m = run_fp(run_asm, body, v={0: d(1.0), 1: d(2.0)})
    assert m.cpu.x[2] == 0b0101 << 28  # EQ fails: the immediate flags
    assert m.cpu.x[3] == 0b1000 << 28  # NE holds: 1.0 < 2.0
    assert (m.cpu.v[2], m.cpu.v[3]) == (d(1.0), d(2.0))


# ---- conversions ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("insn", "value", "result"),
    [
        ("fcvtns", 2.5, 2),
        ("fcvtas", 2.5, 3),
        ("fcvtms", -2.5, -3),
        ("fcvtps", -2.5, -2),
        ("fcvtzs", -2.5, -2),
        ("fcvtas", -2.5, -3),
        ("fcvtnu", 3.5, 4),
    ],
)
def test_fcvt_to_integer_rounding(run_asm, insn, value, result):
    m = run_fp(run_asm, f"    {insn} x2, d0", v={0: d(value)})
    assert m.cpu.x[2] == result & (1 << 64) - 1
    assert m.cpu.fpsr == IXC


def test_fcvt_to_integer_saturates_with_ioc(run_asm):
    body = "    fcvtzs x2, d0\n    fcvtzs w3, d0\n    fcvtzu x4, d1\n    fcvtzs x5, d2"
    m = run_fp(run_asm, body, v={0: d(1e300), 1: d(-1.5), 2: QNAN}, x={3: -1 & (1 << 64) - 1})
    assert m.cpu.x[2] == (1 << 63) - 1
    assert m.cpu.x[3] == (1 << 31) - 1  # the W form zero-extends
    assert m.cpu.x[4] == 0
    assert m.cpu.x[5] == 0
    assert m.cpu.fpsr == IOC


def test_fixed_point_conversions(run_asm):
    body = "    scvtf d2, x0, #4\n    fcvtzs w3, s1, #8\n    ucvtf s4, w5"
    m = run_fp(run_asm, body, v={1: f(-1.75)}, x={0: 24, 5: 0xFFFF_FFFF})
    assert m.cpu.v[2] == d(1.5)
    assert m.cpu.x[3] == -448 & 0xFFFF_FFFF
    assert m.cpu.v[4] == f(4294967296.0)  # 2**32 - 1 rounds up to 2**32
    assert m.cpu.fpsr == IXC


def test_fcvt_between_precisions(run_asm):
    body = "    fcvt s2, d0\n    fcvt d3, s1\n    fcvt h4, s1\n    fcvt s5, h6"
    m = run_fp(run_asm, body, v={0: d(0.1), 1: f(65504.0), 6: 0x3C00})
    assert m.cpu.v[2] == f(0.1)
    assert m.cpu.v[3] == d(65504.0)
    assert m.cpu.v[4] == 0x7BFF  # the largest half
    assert m.cpu.v[5] == f(1.0)
    assert m.cpu.fpsr == IXC  # from 0.1 only


def test_fcvt_nan_keeps_the_top_of_its_payload_and_quiets_it(run_asm):
    nan = 0x7FF2_BCDE_0000_0042  # signalling: fraction bit 51 clear
    m = run_fp(run_asm, "    fcvt s2, d0", v={0: nan})
    assert m.cpu.v[2] == 0x7FC0_0000 | ((nan >> 29) & 0x3F_FFFF)
    assert m.cpu.fpsr == IOC


def test_alternative_half_precision(run_asm):
    # with FPCR.AHP exponent 31 is a number (0x7C00 = 65536) and infinity converts to 0x7FFF with IOC
    m = run_fp(run_asm, "    fcvt s2, h0\n    fcvt h3, s1", v={0: 0x7C00, 1: f(float("inf"))}, fpcr=AHP)
    assert m.cpu.v[2] == f(65536.0)
    assert m.cpu.v[3] == 0x7FFF
    assert m.cpu.fpsr == IOC


@pytest.mark.parametrize(
    ("insn", "value", "result", "fpsr"),
    [
        ("frintn", 2.5, 2.0, 0),
        ("frinta", 2.5, 3.0, 0),
        ("frintx", 2.5, 2.0, IXC),
        ("frintm", -0.5, -1.0, 0),
        ("frintz", -0.5, -0.0, 0),
        ("frintp", 1.25, 2.0, 0),
        ("frinti", -1.5, -2.0, 0),
    ],
)
def test_frint(run_asm, insn, value, result, fpsr):
    m = run_fp(run_asm, f"    {insn} d2, d0", v={0: d(value)})
    assert (m.cpu.v[2], m.cpu.fpsr) == (d(result), fpsr)


def test_frinti_and_frintx_follow_fpcr_rmode(run_asm):
    m = run_fp(run_asm, "    frinti d2, d0\n    frintx d3, d0", v={0: d(1.25)}, fpcr=RP)
    assert (m.cpu.v[2], m.cpu.v[3]) == (d(2.0), d(2.0))
    assert m.cpu.fpsr == IXC


# ---- moves ---------------------------------------------------------------------------------------------


def test_fmov_forms(run_asm):
    body = """
    fmov d2, #-1.25
    fmov s3, #31.0
    fmov x4, d0
    fmov d5, x6
    fmov v7.d[1], x6
    fmov x8, v0.d[1]
    fmov s9, w6
    """
    m = run_fp(run_asm, body, v={0: 0x1111_2222_3333_4444_5555_6666_7777_8888, 7: 0xAB}, x={6: 0xFEDC_BA98_7654_3210})
    v, x = m.cpu.v, m.cpu.x
    assert (v[2], v[3]) == (d(-1.25), f(31.0))
    assert x[4] == 0x5555_6666_7777_8888
    assert v[5] == 0xFEDC_BA98_7654_3210
    assert v[7] == 0xFEDC_BA98_7654_3210 << 64 | 0xAB  # the low half is kept
    assert x[8] == 0x1111_2222_3333_4444
    assert v[9] == 0x7654_3210


# ---- vectors -------------------------------------------------------------------------------------------------


def lanes(values: list[int], n: int) -> int:
    return sum(v << (i * n) for i, v in enumerate(values))


def test_vector_arithmetic_lane_by_lane(run_asm):
    a = [1.5, -2.0, 3.25, 1e30]
    b = [0.5, 4.0, -1.0, 1e30]
    body = "    fadd v2.4s, v0.4s, v1.4s\n    fmul v3.2s, v0.2s, v1.2s\n    fsub v4.2d, v5.2d, v6.2d"
    m = run_fp(
        run_asm,
        body,
        v={0: lanes([f(x) for x in a], 32), 1: lanes([f(x) for x in b], 32), 3: -1 & (1 << 128) - 1,
           5: lanes([d(1.0), d(2.0)], 64), 6: lanes([d(0.25), d(4.0)], 64)},
    )  # fmt: skip
    assert m.cpu.v[2] == lanes([f(2.0), f(2.0), f(2.25), f(2e30)], 32)
    assert m.cpu.v[3] == lanes([f(0.75), f(-8.0)], 32)  # 2S: the upper half is zeroed
    assert m.cpu.v[4] == lanes([d(0.75), d(-2.0)], 64)


def test_vector_fmla_by_element_and_pairwise(run_asm):
    body = """
    fmla v2.4s, v0.4s, v1.s[2]
    faddp v3.4s, v0.4s, v1.4s
    faddp s4, v0.2s
    fmaxv s5, v0.4s
    fminnmv s6, v7.4s
    """
    a = [1.0, 2.0, 3.0, 4.0]
    b = [10.0, 20.0, 0.5, 40.0]
    m = run_fp(
        run_asm,
        body,
        v={0: lanes([f(x) for x in a], 32), 1: lanes([f(x) for x in b], 32), 2: lanes([f(1.0)] * 4, 32),
           7: lanes([S_QNAN, f(3.0), f(-1.0), S_QNAN], 32)},
    )  # fmt: skip
    assert m.cpu.v[2] == lanes([f(1.0 + x * 0.5) for x in a], 32)
    assert m.cpu.v[3] == lanes([f(3.0), f(7.0), f(30.0), f(40.5)], 32)
    assert m.cpu.v[4] == f(3.0)
    assert m.cpu.v[5] == f(4.0)
    assert m.cpu.v[6] == f(-1.0)


def test_vector_compares_give_masks(run_asm):
    body = "    fcmge v2.4s, v0.4s, v1.4s\n    fcmlt v3.4s, v0.4s, #0.0"
    a = [f(1.0), f(-2.0), S_QNAN, f(-0.0)]
    b = [f(1.0), f(2.0), f(0.0), f(0.0)]
    m = run_fp(run_asm, body, v={0: lanes(a, 32), 1: lanes(b, 32)})
    ones = 0xFFFF_FFFF
    assert m.cpu.v[2] == lanes([ones, 0, 0, ones], 32)
    assert m.cpu.v[3] == lanes([0, ones, 0, 0], 32)
    assert m.cpu.fpsr == IOC  # FCMGE/FCMLT signal on quiet NaNs


def test_fcvtl_fcvtn_and_vector_conversions(run_asm):
    body = """
    fcvtl2 v2.2d, v0.4s
    fcvtn v3.2s, v1.2d
    fcvtn2 v3.4s, v1.2d
    scvtf v4.4s, v5.4s, #1
    fcvtzu v6.2d, v1.2d
    """
    m = run_fp(
        run_asm,
        body,
        v={0: lanes([0, 0, f(1.5), f(-3.0)], 32), 1: lanes([d(2.0), d(-0.5)], 64),
           5: lanes([3, 0xFFFF_FFFF, 8, 0], 32)},
    )  # fmt: skip
    assert m.cpu.v[2] == lanes([d(1.5), d(-3.0)], 64)
    assert m.cpu.v[3] == lanes([f(2.0), f(-0.5), f(2.0), f(-0.5)], 32)
    assert m.cpu.v[4] == lanes([f(1.5), f(-0.5), f(4.0), 0], 32)
    assert m.cpu.v[6] == lanes([2, 0], 64)
    assert m.cpu.fpsr == IXC  # FCVTZU of -0.5 rounds to 0, in range: inexact only


# ---- the access trap and absent features ------------------------------------------------------------------


@pytest.mark.parametrize(
    "insn",
    [
        "fadd d0, d1, d2",
        "fmadd s0, s1, s2, s3",
        "fcmp d0, #0.0",
        "fccmp s0, s1, #0, eq",
        "fcsel d0, d1, d2, ne",
        "fcvtzs x0, d1",
        "scvtf d0, x1",
        "fmov d0, x1",
        "fmov x0, d1",
        "fmov d0, #1.0",
        "frintx d0, d1",
        "fcvt s0, d1",
        "fadd v0.4s, v1.4s, v2.4s",
        "fmla v0.2d, v1.2d, v2.d[1]",
        "fmaxv s0, v1.4s",
        "faddp d0, v1.2d",
        "fcvtl v0.2d, v1.2s",
        "fcvtzs v0.4s, v1.4s, #3",
        "fmov v0.4s, #1.0",
        "fcmeq v0.2d, v1.2d, #0.0",
    ],
)
def test_syndromes_s3_fp_data_processing_checks_the_access_trap(run_asm, insn):
    m = run_asm(fp_at(1, insn=insn))
    assert m.cpu.sr["ESR_EL1"] == FP_TRAP
    assert m.cpu.sr["ELR_EL1"] == sym(m, "fp_insn")


@pytest.mark.parametrize(
    "word",
    [
        0x1EE22820,  # FADD H0, H1, H2 (FEAT_FP16)
        0x4E421420,  # FADD V0.8H, V1.8H, V2.8H (FEAT_FP16)
        0x1E7E0020,  # FJCVTZS W0, D1 (FEAT_JSCVT)
        0x5EA1D820,  # FRECPE S0, S1: the estimates are not implemented
    ],
)
def test_unimplemented_fp_extensions_are_undefined(run_asm, word):
    m = run_asm(fp_at(2, insn=f".inst {word:#x}"))
    assert m.cpu.sr["ESR_EL2"] == 0x02000000  # EC 0x00, IL 1
    assert m.cpu.sr["ELR_EL2"] == sym(m, "fp_insn")


def test_id_aa64pfr0_advertises_fp_and_advsimd_without_half_precision(run_asm):
    m = run_asm("    mrs x2, id_aa64pfr0_el1\n    mrs x3, id_aa64isar0_el1\n    mrs x4, id_aa64isar1_el1")
    pfr0, isar0, isar1 = m.cpu.x[2], m.cpu.x[3], m.cpu.x[4]
    assert (pfr0 >> 16) & 0xF == 0  # FP: single and double precision, no FP16
    assert (pfr0 >> 20) & 0xF == 0  # AdvSIMD: likewise
    assert (isar0 >> 48) & 0xF == 0  # FHM
    assert (isar1 >> 12) & 0xF == 0  # JSCVT
    assert (isar1 >> 32) & 0xF == 0  # FRINTTS
