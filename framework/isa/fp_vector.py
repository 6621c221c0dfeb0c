"""AdvSIMD floating point, vector and scalar forms: three same, two-register miscellaneous,
pairwise and across lanes, by element, fixed-point conversions by immediate, FMOV (vector,
immediate), FCVTL/FCVTN/FCVTXN.

Every operation is an element function of `fpcore` applied lane by lane by one helper per
(operation, element size, lanes); FPSR flags of all lanes accumulate. sz selects single (0)
or double (1) precision elements, and double with Q = 0 is reserved. The half-precision
forms (FEAT_FP16) and the estimates FRECPE/FRSQRTE/FRECPS/FRSQRTS/FRECPX have no row here:
they are UNDEFINED. Rows are built from tables below, one row per (U, a, opcode), so that
every row matches only floating-point encodings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from framework.isa import fpcore
from framework.isa.codegen import Ctx
from framework.isa.fp_convert import from_fixed, to_fixed
from framework.isa.fpcore import Flags
from framework.isa.ldst_fp import emit_fp_check, set_vreg
from framework.isa.table import insn

_scratch = Flags()
_helpers: dict[tuple[Any, ...], Callable[..., int]] = {}


def _lanes_helper(kind: str, fn: Callable[..., int], n: int, lanes: int, extra: tuple) -> Callable[..., int]:
    """A helper (cpu, *registers) -> register applying `fn` lane by lane.

    kind "map": result lane i = fn(lane i of each register); "pair": lanes of Vm:Vn taken two
    at a time (pairwise forms, a scalar pairwise form has one lane); "reduce": fn folded over
    the lanes of Vn by halves, as the Arm ARM Reduce() does.
    """
    key = (kind, fn, n, lanes, extra)
    h = _helpers.get(key)
    if h is not None:
        return h
    mask = (1 << n) - 1

    if kind == "map":

        def h(cpu: Any, *regs: int) -> int:
            fl = _scratch
            fl.bits = 0
            fpcr = cpu.fpcr
            out = 0
            for sh in range(0, n * lanes, n):
                out |= fn(*[(r >> sh) & mask for r in regs], n, fpcr, fl, *extra) << sh
            if fl.bits:
                cpu.fpsr |= fl.bits
            return out

    elif kind == "pair":

        def h(cpu: Any, vn: int, vm: int) -> int:
            fl = _scratch
            fl.bits = 0
            fpcr = cpu.fpcr
            cat = vn & ((1 << (n * lanes)) - 1) | (vm & ((1 << (n * lanes)) - 1)) << (n * lanes)
            out = 0
            for i in range(lanes):
                a, b = (cat >> (2 * i * n)) & mask, (cat >> ((2 * i + 1) * n)) & mask
                out |= fn(a, b, n, fpcr, fl, *extra) << (i * n)
            if fl.bits:
                cpu.fpsr |= fl.bits
            return out

    else:

        def h(cpu: Any, vn: int) -> int:
            fl = _scratch
            fl.bits = 0
            fpcr = cpu.fpcr

            def reduce(lo: int, count: int) -> int:
                if count == 1:
                    return (vn >> (lo * n)) & mask
                half = count // 2
                return fn(reduce(lo, half), reduce(lo + half, half), n, fpcr, fl, *extra)

            out = reduce(0, lanes)
            if fl.bits:
                cpu.fpsr |= fl.bits
            return out

    h.__name__ = f"{getattr(fn, '__name__', 'fp')}_{kind}{n}x{lanes}"
    _helpers[key] = h
    return h


# ---- element functions --------------------------------------------------------------------------


def _sub(a: int, b: int, n: int, fpcr: int, fl: Flags) -> int:
    return fpcore.fp_add(a, b, n, fpcr, fl, True)


def _abd(a: int, b: int, n: int, fpcr: int, fl: Flags) -> int:
    return fpcore.fp_add(a, b, n, fpcr, fl, True) & ((1 << (n - 1)) - 1)


def _minmax(a: int, b: int, n: int, fpcr: int, fl: Flags, is_max: bool, num: bool) -> int:
    return fpcore.fp_minmax(a, b, n, fpcr, fl, is_max, num)


def _mla(d: int, a: int, b: int, n: int, fpcr: int, fl: Flags, negate: bool) -> int:
    return fpcore.fp_muladd(d, a ^ (1 << (n - 1)) if negate else a, b, n, fpcr, fl)


def _cmp(a: int, b: int, n: int, fpcr: int, fl: Flags, cond: str, absolute: bool, swap: bool) -> int:
    """FCMEQ/FCMGE/FCMGT (FACGE/FACGT with `absolute`; the zero forms swap for LT/LE)."""
    if absolute:
        a &= (1 << (n - 1)) - 1
        b &= (1 << (n - 1)) - 1
    if swap:
        a, b = b, a
    return (1 << n) - 1 if fpcore.fp_compare_cond(a, b, n, fpcr, fl, cond) else 0


def _unary_bits(a: int, n: int, fpcr: int, fl: Flags, op: str) -> int:
    sign = 1 << (n - 1)
    return a & (sign - 1) if op == "abs" else a ^ sign


def _sqrt(a: int, n: int, fpcr: int, fl: Flags) -> int:
    return fpcore.fp_sqrt(a, n, fpcr, fl)


def _frint(a: int, n: int, fpcr: int, fl: Flags, mode: int | None, exact: bool) -> int:
    return fpcore.fp_round_int(a, n, fpcr, fpcore.rmode(fpcr) if mode is None else mode, exact, fl)


def _to_int(a: int, n: int, fpcr: int, fl: Flags, fbits: int, unsigned: bool, mode: int) -> int:
    return to_fixed(a, n, fpcr, fl, fbits, n, unsigned, mode)


def _from_int(a: int, n: int, fpcr: int, fl: Flags, fbits: int, unsigned: bool) -> int:
    return from_fixed(a, n, fpcr, fl, fbits, n, unsigned)


# ---- three same -----------------------------------------------------------------------------------

_MAX, _MIN, _MAXNM, _MINNM = (True, False), (False, False), (True, True), (False, True)

# (U, a, opcode) -> (kind, element function, constants); kind "acc" reads Vd as the addend
THREE_SAME: dict[tuple[int, int, int], tuple[str, Callable[..., int], tuple]] = {
    (0, 0, 0b11000): ("map", _minmax, _MAXNM),
    (0, 0, 0b11001): ("acc", _mla, (False,)),
    (0, 0, 0b11010): ("map", fpcore.fp_add, ()),
    (0, 0, 0b11011): ("map", fpcore.fp_mulx, ()),
    (0, 0, 0b11100): ("map", _cmp, ("eq", False, False)),
    (0, 0, 0b11110): ("map", _minmax, _MAX),
    (0, 1, 0b11000): ("map", _minmax, _MINNM),
    (0, 1, 0b11001): ("acc", _mla, (True,)),
    (0, 1, 0b11010): ("map", _sub, ()),
    (0, 1, 0b11110): ("map", _minmax, _MIN),
    (1, 0, 0b11000): ("pair", _minmax, _MAXNM),
    (1, 0, 0b11010): ("pair", fpcore.fp_add, ()),
    (1, 0, 0b11011): ("map", fpcore.fp_mul, ()),
    (1, 0, 0b11100): ("map", _cmp, ("ge", False, False)),
    (1, 0, 0b11101): ("map", _cmp, ("ge", True, False)),
    (1, 0, 0b11110): ("pair", _minmax, _MAX),
    (1, 0, 0b11111): ("map", fpcore.fp_div, ()),
    (1, 1, 0b11000): ("pair", _minmax, _MINNM),
    (1, 1, 0b11010): ("map", _abd, ()),
    (1, 1, 0b11100): ("map", _cmp, ("gt", False, False)),
    (1, 1, 0b11101): ("map", _cmp, ("gt", True, False)),
    (1, 1, 0b11110): ("pair", _minmax, _MIN),
}
# the scalar three-same forms (FMULX, the compares, FABD)
SCALAR_THREE_SAME = (
    (0, 0, 0b11011),
    (0, 0, 0b11100),
    (1, 0, 0b11100),
    (1, 0, 0b11101),
    (1, 1, 0b11010),
    (1, 1, 0b11100),
    (1, 1, 0b11101),
)


def _elements(ctx: Ctx, sz: int, Q: int) -> tuple[int, int] | None:
    """(element bits, lanes); None (after UNDEF) for the reserved double-precision Q = 0."""
    if sz and not Q:
        ctx.undef()
        return None
    emit_fp_check(ctx)
    n = 64 if sz else 32
    return n, (64 << Q) // n


def _emit_three(ctx: Ctx, spec: tuple, n: int, lanes: int, rd: int, rn: int, rm: int) -> None:
    kind, fn, extra = spec
    ctx.uses.add("v")
    h = _lanes_helper("map" if kind == "acc" else kind, fn, n, lanes, extra)
    args = [f"v[{rn}]", f"v[{rm}]"]
    if kind == "acc":
        args.insert(0, f"v[{rd}]")
    set_vreg(ctx, rd, ctx.call(h, *args))


def _three_same(U: int, a: int, opcode: int) -> Callable[..., None]:
    spec = THREE_SAME[(U, a, opcode)]

    def emit(ctx: Ctx, Q: int, sz: int, rm: int, rn: int, rd: int) -> None:
        shape = _elements(ctx, sz, Q)
        if shape is not None:
            _emit_three(ctx, spec, shape[0], shape[1], rd, rn, rm)

    return emit


def _scalar_three_same(U: int, a: int, opcode: int) -> Callable[..., None]:
    spec = THREE_SAME[(U, a, opcode)]

    def emit(ctx: Ctx, sz: int, rm: int, rn: int, rd: int) -> None:
        emit_fp_check(ctx)
        n = 64 if sz else 32
        ctx.uses.add("v")
        h = _lanes_helper("map", spec[1], n, 1, spec[2])
        set_vreg(ctx, rd, ctx.call(h, f"(v[{rn}] & {(1 << n) - 1:#x})", f"(v[{rm}] & {(1 << n) - 1:#x})"))

    return emit


for (_U, _a, _op), _spec in THREE_SAME.items():
    insn(f"0 Q:1 {_U} 01110 {_a} sz:1 1 rm:5 {_op:05b} 1 rn:5 rd:5", f"FP_3SAME_{_U}{_a}{_op:05b}")(
        _three_same(_U, _a, _op)
    )
for _U, _a, _op in SCALAR_THREE_SAME:
    insn(f"01 {_U} 11110 {_a} sz:1 1 rm:5 {_op:05b} 1 rn:5 rd:5", f"FP_S3SAME_{_U}{_a}{_op:05b}")(
        _scalar_three_same(_U, _a, _op)
    )


# ---- two-register miscellaneous ---------------------------------------------------------------------

_RN, _RP, _RM, _RZ, _RA = fpcore.RN, fpcore.RP, fpcore.RM, fpcore.RZ, fpcore.RA

# (U, a, opcode) -> (element function, constants[, vector only])
TWO_MISC: dict[tuple[int, int, int], tuple[Callable[..., int], tuple]] = {
    (0, 0, 0b11000): (_frint, (_RN, False)),
    (0, 0, 0b11001): (_frint, (_RM, False)),
    (0, 0, 0b11010): (_to_int, (0, False, _RN)),
    (0, 0, 0b11011): (_to_int, (0, False, _RM)),
    (0, 0, 0b11100): (_to_int, (0, False, _RA)),
    (0, 0, 0b11101): (_from_int, (0, False)),
    (0, 1, 0b01100): (_cmp, ("gt", False, False)),
    (0, 1, 0b01101): (_cmp, ("eq", False, False)),
    (0, 1, 0b01110): (_cmp, ("gt", False, True)),
    (0, 1, 0b01111): (_unary_bits, ("abs",)),
    (0, 1, 0b11000): (_frint, (_RP, False)),
    (0, 1, 0b11001): (_frint, (_RZ, False)),
    (0, 1, 0b11010): (_to_int, (0, False, _RP)),
    (0, 1, 0b11011): (_to_int, (0, False, _RZ)),
    (1, 0, 0b11000): (_frint, (_RA, False)),
    (1, 0, 0b11001): (_frint, (None, True)),
    (1, 0, 0b11010): (_to_int, (0, True, _RN)),
    (1, 0, 0b11011): (_to_int, (0, True, _RM)),
    (1, 0, 0b11100): (_to_int, (0, True, _RA)),
    (1, 0, 0b11101): (_from_int, (0, True)),
    (1, 1, 0b01100): (_cmp, ("ge", False, False)),
    (1, 1, 0b01101): (_cmp, ("ge", False, True)),
    (1, 1, 0b01111): (_unary_bits, ("neg",)),
    (1, 1, 0b11001): (_frint, (None, False)),
    (1, 1, 0b11010): (_to_int, (0, True, _RP)),
    (1, 1, 0b11011): (_to_int, (0, True, _RZ)),
    (1, 1, 0b11111): (_sqrt, ()),
}
_ZERO_COMPARES = {0b01100, 0b01101, 0b01110}  # compares with zero: Vm is +0.0
# scalar forms: the conversions and the compares with zero
SCALAR_TWO_MISC = tuple(k for k, (fn, _) in TWO_MISC.items() if fn in (_to_int, _from_int, _cmp))


def _misc_args(ctx: Ctx, opcode: int, src: str) -> list[str]:
    return [src, "0"] if opcode in _ZERO_COMPARES else [src]


def _two_misc(U: int, a: int, opcode: int) -> Callable[..., None]:
    fn, extra = TWO_MISC[(U, a, opcode)]

    def emit(ctx: Ctx, Q: int, sz: int, rn: int, rd: int) -> None:
        shape = _elements(ctx, sz, Q)
        if shape is None:
            return
        ctx.uses.add("v")
        h = _lanes_helper("map", fn, shape[0], shape[1], extra)
        set_vreg(ctx, rd, ctx.call(h, *_misc_args(ctx, opcode, f"v[{rn}]")))

    return emit


def _scalar_two_misc(U: int, a: int, opcode: int) -> Callable[..., None]:
    fn, extra = TWO_MISC[(U, a, opcode)]

    def emit(ctx: Ctx, sz: int, rn: int, rd: int) -> None:
        emit_fp_check(ctx)
        n = 64 if sz else 32
        ctx.uses.add("v")
        h = _lanes_helper("map", fn, n, 1, extra)
        set_vreg(ctx, rd, ctx.call(h, *_misc_args(ctx, opcode, f"(v[{rn}] & {(1 << n) - 1:#x})")))

    return emit


for (_U, _a, _op), _spec2 in TWO_MISC.items():
    insn(f"0 Q:1 {_U} 01110 {_a} sz:1 10000 {_op:05b} 10 rn:5 rd:5", f"FP_2MISC_{_U}{_a}{_op:05b}")(
        _two_misc(_U, _a, _op)
    )
for _U, _a, _op in SCALAR_TWO_MISC:
    insn(f"01 {_U} 11110 {_a} sz:1 10000 {_op:05b} 10 rn:5 rd:5", f"FP_S2MISC_{_U}{_a}{_op:05b}")(
        _scalar_two_misc(_U, _a, _op)
    )


# ---- conversions between precisions ---------------------------------------------------------------


def _convert(a: int, n: int, fpcr: int, fl: Flags, m: int, mode: int | None) -> int:
    return fpcore.fp_convert(a, n, m, fpcr, fpcore.rmode(fpcr) if mode is None else mode, fl)


@insn("0 Q:1 0 01110 0 sz:1 10000 10111 10 rn:5 rd:5")
def FCVTL(ctx: Ctx, Q: int, sz: int, rn: int, rd: int) -> None:
    """FCVTL/FCVTL2: widen the lower (upper, Q) half's H or S elements to S or D."""
    emit_fp_check(ctx)
    src = 16 << sz
    lanes = 64 // src
    ctx.uses.add("v")
    part = f"(v[{rn}] >> 64)" if Q else f"v[{rn}]"
    h = _widening(src, lanes)
    set_vreg(ctx, rd, ctx.call(h, part))


def _widening(src: int, lanes: int) -> Callable[..., int]:
    key = ("widen", src, lanes)
    h = _helpers.get(key)
    if h is None:
        mask = (1 << src) - 1

        def h(cpu: Any, vn: int) -> int:
            fl = _scratch
            fl.bits = 0
            fpcr = cpu.fpcr
            out = 0
            for i in range(lanes):
                e = fpcore.fp_convert((vn >> (i * src)) & mask, src, 2 * src, fpcr, fpcore.rmode(fpcr), fl)
                out |= e << (i * 2 * src)
            if fl.bits:
                cpu.fpsr |= fl.bits
            return out

        _helpers[key] = h
    return h


def _narrowing(src: int, mode: int | None) -> Callable[..., int]:
    key = ("narrow", src, mode)
    h = _helpers.get(key)
    if h is None:
        mask = (1 << src) - 1
        half = src // 2

        def h(cpu: Any, vn: int) -> int:
            fl = _scratch
            fl.bits = 0
            fpcr = cpu.fpcr
            rounding = fpcore.rmode(fpcr) if mode is None else mode
            out = 0
            for i in range(128 // src):
                out |= fpcore.fp_convert((vn >> (i * src)) & mask, src, half, fpcr, rounding, fl) << (i * half)
            if fl.bits:
                cpu.fpsr |= fl.bits
            return out

        _helpers[key] = h
    return h


@insn("0 Q:1 U:1 01110 0 sz:1 10000 10110 10 rn:5 rd:5")
def FCVTN(ctx: Ctx, Q: int, U: int, sz: int, rn: int, rd: int) -> None:
    """FCVTN/FCVTN2 (S to H, D to S) and FCVTXN/FCVTXN2 (U: D to S, rounding to odd)."""
    if U and not sz:
        ctx.undef()
        return
    emit_fp_check(ctx)
    ctx.uses.add("v")
    packed = ctx.call(_narrowing(32 << sz, fpcore.RO if U else None), f"v[{rn}]")
    # FCVTN2 writes the upper half and keeps the lower one
    set_vreg(ctx, rd, f"(v[{rd}] & 0xFFFFFFFFFFFFFFFF) | ({packed} << 64)" if Q else packed)


@insn("01 1 11110 0 1 10000 10110 10 rn:5 rd:5")
def FCVTXN_scalar(ctx: Ctx, rn: int, rd: int) -> None:
    emit_fp_check(ctx)
    ctx.uses.add("v")
    h = _lanes_helper("map", _convert, 64, 1, (32, fpcore.RO))
    set_vreg(ctx, rd, ctx.call(h, f"(v[{rn}] & 0xFFFFFFFFFFFFFFFF)"))


# ---- pairwise and across lanes --------------------------------------------------------------------

# (U, a, opcode) of the scalar pairwise forms -> (element function, constants)
PAIRWISE: dict[tuple[int, int], tuple[Callable[..., int], tuple]] = {
    (0, 0b01100): (_minmax, _MAXNM),
    (0, 0b01101): (fpcore.fp_add, ()),
    (0, 0b01111): (_minmax, _MAX),
    (1, 0b01100): (_minmax, _MINNM),
    (1, 0b01111): (_minmax, _MIN),
}


def _scalar_pairwise(a: int, opcode: int) -> Callable[..., None]:
    fn, extra = PAIRWISE[(a, opcode)]

    def emit(ctx: Ctx, sz: int, rn: int, rd: int) -> None:
        emit_fp_check(ctx)
        n = 64 if sz else 32
        ctx.uses.add("v")
        h = _lanes_helper("reduce", fn, n, 2, extra)
        set_vreg(ctx, rd, ctx.call(h, f"v[{rn}]"))

    return emit


def _across(a: int, opcode: int) -> Callable[..., None]:
    fn, extra = PAIRWISE[(a, opcode)]

    def emit(ctx: Ctx, rn: int, rd: int) -> None:
        emit_fp_check(ctx)
        ctx.uses.add("v")
        set_vreg(ctx, rd, ctx.call(_lanes_helper("reduce", fn, 32, 4, extra), f"v[{rn}]"))

    return emit


for (_a, _op), _spec3 in PAIRWISE.items():
    insn(f"01 1 11110 {_a} sz:1 11000 {_op:05b} 10 rn:5 rd:5", f"FP_PAIRWISE_{_a}{_op:05b}")(_scalar_pairwise(_a, _op))
    if _op != 0b01101:  # FMAXV, FMINV, FMAXNMV, FMINNMV: single precision, 4 lanes only
        insn(f"0 1 1 01110 {_a} 0 11000 {_op:05b} 10 rn:5 rd:5", f"FP_ACROSS_{_a}{_op:05b}")(_across(_a, _op))


# ---- by element -----------------------------------------------------------------------------------

# opcode -> (U, kind, element function, constants)
BY_ELEMENT = {
    (0, 0b0001): ("acc", _mla, (False,)),
    (0, 0b0101): ("acc", _mla, (True,)),
    (0, 0b1001): ("map", fpcore.fp_mul, ()),
    (1, 0b1001): ("map", fpcore.fp_mulx, ()),
}


def _by_element(U: int, opcode: int, scalar: bool) -> Callable[..., None]:
    kind, fn, extra = BY_ELEMENT[(U, opcode)]

    def emit(ctx: Ctx, sz: int, L: int, M: int, rm: int, H: int, rn: int, rd: int, Q: int = 1) -> None:
        if sz and (L or (not Q and not scalar)):
            ctx.undef()
            return
        emit_fp_check(ctx)
        n = 64 if sz else 32
        index = H if sz else H << 1 | L
        lanes = 1 if scalar else (64 << Q) // n
        ctx.uses.add("v")
        mask = (1 << n) - 1
        elem = ctx.local(f"((v[{M << 4 | rm}] >> {index * n}) & {mask:#x})", "e")
        dup = " | ".join(f"({elem} << {i * n})" for i in range(lanes)) if lanes > 1 else elem
        src = f"(v[{rn}] & {mask:#x})" if scalar else f"v[{rn}]"
        args = [src, f"({dup})"]
        if kind == "acc":
            args.insert(0, f"(v[{rd}] & {mask:#x})" if scalar else f"v[{rd}]")
        set_vreg(ctx, rd, ctx.call(_lanes_helper("map", fn, n, lanes, extra), *args))

    return emit


for (_U, _op), _spec4 in BY_ELEMENT.items():
    insn(f"0 Q:1 {_U} 01111 1 sz:1 L:1 M:1 rm:4 {_op:04b} H:1 0 rn:5 rd:5", f"FP_ELEM_{_U}{_op:04b}")(
        _by_element(_U, _op, False)
    )
    insn(f"01 {_U} 11111 1 sz:1 L:1 M:1 rm:4 {_op:04b} H:1 0 rn:5 rd:5", f"FP_SELEM_{_U}{_op:04b}")(
        _by_element(_U, _op, True)
    )


# ---- fixed-point conversions by immediate ---------------------------------------------------------


def _fixed(U: int, opcode: int, scalar: bool) -> Callable[..., None]:
    def emit(ctx: Ctx, immh: int, immb: int, rn: int, rd: int, wide: bool, Q: int = 1) -> None:
        if wide and not Q and not scalar:
            ctx.undef()
            return
        emit_fp_check(ctx)
        n = 64 if wide else 32
        # immh:immb is 64 + (64 - fbits) for D, 32 + (32 - fbits) for S; immh's top bits are fixed
        fbits = 2 * n - ((immh | n // 8) << 3 | immb)
        lanes = 1 if scalar else (64 << Q) // n
        fn, extra = (_from_int, (fbits, bool(U))) if opcode == 0b11100 else (_to_int, (fbits, bool(U), fpcore.RZ))
        ctx.uses.add("v")
        src = f"(v[{rn}] & {(1 << n) - 1:#x})" if scalar else f"v[{rn}]"
        set_vreg(ctx, rd, ctx.call(_lanes_helper("map", fn, n, lanes, extra), src))

    return emit


# immh 0b01xx (single) and 0b1xxx (double) only: 0b0000 is the modified-immediate group and
# 0b001x/0b0001 the half-precision forms
for _U in (0, 1):
    for _op in (0b11100, 0b11111):
        for _immh, _nm in (("01 immh:2", "S"), ("1 immh:3", "D")):
            pattern = f"{_immh} immb:3 {_op:05b} 1 rn:5 rd:5"
            insn(f"0 Q:1 {_U} 011110 {pattern}", f"FP_FIXED_{_U}{_op:05b}_{_nm}", wide=_nm == "D")(
                _fixed(_U, _op, False)
            )
            insn(f"01 {_U} 111110 {pattern}", f"FP_SFIXED_{_U}{_op:05b}_{_nm}", wide=_nm == "D")(_fixed(_U, _op, True))
