"""Scalar floating point: data processing with 1, 2 and 3 sources, compares, conditional
compare and select, and FMOV (register, immediate, general, top half).

ftype 0b00 is single and 0b01 double precision; 0b11 (half precision arithmetic) is FEAT_FP16,
which armnv does not implement, so those encodings are UNDEFINED like ftype 0b10. Every form
passes the FP/SIMD access check first. The arithmetic itself is `fpcore`, reached through
helpers that read FPCR and accumulate the FPSR flags; a scalar result zeroes the rest of Vd.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from framework.isa import fp_fast, fpcore
from framework.isa.codegen import Ctx
from framework.isa.fpcore import Flags
from framework.isa.ldst_fp import emit_fp_check, set_vreg, vreg
from framework.isa.table import insn

WIDTH = {0: 32, 1: 64}  # ftype -> bits (half precision arithmetic is FEAT_FP16)

_scratch = Flags()
_helpers: dict[tuple[Any, ...], Callable[..., Any]] = {}


def fp_helper(fn: Callable[..., int], n: int, *extra: Any) -> Callable[..., int]:
    """A helper (cpu, *operands) -> bits calling fn(*operands, n, fpcr, flags, *extra).

    Helpers are shared by every block (one per function, width and constants), so
    translated code names them once.
    """
    key = (fn, n, *extra)
    h = _helpers.get(key)
    if h is None:

        def h(cpu: Any, *ops: int) -> int:
            fl = _scratch
            fl.bits = 0
            r = fn(*ops, n, cpu.fpcr, fl, *extra)
            if fl.bits:
                cpu.fpsr |= fl.bits
            return r

        h.__name__ = f"{fn.__name__}{n}"
        _helpers[key] = h
    return h


def fp_operand(ctx: Ctx, n: int, width: int) -> str:
    return vreg(ctx, n, width // 8)


def emit_fp_result(ctx: Ctx, rd: int, expr: str) -> None:
    set_vreg(ctx, rd, expr)


def _call(ctx: Ctx, fn: Callable[..., int], n: int, *args: str, extra: tuple = ()) -> str:
    return ctx.call(fp_helper(fn, n, *extra), *args)


def _width_or_undef(ctx: Ctx, ftype: int) -> int | None:
    width = WIDTH.get(ftype)
    if width is None:
        ctx.undef()
        return None
    emit_fp_check(ctx)
    return width


# ---- 1 source ---------------------------------------------------------------------------------


def _sqrt(a: int, n: int, fpcr: int, fl: Flags) -> int:
    return fpcore.fp_sqrt(a, n, fpcr, fl)


def _round_int(a: int, n: int, fpcr: int, fl: Flags, mode: int | None, exact: bool) -> int:
    return fpcore.fp_round_int(a, n, fpcr, fpcore.rmode(fpcr) if mode is None else mode, exact, fl)


def _convert(a: int, n: int, fpcr: int, fl: Flags, m: int) -> int:
    return fpcore.fp_convert(a, n, m, fpcr, fpcore.rmode(fpcr), fl)


# FRINT<x> by opcode<2:0>: (rounding mode or None for FPCR's, exact)
_FRINT = {
    0: (fpcore.RN, False),
    1: (fpcore.RP, False),
    2: (fpcore.RM, False),
    3: (fpcore.RZ, False),
    4: (fpcore.RA, False),
    6: (None, True),
    7: (None, False),
}
_CVT_WIDTH = {0: 32, 1: 64, 3: 16}  # FCVT: ftype/opc -> bits


@insn("0 0 0 11110 ftype:2 1 opcode:6 10000 rn:5 rd:5")
def FP_1SRC(ctx: Ctx, ftype: int, opcode: int, rn: int, rd: int) -> None:
    if opcode >> 2 == 1:  # FCVT between half, single and double precision
        src, dst = _CVT_WIDTH.get(ftype), _CVT_WIDTH.get(opcode & 3)
        if src is None or dst is None or src == dst:
            ctx.undef()
            return
        emit_fp_check(ctx)
        emit_fp_result(ctx, rd, _call(ctx, _convert, src, fp_operand(ctx, rn, src), extra=(dst,)))
        return
    width = WIDTH.get(ftype)
    if width is None or (opcode > 3 and opcode >> 3 != 1) or opcode == 13:
        ctx.undef()
        return
    emit_fp_check(ctx)
    a = fp_operand(ctx, rn, width)
    sign = 1 << (width - 1)
    if opcode == 0:  # FMOV
        expr = a
    elif opcode == 1:  # FABS
        expr = f"({a} & {sign - 1:#x})"
    elif opcode == 2:  # FNEG
        expr = f"({a} ^ {sign:#x})"
    elif opcode == 3:
        expr = _call(ctx, _sqrt, width, a)
    else:
        expr = _call(ctx, _round_int, width, a, extra=_FRINT[opcode & 7])
    emit_fp_result(ctx, rd, expr)


# ---- 2 sources --------------------------------------------------------------------------------


def _sub(a: int, b: int, n: int, fpcr: int, fl: Flags) -> int:
    return fpcore.fp_add(a, b, n, fpcr, fl, True)


def _minmax(a: int, b: int, n: int, fpcr: int, fl: Flags, is_max: bool, num: bool) -> int:
    return fpcore.fp_minmax(a, b, n, fpcr, fl, is_max, num)


# by opcode: (function, constants)
_TWO_SOURCE: dict[int, tuple[Callable[..., int], tuple]] = {
    0: (fpcore.fp_mul, ()),
    1: (fpcore.fp_div, ()),
    2: (fpcore.fp_add, ()),
    3: (_sub, ()),
    4: (_minmax, (True, False)),
    5: (_minmax, (False, False)),
    6: (_minmax, (True, True)),
    7: (_minmax, (False, True)),
    8: (fpcore.fp_mul, ()),  # FNMUL: the product, then negated (a NaN result too)
}


@insn("0 0 0 11110 ftype:2 1 rm:5 opcode:4 10 rn:5 rd:5")
def FP_2SRC(ctx: Ctx, ftype: int, rm: int, opcode: int, rn: int, rd: int) -> None:
    op = _TWO_SOURCE.get(opcode)
    if op is None:
        ctx.undef()
        return
    width = _width_or_undef(ctx, ftype)
    if width is None:
        return
    fn, extra = op
    h = fast_helper(opcode) if width == 64 and opcode in (0, 2, 3, 8) else fp_helper(fn, width, *extra)
    expr = ctx.call(h, fp_operand(ctx, rn, width), fp_operand(ctx, rm, width))
    if opcode == 8:
        expr = f"({expr} ^ {1 << (width - 1):#x})"
    emit_fp_result(ctx, rd, expr)


def fast_helper(opcode: int) -> Callable[..., int]:
    """The double-precision FMUL/FADD/FSUB helper with its host-float fast path."""
    key = ("fast", opcode)
    h = _helpers.get(key)
    if h is None:
        fn, extra = _TWO_SOURCE[opcode]
        slow = fp_helper(fn, 64, *extra)
        h = _helpers[key] = fp_fast.add_sub(slow, opcode == 3) if opcode in (2, 3) else fp_fast.mul(slow)
    return h


# ---- 3 sources --------------------------------------------------------------------------------


def _muladd(c: int, a: int, b: int, n: int, fpcr: int, fl: Flags) -> int:
    return fpcore.fp_muladd(c, a, b, n, fpcr, fl)


@insn("0 0 0 11111 ftype:2 o1:1 rm:5 o0:1 ra:5 rn:5 rd:5")
def FP_3SRC(ctx: Ctx, ftype: int, o1: int, rm: int, o0: int, ra: int, rn: int, rd: int) -> None:
    """FMADD, FMSUB (o0: Rn negated), FNMADD (o1: both), FNMSUB (o1 o0: Ra negated)."""
    width = _width_or_undef(ctx, ftype)
    if width is None:
        return
    sign = 1 << (width - 1)
    a = fp_operand(ctx, ra, width)
    n = fp_operand(ctx, rn, width)
    if o1:  # FPNeg of the addend: its NaN propagates negated
        a = f"({a} ^ {sign:#x})"
    if o0 != o1:
        n = f"({n} ^ {sign:#x})"
    h = fp_helper(_muladd, width)
    if width == 64:
        h = _helpers.get(("fast", "muladd")) or _helpers.setdefault(("fast", "muladd"), fp_fast.muladd(h))
    emit_fp_result(ctx, rd, ctx.call(h, a, n, fp_operand(ctx, rm, width)))


# ---- compares and selects ---------------------------------------------------------------------


def _compare(a: int, b: int, n: int, fpcr: int, fl: Flags, signal: bool) -> int:
    return fpcore.fp_compare(a, b, n, fpcr, fl, signal) << 28


@insn("0 0 0 11110 ftype:2 1 rm:5 00 1000 rn:5 E:1 Z:1 000")
def FCMP(ctx: Ctx, ftype: int, rm: int, rn: int, E: int, Z: int) -> None:
    """FCMP/FCMPE (E: quiet NaNs signal too), against Rm or +0.0 (Z; Rm ignored)."""
    width = _width_or_undef(ctx, ftype)
    if width is None:
        return
    b = "0" if Z else fp_operand(ctx, rm, width)
    ctx.flags_value(_call(ctx, _compare, width, fp_operand(ctx, rn, width), b, extra=(bool(E),)))


@insn("0 0 0 11110 ftype:2 1 rm:5 cond:4 01 rn:5 E:1 nzcv:4")
def FCCMP(ctx: Ctx, ftype: int, rm: int, cond: int, rn: int, E: int, nzcv: int) -> None:
    """FCCMP/FCCMPE: the compare's flags if cond holds, else the immediate nzcv."""
    width = _width_or_undef(ctx, ftype)
    if width is None:
        return
    c = ctx.local(ctx.cond(cond), "c") if cond < 14 else "True"
    cmp = _call(ctx, _compare, width, fp_operand(ctx, rn, width), fp_operand(ctx, rm, width), extra=(bool(E),))
    ctx.flags_value(cmp if c == "True" else f"({cmp} if {c} else {nzcv << 28:#x})")


@insn("0 0 0 11110 ftype:2 1 rm:5 cond:4 11 rn:5 rd:5")
def FCSEL(ctx: Ctx, ftype: int, rm: int, cond: int, rn: int, rd: int) -> None:
    width = _width_or_undef(ctx, ftype)
    if width is None:
        return
    a, b = fp_operand(ctx, rn, width), fp_operand(ctx, rm, width)
    emit_fp_result(ctx, rd, a if cond >= 14 else f"({a} if {ctx.cond(cond)} else {b})")


# ---- moves ------------------------------------------------------------------------------------


@insn("0 0 0 11110 ftype:2 1 imm8:8 100 00000 rd:5")
def FMOV_imm(ctx: Ctx, ftype: int, imm8: int, rd: int) -> None:
    width = _width_or_undef(ctx, ftype)
    if width is None:
        return
    emit_fp_result(ctx, rd, hex(fpcore.expand_imm(imm8, width)))


@insn("sf:1 0 0 11110 ftype:2 1 rmode:2 11 op:1 000000 rn:5 rd:5")
def FMOV_gen(ctx: Ctx, sf: int, ftype: int, rmode: int, op: int, rn: int, rd: int) -> None:
    """FMOV between a general register and Sn/Dn (op 1: to FP), or the top half of Vn (Vn.D[1])."""
    form = (sf, ftype, rmode)
    if form not in ((0, 0, 0), (1, 1, 0), (1, 2, 1)):
        ctx.undef()
        return
    emit_fp_check(ctx)
    ctx.uses.add("v")
    top = rmode == 1
    if op:
        src = ctx.r(rn, sf)
        if top:
            ctx.emit(f"v[{rd}] = (v[{rd}] & 0xFFFFFFFFFFFFFFFF) | ({src} << 64)")
        else:
            emit_fp_result(ctx, rd, src)
    else:
        ctx.set_r(rd, f"(v[{rn}] >> 64)" if top else fp_operand(ctx, rn, 32 << sf), sf, masked=True)
