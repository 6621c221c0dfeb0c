"""Loads and stores of general-purpose registers: single register, all addressing forms.

Forms: unsigned offset, unscaled (LDUR/STUR), pre/post-index, unprivileged
(LDTR/STTR), register offset (extend/shift) and PC-relative literal; PRFM and
PRFUM are hints that never fault. Precise exceptions: the load or store
happens before any register is written, so a fault leaves the base and the
target untouched. A form without writeback passes its ISV load/store syndrome
to the slow path, which reports it for stage-2 faults (syndromes.md §6).
"""

from __future__ import annotations

from framework.cpu.syndrome import ls_isv
from framework.isa.codegen import Ctx
from framework.isa.common import extended
from framework.isa.table import insn
from framework.memory import ACC_ACQREL, ACC_FORCE_SLOW, ACC_UNPRIV

M64 = (1 << 64) - 1


def simm(imm: int, bits: int) -> int:
    return imm - ((imm >> (bits - 1)) << bits)


def gpr_kind(size: int, opc: int) -> tuple[str, int] | None:
    """(kind, register width) for a GPR load/store; None when unallocated.

    kind: "st" store, "ld" zero-extending load, "lds" sign-extending load, "prfm".
    """
    if opc == 0:
        return "st", 64 if size == 3 else 32
    if opc == 1:
        return "ld", 64 if size == 3 else 32
    if size == 3:
        return ("prfm", 0) if opc == 2 else None
    if size == 2 and opc == 3:
        return None
    return "lds", 64 if opc == 2 else 32


def emit_gpr_access(
    ctx: Ctx,
    size: int,
    opc: int,
    rt: int,
    addr: str,
    *,
    writeback: tuple[int, str] | None = None,
    flags: int = 0,
    isv: bool = True,
    acqrel: bool = False,
) -> None:
    """Emit a single-register load/store of 1 << size bytes at `addr` (an expression).

    `writeback` = (rn, new base expression) for pre/post-index forms; `acqrel` marks the
    load-acquire/store-release forms (syndrome AR bit).
    """
    kind = gpr_kind(size, opc)
    if kind is None:
        ctx.undef()
        return
    what, regbits = kind
    if what == "prfm":
        return  # prefetch: a hint, never faults
    nbytes = 1 << size
    a = ctx.local(addr, "a")
    syn = 0
    if isv and writeback is None:
        syn = ls_isv(nbytes, rt, sign=what == "lds", sf=regbits == 64, acqrel=acqrel)
    if acqrel:
        flags |= ACC_ACQREL
    if what == "st":
        ctx.store(a, nbytes, ctx.x(rt), syn, flags)
    else:
        v = ctx.load(a, nbytes, syn, flags)
    if writeback is not None:
        rn, new = writeback
        ctx.set_rsp(rn, new, 1, masked=True)
    if what == "ld":
        ctx.set_x(rt, v, masked=True)
    elif what == "lds":
        bits = 8 * nbytes
        ctx.set_r(rt, f"{v} - (({v} >> {bits - 1}) << {bits})", 1 if regbits == 64 else 0)


@insn("size:2 111 0 01 opc:2 imm12:12 rn:5 rt:5")
def LDST_uimm(ctx: Ctx, size: int, opc: int, imm12: int, rn: int, rt: int) -> None:
    off = imm12 << size
    base = ctx.xsp(rn)
    emit_gpr_access(ctx, size, opc, rt, f"({base} + {off:#x}) & {M64:#x}" if off else base)


@insn("size:2 111 0 00 opc:2 0 imm9:9 idx:2 rn:5 rt:5")
def LDST_imm9(ctx: Ctx, size: int, opc: int, imm9: int, idx: int, rn: int, rt: int) -> None:
    off = simm(imm9, 9)
    base = ctx.local(ctx.xsp(rn), "b")
    moved = f"({base} + {off}) & {M64:#x}" if off else base
    if idx == 0:  # LDUR/STUR
        emit_gpr_access(ctx, size, opc, rt, moved)
    elif idx == 2:  # LDTR/STTR
        if gpr_kind(size, opc) in (None, ("prfm", 0)):
            ctx.undef()
            return
        # the TLBs hold the permissions of the current EL, not those LDTR/STTR check (pan.md §5)
        emit_gpr_access(ctx, size, opc, rt, moved, flags=ACC_UNPRIV | ACC_FORCE_SLOW)
    else:
        kind = gpr_kind(size, opc)
        if kind is None or kind[0] == "prfm":
            ctx.undef()
            return
        # writeback with Rt == Rn (not XZR) is CONSTRAINED UNPREDICTABLE; we write the loaded value last
        new = ctx.local(moved, "w")
        addr = new if idx == 3 else base
        emit_gpr_access(ctx, size, opc, rt, addr, writeback=(rn, new))


@insn("size:2 111 0 00 opc:2 1 rm:5 option:3 S:1 10 rn:5 rt:5")
def LDST_reg(ctx: Ctx, size: int, opc: int, rm: int, option: int, S: int, rn: int, rt: int) -> None:
    if not option & 2:
        ctx.undef()
        return
    index = extended(ctx, ctx.x(rm), option, size if S else 0, 1)
    emit_gpr_access(ctx, size, opc, rt, f"({ctx.xsp(rn)} + {index}) & {M64:#x}")


@insn("opc:2 011 0 00 imm19:19 rt:5")
def LDR_literal(ctx: Ctx, opc: int, imm19: int, rt: int) -> None:
    addr = (ctx.pc + 4 * simm(imm19, 19)) & M64
    if opc == 3:
        return  # PRFM (literal)
    size, sign = {0: (2, 1), 1: (3, 1), 2: (2, 2)}[opc]
    emit_gpr_access(ctx, size, sign, rt, f"{addr:#x}")
