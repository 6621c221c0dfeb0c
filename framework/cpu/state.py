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

M64 = (1 << 64) - 1
M32 = 0xFFFFFFFF

# PSTATE bits in the SPSR layout (syndromes.md §10)
PSR_NZCV = 0xF0000000
PSR_DIT = 1 << 24
PSR_UAO = 1 << 23
PSR_PAN = 1 << 22
PSR_SS = 1 << 21
PSR_IL = 1 << 20
PSR_ALLINT = 1 << 13
PSR_SSBS = 1 << 12
PSR_BTYPE_SHIFT = 10
PSR_A, PSR_I, PSR_F = 1 << 8, 1 << 7, 1 << 6
PSR_DAIF = 0x3C0


@attrs.define(slots=True, eq=False)
class CPUState:
    """Registers, PSTATE and system-register storage of one PE."""

    x: list[int] = attrs.field(factory=lambda: [0] * 32)
    v: list[int] = attrs.field(factory=lambda: [0] * 32)
    pc: int = 0
    nzcv: int = 0
    el: int = 2
    spsel: int = 1
    daif: int = PSR_DAIF
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
        """PSTATE in the SPSR layout (syndromes.md §10)."""
        return (
            self.nzcv
            | (self.dit << 24)
            | (self.uao << 23)
            | (self.pan << 22)
            | (self.ss << 21)
            | (self.il << 20)
            | (self.allint << 13)
            | (self.ssbs << 12)
            | (self.btype << PSR_BTYPE_SHIFT)
            | self.daif
            | (self.el << 2)
            | self.spsel
        )

    def set_pstate_bits(self, value: int) -> None:
        """Restore PSTATE from an SPSR value (EL/SP already validated by the caller)."""
        self.nzcv = value & PSR_NZCV
        self.dit = (value >> 24) & 1
        self.uao = (value >> 23) & 1
        self.pan = (value >> 22) & 1
        self.ss = (value >> 21) & 1
        self.il = (value >> 20) & 1
        self.allint = (value >> 13) & 1
        self.ssbs = (value >> 12) & 1
        self.btype = (value >> PSR_BTYPE_SHIFT) & 3
        self.daif = value & PSR_DAIF
        self.select_sp((value >> 2) & 3, value & 1)

    def now(self) -> int:
        """The exact instruction count at the instruction being executed (for time sources)."""
        return self.icount + self.insn_off

    def mode_name(self) -> str:
        return f"EL{self.el}{'h' if self.spsel else 't'}"
