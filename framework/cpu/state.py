"""Architectural state of one AArch64 PE.

General-purpose registers live in the list `x`; `x[31]` always holds the
*current* stack pointer, and the banked stack pointers that are not selected
sit in `sp_el`. Translated code therefore never asks "which SP?": the switch
happens only when PSTATE.EL or PSTATE.SP changes (`select_sp`).

The condition flags are one int, `nzcv`, laid out as in the NZCV register
(N = bit 31 … V = bit 28), so MRS NZCV and SPSR building are plain copies.

System registers are stored by name in `sr`; the definitions (encodings,
masks, access rules) are in `framework.cpu.sysregs`.
"""

from __future__ import annotations

from typing import Any

import attrs

from framework.arch import (
    PSTATE_ALLINT,
    PSTATE_BTYPE,
    PSTATE_DAIF,
    PSTATE_DIT,
    PSTATE_EL,
    PSTATE_IL,
    PSTATE_NZCV,
    PSTATE_PAN,
    PSTATE_SP,
    PSTATE_SS,
    PSTATE_SSBS,
    PSTATE_UAO,
)

M64 = (1 << 64) - 1
M32 = 0xFFFFFFFF

# the one-bit PSTATE fields (and BTYPE) with the position of each in the SPSR layout
ONE_BIT_FIELDS = (
    *(
        (name, bit.bit_length() - 1)
        for name, bit in (
            ("dit", PSTATE_DIT),
            ("uao", PSTATE_UAO),
            ("pan", PSTATE_PAN),
            ("ss", PSTATE_SS),
            ("il", PSTATE_IL),
            ("allint", PSTATE_ALLINT),
            ("ssbs", PSTATE_SSBS),
        )
    ),
    ("btype", PSTATE_BTYPE.shift),
)

# module-level ints for the exception entry/return path
_NZCV, _DAIF, _BTYPE, _EL = PSTATE_NZCV.mask, PSTATE_DAIF.mask, PSTATE_BTYPE.mask, PSTATE_EL.mask
_BTYPE_SHIFT, _EL_SHIFT = PSTATE_BTYPE.shift, PSTATE_EL.shift
_FEATURE_BITS = PSTATE_DIT | PSTATE_UAO | PSTATE_PAN | PSTATE_SS | PSTATE_IL | PSTATE_ALLINT | PSTATE_SSBS | _BTYPE


@attrs.define(slots=True, eq=False)
class CPUState:
    """Registers, PSTATE and system-register storage of one PE."""

    x: list[int] = attrs.field(factory=lambda: [0] * 32)
    v: list[int] = attrs.field(factory=lambda: [0] * 32)
    pc: int = 0
    nzcv: int = 0
    el: int = 2
    spsel: int = 1
    daif: int = PSTATE_DAIF.mask
    pan: int = 0
    uao: int = 0
    ss: int = 0
    il: int = 0
    ssbs: int = 0
    btype: int = 0
    allint: int = 0
    dit: int = 0
    # stack pointers that are not currently in x[31], indexed by EL (index 0 = SP_EL0)
    sp_el: list[int] = attrs.field(factory=lambda: [0, 0, 0, 0])
    sr: dict[str, int] = attrs.field(factory=dict)
    fpcr: int = 0
    fpsr: int = 0
    # local exclusive monitor: (address, size) of the open reservation, or None
    excl: tuple[int, int] | None = None
    # event register (SEV/SEVL/WFE)
    event: int = 0
    halted: bool = False
    # the wait is a WFE's (it ends at the next event even when that raises no interrupt)
    in_wfe: bool = False
    icount: int = 0
    # instructions of the current block before the one calling a block-ending helper
    insn_off: int = 0
    # the run loop looks at its slow path when icount reaches this
    deadline: int = 0
    # current memory context (set by the engine): read/write TLBs and block cache
    tlb_r: dict[int, int] = attrs.field(factory=dict)
    tlb_w: dict[int, int] = attrs.field(factory=dict)
    vcache: dict[int, Any] = attrs.field(factory=dict)
    vcache1: dict[int, Any] = attrs.field(factory=dict)
    # access decisions of the current EL (framework.cpu.decisions.sysreg_access): all of them,
    # and the plain allowed accesses that generated code performs itself
    dcache: dict[int, Any] = attrs.field(factory=dict)
    dfast: dict[int, Any] = attrs.field(factory=dict)
    # the trapped accesses among them, taken without asking again (sysaccess.TrapPlan)
    dtrap: dict[int, Any] = attrs.field(factory=dict)
    # accesses redirected to memory (ToMemory) whose doubleword generated code reads or writes
    # in RAM itself: (RAM offset >> 3, the per-register counter, the register's name)
    vfast: dict[int, Any] = attrs.field(factory=dict)
    # the exception entry/return hook implementations that matter under the current
    # configuration (framework.cpu.decisions.entry_hooks), None until resolved again
    entry_hooks: Any = None
    # what an exception return does, by (SPSR << 3) | (PSTATE.SP << 2) | EL (framework.cpu.exceptions.return_plan),
    # kept until a configuration register is written
    eret_plans: dict[int, Any] = attrs.field(factory=dict)
    # what an exception entry does, by where it goes from and to (framework.cpu.exceptions.entry_plan)
    entry_plans: dict[int, Any] = attrs.field(factory=dict)
    machine: Any = None

    # ---- stack pointer banking -------------------------------------------------
    def sp_index(self) -> int:
        return self.el if self.spsel else 0

    def select_sp(self, el: int, spsel: int) -> None:
        """Move to PSTATE.EL = el, PSTATE.SP = spsel, banking the stack pointer."""
        self.sp_el[self.sp_index()] = self.x[31]
        self.el = el
        self.spsel = spsel
        self.x[31] = self.sp_el[self.sp_index()]

    def read_sp_el(self, n: int) -> int:
        """SP_ELn as a system register: the live value if it is the current one."""
        return self.x[31] if self.sp_index() == n else self.sp_el[n]

    def write_sp_el(self, n: int, value: int) -> None:
        if self.sp_index() == n:
            self.x[31] = value & M64
        else:
            self.sp_el[n] = value & M64

    # ---- PSTATE <-> SPSR layout --------------------------------------------------
    def pstate_bits(self) -> int:
        """PSTATE in the SPSR layout (syndromes.md §10).

        The one-bit fields hold 0 or 1, so each is shifted to its SPSR bit (`ONE_BIT_FIELDS`;
        exception entry has the same written out).
        """
        bits = self.nzcv | self.daif | (self.el << 2) | self.spsel
        for name, shift in ONE_BIT_FIELDS:
            bits |= getattr(self, name) << shift
        return bits

    def set_pstate_bits(self, value: int) -> None:
        """Restore PSTATE from an SPSR value (EL/SP already validated by the caller)."""
        self.nzcv = value & _NZCV
        if value & _FEATURE_BITS:
            self.dit = 1 if value & PSTATE_DIT else 0
            self.uao = 1 if value & PSTATE_UAO else 0
            self.pan = 1 if value & PSTATE_PAN else 0
            self.ss = 1 if value & PSTATE_SS else 0
            self.il = 1 if value & PSTATE_IL else 0
            self.allint = 1 if value & PSTATE_ALLINT else 0
            self.ssbs = 1 if value & PSTATE_SSBS else 0
            self.btype = (value & _BTYPE) >> _BTYPE_SHIFT
        else:
            # the usual exception return: none of them set (one test instead of eight)
            self.dit = self.uao = self.pan = self.ss = self.il = self.allint = self.ssbs = self.btype = 0
        self.daif = value & _DAIF
        # select_sp, written out: every exception return comes here
        x = self.x
        sp_el = self.sp_el
        sp_el[self.el if self.spsel else 0] = x[31]
        el = self.el = (value & _EL) >> _EL_SHIFT
        spsel = self.spsel = 1 if value & PSTATE_SP else 0
        x[31] = sp_el[el if spsel else 0]

    def now(self) -> int:
        """The exact instruction count at the instruction being executed (for time sources)."""
        return self.icount + self.insn_off

    def mode_name(self) -> str:
        return f"EL{self.el}{'h' if self.spsel else 't'}"
