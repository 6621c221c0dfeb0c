"""The run loop and the block translator.

A guest basic block — up to a branch, an exception-generating or system
instruction, the end of its page, or `max_block` instructions — becomes the
source of one Python function (`framework.isa.codegen`), compiled once and
cached by physical address; the current context's `vcache` maps the virtual
PC to it, so a taken branch to a translated block is one dict hit. A block
that branches back to its own start is compiled as a Python `while` loop that
runs until the branch falls through or the instruction budget is spent.

Asynchronous events (interrupts, timers, `--max-insns`) are looked at when
`cpu.icount` reaches `cpu.deadline`; a block that would run past the deadline
is replaced by single-instruction blocks, so the instruction count at which an
interrupt is taken does not depend on how code was split into blocks.
"""

from __future__ import annotations

import itertools
import linecache
import weakref
from typing import TYPE_CHECKING, Any

import attrs

from framework.cpu.state import M64
from framework.disasm import disassemble
from framework.errors import BlockExit, DebugStop, ExceptionTaken, GuestStop
from framework.isa.codegen import BLOCK_LENGTH, Ctx
from framework.isa.table import decoder
from framework.memory import PAGE, ram_views

if TYPE_CHECKING:
    from framework.machine import Machine

MAX_BLOCK = 64
NEVER = 1 << 62

_block_serial = itertools.count(1)


def _register_source(blk: Block, source: str, filename: str) -> None:
    """Make the block's source visible to tracebacks and pdb for as long as the block lives.

    linecache keeps entries whose mtime is None through `checkcache`, so the entry stays until
    the block is garbage collected (dropped from the caches, or its machine freed).
    """
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    weakref.finalize(blk, linecache.cache.pop, filename, None).atexit = False


class Block:
    __slots__ = ("__weakref__", "code", "fn", "n", "pa", "pc", "source", "words")

    def __init__(self, pc: int, pa: int, n: int, fn: Any, source: str, words: list[int]) -> None:
        self.pc = pc
        self.pa = pa
        self.n = n
        self.fn = fn
        self.source = source
        self.words = words
        # the bytes translated, to tell a store that changed them from one that rewrote them
        self.code = b"".join(w.to_bytes(4, "little") for w in words)


@attrs.define(slots=True)
class StopReason:
    kind: str  # "exit", "max-insns", "wfi", "breakpoint", "step"
    exit_code: int = 0
    message: str = ""


class Engine:
    def __init__(self, machine: Machine, *, max_block: int = MAX_BLOCK) -> None:
        self.machine = machine
        self.cpu = machine.cpu
        self.mem = machine.mem
        self.max_block = max_block
        self.blocks: dict[int, Block] = {}  # by PA, full-size blocks
        self.singles: dict[int, Block] = {}  # by PA, one-instruction blocks
        self.code_pages: dict[int, list[Block]] = {}  # RAM page index -> blocks on it
        self.base_ns: dict[str, Any] = {"BlockExit": BlockExit, "__builtins__": __builtins__}
        self.base_ns.update(ram_views(machine.bus.ram.buf))
        self.ram_base = machine.bus.ram.base
        self.ram_end = self.ram_base + machine.bus.ram.size
        self.limit = NEVER
        self.trace_exec = False
        self.trace_in_asm = False
        self.log_unimp = False
        self.trace_op = "op" in machine.debug
        self.translated = 0
        # a debugger's breakpoints (virtual PCs): looked at only while translating
        self.breakpoints: frozenset[int] = frozenset()
        # (icount, PC) where a debugger resumes: a breakpoint there lets that instruction run
        self.resume_at: tuple[int, int] = (-1, -1)

    # ---- translation ---------------------------------------------------------------------
    def lookup(self, pc: int) -> Block:
        """The block at virtual `pc` in the current context (translating it if needed)."""
        cpu = self.cpu
        pa = self.mem.translate_fetch(cpu, pc)
        blk = self.blocks.get(pa)
        if blk is None or blk.pc != pc:
            blk = self.translate(pc, pa, self.max_block)
            self.blocks[pa] = blk
        cpu.vcache[pc] = blk
        return blk

    def _block_at(self, pc: int) -> Block | None:
        """`lookup` for the run loop: None when the fetch took an exception (the CPU is at its vector).

        The failed fetch counts as one (attempted) instruction, so a guest whose vectors
        cannot be fetched still stops at --max-insns.
        """
        try:
            return self.lookup(pc)
        except ExceptionTaken:
            self.cpu.icount += 1
            return None

    def lookup_single(self, pc: int) -> Block:
        cpu = self.cpu
        pa = self.mem.translate_fetch(cpu, pc)
        blk = self.singles.get(pa)
        if blk is None or blk.pc != pc:
            blk = self.translate(pc, pa, 1)
            self.singles[pa] = blk
        return blk

    def fetch_words(self, pc: int, pa: int, limit: int) -> list[int]:
        """Instruction words from pa up to the end of its page (at most `limit`)."""
        if pc & 3:
            return []
        n = min(limit, (PAGE - (pa & (PAGE - 1))) >> 2)
        if self.ram_base <= pa and pa + 4 * n <= self.ram_end:
            off = pa - self.ram_base
            # a native 32-bit view, as generated code's loads use (the host is little-endian)
            return memoryview(self.machine.bus.ram.buf)[off : off + 4 * n].cast("I").tolist()
        return []

    def translate(self, pc: int, pa: int, limit: int) -> Block:
        words = self.fetch_words(pc, pa, limit)
        if not words:
            # PC misaligned or not in RAM: a one-instruction block that raises the fault
            return self._fetch_fault_block(pc, pa)
        if self.breakpoints:
            if pc in self.breakpoints:
                return self._breakpoint_block(self._translate_words(pc, pa, words[:1]))
            # a breakpoint further on ends the block, so that it starts a block of its own
            for i in range(1, len(words)):
                if (pc + 4 * i) & M64 in self.breakpoints:
                    words = words[:i]
                    break
        return self._translate_words(pc, pa, words)

    def _translate_words(self, pc: int, pa: int, words: list[int]) -> Block:
        ns = dict(self.base_ns)
        features = self.machine.features
        ctx = Ctx(ns, features, log_unimp=self.log_unimp)
        bti = "bti" in features
        dec = decoder(features)
        n = 0
        ctx.block_pc = pc
        last = len(words) - 1
        for i, word in enumerate(words):
            ctx.pc = (pc + 4 * i) & M64
            ctx.word = word
            ctx.index = i
            ctx.can_continue = i < last
            ctx.emit(f"# {ctx.pc:#x}: {disassemble(word, ctx.pc)}")
            row = dec.decode(word)
            if row is None:
                ctx.undef()
            else:
                row.emit(ctx, **row.operands(word))
            n = i + 1
            if i == 0 and bti and not ctx.sets_btype:
                # FEAT_BTI: any instruction but BR/BLR/ERET clears PSTATE.BTYPE once it completes;
                # a block-ending helper (SVC, MRS…) may take an exception first, which must see
                # the BTYPE of the branch that led here, so the clear then follows the helper
                if ctx.exit is not None and ctx.exit[0] == "jump":
                    ctx.clear_btype_after = True
                else:
                    if not ctx.refs_consts:
                        # the instruction cannot take an exception: a loop may clear it once
                        ctx.btype_clear_line = len(ctx.lines)
                    ctx.emit("cpu.btype = 0")
            if ctx.exit is not None:
                break
        if ctx.exit is None:
            ctx.goto(pc + 4 * n)
        source = self._assemble(ctx, pc, n)
        filename = f"<block {pc:#x} #{next(_block_serial)}>"
        code = compile(source, filename, "exec")
        exec(code, ns)
        blk = Block(pc, pa, n, ns["_block"], source, words[:n])
        _register_source(blk, source, filename)
        self._register_code(blk)
        self.translated += 1
        if self.trace_in_asm:
            self.machine.log_block(blk)
        if self.trace_op:
            self.machine.logger.msg("op", pc=pc, pa=pa, n=n, filename=filename, source=source)
        return blk

    def _assemble(self, ctx: Ctx, pc: int, n: int) -> str:
        exit_ = ctx.exit
        loops = exit_[0] in ("goto", "cond") and exit_[2 if exit_[0] == "cond" else 1] == pc
        head = ["def _block(cpu):", "    x = cpu.x"]
        for name in sorted(ctx.uses):
            head.append(f"    {name} = cpu.{name}")
        if ctx.uses_loop_offset:
            head.append("    ob = 0")  # instructions run by earlier iterations of a loop block
        body = [line.replace(BLOCK_LENGTH, str(n)) for line in ctx.lines]
        if loops and ctx.btype_clear_line is not None:
            # FEAT_BTI: the first instruction clears BTYPE, and its later passes find it clear
            # (the loop's own branch is not BR/BLR): cleared once, before the loop
            head.append(body.pop(ctx.btype_clear_line))
        flags = ctx.packed_flags() if ctx.pending is not None else None
        sync = [f"cpu.nzcv = {flags}"] if flags else []
        if not loops:
            if exit_[0] == "goto":
                tail = [*sync, f"return {exit_[1]:#x}"]
            elif exit_[0] == "jump" and ctx.clear_btype_after:
                tail = [f"nxt = {exit_[1]}", "cpu.btype = 0", "return nxt"]
            elif exit_[0] == "jump":
                tail = [f"return {exit_[1]}"]
            else:
                _, c, taken, fall = exit_
                tail = [*sync, f"return {taken:#x} if {c} else {fall:#x}"]
            return "\n".join(head + body + ["    " + t for t in tail]) + "\n"
        # self-loop: iterate inside the function while the budget allows
        back_sync = sync if ctx.flags_read_first else []
        lines = [
            *head,
            f"    lim = (cpu.deadline - cpu.icount) // {n}",
            "    it = 1",
            "    try:",
            "        while True:",
        ]
        lines += ["        " + line for line in body]
        ind = " " * 12
        if ctx.uses_loop_offset:
            bump = [f"{ind}    ob += {n}"] if exit_[0] == "goto" else [f"{ind}        ob += {n}"]
        else:
            bump = []
        if exit_[0] == "goto":
            lines += [f"{ind}if it < lim:", f"{ind}    it += 1", *bump]
            lines += [f"{ind}    {s}" for s in back_sync]
            lines += [f"{ind}    continue", *(ind + s for s in sync)]
            lines += [f"{ind}cpu.icount += (it - 1) * {n}", f"{ind}return {pc:#x}"]
        else:
            _, c, taken, fall = exit_
            lines += [f"{ind}if {c}:", f"{ind}    if it < lim:", f"{ind}        it += 1", *bump]
            lines += [f"{ind}        {s}" for s in back_sync]
            lines += [f"{ind}        continue"]
            lines += [f"{ind}    {s}" for s in sync]
            lines += [f"{ind}    cpu.icount += (it - 1) * {n}", f"{ind}    return {pc:#x}"]
            lines += [ind + s for s in sync]
            lines += [f"{ind}cpu.icount += (it - 1) * {n}", f"{ind}return {fall:#x}"]
        lines += ["    except BlockExit:", f"        cpu.icount += (it - 1) * {n}", "        raise"]
        return "\n".join(lines) + "\n"

    def _breakpoint_block(self, inner: Block) -> Block:
        """A debugger's breakpoint: stop before `inner` (one instruction) unless resuming there."""
        engine = self
        pc = inner.pc
        step = inner.fn

        def hit(cpu) -> int:
            if engine.resume_at != (cpu.icount, pc):
                raise DebugStop(pc, "breakpoint")
            return step(cpu)

        blk = Block(pc, inner.pa, 1, hit, inner.source, inner.words)
        self._register_code(blk)
        return blk

    def set_breakpoints(self, pcs: frozenset[int]) -> None:
        """Replace the debugger's breakpoints; translations made without them are dropped."""
        if pcs != self.breakpoints:
            self.breakpoints = frozenset(pcs)
            self.flush_all_code()

    def _fetch_fault_block(self, pc: int, pa: int) -> Block:
        from framework.cpu.exceptions import raise_sync
        from framework.cpu.syndrome import EC_PC_ALIGN, esr

        machine = self.machine

        def fault(cpu) -> int:
            # like an abort from lookup(), the failed fetch counts as one instruction
            try:
                if pc & 3:
                    raise_sync(cpu, esr(EC_PC_ALIGN), pc, far=pc)
                machine.mem.fetch_external_abort(cpu, pc)
            except ExceptionTaken:
                pass
            return cpu.pc

        return Block(pc, pa, 1, fault, "<fetch fault>", [])

    def _register_code(self, blk: Block) -> None:
        off = blk.pa - self.ram_base
        page = off >> 12
        lst = self.code_pages.get(page)
        if lst is None:
            self.code_pages[page] = lst = []
            self.mem.drop_write_entries(page << 12)
        lst.append(blk)

    def code_written(self, ram_off: int, size: int) -> None:
        """RAM at ram_off (`size` bytes) was written: drop the blocks whose bytes it changed.

        Only the blocks overlapping the written bytes are compared, and only those whose
        instructions differ now go: a store to data next to code, or one that writes back
        the same instruction, keeps every translation (self-modifying code costs the
        retranslation of the blocks it really changed).
        """
        end = ram_off + size
        buf = self.machine.bus.ram.buf
        base = self.ram_base
        for page in range(ram_off >> 12, ((end - 1) >> 12) + 1):
            blocks = self.code_pages.get(page)
            if not blocks:
                continue
            stale = []
            for blk in blocks:
                off = blk.pa - base
                lo = max(off, ram_off)
                hi = min(off + len(blk.code), end)
                if lo < hi and buf[lo:hi] != blk.code[lo - off : hi - off]:
                    stale.append(blk)
            if stale:
                kept = [blk for blk in blocks if blk not in stale]
                if kept:
                    self.code_pages[page] = kept
                else:
                    del self.code_pages[page]  # stores to the page may take the fast path again
                self.invalidate_blocks(stale)

    def invalidate_blocks(self, blocks: list[Block]) -> None:
        """Forget `blocks`: in the caches by PA and in every memory context's caches by VA."""
        for blk in blocks:
            if self.blocks.get(blk.pa) is blk:
                del self.blocks[blk.pa]
            if self.singles.get(blk.pa) is blk:
                del self.singles[blk.pa]
        cpu = self.cpu
        caches = [cpu.vcache, cpu.vcache1]
        for ctx in self.mem.contexts.values():
            caches += (ctx.vcache, ctx.vcache1)
        for cache in caches:
            for blk in blocks:
                if cache.get(blk.pc) is blk:
                    del cache[blk.pc]

    def flush_all_code(self) -> None:
        """IC IALLU and friends: forget every translation."""
        self.blocks.clear()
        self.singles.clear()
        self.code_pages.clear()
        self.mem.flush_code_caches()

    # ---- running -----------------------------------------------------------------------
    def kick(self) -> None:
        """Something changed that the run loop must look at before the next block."""
        self.cpu.deadline = self.cpu.icount

    def run(self, max_insns: int | None = None) -> StopReason:
        """Run until the guest stops, `max_insns` more instructions ran, or a breakpoint."""
        cpu = self.cpu
        machine = self.machine
        self.limit = cpu.icount + max_insns if max_insns is not None else NEVER
        # registers may have been set from outside the guest since the last run
        self.mem.drop_decisions(cpu)
        cpu.dcache = self.mem.decisions[cpu.el]
        cpu.dfast = self.mem.fast[cpu.el]
        cpu.dtrap = self.mem.traps[cpu.el]
        cpu.vfast = self.mem.vfast[cpu.el]
        cpu.deadline = cpu.icount  # compute the first real deadline in the slow path
        max_block = MAX_BLOCK
        while True:
            if cpu.deadline - cpu.icount >= max_block:
                # a whole block fits before the deadline: the common case, one test
                pc = cpu.pc
                blk = cpu.vcache.get(pc)
                if blk is None:
                    blk = self._block_at(pc)
                    if blk is None:
                        continue
            else:
                if cpu.icount >= cpu.deadline:
                    cpu.insn_off = 0  # between blocks cpu.icount itself is exact
                    stop = machine.service(self)
                    if stop is not None:
                        return stop
                    if self.trace_exec:
                        cpu.deadline = cpu.icount  # keep single-stepping
                pc = cpu.pc
                if cpu.deadline - cpu.icount >= max_block:
                    blk = cpu.vcache.get(pc) or self._block_at(pc)
                    if blk is None:
                        continue
                else:
                    blk = cpu.vcache1.get(pc)
                    if blk is None:
                        try:
                            blk = cpu.vcache1[pc] = self.lookup_single(pc)
                        except ExceptionTaken:
                            cpu.icount += 1
                            continue
                    if self.trace_exec:
                        machine.log_exec(blk)
            try:
                cpu.pc = blk.fn(cpu)
                cpu.icount += blk.n
            except BlockExit as e:
                at = cpu.pc if e.pc is None else e.pc
                cpu.icount += ((at - blk.pc) >> 2) + 1
                if type(e) is GuestStop:
                    return StopReason(e.reason, e.exit_code)
                if type(e) is DebugStop:
                    # stopped before the instruction at e.pc: it did not run
                    cpu.icount -= 1
                    cpu.pc = at
                    return StopReason(e.reason)
