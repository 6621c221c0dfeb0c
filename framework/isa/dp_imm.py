"""Data processing — immediate: ADR/ADRP, ADD/SUB(S), logical, move wide, bitfield, EXTR."""

from __future__ import annotations

from framework.isa.codegen import MASK, Ctx
from framework.isa.common import decode_bit_masks, logical_immediate, ones
from framework.isa.table import insn


@insn("op:1 immlo:2 10000 immhi:19 rd:5")
def ADR(ctx: Ctx, op: int, immlo: int, immhi: int, rd: int) -> None:
    imm = (immhi << 2) | immlo
    imm -= (imm >> 20) << 21
    if op:  # ADRP
        value = ((ctx.pc & ~0xFFF) + (imm << 12)) & MASK[1]
    else:
        value = (ctx.pc + imm) & MASK[1]
    ctx.set_x(rd, f"{value:#x}", masked=True)


@insn("sf:1 op:1 S:1 100010 sh:1 imm12:12 rn:5 rd:5")
def ADD_SUB_imm(ctx: Ctx, sf: int, op: int, S: int, sh: int, imm12: int, rn: int, rd: int) -> None:
    imm = imm12 << (12 * sh)
    m = MASK[sf]
    a = ctx.rsp(rn, sf)
    if not S:
        expr = f"{a} - {imm:#x}" if op else f"{a} + {imm:#x}"
        if imm == 0:
            ctx.set_rsp(rd, a, sf, masked=True)
        else:
            ctx.set_rsp(rd, expr, sf)
        return
    av = ctx.local(a, "a")
    r = ctx.tmp("r")
    if op:  # SUBS / CMP
        ctx.emit(f"{r} = ({av} - {imm:#x}) & {m:#x}")
        ctx.flags_sub(av, f"{imm:#x}", r, sf)
    else:  # ADDS / CMN
        s = ctx.tmp("s")
        ctx.emit(f"{s} = {av} + {imm:#x}")
        ctx.emit(f"{r} = {s} & {m:#x}")
        ctx.flags_add(av, f"{imm:#x}", s, r, sf)
    ctx.set_r(rd, r, sf, masked=True)


@insn("sf:1 opc:2 100100 N:1 immr:6 imms:6 rn:5 rd:5")
def LOGICAL_imm(ctx: Ctx, sf: int, opc: int, N: int, immr: int, imms: int, rn: int, rd: int) -> None:
    imm = logical_immediate(sf, N, immr, imms)
    if imm is None:
        return ctx.undef()
    a = ctx.r(rn, sf)
    if opc == 3:  # ANDS / TST
        r = ctx.local(f"{a} & {imm:#x}", "r")
        ctx.flags_logic(r, sf)
        ctx.set_r(rd, r, sf, masked=True)
        return None
    op = {0: "&", 1: "|", 2: "^"}[opc]
    ctx.set_rsp(rd, f"{a} {op} {imm:#x}" if rn != 31 else f"{imm if opc else 0:#x}", sf, masked=True)
    return None


@insn("sf:1 opc:2 100101 hw:2 imm16:16 rd:5")
def MOVE_WIDE(ctx: Ctx, sf: int, opc: int, hw: int, imm16: int, rd: int) -> None:
    if opc == 1 or (not sf and hw >= 2):
        return ctx.undef()
    shift = 16 * hw
    m = MASK[sf]
    if opc == 0:  # MOVN
        ctx.set_r(rd, f"{~(imm16 << shift) & m:#x}", sf, masked=True)
    elif opc == 2:  # MOVZ
        ctx.set_r(rd, f"{imm16 << shift:#x}", sf, masked=True)
    else:  # MOVK
        keep = m & ~(0xFFFF << shift)
        ctx.set_r(rd, f"({ctx.r(rd, sf)} & {keep:#x}) | {imm16 << shift:#x}", sf, masked=True)
    return None


@insn("sf:1 opc:2 100110 N:1 immr:6 imms:6 rn:5 rd:5")
def BITFIELD(ctx: Ctx, sf: int, opc: int, N: int, immr: int, imms: int, rn: int, rd: int) -> None:
    width = 64 if sf else 32
    if opc == 3 or sf != N or (not sf and (immr >= 32 or imms >= 32)):
        return ctx.undef()
    masks = decode_bit_masks(N, imms, immr, False, width)
    if masks is None:
        return ctx.undef()
    wmask, tmask = masks
    m = MASK[sf]
    if opc == 2:  # UBFM: LSL, LSR, UBFX, UBFIZ, UXTB, UXTH
        # without the rotation: bits [imms:immr] down to bit 0 (LSR, UBFX, UXTB/UXTH), or
        # bits [imms:0] up to bit width - immr (LSL, UBFIZ)
        src = ctx.r(rn, sf)
        if imms >= immr:
            field = ones(imms - immr + 1)
            shifted = src if immr == 0 else f"({src} >> {immr})"
            ctx.set_r(rd, shifted if imms == width - 1 else f"{shifted} & {field:#x}", sf, masked=True)
        else:
            ctx.set_r(rd, f"({src} & {ones(imms + 1):#x}) << {width - immr}", sf, masked=True)
        return None
    src = ctx.local(ctx.r(rn, sf), "s")
    rot = src if immr == 0 else f"((({src} >> {immr}) | ({src} << {width - immr})) & {m:#x})"
    if opc == 0:  # SBFM: ASR, SBFX, SBFIZ, SXTB, SXTH, SXTW
        top = f"(-(({src} >> {imms}) & 1) & {~tmask & m:#x})"
        ctx.set_r(rd, f"{top} | ({rot} & {wmask & tmask:#x})", sf, masked=True)
    else:  # BFM: BFI, BFXIL
        dst = ctx.local(ctx.r(rd, sf), "d")
        bot = ctx.local(f"({dst} & {~wmask & m:#x}) | ({rot} & {wmask:#x})", "b")
        ctx.set_r(rd, f"({dst} & {~tmask & m:#x}) | ({bot} & {tmask:#x})", sf, masked=True)
    return None


@insn("sf:1 00 100111 N:1 o0:1 rm:5 imms:6 rn:5 rd:5")
def EXTR(ctx: Ctx, sf: int, N: int, o0: int, rm: int, imms: int, rn: int, rd: int) -> None:
    width = 64 if sf else 32
    if sf != N or o0 or (not sf and imms >= 32):
        return ctx.undef()
    lo = ctx.r(rm, sf)
    if imms == 0:
        ctx.set_r(rd, lo, sf, masked=True)
        return None
    hi = ctx.r(rn, sf)
    ctx.set_r(rd, f"(({hi} << {width - imms}) | ({lo} >> {imms})) & {ones(width):#x}", sf, masked=True)
    return None
