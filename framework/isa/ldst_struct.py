"""Advanced SIMD structure loads and stores: LD1-LD4/ST1-ST4 (multiple and single structures), LD1R-LD4R.

Every form moves one contiguous span of memory (up to 64 bytes). Generated
code reads or writes the whole span through the software TLB when it lies in
one RAM page and its address is aligned to the element size; otherwise a
helper moves it element by element through the slow path, where each element
is an access of its own size (alignment checks with SCTLR_ELx.A, faults,
MMIO).

Faults leave the architectural state a fault may leave (Arm ARM: the
destination registers of a faulting load are UNKNOWN, the base register is
not written back): a load reads the whole span before it writes any register,
and a store translates every page of the span before it writes a byte, so a
translation or permission fault leaves memory as it was too. The base is
written back only after the transfer. Every form first passes the FP/SIMD
access check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from framework.isa.codegen import Ctx
from framework.isa.common import replicate
from framework.isa.simd_lanes import join, lane_struct, simd_begin
from framework.isa.table import insn
from framework.memory import PAGE, read_slow, write_slow

M64 = (1 << 64) - 1

# multiple structures: opcode -> (rpt, selem): LD1 of 1-4 registers is rpt registers of 1-element
# structures, LD2-LD4 one run of 2-4-element structures
MULTIPLE = {
    0b0000: (1, 4),
    0b0010: (4, 1),
    0b0100: (1, 3),
    0b0110: (3, 1),
    0b0111: (1, 1),
    0b1000: (1, 2),
    0b1010: (2, 1),
}


def read_span(cpu, va: int, nbytes: int, ebytes: int, pc: int) -> int:
    """The slow path of a structure load: one access per element, in address order."""
    value = 0
    for off in range(0, nbytes, ebytes):
        value |= read_slow(cpu, (va + off) & M64, ebytes, pc, 0) << (8 * off)
    return value


def write_span(cpu, va: int, nbytes: int, ebytes: int, value: int, pc: int) -> None:
    """The slow path of a structure store: alignment and translation of the whole span, then the elements."""
    mem = cpu.machine.mem
    if va & (ebytes - 1):
        mem.check_alignment(cpu, va, ebytes, True, pc, 0)
    page = va & ~(PAGE - 1)
    while page < va + nbytes:
        mem.translate_access(cpu, max(page, va) & M64, 1, True, pc, 0)
        page += PAGE
    for off in range(0, nbytes, ebytes):
        write_slow(cpu, (va + off) & M64, ebytes, value >> (8 * off), pc, 0)


def emit_span_load(ctx: Ctx, a: str, nbytes: int, ebytes: int) -> str:
    ctx.sync_flags()
    ctx.uses.add("tlb_r")
    o, data = ctx.tmp("o"), ctx.tmp("d")
    slow = f"{ctx.helper(read_span)}(cpu, {a}, {nbytes}, {ebytes}, {ctx.pc:#x})"
    align = f" or {a} & {ebytes - 1}" if ebytes > 1 else ""
    ctx.emit(f"{o} = tlb_r.get({a} >> 12)")
    ctx.emit(f"if {o} is None or ({a} & 0xFFF) > {PAGE - nbytes}{align}: {data} = {slow}")
    ctx.emit(f"else: {data} = int.from_bytes(m8[{o} + {a} : {o} + {a} + {nbytes}], 'little')")
    return data


def emit_span_store(ctx: Ctx, a: str, nbytes: int, ebytes: int, value: str) -> None:
    ctx.sync_flags()
    ctx.uses.add("tlb_w")
    o = ctx.tmp("o")
    value = ctx.local(value, "q")
    slow = f"{ctx.helper(write_span)}(cpu, {a}, {nbytes}, {ebytes}, {value}, {ctx.pc:#x})"
    align = f" or {a} & {ebytes - 1}" if ebytes > 1 else ""
    ctx.emit(f"{o} = tlb_w.get({a} >> 12)")
    ctx.emit(f"if {o} is None or ({a} & 0xFFF) > {PAGE - nbytes}{align}: {slow}")
    ctx.emit(f"else: m8[{o} + {a} : {o} + {a} + {nbytes}] = {value}.to_bytes({nbytes}, 'little')")


@functools.cache
def deinterleave(selem: int, esize: int, n: int) -> Callable[..., tuple[int, ...]]:
    """Split a span of `selem`-element structures into the values of `selem` registers."""
    st = lane_struct(esize, selem * n)
    nbytes = selem * n * esize // 8

    def h(cpu, data: int) -> tuple[int, ...]:
        x = st.unpack(data.to_bytes(nbytes, "little"))
        return tuple(join(x[s::selem], esize) for s in range(selem))

    return h


@functools.cache
def interleave(selem: int, esize: int, n: int) -> Callable[..., int]:
    """The span of structures whose s-th elements are the lanes of the s-th register."""
    st = lane_struct(esize, n)

    def h(cpu, *regs: int) -> int:
        out = [0] * (selem * n)
        for s, r in enumerate(regs):
            out[s::selem] = st.unpack_from(r.to_bytes(16, "little"))
        return join(out, esize)

    return h


def _base_and_writeback(ctx: Ctx, rn: int, post: bool, rm: int, nbytes: int) -> tuple[str, str | None]:
    a = ctx.local(ctx.xsp(rn), "a")
    if not post:
        return a, None
    step = f"{nbytes:#x}" if rm == 31 else ctx.x(rm)
    return a, f"({a} + {step}) & {M64:#x}"


def ldst_multiple(ctx: Ctx, Q: int, L: int, opcode: int, size: int, rn: int, rt: int, rm: int, post: int) -> None:
    if opcode not in MULTIPLE:
        return ctx.undef()
    rpt, selem = MULTIPLE[opcode]
    if size == 3 and not Q and selem != 1:
        return ctx.undef()
    simd_begin(ctx)
    width = 128 if Q else 64
    esize = 8 << size
    n = width // esize
    nbytes = rpt * selem * width // 8
    a, new = _base_and_writeback(ctx, rn, bool(post), rm, nbytes)
    regs = [(rt + i) % 32 for i in range(rpt * selem)]
    wmask = (1 << width) - 1
    if L:
        data = emit_span_load(ctx, a, nbytes, esize // 8)
        if new is not None:
            ctx.set_rsp(rn, new, 1, masked=True)
        if selem == 1:
            for i, r in enumerate(regs):
                ctx.emit(f"v[{r}] = ({data} >> {i * width}) & {wmask:#x}" if i else f"v[{r}] = {data} & {wmask:#x}")
        else:
            names = ", ".join(f"v[{r}]" for r in regs)
            ctx.emit(f"{names} = {ctx.const(deinterleave(selem, esize, n), 'h')}(cpu, {data})")
        return None
    if selem == 1:
        value = " | ".join(f"((v[{r}] & {wmask:#x}) << {i * width})" for i, r in enumerate(regs))
    else:
        value = f"{ctx.const(interleave(selem, esize, n), 'h')}(cpu, {', '.join(f'v[{r}]' for r in regs)})"
    emit_span_store(ctx, a, nbytes, esize // 8, value)
    if new is not None:
        ctx.set_rsp(rn, new, 1, masked=True)
    return None


@insn("0 Q:1 0011000 L:1 000000 opcode:4 size:2 rn:5 rt:5", post=0, rm=0)
@insn("0 Q:1 0011001 L:1 0 rm:5 opcode:4 size:2 rn:5 rt:5", "LDST_multiple_post", post=1)
def LDST_multiple(ctx: Ctx, Q: int, L: int, opcode: int, size: int, rn: int, rt: int, rm: int, post: int) -> None:
    ldst_multiple(ctx, Q, L, opcode, size, rn, rt, rm, post)


def _single_layout(Q: int, L: int, opcode: int, S: int, size: int) -> tuple[int, int | None] | None:
    """(log2 element bytes, lane index or None for LDnR) of a single-structure encoding; None if unallocated."""
    scale = opcode >> 1
    if scale == 3:
        return (size, None) if L and not S else None
    if scale == 0:
        return 0, (Q << 3) | (S << 2) | size
    if scale == 1:
        return None if size & 1 else (1, (Q << 2) | (S << 1) | (size >> 1))
    if size & 2:
        return None
    if not size & 1:
        return 2, (Q << 1) | S
    return None if S else (3, Q)


@insn("0 Q:1 0011010 L:1 R:1 00000 opcode:3 S:1 size:2 rn:5 rt:5", post=0, rm=0)
@insn("0 Q:1 0011011 L:1 R:1 rm:5 opcode:3 S:1 size:2 rn:5 rt:5", "LDST_single_post", post=1)
def LDST_single(
    ctx: Ctx, Q: int, L: int, R: int, opcode: int, S: int, size: int, rn: int, rt: int, rm: int, post: int
) -> None:
    layout = _single_layout(Q, L, opcode, S, size)
    if layout is None:
        return ctx.undef()
    scale, index = layout
    selem = (((opcode & 1) << 1) | R) + 1
    ebytes = 1 << scale
    esize = 8 * ebytes
    emask = (1 << esize) - 1
    nbytes = selem * ebytes
    simd_begin(ctx)
    a, new = _base_and_writeback(ctx, rn, bool(post), rm, nbytes)
    regs = [(rt + i) % 32 for i in range(selem)]
    if L:
        data = emit_span_load(ctx, a, nbytes, ebytes)
        if new is not None:
            ctx.set_rsp(rn, new, 1, masked=True)
        for s, r in enumerate(regs):
            e = f"(({data} >> {s * esize}) & {emask:#x})" if s else f"({data} & {emask:#x})"
            if index is None:  # LDnR: replicate to every lane
                ctx.emit(f"v[{r}] = {e} * {replicate(1, esize, 128 if Q else 64):#x}")
            else:
                keep = ~(emask << (index * esize)) & ((1 << 128) - 1)
                ctx.emit(f"v[{r}] = (v[{r}] & {keep:#x}) | ({e} << {index * esize})")
        return None
    parts = [f"(((v[{r}] >> {index * esize}) & {emask:#x}) << {s * esize})" for s, r in enumerate(regs)]
    emit_span_store(ctx, a, nbytes, ebytes, " | ".join(parts))
    if new is not None:
        ctx.set_rsp(rn, new, 1, masked=True)
    return None
