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
    kernel,
    lane_struct,
    saturate,
    set_v,
    simd_begin,
    sint,
    src,
    swar_add,
    swar_fill,
    swar_ge,
    swar_nonzero,
    swar_select,
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
    # the lane result as a Python expression of x (Vn's lane), y (Vm's) and, accumulating, z (Vd's);
    # {e} is the element size. Compiled into one list comprehension per helper: no call per lane.
    expr: str
    sizes: int = ANY  # B8|B16|B32|B64 allowed (vector B64 needs Q = 1)
    saturating: bool = False
    accumulate: bool = False
    pairwise: bool = False
    scalar: int = 0  # sizes of the scalar form; 0 = no scalar form
    compare: bool = False  # expr is a bool: the lane becomes all ones or zero
    in_range: bool = False  # expr never leaves the element range (SMAX...): no wrapping needed


def _op(name: str, signed: bool, expr: str, **kw) -> LaneOp:
    return LaneOp(name, signed, expr, **kw)


_MAX, _MIN = "x if x > y else y", "x if x < y else y"

# (U, opcode) -> operation (Arm ARM "Advanced SIMD three same")
THREE_SAME: dict[tuple[int, int], LaneOp] = {
    (0, 0b00000): _op("shadd", True, "(x + y) >> 1", sizes=NO64),
    (1, 0b00000): _op("uhadd", False, "(x + y) >> 1", sizes=NO64),
    (0, 0b00001): _op("sqadd", True, "x + y", saturating=True, scalar=ANY),
    (1, 0b00001): _op("uqadd", False, "x + y", saturating=True, scalar=ANY),
    (0, 0b00010): _op("srhadd", True, "(x + y + 1) >> 1", sizes=NO64),
    (1, 0b00010): _op("urhadd", False, "(x + y + 1) >> 1", sizes=NO64),
    (0, 0b00100): _op("shsub", True, "(x - y) >> 1", sizes=NO64),
    (1, 0b00100): _op("uhsub", False, "(x - y) >> 1", sizes=NO64),
    (0, 0b00101): _op("sqsub", True, "x - y", saturating=True, scalar=ANY),
    (1, 0b00101): _op("uqsub", False, "x - y", saturating=True, scalar=ANY),
    (0, 0b00110): _op("cmgt", True, "x > y", compare=True, scalar=B64),
    (1, 0b00110): _op("cmhi", False, "x > y", compare=True, scalar=B64),
    (0, 0b00111): _op("cmge", True, "x >= y", compare=True, scalar=B64),
    (1, 0b00111): _op("cmhs", False, "x >= y", compare=True, scalar=B64),
    (0, 0b01000): _op("sshl", True, "shift_lane(x, y, False)", scalar=B64),
    (1, 0b01000): _op("ushl", False, "shift_lane(x, y, False)", scalar=B64),
    (0, 0b01001): _op("sqshl", True, "shift_lane(x, y, False)", saturating=True, scalar=ANY),
    (1, 0b01001): _op("uqshl", False, "shift_lane(x, y, False)", saturating=True, scalar=ANY),
    (0, 0b01010): _op("srshl", True, "shift_lane(x, y, True)", scalar=B64),
    (1, 0b01010): _op("urshl", False, "shift_lane(x, y, True)", scalar=B64),
    (0, 0b01011): _op("sqrshl", True, "shift_lane(x, y, True)", saturating=True, scalar=ANY),
    (1, 0b01011): _op("uqrshl", False, "shift_lane(x, y, True)", saturating=True, scalar=ANY),
    (0, 0b01100): _op("smax", True, _MAX, sizes=NO64, in_range=True),
    (1, 0b01100): _op("umax", False, _MAX, sizes=NO64, in_range=True),
    (0, 0b01101): _op("smin", True, _MIN, sizes=NO64, in_range=True),
    (1, 0b01101): _op("umin", False, _MIN, sizes=NO64, in_range=True),
    (0, 0b01110): _op("sabd", True, "abs(x - y)", sizes=NO64),
    (1, 0b01110): _op("uabd", False, "abs(x - y)", sizes=NO64, in_range=True),
    (0, 0b01111): _op("saba", True, "z + abs(x - y)", sizes=NO64, accumulate=True),
    (1, 0b01111): _op("uaba", False, "z + abs(x - y)", sizes=NO64, accumulate=True),
    (0, 0b10000): _op("add", False, "x + y", scalar=B64),
    (1, 0b10000): _op("sub", False, "x - y", scalar=B64),
    (0, 0b10001): _op("cmtst", False, "x & y != 0", compare=True, scalar=B64),
    (1, 0b10001): _op("cmeq", False, "x == y", compare=True, scalar=B64),
    (0, 0b10010): _op("mla", False, "z + x * y", sizes=NO64, accumulate=True),
    (1, 0b10010): _op("mls", False, "z - x * y", sizes=NO64, accumulate=True),
    (0, 0b10011): _op("mul", False, "x * y", sizes=NO64),
    (1, 0b10011): _op("pmul", False, "pmul8(x, y)", sizes=B8),
    (0, 0b10100): _op("smaxp", True, _MAX, sizes=NO64, pairwise=True, in_range=True),
    (1, 0b10100): _op("umaxp", False, _MAX, sizes=NO64, pairwise=True, in_range=True),
    (0, 0b10101): _op("sminp", True, _MIN, sizes=NO64, pairwise=True, in_range=True),
    (1, 0b10101): _op("uminp", False, _MIN, sizes=NO64, pairwise=True, in_range=True),
    (0, 0b10110): _op("sqdmulh", True, "(2 * x * y) >> {e}", sizes=HS, saturating=True, scalar=HS),
    (1, 0b10110): _op("sqrdmulh", True, "(2 * x * y + (1 << ({e} - 1))) >> {e}", sizes=HS, saturating=True, scalar=HS),
    (0, 0b10111): _op("addp", False, "x + y", pairwise=True),
}


_ENV = (("shift_lane", shift_lane), ("pmul8", pmul8))


@functools.cache
def three_same_helper(key: tuple[int, int], esize: int, n: int) -> Callable[..., int]:
    """h(cpu, d, a, b) -> the 128-bit result of the operation `key` on `n` lanes of `esize` bits."""
    op = THREE_SAME[key]
    unpack = lane_struct(esize, n, op.signed).unpack_from
    pack = lane_struct(esize, n, op.signed and op.in_range).pack
    lanes_fn = kernel(op.expr.format(e=esize), ("x", "y", "z") if op.accumulate else ("x", "y"), _ENV)
    m = (1 << esize) - 1
    signed, sat, acc, pairwise, compare, in_range = (
        op.signed,
        op.saturating,
        op.accumulate,
        op.pairwise,
        op.compare,
        op.in_range,
    )

    def h(cpu, d: int, a: int, b: int) -> int:
        la = unpack(a.to_bytes(16, "little"))
        lb = unpack(b.to_bytes(16, "little"))
        if pairwise:
            cat = la + lb
            la, lb = cat[0::2], cat[1::2]
        r = lanes_fn(la, lb, unpack(d.to_bytes(16, "little"))) if acc else lanes_fn(la, lb)
        if compare:  # bools pack as 0/1; times the lane mask each is a lane of ones, with no carries
            return int.from_bytes(pack(*r), "little") * m
        if in_range:
            return int.from_bytes(pack(*r), "little")
        if sat:
            return join(saturate(cpu, r, esize, signed), esize)
        return int.from_bytes(pack(*[x & m for x in r]), "little")

    h.__name__ = op.name
    return h


_UNSIGNED_ORDER = {"cmhs", "cmhi", "umax", "umin", "umaxp", "uminp"}
_SIGNED_ORDER = {"cmge", "cmgt", "smax", "smin", "smaxp", "sminp"}


def _inline(ctx: Ctx, name: str, a: str, b: str, esize: int, width: int) -> str | None:
    """Exact SWAR forms of the operations glibc's string loops and vectorised loops run; None for the rest."""
    if name == "add":
        return swar_add(ctx, a, b, esize, width)
    if name == "sub":
        return swar_sub(ctx, a, b, esize, width)
    one = sum(1 << i for i in range(0, width, esize))
    if name == "cmeq":
        return swar_fill(f"({swar_nonzero(ctx, f'({a} ^ {b})', esize, width)} ^ {one:#x})", esize)
    if name == "cmtst":
        return swar_fill(swar_nonzero(ctx, f"({a} & {b})", esize, width), esize)
    if name not in _UNSIGNED_ORDER | _SIGNED_ORDER:
        return None
    if name.endswith("p"):
        if esize != 8:
            return None
        # pairwise on bytes: even and odd bytes of Vm:Vn are the two operands, one bytes slice each
        cat = ctx.local(f"{a}.to_bytes({width // 8}, 'little') + {b}.to_bytes({width // 8}, 'little')", "c")
        a = ctx.local(f"int.from_bytes({cat}[0::2], 'little')", "a")
        b = ctx.local(f"int.from_bytes({cat}[1::2], 'little')", "b")
        name = name[:-1]
    ua, ub = a, b
    if name in _SIGNED_ORDER:  # a signed order is the unsigned order of the lanes with their top bits flipped
        top = one << (esize - 1)
        ua, ub = ctx.local(f"({a} ^ {top:#x})", "a"), ctx.local(f"({b} ^ {top:#x})", "b")
    if name in ("cmhs", "cmge"):
        return swar_fill(swar_ge(ctx, ua, ub, esize, width), esize)
    if name in ("cmhi", "cmgt"):
        return swar_fill(f"({swar_ge(ctx, ub, ua, esize, width)} ^ {one:#x})", esize)
    if name in ("umax", "smax"):
        return swar_select(ctx, swar_ge(ctx, ua, ub, esize, width), a, b, esize)
    return swar_select(ctx, swar_ge(ctx, ub, ua, esize, width), a, b, esize)


def _emit_three_same(ctx: Ctx, key: tuple[int, int], esize: int, n: int, rm: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    width = esize * n
    op = THREE_SAME[key]
    a, b = src(ctx, rn, width), src(ctx, rm, width)
    expr = _inline(ctx, op.name, a, b, esize, width)
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
