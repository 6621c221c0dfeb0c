"""MRS, MSR and SYS/SYSL at run time: the access decision, then the access.

Order of the decision (nv.md NV-12 gives the full rule for EL1 under NV):
  1. plugins answer first through `armnv_sysreg_access` (firstresult): NV2's
     redirection to memory is decided before NV's trap, both before the kernel;
  2. the kernel: unknown or absent-feature encoding → UNDEF (or the TIDCP
     trap); access below the register's lowest EL → UNDEF; direction not
     allowed → UNDEF; *_EL12/*_EL02 and the VHE view at EL2 (NV-13); the
     register's own check (`SysReg.check`), then the encoding's EL0-enable
     and EL2 trap rules (`framework.cpu.traps`);
  3. the access itself, on the register the decision named.
UNDEF of a read in the feature-ID space becomes EC 0x18 (FEAT_IDST).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.arch import HCR_E2H
from framework.cpu import syndrome as syn
from framework.cpu.exceptions import e2h_view, sync_exception, sync_target
from framework.cpu.state import M64
from framework.cpu.sysregs import ALLOW, UNDEF, Allow, Decision, SysReg, ToMemory, Trap, Undef
from framework.cpu.traps import CHECKS, unallocated_check

if TYPE_CHECKING:
    from framework.cpu.state import CPUState


def is_id_space(key: int) -> bool:
    """op0 = 3, op1 in {0, 1, 3}, CRn = 0, CRm < 8 (FEAT_IDST, syndromes.md §3)."""
    op0, op1, crn, crm, _ = syn.split_key(key)
    return op0 == 3 and op1 in (0, 1, 3) and crn == 0 and crm < 8


def kernel_decision(cpu: CPUState, reg: SysReg | None, is_read: bool, key: int | None = None) -> Decision:
    """The base architecture's answer for an access no plugin decided.

    `key` is the encoding accessed (needed when `reg` is None; defaults to reg.key).
    """
    machine = cpu.machine
    if key is None:
        key = reg.key if reg is not None else -1
    if reg is None or (reg.feature is not None and reg.feature not in machine.features):
        return unallocated_check(cpu, key) or UNDEF
    el = cpu.el
    if el < reg.min_el:
        return UNDEF
    if (reg.access == "RO" and not is_read) or (reg.access == "WO" and is_read):
        return UNDEF
    target = reg
    if reg.el12_of is not None:
        # NV-13: *_EL12 / *_EL02 reach the EL1/EL0 register from EL2 with E2H == 1, with no
        # EL1 trap checks; with E2H == 0 (and at EL1, unless a plugin decided) they UNDEF
        if el == 2 and cpu.sr["HCR_EL2"] & HCR_E2H:
            return Allow(machine.sysregs[reg.el12_of])
        return UNDEF
    if reg.e2h_target is not None and el != 1 and e2h_view(cpu):
        # NV-13: the E2H view (EL1 names at EL2; the timers' EL0 names also at a host EL0)
        target = machine.sysregs[reg.e2h_target]
    if reg.check is not None:
        decision = reg.check(cpu, is_read)
        if decision is not None:
            return decision
    check = CHECKS.get(key)
    if check is not None:
        decision = check(cpu, is_read)
        if decision is not None:
            return decision
    return ALLOW if target is reg else Allow(target)


def decide(cpu: CPUState, key: int, rt: int, is_read: bool) -> tuple[SysReg | None, Decision]:
    machine = cpu.machine
    reg = machine.sysregs.get(key)
    decision = None
    if machine.sysreg_hooks:
        decision = machine.hook.armnv_sysreg_access(cpu=cpu, reg=reg, key=key, is_read=is_read, rt=rt)
    if decision is None:
        decision = kernel_decision(cpu, reg, is_read, key)
    return reg, decision


def read_reg(cpu: CPUState, reg: SysReg) -> int:
    if reg.read is not None:
        return reg.read(cpu) & M64
    return cpu.sr[reg.slot]


def write_reg(cpu: CPUState, reg: SysReg, value: int) -> None:
    value &= M64
    if reg.write is not None:
        reg.write(cpu, value)
    else:
        slot = reg.slot
        old = cpu.sr.get(slot, 0)
        cpu.sr[slot] = (old & ~reg.wmask) | (value & reg.wmask) | reg.res1
    if reg.config:
        cpu.machine.config_changed(reg)


def access(cpu: CPUState, key: int, rt: int, is_read: bool, pc: int) -> int:
    """Run one MRS/MSR/SYS/SYSL; return the next PC (pc + 4, or an exception vector)."""
    cpu.pc = pc
    reg, decision = decide(cpu, key, rt, is_read)
    if type(decision) is Allow:
        target = decision.target or reg
        if is_read:
            value = read_reg(cpu, target)
            if rt != 31:
                cpu.x[rt] = value
        else:
            write_reg(cpu, target, cpu.x[rt] if rt != 31 else 0)
        return cpu.pc + 4 if cpu.pc == pc else cpu.pc
    if isinstance(decision, Undef):
        if is_read and is_id_space(key):
            return sync_exception(cpu, syn.sysreg_trap_key(key, rt, True), pc)
        return sync_exception(cpu, syn.uncategorized(), pc)
    if isinstance(decision, Trap):
        esr = decision.esr if decision.esr is not None else syn.sysreg_trap_key(key, rt, is_read)
        cpu.machine.stats.trap(decision.el)
        return sync_exception(cpu, esr, pc, decision.el)
    if isinstance(decision, ToMemory):
        mem = cpu.machine.mem
        if is_read:
            value = mem.el2_load64(cpu, decision.va, pc)
            if rt != 31:
                cpu.x[rt] = value
        else:
            mem.el2_store64(cpu, decision.va, cpu.x[rt] if rt != 31 else 0, pc)
        return pc + 4
    raise TypeError(f"unknown access decision {decision!r}")


def mrs(cpu: CPUState, key: int, rt: int, pc: int) -> int:
    return access(cpu, key, rt, True, pc)


def msr(cpu: CPUState, key: int, rt: int, pc: int) -> int:
    return access(cpu, key, rt, False, pc)


__all__ = ["access", "decide", "kernel_decision", "mrs", "msr", "sync_target"]
