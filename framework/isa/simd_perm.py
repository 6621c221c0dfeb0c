"""Advanced SIMD element moves and permutes: DUP, INS, UMOV/SMOV, ZIP/UZP/TRN, EXT, TBL/TBX, modified immediate.

Single-element moves are inline shifts and masks on the 128-bit value; the
permutes reorder lanes unpacked with `struct` (slices of tuples), and TBL/TBX
index the bytes of the table registers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from framework.isa.codegen import Ctx
from framework.isa.common import replicate
from framework.isa.simd_lanes import arrangement, call, join, lane_struct, set_v, simd_begin, src
from framework.isa.table import insn


def _element(imm5: int) -> tuple[int, int] | None:
    """(log2 element bytes, index) of a copy-group imm5; None when imm5<3:0> is 0."""
    if not imm5 & 0xF:
        return None
    size = (imm5 & -imm5).bit_length() - 1
    return size, imm5 >> (size + 1)


@insn("0 Q:1 op:1 01110000 imm5:5 0 imm4:4 1 rn:5 rd:5")
def COPY(ctx: Ctx, Q: int, op: int, imm5: int, imm4: int, rn: int, rd: int) -> None:
    el = _element(imm5)
    if el is None:
        return ctx.undef()
    size, index = el
    esize = 8 << size
    m = (1 << esize) - 1
    width = 128 if Q else 64
    if op:  # INS (element): MOV Vd.T[index], Vn.T[imm4 >> size]
        if not Q:
            return ctx.undef()
        simd_begin(ctx)
        s = ctx.local(f"(v[{rn}] >> {(imm4 >> size) * esize}) & {m:#x}", "e")
        set_v(ctx, rd, f"(v[{rd}] & {~(m << (index * esize)) & ((1 << 128) - 1):#x}) | ({s} << {index * esize})")
        return None
    if imm4 == 0b0000 or imm4 == 0b0001:  # DUP (element), DUP (general)
        if size == 3 and not Q:
            return ctx.undef()
        simd_begin(ctx)
        if imm4 == 0:
            e = f"((v[{rn}] >> {index * esize}) & {m:#x})"
        else:
            e = ctx.x(rn) if size == 3 else f"({ctx.x(rn)} & {m:#x})" if rn != 31 else "0"
        set_v(ctx, rd, f"{e} * {replicate(1, esize, width):#x}")
        return None
    if imm4 == 0b0011:  # INS (general): MOV Vd.T[index], Rn
        if not Q:
            return ctx.undef()
        simd_begin(ctx)
        e = "0" if rn == 31 else f"({ctx.x(rn)} & {m:#x})"
        set_v(ctx, rd, f"(v[{rd}] & {~(m << (index * esize)) & ((1 << 128) - 1):#x}) | ({e} << {index * esize})")
        return None
    if imm4 == 0b0111:  # UMOV: 32-bit destination for B/H/S, 64-bit (Q = 1) for D
        if (size == 3) != bool(Q):
            return ctx.undef()
        simd_begin(ctx)
        ctx.set_x(rd, f"(v[{rn}] >> {index * esize}) & {m:#x}", masked=True)
        return None
    if imm4 == 0b0101:  # SMOV: to Wd (Q = 0, B/H) or Xd (Q = 1, B/H/S)
        if size == 3 or (size == 2 and not Q):
            return ctx.undef()
        simd_begin(ctx)
        e = ctx.local(f"(v[{rn}] >> {index * esize}) & {m:#x}", "e")
        ctx.set_r(rd, f"{e} - (({e} >> {esize - 1}) << {esize})", Q)
        return None
    return ctx.undef()


@insn("01 0 11110000 imm5:5 0 0000 1 rn:5 rd:5")
def DUP_scalar(ctx: Ctx, imm5: int, rn: int, rd: int) -> None:
    el = _element(imm5)
    if el is None:
        return ctx.undef()
    size, index = el
    esize = 8 << size
    simd_begin(ctx)
    set_v(ctx, rd, f"(v[{rn}] >> {index * esize}) & {(1 << esize) - 1:#x}")
    return None


# ---- ZIP / UZP / TRN ------------------------------------------------------------------------------------------


def _uzp(a: tuple, b: tuple, part: int) -> list[int]:
    return list((a + b)[part::2])


def _trn(a: tuple, b: tuple, part: int) -> list[int]:
    out = [0] * len(a)
    out[0::2] = a[part::2]
    out[1::2] = b[part::2]
    return out


def _zip(a: tuple, b: tuple, part: int) -> list[int]:
    half = len(a) // 2
    out = [0] * len(a)
    out[0::2] = a[half * part : half * (part + 1)]
    out[1::2] = b[half * part : half * (part + 1)]
    return out


PERMUTES = {0b001: ("uzp1", _uzp), 0b010: ("trn1", _trn), 0b011: ("zip1", _zip)}


@functools.cache
def permute_helper(opc: int, esize: int, n: int) -> Callable[..., int]:
    name, fn = PERMUTES[opc & 3]
    part = opc >> 2
    unpack = lane_struct(esize, n).unpack_from

    def h(cpu, a: int, b: int) -> int:
        return join(fn(unpack(a.to_bytes(16, "little")), unpack(b.to_bytes(16, "little")), part), esize)

    h.__name__ = name
    return h


@insn("0 Q:1 001110 size:2 0 rm:5 0 opc:3 10 rn:5 rd:5")
def PERMUTE(ctx: Ctx, Q: int, size: int, rm: int, opc: int, rn: int, rd: int) -> None:
    if not opc & 3 or (size == 3 and not Q):
        return ctx.undef()
    esize, n = arrangement(size, Q)
    simd_begin(ctx)
    set_v(ctx, rd, call(ctx, permute_helper(opc, esize, n), f"v[{rn}]", f"v[{rm}]"))
    return None


@insn("0 Q:1 101110 00 0 rm:5 0 imm4:4 0 rn:5 rd:5")
def EXT(ctx: Ctx, Q: int, rm: int, imm4: int, rn: int, rd: int) -> None:
    if not Q and imm4 & 8:
        return ctx.undef()
    simd_begin(ctx)
    width = 128 if Q else 64
    if imm4 == 0:
        set_v(ctx, rd, src(ctx, rn, width))
        return None
    cat = f"(({src(ctx, rm, width)} << {width}) | {src(ctx, rn, width)})"
    set_v(ctx, rd, f"({cat} >> {8 * imm4}) & {(1 << width) - 1:#x}")
    return None


# ---- TBL / TBX --------------------------------------------------------------------------------------------------


def tbl(cpu, d: int, idx: int, nbytes: int, tbx: int, *table: int) -> int:
    """TBL/TBX: bytes of the table registers selected by the bytes of idx; out of range -> 0 or Vd's byte."""
    tb = b"".join(t.to_bytes(16, "little") for t in table)
    limit = len(tb)
    ib = idx.to_bytes(16, "little")[:nbytes]
    if tbx:
        db = d.to_bytes(16, "little")
        out = bytes(tb[i] if i < limit else db[k] for k, i in enumerate(ib))
    else:
        out = bytes(tb[i] if i < limit else 0 for i in ib)
    return int.from_bytes(out, "little")


@insn("0 Q:1 001110 00 0 rm:5 0 nregs:2 op:1 00 rn:5 rd:5")
def TBL_TBX(ctx: Ctx, Q: int, rm: int, nregs: int, op: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    regs = [f"v[{(rn + i) % 32}]" for i in range(nregs + 1)]
    nbytes = 16 if Q else 8
    set_v(ctx, rd, call(ctx, tbl, f"v[{rd}]", f"v[{rm}]", str(nbytes), str(op), *regs))


# ---- modified immediate: MOVI, MVNI, ORR, BIC, FMOV (vector, immediate) --------------------------------------------


def expand_imm(op: int, cmode: int, imm8: int) -> int | None:
    """Arm ARM AdvSIMDExpandImm: the 64-bit immediate, None where the encoding is unallocated."""
    kind = cmode >> 1
    if kind <= 3:
        return replicate(imm8 << (8 * kind), 32, 64)
    if kind <= 5:
        return replicate(imm8 << (8 * (kind & 1)), 16, 64)
    if kind == 6:
        ones = 0xFF if not cmode & 1 else 0xFFFF
        return replicate((imm8 << (8 * ((cmode & 1) + 1))) | ones, 32, 64)
    if not cmode & 1:
        if not op:
            return replicate(imm8, 8, 64)
        return sum(0xFF << (8 * i) for i in range(8) if imm8 >> i & 1)
    b6 = (imm8 >> 6) & 1
    if not op:  # single precision
        f32 = ((imm8 >> 7) << 31) | ((b6 ^ 1) << 30) | ((0x1F if b6 else 0) << 25) | ((imm8 & 0x3F) << 19)
        return replicate(f32, 32, 64)
    return ((imm8 >> 7) << 63) | ((b6 ^ 1) << 62) | ((0xFF if b6 else 0) << 54) | ((imm8 & 0x3F) << 48)


def mod_imm(ctx: Ctx, Q: int, op: int, abc: int, defgh: int, rd: int, cmode: int) -> None:
    imm64 = expand_imm(op, cmode, (abc << 5) | defgh)
    if imm64 is None or (cmode == 0b1111 and op and not Q):
        return ctx.undef()
    simd_begin(ctx)
    width = 128 if Q else 64
    w = (1 << width) - 1
    imm = imm64 | (imm64 << 64) if Q else imm64
    orr_bic = cmode < 0b1100 and cmode & 1
    if not orr_bic:
        inverted = op and cmode < 0b1110  # MVNI
        set_v(ctx, rd, f"{(~imm & w) if inverted else imm:#x}")
    elif op:  # BIC
        set_v(ctx, rd, f"v[{rd}] & {~imm & w:#x}")
    else:  # ORR
        set_v(ctx, rd, f"(v[{rd}] & {w:#x}) | {imm:#x}")
    return None


for _cmode in range(16):
    insn(f"0 Q:1 op:1 0111100000 abc:3 {_cmode:04b} 0 1 defgh:5 rd:5", f"MOVI_{_cmode:04b}", cmode=_cmode)(mod_imm)
