"""Advanced SIMD shifts by immediate (vector and scalar): SHL/SSHR/USHR and their rounding,
accumulating, inserting, saturating, narrowing (SHRN...) and widening (SSHLL/USHLL) forms.

immh:immb encodes both the element size (the highest set bit of immh) and the
shift: right shifts are 2*esize - immh:immb (1..esize), left shifts
immh:immb - esize (0..esize-1). immh = 0 is the modified-immediate group,
whose rows (more specific) are in simd_perm. The fixed-point conversions of
the same group (SCVTF/UCVTF/FCVTZS/FCVTZU) are not rows here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from framework.isa.codegen import Ctx
from framework.isa.simd_lanes import M64, call, join, kernel, lane_struct, saturate, set_v, simd_begin, src
from framework.isa.table import insn


def _rshift(a: int, sh: int, rounding: bool) -> int:
    return (a + (1 << (sh - 1))) >> sh if rounding else a >> sh


# (U, opcode) -> (name, signed input, right shift, lane expression, saturation None/"s"/"u", scalar D only).
# The expression is of x (Vn's lane) and z (Vd's) with {s} the shift, {r} its rounding constant and
# {sri}/{sli} the bits of Vd that SRI/SLI keep (those the shifted value does not reach).
SHIFTS: dict[tuple[int, int], tuple[str, bool, bool, str, str | None, bool]] = {
    (0, 0b00000): ("sshr", True, True, "x >> {s}", None, True),
    (1, 0b00000): ("ushr", False, True, "x >> {s}", None, True),
    (0, 0b00010): ("ssra", True, True, "z + (x >> {s})", None, True),
    (1, 0b00010): ("usra", False, True, "z + (x >> {s})", None, True),
    (0, 0b00100): ("srshr", True, True, "(x + {r}) >> {s}", None, True),
    (1, 0b00100): ("urshr", False, True, "(x + {r}) >> {s}", None, True),
    (0, 0b00110): ("srsra", True, True, "z + ((x + {r}) >> {s})", None, True),
    (1, 0b00110): ("ursra", False, True, "z + ((x + {r}) >> {s})", None, True),
    (1, 0b01000): ("sri", False, True, "(z & {sri}) | (x >> {s})", None, True),
    (0, 0b01010): ("shl", False, False, "x << {s}", None, True),
    (1, 0b01010): ("sli", False, False, "(z & {sli}) | (x << {s})", None, True),
    (1, 0b01100): ("sqshlu", True, False, "x << {s}", "u", False),
    (0, 0b01110): ("sqshl", True, False, "x << {s}", "s", False),
    (1, 0b01110): ("uqshl", False, False, "x << {s}", "u", False),
}


@functools.cache
def shift_helper(key: tuple[int, int], esize: int, n: int, sh: int) -> Callable[..., int]:
    name, signed, _, expr, sat, _ = SHIFTS[key]
    unpack, unpack_d = lane_struct(esize, n, signed).unpack_from, lane_struct(esize, n).unpack_from
    m = (1 << esize) - 1
    consts = {"s": sh, "r": (1 << (sh - 1)) if sh else 0, "sri": ~(m >> sh) & m, "sli": (1 << sh) - 1}
    lanes_fn = kernel(expr.format(**consts), ("x", "z"))

    def h(cpu, d: int, a: int) -> int:
        r = lanes_fn(unpack(a.to_bytes(16, "little")), unpack_d(d.to_bytes(16, "little")))
        if sat is not None:
            return join(saturate(cpu, r, esize, sat == "s"), esize)
        return join([x & m for x in r], esize)

    h.__name__ = name
    return h


def _decode(immh: int, immb: int, right: bool) -> tuple[int, int]:
    esize = 8 << (immh.bit_length() - 1)
    imm = (immh << 3) | immb
    return esize, (2 * esize - imm) if right else (imm - esize)


def _emit_shift(ctx: Ctx, key: tuple[int, int], esize: int, n: int, sh: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    width = esize * n
    name = SHIFTS[key][0]
    a = src(ctx, rn, width)
    lane = (1 << esize) - 1
    if name == "ushr" and sh < esize:  # no bits cross lanes once each lane's shifted-out bits are masked
        keep = sum((lane >> sh) << i for i in range(0, width, esize))
        set_v(ctx, rd, f"({a} >> {sh}) & {keep:#x}")
        return
    if name == "sshr" and sh < esize:
        # the logical shift, then the sign copied into the top sh bits of the negative lanes
        one = sum(1 << i for i in range(0, width, esize))
        a = ctx.local(a, "a")
        keep = (lane >> sh) * one
        fill = ((lane >> (esize - sh)) << (esize - sh)) if sh else 0
        set_v(ctx, rd, f"(({a} >> {sh}) & {keep:#x}) | ((({a} >> {esize - 1}) & {one:#x}) * {fill:#x})")
        return
    if name == "shl":
        keep = sum(((lane << sh) & lane) << i for i in range(0, width, esize))
        set_v(ctx, rd, f"({a} << {sh}) & {keep:#x}")
        return
    set_v(ctx, rd, call(ctx, shift_helper(key, esize, n, sh), src(ctx, rd, width), a))


def shift_vec(ctx: Ctx, Q: int, U: int, immh: int, immb: int, rn: int, rd: int, opcode: int) -> None:
    if not immh or (immh & 8 and not Q):
        return ctx.undef()
    esize, sh = _decode(immh, immb, SHIFTS[(U, opcode)][2])
    return _emit_shift(ctx, (U, opcode), esize, (128 if Q else 64) // esize, sh, rn, rd)


def shift_scalar(ctx: Ctx, U: int, immh: int, immb: int, rn: int, rd: int, opcode: int) -> None:
    if not immh or (SHIFTS[(U, opcode)][5] and not immh & 8):
        return ctx.undef()
    esize, sh = _decode(immh, immb, SHIFTS[(U, opcode)][2])
    return _emit_shift(ctx, (U, opcode), esize, 1, sh, rn, rd)


for (_u, _opc), (_name, *_rest) in SHIFTS.items():
    insn(f"0 Q:1 {_u} 011110 immh:4 immb:3 {_opc:05b} 1 rn:5 rd:5", f"{_name.upper()}_imm", U=_u, opcode=_opc)(
        shift_vec
    )
    insn(f"01 {_u} 111110 immh:4 immb:3 {_opc:05b} 1 rn:5 rd:5", f"{_name.upper()}_imm_scalar", U=_u, opcode=_opc)(
        shift_scalar
    )


# ---- narrowing: SHRN, RSHRN, SQSHRN, UQSHRN, SQRSHRN, UQRSHRN, SQSHRUN, SQRSHRUN ---------------------------------

# (U, opcode) -> (name, signed input, rounding, saturation None/"s"/"u", has a scalar form)
NARROW_SHIFTS = {
    (0, 0b10000): ("shrn", False, False, None, False),
    (0, 0b10001): ("rshrn", False, True, None, False),
    (1, 0b10000): ("sqshrun", True, False, "u", True),
    (1, 0b10001): ("sqrshrun", True, True, "u", True),
    (0, 0b10010): ("sqshrn", True, False, "s", True),
    (1, 0b10010): ("uqshrn", False, False, "u", True),
    (0, 0b10011): ("sqrshrn", True, True, "s", True),
    (1, 0b10011): ("uqrshrn", False, True, "u", True),
}


@functools.cache
def narrow_shift_helper(key: tuple[int, int], esize: int, n: int, sh: int, part: int) -> Callable[..., int]:
    """`n` lanes of 2*esize bits shifted right by sh, narrowed to esize bits, into half `part` of Vd."""
    name, signed, rounding, sat, _ = NARROW_SHIFTS[key]
    unpack = lane_struct(2 * esize, n, signed).unpack_from
    m = (1 << esize) - 1

    def h(cpu, d: int, a: int) -> int:
        r = [_rshift(x, sh, rounding) for x in unpack(a.to_bytes(16, "little"))]
        r = [x & m for x in r] if sat is None else saturate(cpu, r, esize, sat == "s")
        value = join(r, esize)
        return (d & M64) | (value << 64) if part else value

    h.__name__ = name
    return h


def narrow_shift(ctx: Ctx, Q: int, U: int, immh: int, immb: int, rn: int, rd: int, opcode: int) -> None:
    if not immh or immh & 8:
        return ctx.undef()
    esize, sh = _decode(immh, immb, True)
    simd_begin(ctx)
    key = (U, opcode)
    if key == (0, 0b10000) and esize == 8:
        # SHRN .8B, .8H (glibc's memchr/strlen loops): the shifted halfwords' low bytes, one bytes slice
        a = f"({src(ctx, rn, 128)} >> {sh}).to_bytes(16, 'little')[0::2]"
        value = f"int.from_bytes({a}, 'little')"
        set_v(ctx, rd, f"(v[{rd}] & {M64:#x}) | ({value} << 64)" if Q else value)
        return None
    h = narrow_shift_helper(key, esize, 64 // esize, sh, Q)
    set_v(ctx, rd, call(ctx, h, f"v[{rd}]", src(ctx, rn, 128)))
    return None


def narrow_shift_scalar(ctx: Ctx, U: int, immh: int, immb: int, rn: int, rd: int, opcode: int) -> None:
    if not immh or immh & 8 or not NARROW_SHIFTS[(U, opcode)][4]:
        return ctx.undef()
    esize, sh = _decode(immh, immb, True)
    simd_begin(ctx)
    h = narrow_shift_helper((U, opcode), esize, 1, sh, 0)
    set_v(ctx, rd, call(ctx, h, "0", src(ctx, rn, 2 * esize)))
    return None


for (_u, _opc), (_name, *_rest) in NARROW_SHIFTS.items():
    insn(f"0 Q:1 {_u} 011110 immh:4 immb:3 {_opc:05b} 1 rn:5 rd:5", f"{_name.upper()}", U=_u, opcode=_opc)(narrow_shift)
    insn(f"01 {_u} 111110 immh:4 immb:3 {_opc:05b} 1 rn:5 rd:5", f"{_name.upper()}_scalar", U=_u, opcode=_opc)(
        narrow_shift_scalar
    )


# ---- widening: SSHLL/USHLL (SXTL/UXTL) ------------------------------------------------------------------------


@functools.cache
def widen_shift_helper(signed: bool, esize: int, sh: int, part: int) -> Callable[..., int]:
    n = 64 // esize
    unpack = lane_struct(esize, n, signed).unpack_from
    m = (1 << (2 * esize)) - 1

    def h(cpu, a: int) -> int:
        return join([(x << sh) & m for x in unpack((a >> (64 * part)).to_bytes(16, "little"))], 2 * esize)

    return h


@insn("0 Q:1 U:1 011110 immh:4 immb:3 10100 1 rn:5 rd:5")
def SHLL_imm(ctx: Ctx, Q: int, U: int, immh: int, immb: int, rn: int, rd: int) -> None:
    if not immh or immh & 8:
        return ctx.undef()
    esize, sh = _decode(immh, immb, False)
    simd_begin(ctx)
    set_v(ctx, rd, call(ctx, widen_shift_helper(not U, esize, sh, Q), src(ctx, rn, 128)))
    return None
