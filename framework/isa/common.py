"""Decode-time helpers shared by instruction groups: bit masks, shifts, extends."""

from __future__ import annotations

from framework.isa.codegen import MASK, Ctx


def ones(n: int) -> int:
    return (1 << n) - 1


def ror(value: int, amount: int, width: int) -> int:
    amount %= width
    value &= ones(width)
    return ((value >> amount) | (value << (width - amount))) & ones(width)


def replicate(value: int, esize: int, width: int) -> int:
    out = 0
    for i in range(0, width, esize):
        out |= value << i
    return out


def decode_bit_masks(n: int, imms: int, immr: int, immediate: bool, width: int) -> tuple[int, int] | None:
    """Arm ARM DecodeBitMasks: (wmask, tmask), or None for a reserved encoding."""
    combined = (n << 6) | (~imms & 0x3F)
    if combined == 0:
        return None
    length = combined.bit_length() - 1
    if length < 1 or (1 << length) > width:
        return None
    levels = ones(length)
    if immediate and (imms & levels) == levels:
        return None
    s = imms & levels
    r = immr & levels
    diff = (s - r) & levels
    esize = 1 << length
    welem = ones(s + 1)
    telem = ones(diff + 1)
    wmask = replicate(ror(welem, r, esize), esize, width)
    tmask = replicate(telem, esize, width)
    return wmask, tmask


def logical_immediate(sf: int, n: int, immr: int, imms: int) -> int | None:
    """The constant of AND/ORR/EOR/ANDS (immediate), or None if reserved."""
    if not sf and n:
        return None
    masks = decode_bit_masks(n, imms, immr, True, 64 if sf else 32)
    return None if masks is None else masks[0]


SHIFT_LSL, SHIFT_LSR, SHIFT_ASR, SHIFT_ROR = range(4)


def shifted(ctx: Ctx, value: str, shift: int, amount: int, sf: int) -> str:
    """Expression of `value` (a masked register value) shifted by a constant (DecodeShift)."""
    width = 64 if sf else 32
    m = MASK[sf]
    if amount == 0:
        return value
    if shift == SHIFT_LSL:
        return f"(({value} << {amount}) & {m:#x})"
    if shift == SHIFT_LSR:
        return f"({value} >> {amount})"
    if shift == SHIFT_ASR:
        v = ctx.local(value)
        return f"((({v} >> {amount}) | (-({v} >> {width - 1}) << {width - amount})) & {m:#x})"
    v = ctx.local(value)
    return f"((({v} >> {amount}) | ({v} << {width - amount})) & {m:#x})"


def extended(ctx: Ctx, value: str, option: int, amount: int, sf: int) -> str:
    """ExtendReg: UXTB/UXTH/UXTW/UXTX/SXTB/SXTH/SXTW/SXTX of `value`, then LSL amount."""
    size = 8 << (option & 3)
    m = MASK[sf]
    if option & 4:  # signed
        if size == 64:
            e = value
        else:
            v = ctx.local(f"{value} & {ones(size):#x}")
            e = f"({v} - (({v} >> {size - 1}) << {size}))"
    else:
        e = value if size == 64 else f"({value} & {ones(size):#x})"
    if amount:
        return f"(({e} << {amount}) & {m:#x})"
    return f"({e} & {m:#x})" if option & 4 or size > (64 if sf else 32) else e
