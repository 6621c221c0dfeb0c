"""MRS, MSR and SYS/SYSL at run time: the access decision, then the access.

Order of the decision (nv.md NV-12 gives the full rule for EL1 under NV):
  1. plugins answer first through `armnv_sysreg_access` (firstresult): NV2's
     redirection to memory is decided before NV's trap, both before the kernel;
  2. the kernel (`framework.cpu.decisions.kernel_decision`): unknown or
     absent-feature encoding → UNDEF (or the TIDCP trap); access below the
     register's lowest EL → UNDEF; direction not allowed → UNDEF;
     *_EL12/*_EL02 and the VHE view at EL2 (NV-13); the register's own check
     (`SysReg.check`), then the encoding's EL0-enable and EL2 trap rules
     (`framework.cpu.traps`);
  3. the access itself, on the register the decision named.
UNDEF of a read in the feature-ID space becomes EC 0x18 (FEAT_IDST).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.cpu import syndrome as syn
from framework.cpu.decisions import implemented, is_id_space, sysreg_access, take
from framework.cpu.exceptions import sync_exception, take_exception
from framework.cpu.state import M64
from framework.cpu.sysregs import Allow, SysReg, ToMemory, Trap, Undef
from framework.hooklog import describe_access as access_name
from framework.vmem import TranslationFault

if TYPE_CHECKING:
    from framework.cpu.state import CPUState


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
    elif reg.decides:
        cpu.machine.decisions_changed()


def describe_access(reg: SysReg | None, key: int, is_read: bool, rt: int) -> str:
    """The access as assembly: ``MSR VBAR_EL2, x0``, ``MRS x5, HCR_EL2``, ``TLBI ALLE2``."""
    name = reg.name if reg is not None else "S{}_{}_C{}_C{}_{}".format(*syn.split_key(key))
    xt = "xzr" if rt == 31 else f"x{rt}"
    if " " in name:  # a system instruction (op0 = 1): "TLBI VAE2", "AT S1E2R"
        return name if rt == 31 else f"{name}, {xt}"
    return f"MRS {xt}, {name}" if is_read else f"MSR {name}, {xt}"


def access(cpu: CPUState, key: int, rt: int, is_read: bool, pc: int) -> int:
    """Run one MRS/MSR/SYS/SYSL; return the next PC (pc + 4, or an exception vector)."""
    cpu.pc = pc
    reg, decision = sysreg_access(cpu, key, rt, is_read)
    if type(decision) is Allow:
        target = decision.target or reg
        if is_read:
            value = read_reg(cpu, target)
            if rt != 31:
                cpu.x[rt] = value
        else:
            write_reg(cpu, target, cpu.x[rt] if rt != 31 else 0)
        return cpu.pc + 4 if cpu.pc == pc else cpu.pc
    machine = cpu.machine
    if isinstance(decision, Undef):
        if machine.log_unimp and not implemented(cpu, reg):
            machine.log_unimp_sysreg(key, reg, is_read)
        if is_read and is_id_space(key):
            return sync_exception(cpu, syn.sysreg_trap_key(key, rt, True), pc)
        return sync_exception(cpu, syn.uncategorized(), pc)
    if isinstance(decision, Trap):
        # the syndrome and the name --stats counts depend only on the access: made once each
        ck = (key << 6) | (rt << 1) | is_read
        known = machine.trapped_accesses.get(ck)
        if known is None:
            known = machine.trapped_accesses[ck] = (
                syn.sysreg_trap_key(key, rt, is_read),
                access_name(key, reg, is_read),
            )
        if machine.cache_decisions and (reg is None or not reg.uncached):
            # the decision is cached: so is what taking it means (`trap_access`)
            el = decision.el
            esr = known[0] if decision.esr is None else decision.esr
            cpu.dtrap[ck] = (el, esr, (el, decision.rule or "-", known[1]), decision, reg, key, rt, is_read)
        what = describe_access(reg, key, is_read, rt) if machine.log_int or machine.log_sysreg else ""
        return take(cpu, decision, pc, known[0], what, known[1])
    if isinstance(decision, ToMemory):
        mem = machine.mem
        name = reg.name if reg is not None else hex(key)
        machine.stats.to_memory(name)
        if machine.log_sysreg:
            what = describe_access(reg, key, is_read, rt)
            why = ", ".join(part for part in (decision.rule, decision.why) if part)
            text = f"to memory: {what} at EL{cpu.el} -> {decision.va:#x}" + (f" ({why})" if why else "")
            machine.explain(text, rule=decision.rule)
        if decision.fsc is not None:
            mem.vncr_abort(cpu, decision.va, TranslationFault(decision.fsc), not is_read, pc)
        # a cached decision may also let generated code make the access on RAM (cpu.vfast)
        keep = None
        if machine.cache_decisions and (reg is None or not reg.uncached):
            keep = ((key << 6) | (rt << 1) | is_read, name)
        if is_read:
            value = mem.el2_load64(cpu, decision.va, pc, keep)
            if rt != 31:
                cpu.x[rt] = value
        else:
            mem.el2_store64(cpu, decision.va, cpu.x[rt] if rt != 31 else 0, pc, keep)
        return pc + 4
    raise TypeError(f"unknown access decision {decision!r}")


def trap_access(cpu: CPUState, plan: tuple, pc: int) -> int:
    """Take the trap of an access whose decision is cached (`cpu.dtrap`); return the vector.

    The plan is (target EL, syndrome, the --stats key, the decision, the register row, the
    encoding, Xt, is_read), made by `access` the first time. Without an observer (``-d
    int``, ``-d sysreg``, the per-level counters) this is the whole of `decisions.take`.
    """
    el, esr, rule_key, decision, reg, key, rt, is_read = plan
    machine = cpu.machine
    if machine.observe_exceptions or machine.log_sysreg:
        what = describe_access(reg, key, is_read, rt) if machine.log_int or machine.log_sysreg else ""
        return take(cpu, decision, pc, esr, what, rule_key[2])
    stats = machine.stats
    stats.traps[el] += 1
    stats.trap_rules[rule_key] += 1
    return take_exception(cpu, el, esr, pc)


def mrs(cpu: CPUState, key: int, rt: int, pc: int) -> int:
    return access(cpu, key, rt, True, pc)


def msr(cpu: CPUState, key: int, rt: int, pc: int) -> int:
    return access(cpu, key, rt, False, pc)


__all__ = ["access", "mrs", "msr", "read_reg", "trap_access", "write_reg"]
