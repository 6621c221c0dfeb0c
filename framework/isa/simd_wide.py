"""Advanced SIMD three-different (widening/narrowing: SADDL, SADDW, ADDHN, SMULL, SMLAL, PMULL...)
and vector-by-element integer multiplies (MUL, MLA, MLS, SMULL, SQDMULH... by element).

A widening form reads the low (Q = 0) or high (Q = 1, the "2" forms) half of
its narrow operands; a narrowing form writes the low half of Vd (clearing the
rest) or the high half (keeping the low). By-element forms broadcast the
element to every lane and then run the vector operation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from framework.isa.codegen import Ctx
from framework.isa.common import replicate
from framework.isa.simd_int import THREE_SAME, pmul8, three_same_helper
from framework.isa.simd_lanes import M64, call, join, lane_struct, saturate, set_v, simd_begin, src
from framework.isa.table import insn

LONG, WIDE, HIGH_NARROW, LONG_ACC = range(4)
ALL, HS = 0b0111, 0b0110  # element sizes allowed (bit per size 0..2)


def _sq(sat_product: bool, sign: int) -> Callable[..., int]:
    """SQDMLAL/SQDMLSL: the doubled product saturates first, then the accumulation."""

    def fn(d: int, a: int, b: int, e: int, cpu) -> int:
        p = saturate(cpu, [2 * a * b], 2 * e, True)[0] if sat_product else 2 * a * b
        p -= (p >> (2 * e - 1)) << (2 * e)
        return d + sign * p

    return fn


# (U, opcode) -> (name, kind, signed, fn, sizes, saturating)
THREE_DIFF: dict[tuple[int, int], tuple[str, int, bool, Callable[..., int], int, bool]] = {
    (0, 0b0000): ("saddl", LONG, True, lambda a, b, e: a + b, ALL, False),
    (1, 0b0000): ("uaddl", LONG, False, lambda a, b, e: a + b, ALL, False),
    (0, 0b0001): ("saddw", WIDE, True, lambda a, b, e: a + b, ALL, False),
    (1, 0b0001): ("uaddw", WIDE, False, lambda a, b, e: a + b, ALL, False),
    (0, 0b0010): ("ssubl", LONG, True, lambda a, b, e: a - b, ALL, False),
    (1, 0b0010): ("usubl", LONG, False, lambda a, b, e: a - b, ALL, False),
    (0, 0b0011): ("ssubw", WIDE, True, lambda a, b, e: a - b, ALL, False),
    (1, 0b0011): ("usubw", WIDE, False, lambda a, b, e: a - b, ALL, False),
    (0, 0b0100): ("addhn", HIGH_NARROW, False, lambda a, b, e: (a + b) >> e, ALL, False),
    (1, 0b0100): ("raddhn", HIGH_NARROW, False, lambda a, b, e: (a + b + (1 << (e - 1))) >> e, ALL, False),
    (0, 0b0101): ("sabal", LONG_ACC, True, lambda d, a, b, e, c: d + abs(a - b), ALL, False),
    (1, 0b0101): ("uabal", LONG_ACC, False, lambda d, a, b, e, c: d + abs(a - b), ALL, False),
    (0, 0b0110): ("subhn", HIGH_NARROW, False, lambda a, b, e: (a - b) >> e, ALL, False),
    (1, 0b0110): ("rsubhn", HIGH_NARROW, False, lambda a, b, e: (a - b + (1 << (e - 1))) >> e, ALL, False),
    (0, 0b0111): ("sabdl", LONG, True, lambda a, b, e: abs(a - b), ALL, False),
    (1, 0b0111): ("uabdl", LONG, False, lambda a, b, e: abs(a - b), ALL, False),
    (0, 0b1000): ("smlal", LONG_ACC, True, lambda d, a, b, e, c: d + a * b, ALL, False),
    (1, 0b1000): ("umlal", LONG_ACC, False, lambda d, a, b, e, c: d + a * b, ALL, False),
    (0, 0b1001): ("sqdmlal", LONG_ACC, True, _sq(True, 1), HS, True),
    (0, 0b1010): ("smlsl", LONG_ACC, True, lambda d, a, b, e, c: d - a * b, ALL, False),
    (1, 0b1010): ("umlsl", LONG_ACC, False, lambda d, a, b, e, c: d - a * b, ALL, False),
    (0, 0b1011): ("sqdmlsl", LONG_ACC, True, _sq(True, -1), HS, True),
    (0, 0b1100): ("smull", LONG, True, lambda a, b, e: a * b, ALL, False),
    (1, 0b1100): ("umull", LONG, False, lambda a, b, e: a * b, ALL, False),
    (0, 0b1101): ("sqdmull", LONG, True, lambda a, b, e: 2 * a * b, HS, True),
    (0, 0b1110): ("pmull", LONG, False, lambda a, b, e: pmul8(a, b), 0b0001, False),
}


@functools.cache
def three_diff_helper(key: tuple[int, int], esize: int, part: int) -> Callable[..., int]:
    """h(cpu, d, a, b) of a widening or narrowing operation on 64 // esize lanes."""
    name, kind, signed, fn, _, sat = THREE_DIFF[key]
    n = 64 // esize
    narrow = lane_struct(esize, n, signed).unpack_from
    wide = lane_struct(2 * esize, n, signed).unpack_from
    wm = (1 << (2 * esize)) - 1
    nm = (1 << esize) - 1

    def h(cpu, d: int, a: int, b: int) -> int:
        if kind == HIGH_NARROW:
            wa, wb = wide(a.to_bytes(16, "little")), wide(b.to_bytes(16, "little"))
            r = [fn(x, y, esize) & nm for x, y in zip(wa, wb, strict=True)]
            value = join(r, esize)
            return (d & M64) | (value << 64) if part else value
        lb = narrow((b >> (64 * part)).to_bytes(16, "little"))
        la = wide(a.to_bytes(16, "little")) if kind == WIDE else narrow((a >> (64 * part)).to_bytes(16, "little"))
        if kind == LONG_ACC:
            ld = wide(d.to_bytes(16, "little"))
            r = [fn(z, x, y, esize, cpu) for z, x, y in zip(ld, la, lb, strict=True)]
        else:
            r = [fn(x, y, esize) for x, y in zip(la, lb, strict=True)]
        if sat:
            return join(saturate(cpu, r, 2 * esize, True), 2 * esize)
        return join([x & wm for x in r], 2 * esize)

    h.__name__ = name
    return h


def three_diff(ctx: Ctx, Q: int, U: int, size: int, rm: int, rn: int, rd: int, opcode: int) -> None:
    key = (U, opcode)
    if not THREE_DIFF[key][4] & (1 << size):
        return ctx.undef()
    simd_begin(ctx)
    set_v(ctx, rd, call(ctx, three_diff_helper(key, 8 << size, Q), f"v[{rd}]", src(ctx, rn, 128), src(ctx, rm, 128)))
    return None


for (_u, _opc), (_name, *_rest) in THREE_DIFF.items():
    insn(f"0 Q:1 {_u} 01110 size:2 1 rm:5 {_opc:04b} 00 rn:5 rd:5", f"{_name.upper()}", U=_u, opcode=_opc)(three_diff)


# ---- by element ---------------------------------------------------------------------------------------------------

# (U, opcode) of the by-element form -> ("same", three-same key) or ("long", three-different key)
BY_ELEMENT = {
    (1, 0b0000): ("mla", "same", (0, 0b10010)),
    (1, 0b0100): ("mls", "same", (1, 0b10010)),
    (0, 0b1000): ("mul", "same", (0, 0b10011)),
    (0, 0b1100): ("sqdmulh", "same", (0, 0b10110)),
    (0, 0b1101): ("sqrdmulh", "same", (1, 0b10110)),
    (0, 0b0010): ("smlal", "long", (0, 0b1000)),
    (1, 0b0010): ("umlal", "long", (1, 0b1000)),
    (0, 0b0110): ("smlsl", "long", (0, 0b1010)),
    (1, 0b0110): ("umlsl", "long", (1, 0b1010)),
    (0, 0b1010): ("smull", "long", (0, 0b1100)),
    (1, 0b1010): ("umull", "long", (1, 0b1100)),
    (0, 0b0011): ("sqdmlal", "long", (0, 0b1001)),
    (0, 0b0111): ("sqdmlsl", "long", (0, 0b1011)),
    (0, 0b1011): ("sqdmull", "long", (0, 0b1101)),
}


def by_element(
    ctx: Ctx, Q: int, U: int, size: int, L: int, M: int, rm: int, H: int, rn: int, rd: int, opcode: int
) -> None:
    if size == 1:
        index, reg = (H << 2) | (L << 1) | M, rm
    elif size == 2:
        index, reg = (H << 1) | L, (M << 4) | rm
    else:
        return ctx.undef()
    _, form, key = BY_ELEMENT[(U, opcode)]
    esize = 8 << size
    simd_begin(ctx)
    elem = ctx.local(f"((v[{reg}] >> {index * esize}) & {(1 << esize) - 1:#x}) * {replicate(1, esize, 128):#x}", "e")
    if form == "same":
        n = (128 if Q else 64) // esize
        width = esize * n
        d = src(ctx, rd, width) if THREE_SAME[key].accumulate else "0"
        expr = call(ctx, three_same_helper(key, esize, n), d, src(ctx, rn, width), f"({elem} & {(1 << width) - 1:#x})")
    else:
        expr = call(ctx, three_diff_helper(key, esize, Q), f"v[{rd}]", src(ctx, rn, 128), elem)
    set_v(ctx, rd, expr)
    return None


for (_u, _opc), (_name, *_rest) in BY_ELEMENT.items():
    insn(
        f"0 Q:1 {_u} 01111 size:2 L:1 M:1 rm:4 {_opc:04b} H:1 0 rn:5 rd:5",
        f"{_name.upper()}_elem",
        U=_u,
        opcode=_opc,
    )(by_element)
