"""Advanced SIMD lanes: a 128-bit register value seen as elements, and the lane-wise helpers.

`cpu.v[n]` holds Vn as one 128-bit int. Generated code does the cheap, exact
cases inline on that int (logical operations, SWAR add/subtract/compare,
shifts by a constant); everything else calls a helper built once per
(operation, element size, lane count) by the factories here and bound into the
block as a constant. Helpers unpack lanes with `struct` (one C call for all
lanes), apply a small per-lane function and pack the result; the saturating
ones set FPSR.QC, which is sticky, so they take `cpu`.

A result narrower than 128 bits is zero-extended: a 64-bit vector or a scalar
write clears the rest of the register, as every AdvSIMD write to Vd does.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable

from framework.isa.codegen import Ctx
from framework.isa.common import replicate
from framework.isa.ldst_fp import emit_fp_check

QC = 1 << 27  # FPSR.QC: cumulative saturation
M64 = (1 << 64) - 1
M128 = (1 << 128) - 1

_CODES = {8: "B", 16: "H", 32: "I", 64: "Q"}


@functools.cache
def lane_struct(esize: int, n: int, signed: bool = False) -> struct.Struct:
    code = _CODES[esize]
    return struct.Struct(f"<{n}{code.lower() if signed else code}")


def lanes(value: int, esize: int, n: int, signed: bool = False) -> tuple[int, ...]:
    """The first `n` elements of `esize` bits of a 128-bit value."""
    return lane_struct(esize, n, signed).unpack_from(value.to_bytes(16, "little"))


def join(values: list[int] | tuple[int, ...], esize: int) -> int:
    """Elements (already within esize bits, unsigned) back into one int, element 0 lowest."""
    return int.from_bytes(lane_struct(esize, len(values)).pack(*values), "little")


def sint(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def saturate(cpu, values: list[int], esize: int, signed: bool) -> list[int]:
    """Clamp to the element range (setting FPSR.QC if any lane was clamped); unsigned encodings."""
    if signed:
        lo, hi = -(1 << (esize - 1)), (1 << (esize - 1)) - 1
    else:
        lo, hi = 0, (1 << esize) - 1
    if min(values) < lo or max(values) > hi:
        cpu.fpsr |= QC
        values = [lo if r < lo else hi if r > hi else r for r in values]
    if signed:
        m = (1 << esize) - 1
        return [r & m for r in values]
    return values


# ---- emission ---------------------------------------------------------------------------------------


def arrangement(size: int, q: int) -> tuple[int, int]:
    """(element bits, lane count) of a vector arrangement."""
    esize = 8 << size
    return esize, (128 if q else 64) // esize


def src(ctx: Ctx, n: int, nbits: int) -> str:
    """The low `nbits` of Vn."""
    ctx.uses.add("v")
    return f"v[{n}]" if nbits == 128 else f"(v[{n}] & {(1 << nbits) - 1:#x})"


def simd_begin(ctx: Ctx) -> None:
    """Every AdvSIMD instruction first passes the FP/SIMD access check (once per block)."""
    emit_fp_check(ctx)
    ctx.uses.add("v")


def set_v(ctx: Ctx, d: int, expr: str) -> None:
    ctx.emit(f"v[{d}] = {expr}")


def call(ctx: Ctx, fn: Callable, *args: str) -> str:
    """Expression calling a lane helper fn(cpu, *args) (helpers never raise)."""
    return f"{ctx.const(fn, 'h')}(cpu, {', '.join(args)})"


def masks(esize: int, width: int) -> tuple[int, int, int]:
    """(lane top bits, lane low bits without the top, lane lowest bits) replicated over `width`."""
    top = replicate(1 << (esize - 1), esize, width)
    low = replicate((1 << (esize - 1)) - 1, esize, width)
    one = replicate(1, esize, width)
    return top, low, one


def swar_add(ctx: Ctx, a: str, b: str, esize: int, width: int) -> str:
    # lane-local carries: add without the top bits, then put the top bits back by XOR
    top, low, _ = masks(esize, width)
    a, b = ctx.local(a, "a"), ctx.local(b, "b")
    return f"((({a} & {low:#x}) + ({b} & {low:#x})) ^ (({a} ^ {b}) & {top:#x}))"


def swar_sub(ctx: Ctx, a: str, b: str, esize: int, width: int) -> str:
    top, low, _ = masks(esize, width)
    a, b = ctx.local(a, "a"), ctx.local(b, "b")
    return f"((({a} | {top:#x}) - ({b} & {low:#x})) ^ (({a} ^ ~{b}) & {top:#x}))"


def swar_nonzero(ctx: Ctx, x: str, esize: int, width: int) -> str:
    """Lowest bit of each lane set where that lane of `x` is not zero."""
    top, low, _ = masks(esize, width)
    x = ctx.local(x, "z")
    return f"(((((({x} & {low:#x}) + {low:#x}) | {x}) & {top:#x})) >> {esize - 1})"


def swar_fill(expr: str, esize: int) -> str:
    """Lanes of all ones where `expr` has the lane's lowest bit set (no carries between lanes)."""
    return f"({expr} * {(1 << esize) - 1:#x})"


def swar_ge(ctx: Ctx, a: str, b: str, esize: int, width: int) -> str:
    """Lowest bit of each lane set where lane a >= lane b (unsigned): no borrow out of a - b."""
    top, _, _ = masks(esize, width)
    w = (1 << width) - 1
    a, b = ctx.local(a, "a"), ctx.local(b, "b")
    diff = ctx.local(swar_sub(ctx, a, b, esize, width), "s")
    # the borrow out of each lane's top bit: ~a & b, or a and b equal there and the difference borrowed
    borrow = f"((({a} ^ {w:#x}) & {b}) | ((({a} ^ {b}) ^ {w:#x}) & {diff}))"
    return f"((({borrow} & {top:#x}) ^ {top:#x}) >> {esize - 1})"


def swar_select(ctx: Ctx, take_a: str, a: str, b: str, esize: int) -> str:
    """Lanes of a where `take_a` has the lane's lowest bit set, else lanes of b."""
    a, b = ctx.local(a, "a"), ctx.local(b, "b")
    return f"({b} ^ (({a} ^ {b}) & {swar_fill(take_a, esize)}))"


@functools.cache
def kernel(expr: str, names: tuple[str, ...], env: tuple[tuple[str, object], ...] = ()) -> Callable[..., list]:
    """f(*lane_tuples) -> [expr for names in zip(lane_tuples)]: one compiled comprehension, no call per lane."""
    params = ", ".join(f"{n}s" for n in names)
    source = f"zip({params})" if len(names) > 1 else params
    namespace = dict(env)
    exec(f"def kernel({params}):\n    return [{expr} for {', '.join(names)} in {source}]", namespace)
    return namespace["kernel"]
