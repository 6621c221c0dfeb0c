"""Exclusive, ordered and atomic memory accesses.

- Load/store exclusive: LDXR, LDAXR, STXR, STLXR (B/H/W/X) and the pairs LDXP,
  LDAXP, STXP, STLXP, with the local exclusive monitor in `cpu.excl` = (VA, size).
- Ordered: LDAR/STLR, LDLAR/STLLR (FEAT_LOR, "lor"), LDAPR (FEAT_LRCPC,
  "lrcpc"), LDAPUR*/STLUR* (FEAT_LRCPC2, "lrcpc2"). One PE and no write
  buffers: the ordering is free, only the alignment rules and the syndrome
  AR bit differ from plain accesses.
- Atomics (FEAT_LSE, "lse"): LD<op>/ST<op>, SWP, CAS, CASP.

Alignment: an unaligned access of these kinds is an alignment fault unless
FEAT_LSE2 (feature "lse2") lets it through (`check_unaligned`). The generated
code tests the low address bits and calls the check only when they are not
zero. Instructions of a feature the machine lacks are UNDEFINED: their rows
name the feature, so the decoder of such a machine does not have them.

A read-modify-write checks that it may both read and write the location
before it reads (`rmw_read`): a store permission fault is reported as a
write (WnR = 1), and a page the instruction may not write is never read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from framework.arch import HCR_E2H, HCR_TGE, SCTLR_NAA
from framework.cpu.decisions import sctlr_a
from framework.cpu.syndrome import FSC_ALIGNMENT
from framework.isa.codegen import Ctx
from framework.isa.ldst import emit_gpr_access, gpr_kind, simm
from framework.isa.table import insn
from framework.memory import VIEW_NAMES, VIEW_SHIFT, read_slow, write_slow
from framework.vmem import TranslationFault

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

M64 = (1 << 64) - 1


# ---- alignment --------------------------------------------------------------------------------------


def _regime_sctlr(cpu: CPUState) -> int:
    el = cpu.el
    if el == 0:
        hcr = cpu.sr["HCR_EL2"]
        el = 2 if hcr & HCR_E2H and hcr & HCR_TGE else 1
    return cpu.sr[f"SCTLR_EL{el}"]


def check_unaligned(cpu: CPUState, va: int, size: int, write: bool, pc: int, ordered: bool) -> None:
    """Called for an unaligned exclusive, atomic or ordered access of `size` bytes (a pair counts whole).

    Without FEAT_LSE2 it is an alignment fault (DFSC 0x21). With FEAT_LSE2 it is allowed when
    all its bytes lie in one aligned 16-byte quantity, and an ordered access (LDAR, STLR, LDAPR,
    LDAPUR, STLUR…) also when SCTLR_ELx.nAA = 1. SCTLR_ELx.A = 1 faults every unaligned access.
    """
    machine = cpu.machine
    in_quantity = (va & 15) + size <= 16 or (ordered and _regime_sctlr(cpu) & SCTLR_NAA)
    if in_quantity and not sctlr_a(cpu) and "lse2" in machine.features:
        return
    machine.mem.data_abort(cpu, va, TranslationFault(FSC_ALIGNMENT), write, pc, 0)


def _align_guard(ctx: Ctx, a: str, size: int, write: bool, ordered: bool) -> None:
    if size > 1:
        call = ctx.call(check_unaligned, a, str(size), str(write), hex(ctx.pc), str(ordered))
        ctx.emit(f"if {a} & {size - 1}: {call}")


def _reg_bits(ctx: Ctx, n: int, nbytes: int) -> str:
    """Rn truncated to `nbytes` bytes."""
    return ctx.x(n) if nbytes == 8 or n == 31 else f"(x[{n}] & {(1 << (8 * nbytes)) - 1:#x})"


def _reg_pair_bits(ctx: Ctx, n1: int, n2: int, esize: int) -> str:
    """The little-endian concatenation of two registers' low `esize` bytes (n1 first)."""
    hi = _reg_bits(ctx, n2, esize)
    lo = _reg_bits(ctx, n1, esize)
    if hi == "0":
        return lo
    return f"({lo} | ({hi} << {8 * esize}))"


def _base(ctx: Ctx, rn: int) -> str:
    return ctx.local(ctx.xsp(rn), "a")


# ---- load/store exclusive -----------------------------------------------------------------------------


def _emit_store_exclusive(ctx: Ctx, a: str, nbytes: int, value: str, rs: int) -> None:
    """Store if the monitor holds this address and size; Ws = 0 on success, 1 on failure."""
    ctx.sync_flags()
    status = ctx.tmp("st")
    ctx.emit(f"if cpu.excl == ({a}, {nbytes}):")
    with ctx.block():
        ctx.store(a, nbytes, value)
        ctx.emit(f"{status} = 0")
    ctx.emit("else:")
    with ctx.block():
        ctx.emit(f"{status} = 1")
    ctx.emit("cpu.excl = None")
    ctx.set_x(rs, status, masked=True)


@insn("size:2 001000 0 1 0 xxxxx o0:1 xxxxx rn:5 rt:5")
def LDXR(ctx: Ctx, size: int, o0: int, rn: int, rt: int) -> None:
    nbytes = 1 << size
    a = _base(ctx, rn)
    _align_guard(ctx, a, nbytes, False, False)
    v = ctx.load(a, nbytes)
    ctx.emit(f"cpu.excl = ({a}, {nbytes})")
    ctx.set_x(rt, v, masked=True)


@insn("size:2 001000 0 0 0 rs:5 o0:1 xxxxx rn:5 rt:5")
def STXR(ctx: Ctx, size: int, rs: int, o0: int, rn: int, rt: int) -> None:
    nbytes = 1 << size
    a = _base(ctx, rn)
    value = ctx.local(_reg_bits(ctx, rt, nbytes), "s")
    _align_guard(ctx, a, nbytes, True, False)
    _emit_store_exclusive(ctx, a, nbytes, value, rs)


@insn("1 sz:1 001000 0 1 1 xxxxx o0:1 rt2:5 rn:5 rt:5")
def LDXP(ctx: Ctx, sz: int, o0: int, rt2: int, rn: int, rt: int) -> None:
    # one access of the whole pair: a 16-byte pair must be 16-byte aligned
    esize = 8 if sz else 4
    nbytes = 2 * esize
    a = _base(ctx, rn)
    _align_guard(ctx, a, nbytes, False, False)
    v = ctx.load(a, nbytes)
    ctx.emit(f"cpu.excl = ({a}, {nbytes})")
    ctx.set_x(rt, f"{v} & {(1 << (8 * esize)) - 1:#x}", masked=True)
    ctx.set_x(rt2, f"{v} >> {8 * esize}", masked=True)


@insn("1 sz:1 001000 0 0 1 rs:5 o0:1 rt2:5 rn:5 rt:5")
def STXP(ctx: Ctx, sz: int, rs: int, o0: int, rt2: int, rn: int, rt: int) -> None:
    esize = 8 if sz else 4
    nbytes = 2 * esize
    a = _base(ctx, rn)
    value = ctx.local(_reg_pair_bits(ctx, rt, rt2, esize), "s")
    _align_guard(ctx, a, nbytes, True, False)
    _emit_store_exclusive(ctx, a, nbytes, value, rs)


# ---- ordered: load-acquire, store-release ----------------------------------------------------------------


def _emit_ordered(ctx: Ctx, size: int, opc: int, rt: int, addr: str) -> None:
    kind = gpr_kind(size, opc)
    if kind is None or kind[0] == "prfm":
        ctx.undef()
        return
    a = ctx.local(addr, "a")
    _align_guard(ctx, a, 1 << size, kind[0] == "st", True)
    emit_gpr_access(ctx, size, opc, rt, a, acqrel=True)


@insn("size:2 001000 1 L:1 0 xxxxx 0 xxxxx rn:5 rt:5", "LDLAR_STLLR", feature="lor")
@insn("size:2 001000 1 L:1 0 xxxxx 1 xxxxx rn:5 rt:5")
def LDAR_STLR(ctx: Ctx, size: int, L: int, rn: int, rt: int) -> None:
    # LDLAR/STLLR (FEAT_LOR): LORegions order nothing more on one PE
    _emit_ordered(ctx, size, L, rt, ctx.xsp(rn))


@insn("size:2 111000 1 0 1 11111 1 100 00 rn:5 rt:5", feature="lrcpc")
def LDAPR(ctx: Ctx, size: int, rn: int, rt: int) -> None:
    _emit_ordered(ctx, size, 1, rt, ctx.xsp(rn))


@insn("size:2 011001 opc:2 0 imm9:9 00 rn:5 rt:5", feature="lrcpc2")
def LDAPUR_STLUR(ctx: Ctx, size: int, opc: int, imm9: int, rn: int, rt: int) -> None:
    off = simm(imm9, 9)
    base = ctx.xsp(rn)
    _emit_ordered(ctx, size, opc, rt, f"({base} + {off}) & {M64:#x}" if off else base)


# ---- atomics (FEAT_LSE) ---------------------------------------------------------------------------------


def rmw_read(cpu: CPUState, va: int, size: int, pc: int) -> int:
    """The read of an atomic read-modify-write, after every check its write needs.

    ESR.WnR of an atomic is 0 when a read of the address would take the same fault,
    else 1 (Arm ARM, ISS of a Data Abort): so the faults a read takes (alignment,
    translation, access flag, read permission) are looked for first, as a read, and
    only then write permission, as a write.
    """
    if va & (size - 1):
        check_unaligned(cpu, va, size, False, pc, False)
    mem = cpu.machine.mem
    mem.translate_access(cpu, va, size, False, pc, 0)
    mem.translate_access(cpu, va, size, True, pc, 0)
    return read_slow(cpu, va, size, pc, 0)


# (o3, opc) -> the new memory value from the old one {o} and the operand {s}, both masked;
# {m} is the access mask and {b} its sign bit (x ^ b orders signed values as unsigned ones)
_RMW_OPS = {
    (0, 0): "({o} + {s}) & {m}",  # LDADD
    (0, 1): "{o} & ({s} ^ {m})",  # LDCLR
    (0, 2): "{o} ^ {s}",  # LDEOR
    (0, 3): "{o} | {s}",  # LDSET
    (0, 4): "{o} if ({o} ^ {b}) >= ({s} ^ {b}) else {s}",  # LDSMAX
    (0, 5): "{o} if ({o} ^ {b}) <= ({s} ^ {b}) else {s}",  # LDSMIN
    (0, 6): "{o} if {o} >= {s} else {s}",  # LDUMAX
    (0, 7): "{o} if {o} <= {s} else {s}",  # LDUMIN
    (1, 0): "{s}",  # SWP
}


def _emit_rmw(ctx: Ctx, a: str, nbytes: int, new: Callable[[str], str], expected: str | None = None) -> str:
    """Emit an atomic update of `nbytes` at local `a`; return the local holding the old value.

    `new(old)` is the expression of the value to store; with `expected`, the store happens
    only when the old value equals it (CAS).
    """
    ctx.sync_flags()
    ctx.uses.update(("tlb_r", "tlb_w"))
    o, i, old, nv = ctx.tmp("o"), ctx.tmp("i"), ctx.tmp("v"), ctx.tmp("n")
    view = VIEW_NAMES[nbytes]
    misaligned = f" or {a} & {nbytes - 1}" if nbytes > 1 else ""
    ctx.emit(f"{o} = tlb_w.get({a} >> 12)")
    # the views need the page readable and writable through the same mapping
    ctx.emit(f"if {o} is None or tlb_r.get({a} >> 12) != {o}{misaligned}:")
    with ctx.block():
        ctx.emit(f"{old} = {ctx.helper(rmw_read)}(cpu, {a}, {nbytes}, {ctx.pc:#x})")
        ctx.emit(f"{i} = -1")
    ctx.emit("else:")
    with ctx.block():
        ctx.emit(f"{i} = ({o} + {a}) >> {VIEW_SHIFT[nbytes]}")
        ctx.emit(f"{old} = {view}[{i}]")
    if expected is not None:
        ctx.emit(f"if {old} == {expected}:")
        ctx.indent += 1
    ctx.emit(f"{nv} = {new(old)}")
    ctx.emit(f"if {i} < 0: {ctx.helper(write_slow)}(cpu, {a}, {nbytes}, {nv}, {ctx.pc:#x}, 0)")
    ctx.emit(f"else: {view}[{i}] = {nv}")
    if expected is not None:
        ctx.indent -= 1
    return old


@insn("size:2 111000 A:1 R:1 1 rs:5 o3:1 opc:3 00 rn:5 rt:5", feature="lse")
def LD_op_SWP(ctx: Ctx, size: int, A: int, R: int, rs: int, o3: int, opc: int, rn: int, rt: int) -> None:
    # A/R (acquire/release) order nothing on one PE; ST<op> is LD<op> with Rt = XZR
    template = _RMW_OPS.get((o3, opc))
    if template is None:
        ctx.undef()
        return
    nbytes = 1 << size
    mask = (1 << (8 * nbytes)) - 1
    a = _base(ctx, rn)
    s = ctx.local(_reg_bits(ctx, rs, nbytes), "s")
    old = _emit_rmw(ctx, a, nbytes, lambda o: template.format(o=o, s=s, m=f"{mask:#x}", b=f"{mask ^ (mask >> 1):#x}"))
    ctx.set_x(rt, old, masked=True)


@insn("size:2 001000 1 L:1 1 rs:5 o0:1 11111 rn:5 rt:5", feature="lse")
def CAS(ctx: Ctx, size: int, L: int, rs: int, o0: int, rn: int, rt: int) -> None:
    nbytes = 1 << size
    a = _base(ctx, rn)
    expected = ctx.local(_reg_bits(ctx, rs, nbytes), "c")
    value = ctx.local(_reg_bits(ctx, rt, nbytes), "s")
    old = _emit_rmw(ctx, a, nbytes, lambda o: value, expected)
    ctx.set_x(rs, old, masked=True)


@insn("0 sz:1 001000 0 L:1 1 rs:5 o0:1 11111 rn:5 rt:5", feature="lse")
def CASP(ctx: Ctx, sz: int, L: int, rs: int, o0: int, rn: int, rt: int) -> None:
    if rs & 1 or rt & 1:  # the register pairs must start at an even register
        ctx.undef()
        return
    esize = 8 if sz else 4
    nbytes = 2 * esize
    a = _base(ctx, rn)
    expected = ctx.local(_reg_pair_bits(ctx, rs, rs + 1, esize), "c")
    value = ctx.local(_reg_pair_bits(ctx, rt, rt + 1, esize), "s")
    # one access of the whole pair, always through the slow path (no 16-byte view)
    old = ctx.local(ctx.call(rmw_read, a, str(nbytes), hex(ctx.pc)), "v")
    ctx.emit(f"if {old} == {expected}: {ctx.helper(write_slow)}(cpu, {a}, {nbytes}, {value}, {ctx.pc:#x}, 0)")
    ctx.set_x(rs, f"{old} & {(1 << (8 * esize)) - 1:#x}", masked=True)
    ctx.set_x(rs + 1, f"{old} >> {8 * esize}", masked=True)
