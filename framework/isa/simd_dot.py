"""FEAT_DotProd: SDOT/UDOT (vector and by element), rows of the `dotprod` feature.

Each 32-bit lane of Vd accumulates the four products of the bytes in the same
32-bit lane of Vn and Vm (by element: of the selected 32-bit element of Vm),
signed or unsigned, wrapping at 32 bits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from framework.isa.codegen import Ctx
from framework.isa.common import replicate
from framework.isa.simd_lanes import call, join, lane_struct, set_v, simd_begin, src
from framework.isa.table import insn


@functools.cache
def dot_helper(signed: bool, n: int) -> Callable[..., int]:
    """h(cpu, d, a, b): `n` 32-bit lanes of d plus the byte dot products of a and b."""
    bytes_of = lane_struct(8, 4 * n, signed).unpack_from
    words = lane_struct(32, n).unpack_from

    def h(cpu, d: int, a: int, b: int) -> int:
        x, y = bytes_of(a.to_bytes(16, "little")), bytes_of(b.to_bytes(16, "little"))
        acc = words(d.to_bytes(16, "little"))
        return join(
            [
                (
                    acc[i]
                    + x[4 * i] * y[4 * i]
                    + x[4 * i + 1] * y[4 * i + 1]
                    + x[4 * i + 2] * y[4 * i + 2]
                    + x[4 * i + 3] * y[4 * i + 3]
                )
                & 0xFFFFFFFF
                for i in range(n)
            ],
            32,
        )

    h.__name__ = "sdot" if signed else "udot"
    return h


@insn("0 Q:1 U:1 01110 10 0 rm:5 1 0010 1 rn:5 rd:5", feature="dotprod")
def DOT_vec(ctx: Ctx, Q: int, U: int, rm: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    width = 128 if Q else 64
    h = dot_helper(not U, width // 32)
    set_v(ctx, rd, call(ctx, h, src(ctx, rd, width), src(ctx, rn, width), src(ctx, rm, width)))


@insn("0 Q:1 U:1 01111 10 L:1 M:1 rm:4 1110 H:1 0 rn:5 rd:5", feature="dotprod")
def DOT_elem(ctx: Ctx, Q: int, U: int, L: int, M: int, rm: int, H: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    width = 128 if Q else 64
    index, reg = (H << 1) | L, (M << 4) | rm
    elem = f"((v[{reg}] >> {32 * index}) & 0xFFFFFFFF) * {replicate(1, 32, width):#x}"
    h = dot_helper(not U, width // 32)
    set_v(ctx, rd, call(ctx, h, src(ctx, rd, width), src(ctx, rn, width), elem))
