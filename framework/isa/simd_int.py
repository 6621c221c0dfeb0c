"""Advanced SIMD integer three-same (vector and scalar), across-lanes reductions, scalar ADDP.

Each (U, opcode) of the three-same group is one table row whose operation is a
row of `THREE_SAME`: operand signedness, the per-lane function, whether the
result wraps or saturates (FPSR.QC), whether it accumulates into Vd, and the
element sizes the encoding allows. The floating-point opcodes of the same
groups (0b11xxx) are not rows here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs

from framework.isa.codegen import Ctx
from framework.isa.simd_lanes import (
    M64,
    arrangement,
    call,
    join,
    lane_struct,
    saturate,
    set_v,
    simd_begin,
    sint,
    src,
    swar_add,
    swar_fill,
    swar_nonzero,
    swar_sub,
)
from framework.isa.table import insn

B8, B16, B32, B64 = 1, 2, 4, 8
NO64 = B8 | B16 | B32
ANY = NO64 | B64
HS = B16 | B32


def shift_lane(a: int, b: int, rounding: bool) -> int:
    """Arm ARM SSHL/USHL/SRSHL...: shift by the signed low byte of b, right when negative."""
    sh = sint(b, 8)
    if sh >= 0:
        return a << sh
    if rounding:
        return (a + (1 << (-sh - 1))) >> -sh
    return a >> -sh


def pmul8(a: int, b: int) -> int:
    """Polynomial (carry-less) product over {0,1}, all bits kept."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        b >>= 1
    return r


@attrs.define(frozen=True)
class LaneOp:
    name: str
    signed: bool
    fn: Callable[..., int]  # (a, b, esize) or, accumulating, (d, a, b, esize)
    sizes: int = ANY  # B8|B16|B32|B64 allowed (vector B64 needs Q = 1)
    saturating: bool = False
    accumulate: bool = False
    pairwise: bool = False
    scalar: int = 0  # sizes of the scalar form; 0 = no scalar form


def _op(name: str, signed: bool, fn: Callable[..., int], **kw) -> LaneOp:
    return LaneOp(name, signed, fn, **kw)


# (U, opcode) -> operation (Arm ARM "Advanced SIMD three same")
THREE_SAME: dict[tuple[int, int], LaneOp] = {
    (0, 0b00000): _op("shadd", True, lambda a, b, e: (a + b) >> 1, sizes=NO64),
    (1, 0b00000): _op("uhadd", False, lambda a, b, e: (a + b) >> 1, sizes=NO64),
    (0, 0b00001): _op("sqadd", True, lambda a, b, e: a + b, saturating=True, scalar=ANY),
    (1, 0b00001): _op("uqadd", False, lambda a, b, e: a + b, saturating=True, scalar=ANY),
    (0, 0b00010): _op("srhadd", True, lambda a, b, e: (a + b + 1) >> 1, sizes=NO64),
    (1, 0b00010): _op("urhadd", False, lambda a, b, e: (a + b + 1) >> 1, sizes=NO64),
    (0, 0b00100): _op("shsub", True, lambda a, b, e: (a - b) >> 1, sizes=NO64),
    (1, 0b00100): _op("uhsub", False, lambda a, b, e: (a - b) >> 1, sizes=NO64),
    (0, 0b00101): _op("sqsub", True, lambda a, b, e: a - b, saturating=True, scalar=ANY),
    (1, 0b00101): _op("uqsub", False, lambda a, b, e: a - b, saturating=True, scalar=ANY),
    (0, 0b00110): _op("cmgt", True, lambda a, b, e: -(a > b), scalar=B64),
    (1, 0b00110): _op("cmhi", False, lambda a, b, e: -(a > b), scalar=B64),
    (0, 0b00111): _op("cmge", True, lambda a, b, e: -(a >= b), scalar=B64),
    (1, 0b00111): _op("cmhs", False, lambda a, b, e: -(a >= b), scalar=B64),
    (0, 0b01000): _op("sshl", True, lambda a, b, e: shift_lane(a, b, False), scalar=B64),
    (1, 0b01000): _op("ushl", False, lambda a, b, e: shift_lane(a, b, False), scalar=B64),
    (0, 0b01001): _op("sqshl", True, lambda a, b, e: shift_lane(a, b, False), saturating=True, scalar=ANY),
    (1, 0b01001): _op("uqshl", False, lambda a, b, e: shift_lane(a, b, False), saturating=True, scalar=ANY),
    (0, 0b01010): _op("srshl", True, lambda a, b, e: shift_lane(a, b, True), scalar=B64),
    (1, 0b01010): _op("urshl", False, lambda a, b, e: shift_lane(a, b, True), scalar=B64),
    (0, 0b01011): _op("sqrshl", True, lambda a, b, e: shift_lane(a, b, True), saturating=True, scalar=ANY),
    (1, 0b01011): _op("uqrshl", False, lambda a, b, e: shift_lane(a, b, True), saturating=True, scalar=ANY),
    (0, 0b01100): _op("smax", True, lambda a, b, e: max(a, b), sizes=NO64),
    (1, 0b01100): _op("umax", False, lambda a, b, e: max(a, b), sizes=NO64),
    (0, 0b01101): _op("smin", True, lambda a, b, e: min(a, b), sizes=NO64),
    (1, 0b01101): _op("umin", False, lambda a, b, e: min(a, b), sizes=NO64),
    (0, 0b01110): _op("sabd", True, lambda a, b, e: abs(a - b), sizes=NO64),
    (1, 0b01110): _op("uabd", False, lambda a, b, e: abs(a - b), sizes=NO64),
    (0, 0b01111): _op("saba", True, lambda d, a, b, e: d + abs(a - b), sizes=NO64, accumulate=True),
    (1, 0b01111): _op("uaba", False, lambda d, a, b, e: d + abs(a - b), sizes=NO64, accumulate=True),
    (0, 0b10000): _op("add", False, lambda a, b, e: a + b, scalar=B64),
    (1, 0b10000): _op("sub", False, lambda a, b, e: a - b, scalar=B64),
    (0, 0b10001): _op("cmtst", False, lambda a, b, e: -((a & b) != 0), scalar=B64),
    (1, 0b10001): _op("cmeq", False, lambda a, b, e: -(a == b), scalar=B64),
    (0, 0b10010): _op("mla", False, lambda d, a, b, e: d + a * b, sizes=NO64, accumulate=True),
    (1, 0b10010): _op("mls", False, lambda d, a, b, e: d - a * b, sizes=NO64, accumulate=True),
    (0, 0b10011): _op("mul", False, lambda a, b, e: a * b, sizes=NO64),
    (1, 0b10011): _op("pmul", False, lambda a, b, e: pmul8(a, b), sizes=B8),
    (0, 0b10100): _op("smaxp", True, lambda a, b, e: max(a, b), sizes=NO64, pairwise=True),
    (1, 0b10100): _op("umaxp", False, lambda a, b, e: max(a, b), sizes=NO64, pairwise=True),
    (0, 0b10101): _op("sminp", True, lambda a, b, e: min(a, b), sizes=NO64, pairwise=True),
    (1, 0b10101): _op("uminp", False, lambda a, b, e: min(a, b), sizes=NO64, pairwise=True),
    (0, 0b10110): _op("sqdmulh", True, lambda a, b, e: (2 * a * b) >> e, sizes=HS, saturating=True, scalar=HS),
    (1, 0b10110): _op(
        "sqrdmulh", True, lambda a, b, e: (2 * a * b + (1 << (e - 1))) >> e, sizes=HS, saturating=True, scalar=HS
    ),
    (0, 0b10111): _op("addp", False, lambda a, b, e: a + b, pairwise=True),
}


@functools.cache
def three_same_helper(key: tuple[int, int], esize: int, n: int) -> Callable[..., int]:
    """h(cpu, d, a, b) -> the 128-bit result of the operation `key` on `n` lanes of `esize` bits."""
    op = THREE_SAME[key]
    st = lane_struct(esize, n, op.signed)
    unpack = st.unpack_from
    fn = op.fn
    m = (1 << esize) - 1
    signed, sat, acc, pairwise = op.signed, op.saturating, op.accumulate, op.pairwise

    def h(cpu, d: int, a: int, b: int) -> int:
        la = unpack(a.to_bytes(16, "little"))
        lb = unpack(b.to_bytes(16, "little"))
        if pairwise:
            cat = la + lb
            la, lb = cat[0::2], cat[1::2]
        if acc:
            ld = unpack(d.to_bytes(16, "little"))
            r = [fn(z, x, y, esize) for z, x, y in zip(ld, la, lb, strict=True)]
        else:
            r = [fn(x, y, esize) for x, y in zip(la, lb, strict=True)]
        if sat:
            return join(saturate(cpu, r, esize, signed), esize)
        return join([x & m for x in r], esize)

    h.__name__ = op.name
    return h


def _inline(ctx: Ctx, name: str, a: str, b: str, d: str, esize: int, width: int) -> str | None:
    """Exact SWAR forms of the operations glibc's string loops run; None for the rest."""
    if name == "add":
        return swar_add(ctx, a, b, esize, width)
    if name == "sub":
        return swar_sub(ctx, a, b, esize, width)
    if name == "cmeq":
        one = sum(1 << i for i in range(0, width, esize))
        return swar_fill(f"({swar_nonzero(ctx, f'({a} ^ {b})', esize, width)} ^ {one:#x})", esize)
    if name == "cmtst":
        return swar_fill(swar_nonzero(ctx, f"({a} & {b})", esize, width), esize)
    return None


def _emit_three_same(ctx: Ctx, key: tuple[int, int], esize: int, n: int, rm: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    width = esize * n
    op = THREE_SAME[key]
    a, b = src(ctx, rn, width), src(ctx, rm, width)
    expr = None if op.pairwise else _inline(ctx, op.name, a, b, f"v[{rd}]", esize, width)
    if expr is None:
        d = src(ctx, rd, width) if op.accumulate else "0"
        expr = call(ctx, three_same_helper(key, esize, n), d, a, b)
    set_v(ctx, rd, expr)


def three_same(ctx: Ctx, Q: int, U: int, size: int, rm: int, opcode: int, rn: int, rd: int) -> None:
    key = (U, opcode)
    op = THREE_SAME[key]
    esize, n = arrangement(size, Q)
    if not op.sizes & (1 << size) or (size == 3 and not Q):
        return ctx.undef()
    return _emit_three_same(ctx, key, esize, n, rm, rn, rd)


def three_same_scalar(ctx: Ctx, U: int, size: int, rm: int, opcode: int, rn: int, rd: int) -> None:
    key = (U, opcode)
    if not THREE_SAME[key].scalar & (1 << size):
        return ctx.undef()
    return _emit_three_same(ctx, key, 8 << size, 1, rm, rn, rd)


for (_u, _opc), _row in THREE_SAME.items():
    insn(f"0 Q:1 {_u} 01110 size:2 1 rm:5 {_opc:05b} 1 rn:5 rd:5", f"{_row.name.upper()}_vec", U=_u, opcode=_opc)(
        three_same
    )
    if _row.scalar:
        insn(f"01 {_u} 11110 size:2 1 rm:5 {_opc:05b} 1 rn:5 rd:5", f"{_row.name.upper()}_scalar", U=_u, opcode=_opc)(
            three_same_scalar
        )


# ---- logical (three same, opcode 0b00011: size selects the operation) ----------------------------------------


@insn("0 Q:1 U:1 01110 opc:2 1 rm:5 00011 1 rn:5 rd:5")
def LOGIC_vec(ctx: Ctx, Q: int, U: int, opc: int, rm: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    width = 128 if Q else 64
    w = (1 << width) - 1
    a, b = src(ctx, rn, width), src(ctx, rm, width)
    if not U:
        expr = {0: f"{a} & {b}", 1: f"{a} & ~{b}", 2: f"{a} | {b}", 3: f"({a} | ~{b}) & {w:#x}"}[opc]
        if rn == rm and opc == 2:  # MOV Vd, Vn
            expr = a
    elif opc == 0:
        expr = f"{a} ^ {b}"
    else:
        d = ctx.local(src(ctx, rd, width), "d")
        # BSL: Vd selects Vn over Vm; BIT: Vm selects Vn over Vd; BIF: not-Vm selects Vn over Vd
        expr = {
            1: f"{b} ^ (({b} ^ {a}) & {d})",
            2: f"{d} ^ (({d} ^ {a}) & {b})",
            3: f"{d} ^ (({d} ^ {a}) & ~{b} & {w:#x})",
        }[opc]
    set_v(ctx, rd, expr)


# ---- across lanes ---------------------------------------------------------------------------------------------

ACROSS: dict[tuple[int, int], tuple[str, bool, Callable[[tuple[int, ...]], int], bool]] = {
    # (U, opcode): (name, signed, reduce, long result)
    (0, 0b00011): ("saddlv", True, sum, True),
    (1, 0b00011): ("uaddlv", False, sum, True),
    (0, 0b01010): ("smaxv", True, max, False),
    (1, 0b01010): ("umaxv", False, max, False),
    (0, 0b11010): ("sminv", True, min, False),
    (1, 0b11010): ("uminv", False, min, False),
    (0, 0b11011): ("addv", False, sum, False),
}


@functools.cache
def across_helper(key: tuple[int, int], esize: int, n: int) -> Callable[..., int]:
    name, signed, reduce, long = ACROSS[key]
    unpack = lane_struct(esize, n, signed).unpack_from
    m = (1 << (2 * esize if long else esize)) - 1

    def h(cpu, a: int) -> int:
        return reduce(unpack(a.to_bytes(16, "little"))) & m

    h.__name__ = name
    return h


def across(ctx: Ctx, Q: int, U: int, size: int, rn: int, rd: int, opcode: int) -> None:
    esize, n = arrangement(size, Q)
    if size == 3 or (size == 2 and not Q):
        return ctx.undef()
    simd_begin(ctx)
    set_v(ctx, rd, call(ctx, across_helper((U, opcode), esize, n), src(ctx, rn, esize * n)))
    return None


for (_u, _opc), (_name, *_rest) in ACROSS.items():
    insn(f"0 Q:1 {_u} 01110 size:2 11000 {_opc:05b} 10 rn:5 rd:5", f"{_name.upper()}", U=_u, opcode=_opc)(across)


@insn("01 0 11110 11 11000 11011 10 rn:5 rd:5")
def ADDP_scalar(ctx: Ctx, rn: int, rd: int) -> None:
    simd_begin(ctx)
    a = ctx.local(src(ctx, rn, 128), "a")
    set_v(ctx, rd, f"(({a} & {M64:#x}) + ({a} >> 64)) & {M64:#x}")
