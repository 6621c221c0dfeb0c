"""Branches: B, BL, B.cond, BC.cond, CBZ/CBNZ, TBZ/TBNZ, BR, BLR, RET, ERET, ERETAA/ERETAB."""

from __future__ import annotations

from framework.cpu.exceptions import exception_return
from framework.isa.codegen import Ctx
from framework.isa.table import insn


def _offset(imm: int, bits: int) -> int:
    imm -= (imm >> (bits - 1)) << bits
    return imm * 4


@insn("op:1 00101 imm26:26")
def B_BL(ctx: Ctx, op: int, imm26: int) -> None:
    if op:
        ctx.set_x(30, f"{ctx.pc + 4:#x}", masked=True)
    ctx.goto(ctx.pc + _offset(imm26, 26))


@insn("01010100 imm19:19 1 cond:4", "BC_cond", feature="hbc")
@insn("01010100 imm19:19 0 cond:4")
def B_cond(ctx: Ctx, imm19: int, cond: int) -> None:
    # BC.cond (FEAT_HBC) is the same branch with a hint about consistency
    target = ctx.pc + _offset(imm19, 19)
    if cond >= 14:
        ctx.goto(target)
    else:
        ctx.branch_if(ctx.cond(cond), target, ctx.pc + 4)


@insn("sf:1 011010 op:1 imm19:19 rt:5")
def CBZ_CBNZ(ctx: Ctx, sf: int, op: int, imm19: int, rt: int) -> None:
    value = ctx.r(rt, sf)
    ctx.branch_if(f"{value} {'!=' if op else '=='} 0", ctx.pc + _offset(imm19, 19), ctx.pc + 4)


@insn("b5:1 011011 op:1 b40:5 imm14:14 rt:5")
def TBZ_TBNZ(ctx: Ctx, b5: int, op: int, b40: int, imm14: int, rt: int) -> None:
    bit = (b5 << 5) | b40
    test = f"{ctx.x(rt)} >> {bit} & 1"
    ctx.branch_if(test if op else f"not {test}", ctx.pc + _offset(imm14, 14), ctx.pc + 4)


@insn("1101011 0 0 op:2 11111 0000 0 0 rn:5 00000")
def BR_BLR_RET(ctx: Ctx, op: int, rn: int) -> None:
    if op == 3:
        return ctx.undef()
    target = ctx.local(ctx.x(rn), "n")
    if op == 1:  # BLR
        ctx.set_x(30, f"{ctx.pc + 4:#x}", masked=True)
    if ctx.features is not None and "bti" in ctx.features and op != 2:
        # FEAT_BTI: BLR sets BTYPE 0b10, BR 0b01 (syndromes.md §10); the next block clears it
        ctx.emit(f"cpu.btype = {2 if op == 1 else 1}")
        ctx.sets_btype = True
    ctx.jump(target)
    return None


# ERETAA/ERETAB authenticate ELR with the A or B key first: only with pointer authentication,
# whose plugin does that in armnv_eret; the return itself is ERET's
@insn("1101011 0100 11111 0000 1 M:1 11111 11111", "ERETAA_ERETAB", feature="pauth")
@insn("1101011 0100 11111 0000 0 0 11111 00000")
def ERET(ctx: Ctx, M: int = 0) -> None:
    # ERET restores PSTATE.BTYPE from SPSR: the block must not clear it afterwards
    ctx.sets_btype = True
    ctx.call_exit(exception_return, hex(ctx.pc))
