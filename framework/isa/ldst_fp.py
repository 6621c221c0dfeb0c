"""Loads and stores of FP/SIMD registers: B, H, S, D and Q views of V0-V31.

Forms: unsigned offset, unscaled (LDUR/STUR), pre/post-index, register
offset, PC-relative literal, and the pairs LDP/STP/LDNP/STNP of S, D and Q.
`cpu.v` holds each register as a 128-bit int; a load of a narrower view
zero-extends to 128 bits, a store writes the low bytes. Every form first
passes the FP/SIMD access check (`framework.cpu.fpaccess`), once per block.
Faults from these never carry an ISV syndrome: they are not GPR accesses.
"""

from __future__ import annotations

from framework.cpu.fpaccess import check_fp_access
from framework.isa.codegen import Ctx
from framework.isa.common import extended
from framework.isa.ldst import simm
from framework.isa.ldst_pair import emit_load_pair, emit_store_pair, pair_address, simm7
from framework.isa.table import insn

M64 = (1 << 64) - 1


def emit_fp_check(ctx: Ctx) -> None:
    """The FP/SIMD access trap check, unless an earlier instruction of the block did it."""
    if not ctx.fp_checked:
        ctx.emit(ctx.call(check_fp_access, hex(ctx.pc)))
        ctx.fp_checked = True


def vreg(ctx: Ctx, n: int, nbytes: int) -> str:
    """The low `nbytes` of Vn."""
    ctx.uses.add("v")
    return f"v[{n}]" if nbytes == 16 else f"(v[{n}] & {(1 << (8 * nbytes)) - 1:#x})"


def set_vreg(ctx: Ctx, n: int, expr: str) -> None:
    """Write Vn from a value already zero-extended (a load of its low bytes)."""
    ctx.uses.add("v")
    ctx.emit(f"v[{n}] = {expr}")


def _scale(size: int, opc: int) -> int | None:
    """log2 of the access size: size for B/H/S/D, 4 for Q (size 0b00, opc 0b1x); None if unallocated."""
    if opc & 2:
        return 4 if size == 0 else None
    return size


def _emit_fp_access(ctx: Ctx, scale: int, load: bool, rt: int, addr: str, writeback: tuple[int, str] | None = None):
    emit_fp_check(ctx)
    nbytes = 1 << scale
    a = ctx.local(addr, "a")
    if load:
        v = ctx.load(a, nbytes)
    else:
        ctx.store(a, nbytes, vreg(ctx, rt, nbytes))
    if writeback is not None:
        ctx.set_rsp(writeback[0], writeback[1], 1, masked=True)
    if load:
        set_vreg(ctx, rt, v)


@insn("size:2 111 1 01 opc:2 imm12:12 rn:5 rt:5")
def LDST_fp_uimm(ctx: Ctx, size: int, opc: int, imm12: int, rn: int, rt: int) -> None:
    scale = _scale(size, opc)
    if scale is None:
        ctx.undef()
        return
    off = imm12 << scale
    base = ctx.xsp(rn)
    _emit_fp_access(ctx, scale, bool(opc & 1), rt, f"({base} + {off:#x}) & {M64:#x}" if off else base)


@insn("size:2 111 1 00 opc:2 0 imm9:9 idx:2 rn:5 rt:5")
def LDST_fp_imm9(ctx: Ctx, size: int, opc: int, imm9: int, idx: int, rn: int, rt: int) -> None:
    scale = _scale(size, opc)
    if scale is None or idx == 2:  # no unprivileged FP/SIMD form
        ctx.undef()
        return
    off = simm(imm9, 9)
    base = ctx.local(ctx.xsp(rn), "b")
    moved = f"({base} + {off}) & {M64:#x}" if off else base
    if idx == 0:  # LDUR/STUR
        _emit_fp_access(ctx, scale, bool(opc & 1), rt, moved)
        return
    new = ctx.local(moved, "w")
    _emit_fp_access(ctx, scale, bool(opc & 1), rt, new if idx == 3 else base, (rn, new))


@insn("size:2 111 1 00 opc:2 1 rm:5 option:3 S:1 10 rn:5 rt:5")
def LDST_fp_reg(ctx: Ctx, size: int, opc: int, rm: int, option: int, S: int, rn: int, rt: int) -> None:
    scale = _scale(size, opc)
    if scale is None or not option & 2:
        ctx.undef()
        return
    index = extended(ctx, ctx.x(rm), option, scale if S else 0, 1)
    _emit_fp_access(ctx, scale, bool(opc & 1), rt, f"({ctx.xsp(rn)} + {index}) & {M64:#x}")


@insn("opc:2 011 1 00 imm19:19 rt:5")
def LDR_fp_literal(ctx: Ctx, opc: int, imm19: int, rt: int) -> None:
    if opc == 3:
        ctx.undef()
        return
    addr = (ctx.pc + 4 * simm(imm19, 19)) & M64
    _emit_fp_access(ctx, 2 + opc, True, rt, f"{addr:#x}")


@insn("opc:2 101 1 0 idx:2 L:1 imm7:7 rt2:5 rn:5 rt:5")
def LDST_fp_pair(ctx: Ctx, opc: int, idx: int, L: int, imm7: int, rt2: int, rn: int, rt: int) -> None:
    if opc == 3:
        ctx.undef()
        return
    esize = 4 << opc  # S, D, Q
    emit_fp_check(ctx)
    a, new = pair_address(ctx, idx, rn, simm7(imm7) * esize)
    if not L:
        emit_store_pair(ctx, a, esize, vreg(ctx, rt, esize), vreg(ctx, rt2, esize))
        if new is not None:
            ctx.set_rsp(rn, new, 1, masked=True)
        return
    v1, v2 = emit_load_pair(ctx, a, esize)
    if new is not None:
        ctx.set_rsp(rn, new, 1, masked=True)
    set_vreg(ctx, rt, v1)
    set_vreg(ctx, rt2, v2)
