"""Conversions between floating point and integers: FCVT{N,P,M,Z,A}{S,U}, SCVTF and UCVTF,
in their general-register forms, integer and fixed-point (FPToFixed, FixedToFP).

FCVTZ{S,U} and {S,U}CVTF also have a fixed-point form (`scale`, fbits = 64 - scale). The
rounding of FCVT<m> is the instruction's own, not FPCR.RMode; SCVTF/UCVTF round as FPCR says.
FJCVTZS (FEAT_JSCVT) and half precision (FEAT_FP16) forms are UNDEFINED.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from framework.isa import fp_fast, fpcore
from framework.isa.codegen import Ctx
from framework.isa.fp_scalar import WIDTH, emit_fp_result, fp_helper, fp_operand
from framework.isa.fpcore import Flags
from framework.isa.ldst_fp import emit_fp_check
from framework.isa.table import insn

# FCVT<x>{S,U} by rmode:opcode<2:1>: the rounding mode
_TO_INT_MODE = {
    (0, 0): fpcore.RN,
    (0, 4): fpcore.RA,
    (1, 0): fpcore.RP,
    (2, 0): fpcore.RM,
    (3, 0): fpcore.RZ,
}


def to_fixed(a: int, n: int, fpcr: int, fl: Flags, fbits: int, width: int, unsigned: bool, mode: int) -> int:
    return fpcore.fp_to_fixed(a, n, fbits, width, unsigned, fpcr, mode, fl)


def from_fixed(value: int, n: int, fpcr: int, fl: Flags, fbits: int, width: int, unsigned: bool) -> int:
    return fpcore.fixed_to_fp(value, width, fbits, unsigned, n, fpcr, fpcore.rmode(fpcr), fl)


_fast_helpers: dict[tuple, Callable[..., int]] = {}


def _fast(slow: Callable[..., int], make: Callable[..., Callable[..., int]], *args: Any) -> Callable[..., int]:
    """One fast-path helper per slow helper, shared by every block."""
    h = _fast_helpers.get((slow, *args))
    if h is None:
        h = _fast_helpers[(slow, *args)] = make(slow, *args)
    return h


def _emit(ctx: Ctx, sf: int, width: int, rmode: int, opcode: int, fbits: int, rn: int, rd: int) -> bool:
    """Emit one conversion; False if the rmode/opcode pair is not one."""
    ibits = 64 if sf else 32
    unsigned = bool(opcode & 1)
    if opcode >> 1 == 1:  # SCVTF, UCVTF
        if rmode != 0:
            return False
        emit_fp_check(ctx)
        h = fp_helper(from_fixed, width, fbits, ibits, unsigned)
        if width == 64 and not fbits:
            h = _fast(h, fp_fast.int_to_double, ibits, unsigned)
        emit_fp_result(ctx, rd, ctx.call(h, ctx.r(rn, sf)))
        return True
    mode = _TO_INT_MODE.get((rmode, opcode & 6))
    if mode is None:
        return False
    emit_fp_check(ctx)
    h = fp_helper(to_fixed, width, fbits, ibits, unsigned, mode)
    if width == 64 and not fbits and mode == fpcore.RZ:
        h = _fast(h, fp_fast.double_to_int_rz, ibits, unsigned)
    ctx.set_r(rd, ctx.call(h, fp_operand(ctx, rn, width)), sf, masked=True)
    return True


@insn("sf:1 0 0 11110 ftype:2 1 rmode:2 opcode:3 000000 rn:5 rd:5")
def FCVT_int(ctx: Ctx, sf: int, ftype: int, rmode: int, opcode: int, rn: int, rd: int) -> None:
    width = WIDTH.get(ftype)
    if width is None or opcode >> 1 == 3 or not _emit(ctx, sf, width, rmode, opcode, 0, rn, rd):
        ctx.undef()


@insn("sf:1 0 0 11110 ftype:2 0 rmode:2 opcode:3 scale:6 rn:5 rd:5")
def FCVT_fixed(ctx: Ctx, sf: int, ftype: int, rmode: int, opcode: int, scale: int, rn: int, rd: int) -> None:
    width = WIDTH.get(ftype)
    ok = width is not None and (sf or scale >= 32) and opcode >> 1 in (0, 1) and rmode in (0, 3)
    # the fixed-point forms are FCVTZ{S,U} (rmode 3, opcode 00x) and {S,U}CVTF (rmode 0, opcode 01x)
    ok = ok and (rmode == 3) == (opcode >> 1 == 0)
    if not ok or not _emit(ctx, sf, width, rmode, opcode, 64 - scale, rn, rd):
        ctx.undef()
