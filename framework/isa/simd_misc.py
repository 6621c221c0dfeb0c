"""Advanced SIMD two-register miscellaneous (vector and scalar): integer forms.

Lane-wise unary operations are rows of `UNARY`; the byte-wise ones (CNT,
RBIT) translate the register's bytes through a 256-entry table, and the
widening/narrowing ones (SADDLP, XTN, SHLL...) have their own helpers.
Floating-point opcodes of the group are not rows here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from framework.isa.codegen import Ctx
from framework.isa.simd_int import ANY, B64, NO64
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
    src,
    swar_fill,
    swar_nonzero,
)
from framework.isa.table import insn

POPCOUNT = bytes(bin(i).count("1") for i in range(256))
BITREV = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


# (U, opcode) -> (name, signed input, lane expression of x with {e} the element size, saturating,
# vector sizes, scalar sizes)
UNARY: dict[tuple[int, int], tuple[str, bool, str, bool, int, int]] = {
    (0, 0b00100): ("cls", True, "{e} - 1 - (~x if x < 0 else x).bit_length()", False, NO64, 0),
    (1, 0b00100): ("clz", False, "{e} - x.bit_length()", False, NO64, 0),
    (0, 0b00111): ("sqabs", True, "abs(x)", True, ANY, ANY),
    (1, 0b00111): ("sqneg", True, "-x", True, ANY, ANY),
    (0, 0b01000): ("cmgt0", True, "-(x > 0)", False, ANY, B64),
    (1, 0b01000): ("cmge0", True, "-(x >= 0)", False, ANY, B64),
    (0, 0b01001): ("cmeq0", False, "-(x == 0)", False, ANY, B64),
    (1, 0b01001): ("cmle0", True, "-(x <= 0)", False, ANY, B64),
    (0, 0b01010): ("cmlt0", True, "-(x < 0)", False, ANY, B64),
    (0, 0b01011): ("abs", True, "abs(x)", False, ANY, B64),
    (1, 0b01011): ("neg", True, "-x", False, ANY, B64),
}


@functools.cache
def unary_helper(key: tuple[int, int], esize: int, n: int) -> Callable[..., int]:
    name, signed, expr, sat, _, _ = UNARY[key]
    unpack = lane_struct(esize, n, signed).unpack_from
    m = (1 << esize) - 1
    lanes_fn = kernel(f"({expr.format(e=esize)}) & {m}" if not sat else expr.format(e=esize), ("x",))

    def h(cpu, a: int) -> int:
        r = lanes_fn(unpack(a.to_bytes(16, "little")))
        if sat:
            return join(saturate(cpu, r, esize, True), esize)
        return join(r, esize)

    h.__name__ = name
    return h


def unary(ctx: Ctx, Q: int, U: int, size: int, rn: int, rd: int, opcode: int) -> None:
    sizes = UNARY[(U, opcode)][4]
    esize, n = arrangement(size, Q)
    if not sizes & (1 << size) or (size == 3 and not Q):
        return ctx.undef()
    return _emit_unary(ctx, (U, opcode), esize, n, rn, rd)


def unary_scalar(ctx: Ctx, U: int, size: int, rn: int, rd: int, opcode: int) -> None:
    if not UNARY[(U, opcode)][5] & (1 << size):
        return ctx.undef()
    return _emit_unary(ctx, (U, opcode), 8 << size, 1, rn, rd)


def _emit_unary(ctx: Ctx, key: tuple[int, int], esize: int, n: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    width = esize * n
    a = src(ctx, rn, width)
    if UNARY[key][0] == "cmeq0":
        one = sum(1 << i for i in range(0, width, esize))
        set_v(ctx, rd, swar_fill(f"({swar_nonzero(ctx, a, esize, width)} ^ {one:#x})", esize))
        return
    set_v(ctx, rd, call(ctx, unary_helper(key, esize, n), a))


for (_u, _opc), (_name, _s, _f, _sat, _vs, _ss) in UNARY.items():
    insn(f"0 Q:1 {_u} 01110 size:2 10000 {_opc:05b} 10 rn:5 rd:5", f"{_name.upper()}_vec", U=_u, opcode=_opc)(unary)
    if _ss:
        insn(f"01 {_u} 11110 size:2 10000 {_opc:05b} 10 rn:5 rd:5", f"{_name.upper()}_scalar", U=_u, opcode=_opc)(
            unary_scalar
        )


# ---- byte-wise and element reversal ------------------------------------------------------------------------


@insn("0 Q:1 U:1 01110 size:2 10000 0010 1 10 rn:5 rd:5")
def CNT_NOT_RBIT(ctx: Ctx, Q: int, U: int, size: int, rn: int, rd: int) -> None:
    # U=0 size 00: CNT; U=1 size 00: NOT (MVN); U=1 size 01: RBIT
    width = 128 if Q else 64
    if (not U and size) or (U and size > 1):
        return ctx.undef()
    simd_begin(ctx)
    a = src(ctx, rn, width)
    if U and not size:
        set_v(ctx, rd, f"~{a} & {(1 << width) - 1:#x}")
        return None
    table = ctx.const(BITREV if U else POPCOUNT, "tab")
    set_v(ctx, rd, f"int.from_bytes({a}.to_bytes(16, 'little').translate({table}), 'little')")
    return None


@functools.cache
def rev_helper(esize: int, container: int) -> Callable[..., int]:
    k = container // esize
    n = 128 // esize
    unpack = lane_struct(esize, n).unpack_from

    def h(cpu, a: int) -> int:
        x = unpack(a.to_bytes(16, "little"))
        return join([v for i in range(0, n, k) for v in reversed(x[i : i + k])], esize)

    return h


@insn("0 Q:1 U:1 01110 size:2 10000 0000 o0:1 10 rn:5 rd:5")
def REV(ctx: Ctx, Q: int, U: int, size: int, o0: int, rn: int, rd: int) -> None:
    # REV64 (U=0 o0=0), REV32 (U=1 o0=0), REV16 (U=0 o0=1): the container is 64, 32 or 16 bits
    container = 16 if o0 else 32 if U else 64
    esize = 8 << size
    if esize >= container or (U and o0):
        return ctx.undef()
    simd_begin(ctx)
    width = 128 if Q else 64
    if esize == 8:
        # byte reversal within containers: reverse all bytes, then reverse the order of the containers
        nb = container // 8
        a = ctx.local(src(ctx, rn, width), "a")
        parts = [f"{a}.to_bytes(16, 'little')[{i}:{i + nb}][::-1]" for i in range(0, width // 8, nb)]
        set_v(ctx, rd, f"int.from_bytes(b''.join(({', '.join(parts)},)), 'little')")
        return None
    set_v(ctx, rd, f"{call(ctx, rev_helper(esize, container), src(ctx, rn, width))} & {(1 << width) - 1:#x}")
    return None


# ---- pairwise long, narrowing, SHLL, accumulate with the other signedness --------------------------------------


@functools.cache
def addlp_helper(signed: bool, accumulate: bool, esize: int, n: int) -> Callable[..., int]:
    unpack = lane_struct(esize, n, signed).unpack_from
    unpack_d = lane_struct(2 * esize, n // 2).unpack_from
    m = (1 << (2 * esize)) - 1

    def h(cpu, d: int, a: int) -> int:
        x = unpack(a.to_bytes(16, "little"))
        r = [x[i] + x[i + 1] for i in range(0, n, 2)]
        if accumulate:
            r = [p + q for p, q in zip(r, unpack_d(d.to_bytes(16, "little")), strict=True)]
        return join([v & m for v in r], 2 * esize)

    return h


@insn("0 Q:1 U:1 01110 size:2 10000 00 op:1 10 10 rn:5 rd:5")
def ADDLP(ctx: Ctx, Q: int, U: int, size: int, op: int, rn: int, rd: int) -> None:
    # SADDLP/UADDLP (op=0), SADALP/UADALP (op=1)
    if size == 3:
        return ctx.undef()
    esize, n = arrangement(size, Q)
    simd_begin(ctx)
    width = esize * n
    d = src(ctx, rd, width) if op else "0"
    set_v(ctx, rd, call(ctx, addlp_helper(not U, bool(op), esize, n), d, src(ctx, rn, width)))
    return None


# (U, opcode) -> (name, input signed, output signed (None: wrap))
NARROW = {
    (0, 0b10010): ("xtn", False, None),
    (1, 0b10010): ("sqxtun", True, False),
    (0, 0b10100): ("sqxtn", True, True),
    (1, 0b10100): ("uqxtn", False, False),
}


@functools.cache
def narrow_helper(key: tuple[int, int], esize: int, n: int, part: int) -> Callable[..., int]:
    """Narrow `n` lanes of 2*esize bits to esize bits, into the low (part 0) or high half of Vd."""
    name, signed, out = NARROW[key]
    unpack = lane_struct(2 * esize, n, signed).unpack_from
    m = (1 << esize) - 1

    def h(cpu, d: int, a: int) -> int:
        x = list(unpack(a.to_bytes(16, "little")))
        r = [v & m for v in x] if out is None else saturate(cpu, x, esize, out)
        value = join(r, esize)
        return (d & M64) | (value << 64) if part else value

    h.__name__ = name
    return h


def narrow(ctx: Ctx, Q: int, U: int, size: int, rn: int, rd: int, opcode: int) -> None:
    if size == 3:
        return ctx.undef()
    esize = 8 << size
    simd_begin(ctx)
    set_v(ctx, rd, call(ctx, narrow_helper((U, opcode), esize, 64 // esize, Q), f"v[{rd}]", src(ctx, rn, 128)))
    return None


def narrow_scalar(ctx: Ctx, U: int, size: int, rn: int, rd: int, opcode: int) -> None:
    if size == 3 or (U, opcode) == (0, 0b10010):
        return ctx.undef()
    esize = 8 << size
    simd_begin(ctx)
    set_v(ctx, rd, call(ctx, narrow_helper((U, opcode), esize, 1, 0), "0", src(ctx, rn, 2 * esize)))
    return None


for (_u, _opc), (_name, *_rest) in NARROW.items():
    insn(f"0 Q:1 {_u} 01110 size:2 10000 {_opc:05b} 10 rn:5 rd:5", f"{_name.upper()}", U=_u, opcode=_opc)(narrow)
    insn(f"01 {_u} 11110 size:2 10000 {_opc:05b} 10 rn:5 rd:5", f"{_name.upper()}_scalar", U=_u, opcode=_opc)(
        narrow_scalar
    )


@functools.cache
def shll_helper(esize: int, part: int) -> Callable[..., int]:
    n = 64 // esize
    unpack = lane_struct(esize, n).unpack_from

    def h(cpu, a: int) -> int:
        return join([x << esize for x in unpack((a >> (64 * part)).to_bytes(16, "little"))], 2 * esize)

    return h


@insn("0 Q:1 1 01110 size:2 10000 10011 10 rn:5 rd:5")
def SHLL(ctx: Ctx, Q: int, size: int, rn: int, rd: int) -> None:
    if size == 3:
        return ctx.undef()
    simd_begin(ctx)
    set_v(ctx, rd, call(ctx, shll_helper(8 << size, Q), src(ctx, rn, 128)))
    return None


@functools.cache
def sqadd_mixed_helper(unsigned_acc: bool, esize: int, n: int) -> Callable[..., int]:
    # SUQADD: signed Vd + unsigned Vn, signed saturation; USQADD: unsigned Vd + signed Vn, unsigned
    ud = lane_struct(esize, n, not unsigned_acc).unpack_from
    ua = lane_struct(esize, n, unsigned_acc).unpack_from

    def h(cpu, d: int, a: int) -> int:
        r = [p + q for p, q in zip(ud(d.to_bytes(16, "little")), ua(a.to_bytes(16, "little")), strict=True)]
        return join(saturate(cpu, r, esize, not unsigned_acc), esize)

    return h


@insn("0 Q:1 U:1 01110 size:2 10000 00011 10 rn:5 rd:5")
def SQADD_MIXED(ctx: Ctx, Q: int, U: int, size: int, rn: int, rd: int) -> None:
    esize, n = arrangement(size, Q)
    if size == 3 and not Q:
        return ctx.undef()
    simd_begin(ctx)
    width = esize * n
    set_v(ctx, rd, call(ctx, sqadd_mixed_helper(bool(U), esize, n), src(ctx, rd, width), src(ctx, rn, width)))
    return None


@insn("01 U:1 11110 size:2 10000 00011 10 rn:5 rd:5")
def SQADD_MIXED_scalar(ctx: Ctx, U: int, size: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    esize = 8 << size
    set_v(ctx, rd, call(ctx, sqadd_mixed_helper(bool(U), esize, 1), src(ctx, rd, esize), src(ctx, rn, esize)))
