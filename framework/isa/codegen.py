"""Emission of Python source for guest instructions.

Each row of the encoding table has one emitter: a function that receives a
`Ctx` and the decoded fields and *writes Python statements* that perform the
instruction. A translated block is the concatenation of its instructions'
statements compiled into one function, and a single-instruction block (used by
`-d exec`, `--one-insn-per-block` and near interrupt deadlines) is the same
thing with one instruction, so every instruction has exactly one semantic
definition.

Conventions inside generated code:
  - `cpu` is the CPUState, `x` is `cpu.x` (x[31] is the current SP);
  - register values are always kept as unsigned 64-bit ints;
  - the condition flags are `cpu.nzcv`, but a flag-setting instruction only
    records *how* to compute them (`Ctx.pending`); a later condition in the
    same block reads its operands directly, and the packed value is written
    back only before anything that can leave the block (`sync_flags`);
  - anything that can take an exception (slow memory paths, helpers) gets the
    instruction's PC as a constant, takes the exception itself and raises
    `ExceptionTaken`, so registers written by earlier instructions stay written.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from framework.cpu.state import M32, M64

MASK = {0: M32, 1: M64}
SIGN = {0: 1 << 31, 1: 1 << 63}
TOP = {0: 31, 1: 63}

# A block ends in one of these ways (Ctx.exit):
#   ("jump", expr)                 next pc is the value of expr
#   ("goto", pc)                   constant next pc (direct branch or fall-through)
#   ("cond", cond_expr, taken_pc, fallthrough_pc)


# stands for the number of instructions of the block in code emitted before it is known
BLOCK_LENGTH = "@BLOCK_LENGTH@"


class Ctx:
    """Builder for the body of one translated block."""

    def __init__(
        self, namespace: dict[str, Any], features: frozenset[str] | None = None, *, log_unimp: bool = False
    ) -> None:
        self.ns = namespace
        # the machine's enabled features: emitters may specialise on them (e.g. FEAT_BTI)
        self.features = features
        # -d unimp: an UNDEFINED encoding logs itself when it is executed
        self.log_unimp = log_unimp
        self.lines: list[str] = []
        self.indent = 1
        self.pc = 0
        self.word = 0
        self.index = 0
        self.ntmp = 0
        self.exit: tuple | None = None
        # flags: (kind, operands...) not yet written to cpu.nzcv
        self.pending: tuple | None = None
        self.flags_read_first = False  # a condition was read before any flag write
        self.flags_written = False
        self.uses: set[str] = set()
        self.sets_btype = False  # the block ends with BR/BLR/ERET, which set PSTATE.BTYPE
        self.clear_btype_after = False  # FEAT_BTI: clear BTYPE after the block-ending helper
        self.uses_loop_offset = False  # emitted code reads `ob`, the count of earlier loop iterations
        # the FP/SIMD access check passed earlier in this block: nothing that ends a block
        # can change its inputs, so later FP/SIMD instructions of the block skip it
        self.fp_checked = False
        # the block's first address, and whether an instruction may be followed by more of
        # the block (set by the engine): a conditional branch then leaves only when taken
        self.block_pc = 0
        self.can_continue = False
        # emitted code refers to a helper or table (`const`): only such code can take an
        # exception; and where the engine put the first instruction's BTYPE clear (FEAT_BTI)
        self.refs_consts = False
        self.btype_clear_line: int | None = None
        self._consts: dict[int, str] = {}

    # ---- text -------------------------------------------------------------------
    def emit(self, line: str) -> None:
        self.lines.append("    " * self.indent + line)

    def tmp(self, hint: str = "t") -> str:
        self.ntmp += 1
        return f"{hint}{self.ntmp}"

    def const(self, obj: Any, hint: str = "k") -> str:
        """A global name in the generated function bound to `obj` (helpers, tables)."""
        self.refs_consts = True
        name = self._consts.get(id(obj))
        if name is None:
            name = f"_{hint}{len(self._consts)}"
            self._consts[id(obj)] = name
            self.ns[name] = obj
        return name

    def helper(self, fn: Callable[..., Any]) -> str:
        return self.const(fn, getattr(fn, "__name__", "h"))

    def block(self) -> _Indent:
        """`with ctx.block():` indents the statements emitted inside it."""
        return _Indent(self)

    # ---- registers --------------------------------------------------------------
    def x(self, n: int) -> str:
        """64-bit value of Xn (XZR reads 0)."""
        return "0" if n == 31 else f"x[{n}]"

    def w(self, n: int) -> str:
        """32-bit value of Wn (WZR reads 0)."""
        return "0" if n == 31 else f"(x[{n}] & 0xFFFFFFFF)"

    def r(self, n: int, sf: int) -> str:
        return self.x(n) if sf else self.w(n)

    def xsp(self, n: int) -> str:
        """Xn, with 31 meaning SP."""
        return f"x[{n}]"

    def rsp(self, n: int, sf: int) -> str:
        return f"x[{n}]" if sf else f"(x[{n}] & 0xFFFFFFFF)"

    def set_r(self, n: int, expr: str, sf: int, masked: bool = False) -> None:
        """Write Xn (sf=1) or Wn (sf=0, zero-extended); writes to XZR vanish."""
        if n == 31:
            return
        self.emit(f"x[{n}] = {expr}" if masked else f"x[{n}] = ({expr}) & {MASK[sf]:#x}")

    def set_x(self, n: int, expr: str, masked: bool = False) -> None:
        self.set_r(n, expr, 1, masked)

    def set_rsp(self, n: int, expr: str, sf: int, masked: bool = False) -> None:
        """Write Xn or SP (31)."""
        self.emit(f"x[{n}] = {expr}" if masked else f"x[{n}] = ({expr}) & {MASK[sf]:#x}")

    def local(self, expr: str, hint: str = "t") -> str:
        """Evaluate `expr` once into a fresh local and return its name."""
        if expr.isidentifier() or expr.lstrip("-").isdigit():
            return expr
        name = self.tmp(hint)
        self.emit(f"{name} = {expr}")
        return name

    # ---- condition flags ----------------------------------------------------------
    def flags_logic(self, r: str, sf: int) -> None:
        """N and Z from the masked result `r`; C = V = 0 (ANDS, BICS, TST)."""
        self._set_pending(("logic", r, sf))

    def flags_sub(self, a: str, b: str, r: str, sf: int) -> None:
        """Flags of a - b (SUBS/CMP): locals a, b (masked operands) and r (masked result)."""
        self._set_pending(("sub", a, b, r, sf))

    def flags_add(self, a: str, b: str, s: str, r: str, sf: int) -> None:
        """Flags of a + b (+ carry): s is the unmasked sum, r the masked result."""
        self._set_pending(("add", a, b, s, r, sf))

    def flags_value(self, expr: str) -> None:
        """Set NZCV from a packed value (bits 31:28) computed by `expr`."""
        name = self.local(expr, "f")
        self._set_pending(("packed", name))

    def _set_pending(self, pend: tuple) -> None:
        self.pending = pend
        self.flags_written = True

    def packed_flags(self) -> str:
        """Expression of the packed NZCV value (bits 31:28)."""
        p = self.pending
        if p is None:
            return "cpu.nzcv"
        kind = p[0]
        if kind == "packed":
            return p[1]
        if kind == "logic":
            _, r, sf = p
            return f"((({r} >> {TOP[sf]}) << 31) | (({r} == 0) << 30))"
        if kind == "sub":
            _, a, b, r, sf = p
            return (
                f"((({r} >> {TOP[sf]}) << 31) | (({r} == 0) << 30) | (({a} >= {b}) << 29)"
                f" | (((({a} ^ {b}) & ({a} ^ {r})) >> {TOP[sf]}) << 28))"
            )
        _, a, b, s, r, sf = p
        return (
            f"((({r} >> {TOP[sf]}) << 31) | (({r} == 0) << 30) | (({s} >> {TOP[sf] + 1}) << 29)"
            f" | (((({a} ^ {r}) & ({b} ^ {r})) >> {TOP[sf]}) << 28))"
        )

    def sync_flags(self) -> None:
        """Write pending flags to cpu.nzcv (before anything that may leave the block)."""
        if self.pending is not None:
            self.emit(f"cpu.nzcv = {self.packed_flags()}")
            self.pending = None

    def cond(self, cond: int) -> str:
        """A Python expression true when condition `cond` (A64 encoding) holds."""
        if cond >= 14:
            return "True"
        if not self.flags_written:
            self.flags_read_first = True
        base = self._cond_direct(cond >> 1)
        if base is None:
            f = self.local(self.packed_flags(), "f")
            base = _PACKED_COND[cond >> 1].format(f=f)
        return f"(not {base})" if cond & 1 else base

    def _cond_direct(self, c: int) -> str | None:
        p = self.pending
        if p is None:
            return None
        kind = p[0]
        if kind == "sub":
            _, a, b, r, sf = p
            s = SIGN[sf]
            return {
                0: f"({r} == 0)",  # EQ
                1: f"({a} >= {b})",  # CS
                2: f"({r} >> {TOP[sf]})",  # MI
                4: f"({a} > {b})",  # HI
                5: f"(({a} ^ {s:#x}) >= ({b} ^ {s:#x}))",  # GE
                6: f"(({a} ^ {s:#x}) > ({b} ^ {s:#x}))",  # GT
            }.get(c)
        if kind == "logic":
            _, r, sf = p
            s = SIGN[sf]
            return {
                0: f"({r} == 0)",
                1: "False",
                2: f"({r} >> {TOP[sf]})",
                3: "False",
                4: "False",
                5: f"({r} < {s:#x})",  # N == V == 0
                6: f"(0 < {r} < {s:#x})",
            }.get(c)
        return None

    # ---- block exits ----------------------------------------------------------------
    def goto(self, target: int) -> None:
        """End the block; continue at the constant address `target`."""
        self.exit = ("goto", target & M64)

    def jump(self, expr: str) -> None:
        """End the block; continue at the address computed by `expr`."""
        self.sync_flags()
        self.exit = ("jump", expr)

    def branch_if(self, cond_expr: str, target: int, fallthrough: int) -> None:
        """A conditional branch: it ends the block, or leaves it only when taken.

        The block goes on past the branch (the branch is a side exit) unless the branch is
        the block's last instruction or goes back to the block's start, a loop the block
        runs itself. Pending flags stay pending on the way on and are written on the way out.
        """
        target &= M64
        if self.can_continue and target != self.block_pc:
            self.emit(f"if {cond_expr}:")
            with self.block():
                if self.pending is not None:
                    self.emit(f"cpu.nzcv = {self.packed_flags()}")
                if self.index == 0 and self.features is not None and "bti" in self.features:
                    self.emit("cpu.btype = 0")  # what the engine does after a block's first instruction
                self.uses_loop_offset = True
                self.emit(f"cpu.icount += ob + {self.index + 1} - {BLOCK_LENGTH}")
                self.emit(f"return {target:#x}")
            return
        c = self.local(cond_expr, "c") if self.pending is not None else cond_expr
        self.exit = ("cond", c, target, fallthrough & M64)

    def call_exit(self, fn: Callable[..., Any], *args: str) -> None:
        """End the block by calling fn(cpu, *args), which returns the next pc.

        cpu.insn_off tells the helper how many instructions of the block ran before
        this one, so `cpu.now()` is the exact instruction count (timers, SYS_ELAPSED).
        """
        self.sync_flags()
        self.emit(f"cpu.insn_off = {self.index}")
        self.exit = ("jump", f"{self.helper(fn)}(cpu, {', '.join(args)})")

    def leave(self, expr: str) -> None:
        """Leave the block here, after this instruction, continuing at the address `expr`.

        A side exit: the block goes on after it on the other path. The run loop adds the
        whole block's count when the block returns, so the exit takes off the instructions
        after this one (`BLOCK_LENGTH` is the block's length, filled in when it ends).
        """
        self.sync_flags()
        self.uses_loop_offset = True
        self.emit(f"cpu.icount += ob + {self.index + 1} - {BLOCK_LENGTH}")
        self.emit(f"return {expr}")

    def undef(self) -> None:
        """The encoding is unallocated (or its feature is off): take the exception (EC 0x00)."""
        from framework.cpu.exceptions import unallocated, undefined

        if self.log_unimp:
            self.call_exit(unallocated, hex(self.word), hex(self.pc))
        else:
            self.call_exit(undefined, hex(self.pc))

    def insn_offset(self) -> str:
        """Expression: instructions of this block run before the current one (loops included)."""
        self.uses_loop_offset = True
        return f"{self.index} + ob" if self.index else "ob"

    def call(self, fn: Callable[..., Any], *args: str) -> str:
        """Expression calling a helper fn(cpu, *args) that may take an exception."""
        self.sync_flags()
        return f"{self.helper(fn)}(cpu{''.join(', ' + a for a in args)})"

    # ---- memory ---------------------------------------------------------------------
    def load(self, addr: str, size: int, syn: int = 0, flags: int = 0) -> str:
        """Emit a load of `size` bytes from virtual address `addr`; return the local holding it.

        `syn` is the data-abort ISS load/store syndrome (ISV form) for the slow path,
        `flags` the access flags of framework.memory (unprivileged, exclusive…).
        """
        from framework import memory

        self.sync_flags()
        a = self.local(addr, "a")
        v = self.tmp("v")
        slow = f"{self.helper(memory.read_slow)}(cpu, {a}, {size}, {self.pc:#x}, {syn | flags:#x})"
        if size == 16 and not flags & memory.ACC_FORCE_SLOW:
            # a Q register: two doubleword views when 16-byte aligned (so within one page)
            self.uses.add("tlb_r")
            o = self.tmp("o")
            self.emit(f"{o} = tlb_r.get({a} >> 12)")
            i = f"(({o} + {a}) >> 3)"
            self.emit(f"{v} = {slow} if {o} is None or {a} & 15 else m64[{i}] | (m64[{i} + 1] << 64)")
            return v
        if flags & memory.ACC_FORCE_SLOW or size > 8:
            self.emit(f"{v} = {slow}")
            return v
        view = memory.VIEW_NAMES[size]
        self.uses.add("tlb_r")
        o = self.tmp("o")
        align = f" or {a} & {size - 1}" if size > 1 else ""
        self.emit(f"{o} = tlb_r.get({a} >> 12)")
        self.emit(f"{v} = {slow} if {o} is None{align} else {view}[({o} + {a}) >> {memory.VIEW_SHIFT[size]}]")
        return v

    def store(self, addr: str, size: int, value: str, syn: int = 0, flags: int = 0) -> None:
        """Emit a store of the low `size` bytes of `value` to virtual address `addr`."""
        from framework import memory

        self.sync_flags()
        a = self.local(addr, "a")
        if size == 16 and not flags & memory.ACC_FORCE_SLOW:
            value = self.local(value, "q")
        slow = f"{self.helper(memory.write_slow)}(cpu, {a}, {size}, {value}, {self.pc:#x}, {syn | flags:#x})"
        if size == 16 and not flags & memory.ACC_FORCE_SLOW:
            # a Q register (value < 2**128): two doubleword views when 16-byte aligned
            self.uses.add("tlb_w")
            o = self.tmp("o")
            self.emit(f"{o} = tlb_w.get({a} >> 12)")
            self.emit(f"if {o} is None or {a} & 15: {slow}")
            self.emit("else:")
            with self.block():
                self.emit(f"{o} = ({o} + {a}) >> 3")
                self.emit(f"m64[{o}] = {value} & 0xFFFFFFFFFFFFFFFF")
                self.emit(f"m64[{o} + 1] = {value} >> 64")
            return
        if flags & memory.ACC_FORCE_SLOW or size > 8:
            self.emit(slow)
            return
        view = memory.VIEW_NAMES[size]
        self.uses.add("tlb_w")
        o = self.tmp("o")
        align = f" or {a} & {size - 1}" if size > 1 else ""
        self.emit(f"{o} = tlb_w.get({a} >> 12)")
        self.emit(f"if {o} is None{align}: {slow}")
        mask = "" if size == 8 else f" & {(1 << (8 * size)) - 1:#x}"
        self.emit(f"else: {view}[({o} + {a}) >> {memory.VIEW_SHIFT[size]}] = {value}{mask}")


class _Indent:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx

    def __enter__(self) -> Ctx:
        self.ctx.indent += 1
        return self.ctx

    def __exit__(self, *exc: object) -> None:
        self.ctx.indent -= 1


# Conditions from a packed NZCV value f, by cond >> 1 (EQ, CS, MI, VS, HI, GE, GT)
_PACKED_COND = {
    0: "({f} & 0x40000000 != 0)",
    1: "({f} & 0x20000000 != 0)",
    2: "({f} & 0x80000000 != 0)",
    3: "({f} & 0x10000000 != 0)",
    4: "({f} & 0x60000000 == 0x20000000)",
    5: "(({f} >> 31) == (({f} >> 28) & 1))",
    6: "(({f} & 0x40000000 == 0) and ({f} >> 31) == (({f} >> 28) & 1))",
}
