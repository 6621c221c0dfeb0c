"""Load/store pair of general-purpose registers: LDP, STP, LDPSW, LDNP, STNP.

Both elements are read before any register is written, so a fault on the
second element leaves every register (the base included) unchanged. A store
pair is written only after both elements have been translated for writing:
the fast path needs both in one TLB page, and the slow path probes every page
the pair touches before it stores anything.

The emitters of the pair accesses (`emit_load_pair`, `emit_store_pair`) are
shared with the FP/SIMD pairs (`ldst_fp`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.isa.codegen import Ctx
from framework.isa.table import insn
from framework.memory import ACC_PAIR, PAGE, read_slow, write_slow

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

M64 = (1 << 64) - 1


# ---- run-time slow paths ---------------------------------------------------------------------------


def read_pair(cpu: CPUState, va: int, esize: int, pc: int, acc: int) -> tuple[int, int]:
    """Both elements of a load pair, first element first (its fault has priority)."""
    first = read_slow(cpu, va, esize, pc, acc)
    return first, read_slow(cpu, (va + esize) & M64, esize, pc, acc)


def write_pair(cpu: CPUState, va: int, esize: int, first: int, second: int, pc: int, acc: int) -> None:
    """Store a pair after checking that neither element can fault, so a fault stores nothing."""
    va2 = (va + esize) & M64
    for ea in (va, va2):
        probe_write(cpu, ea, esize, pc, acc)
    write_slow(cpu, va, esize, first, pc, acc)
    write_slow(cpu, va2, esize, second, pc, acc)


def probe_write(cpu: CPUState, va: int, size: int, pc: int, acc: int) -> None:
    """Take now any fault a store of `size` bytes at `va` would take (alignment, translation, bus)."""
    mem = cpu.machine.mem
    if va & (size - 1):
        mem.check_alignment(cpu, va, size, True, pc, acc)
    head = PAGE - (va & (PAGE - 1))
    pieces = ((va, size),) if size <= head else ((va, head), ((va + head) & M64, size - head))
    for ea, n in pieces:
        pa, ram_off = mem.translate_access(cpu, ea, n, True, pc, acc)
        if ram_off is None and mem.bus.find_device(pa) is None:
            mem.external_abort(cpu, ea, pa, True, pc, acc)


# ---- emission --------------------------------------------------------------------------------------


def _fast_condition(o: str, a: str, esize: int) -> str:
    """True when the pair cannot use the views: TLB miss, misaligned, or crossing a page."""
    return f"{o} is None or {a} & {esize - 1:#x} or {a} & 0xFFF == {PAGE - esize:#x}"


def _element_views(esize: int, i: str) -> tuple[int, list[str]]:
    """(view index shift, expressions of the two elements) for a pair at view index `i`."""
    if esize == 16:
        return 3, [f"m64[{i}] | (m64[{i} + 1] << 64)", f"m64[{i} + 2] | (m64[{i} + 3] << 64)"]
    view = f"m{8 * esize}"
    return esize.bit_length() - 1, [f"{view}[{i}]", f"{view}[{i} + 1]"]


def emit_load_pair(ctx: Ctx, a: str, esize: int) -> tuple[str, str]:
    """Emit the loads of two `esize`-byte elements at local `a`; return the locals holding them."""
    ctx.sync_flags()
    ctx.uses.add("tlb_r")
    o, i, v1, v2 = ctx.tmp("o"), ctx.tmp("i"), ctx.tmp("v"), ctx.tmp("v")
    shift, elems = _element_views(esize, i)
    ctx.emit(f"{o} = tlb_r.get({a} >> 12)")
    ctx.emit(f"if {_fast_condition(o, a, esize)}:")
    with ctx.block():
        ctx.emit(f"{v1}, {v2} = {ctx.helper(read_pair)}(cpu, {a}, {esize}, {ctx.pc:#x}, {ACC_PAIR:#x})")
    ctx.emit("else:")
    with ctx.block():
        ctx.emit(f"{i} = ({o} + {a}) >> {shift}")
        ctx.emit(f"{v1} = {elems[0]}")
        ctx.emit(f"{v2} = {elems[1]}")
    return v1, v2


def emit_store_pair(ctx: Ctx, a: str, esize: int, first: str, second: str) -> None:
    """Emit the stores of two `esize`-byte values (already masked to esize) at local `a`."""
    ctx.sync_flags()
    ctx.uses.add("tlb_w")
    first = ctx.local(first, "s")
    second = ctx.local(second, "s")
    o, i = ctx.tmp("o"), ctx.tmp("i")
    ctx.emit(f"{o} = tlb_w.get({a} >> 12)")
    ctx.emit(f"if {_fast_condition(o, a, esize)}:")
    with ctx.block():
        ctx.emit(f"{ctx.helper(write_pair)}(cpu, {a}, {esize}, {first}, {second}, {ctx.pc:#x}, {ACC_PAIR:#x})")
    ctx.emit("else:")
    with ctx.block():
        if esize == 16:
            ctx.emit(f"{i} = ({o} + {a}) >> 3")
            for k, value in enumerate((first, second)):
                ctx.emit(f"m64[{i} + {2 * k}] = {value} & {M64:#x}")
                ctx.emit(f"m64[{i} + {2 * k + 1}] = {value} >> 64")
        else:
            view = f"m{8 * esize}"
            ctx.emit(f"{i} = ({o} + {a}) >> {esize.bit_length() - 1}")
            ctx.emit(f"{view}[{i}] = {first}")
            ctx.emit(f"{view}[{i} + 1] = {second}")


def pair_address(ctx: Ctx, idx: int, rn: int, offset: int) -> tuple[str, str | None]:
    """(address local, new base local or None) of a pair with index form `idx`.

    idx: 0b00 no-allocate (offset), 0b01 post-index, 0b10 signed offset, 0b11 pre-index.
    """
    base = ctx.local(ctx.xsp(rn), "b")
    moved = f"({base} + {offset}) & {M64:#x}" if offset else base
    if idx in (0, 2):
        return ctx.local(moved, "a"), None
    new = ctx.local(moved, "w")
    return (new if idx == 3 else base), new


def simm7(imm7: int) -> int:
    return imm7 - ((imm7 >> 6) << 7)


# ---- GPR pairs -------------------------------------------------------------------------------------

# opc -> (element bytes, sign-extending), for loads; stores use only opc 0b00 and 0b10.
# opc 0b01 is LDPSW as a load; as a store it is STGP (FEAT_MTE), not a plain pair.
_GPR_PAIR = {0: (4, False), 1: (4, True), 2: (8, False)}


@insn("opc:2 101 0 0 idx:2 L:1 imm7:7 rt2:5 rn:5 rt:5")
def LDST_pair(ctx: Ctx, opc: int, idx: int, L: int, imm7: int, rt2: int, rn: int, rt: int) -> None:
    form = _GPR_PAIR.get(opc)
    if form is None or (opc == 1 and (not L or idx == 0)):  # no LDNPSW; STGP is not here
        ctx.undef()
        return
    esize, signed = form
    a, new = pair_address(ctx, idx, rn, simm7(imm7) * esize)
    sf = int(esize == 8)
    if not L:
        emit_store_pair(ctx, a, esize, ctx.r(rt, sf), ctx.r(rt2, sf))
        if new is not None:
            ctx.set_rsp(rn, new, 1, masked=True)
        return
    v1, v2 = emit_load_pair(ctx, a, esize)
    # writeback before the loads land: a base that is also a target ends up loaded (CONSTRAINED UNPREDICTABLE)
    if new is not None:
        ctx.set_rsp(rn, new, 1, masked=True)
    for rt_, v in ((rt, v1), (rt2, v2)):
        if signed:
            ctx.set_x(rt_, f"{v} - (({v} >> 31) << 32)")
        else:
            ctx.set_x(rt_, v, masked=True)


__all__ = ["emit_load_pair", "emit_store_pair", "pair_address", "probe_write", "read_pair", "simm7", "write_pair"]
