"""What the kernel does when no plugin answers a decision hook: the base architecture.

Every decision (``firstresult`` hook in `framework.hookspecs`) goes to the plugins
first — and only when a registered plugin implements the hook at all
(`Implemented`, recomputed whenever the machine's hook set changes) — and the
rule here applies when every implementation answers None:

========================  ====================  ==========================================
hook                      event                 base architecture
========================  ====================  ==========================================
armnv_sysreg_access       MRS, MSR, SYS, SYSL   `kernel_decision`: feature gate, lowest EL,
                                                direction, VHE view (NV-13), the row's own
                                                check, EL0 enables and EL2 traps
armnv_current_el          MRS CurrentEL         PSTATE.EL
armnv_exception_entry     exception entry       SPSR = PSTATE
armnv_entry_pstate        exception entry       SSBS and ALLINT from SCTLR_ELx (syndromes.md
(notification)                                  §10), then every implementation
armnv_eret                ERET                  UNDEF at EL0, else the exception return
armnv_msr_immediate       MSR (immediate)       UNDEF (the kernel's own fields never ask)
armnv_unprivileged_el     LDTR, STTR            EL0, unless PSTATE.UAO; EL2 at EL2 unless
                                                {E2H, TGE} = {1, 1} (pan.md §5)
========================  ====================  ==========================================

The MMU plugin asks `armnv_at`, `armnv_pan_active` and `armnv_descriptor` itself,
and `framework.vmem` asks `armnv_translate` (no answer: the flat map).

Decisions that take an exception (`Trap`, `Undef`) are carried out by `take`, which
also counts traps, so a plugin never enters an exception itself. These functions
run at events (an access, an exception, an ERET), never per instruction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from framework.arch import HCR_E2H, HCR_TGE, SCTLR_A
from framework.cpu import syndrome as syn

# the module, not its names: traps -> exceptions -> decisions is an import cycle
from framework.cpu import traps
from framework.cpu.exceptions import e2h_view, take_exception, undefined
from framework.cpu.state import M64
from framework.cpu.sysregs import ALLOW, UNDEF, Allow, Decision, SysReg, Trap, Undef
from framework.plugins import ENTRY_HOOKS, ONLY_WHEN

if TYPE_CHECKING:
    from framework.cpu.state import CPUState


@attrs.define(frozen=True, slots=True)
class Implemented:
    """Which decision hooks some registered plugin implements (the entry/return hooks: `EntryHookTable`).

    The kernel calls none of the others: a pluggy call costs about a microsecond even
    with no implementation.
    """

    sysreg_access: bool = False
    current_el: bool = False
    msr_immediate: bool = False
    unprivileged_el: bool = False
    translate: bool = False
    pan_active: bool = False

    @classmethod
    def of(cls, hook: Any) -> Implemented:
        """What a plugin manager's ``hook`` relay has implementations for."""
        return cls(**{f.name: bool(getattr(hook, f"armnv_{f.name}").get_hookimpls()) for f in attrs.fields(cls)})


def direct_call(caller: Any) -> Any:
    """A function calling the implementations of a hook as pluggy would, without its machinery.

    In pluggy's order (the last registered first, tryfirst before, trylast after) with each
    implementation's own arguments; ``firstresult``: the first answer that is not None. On
    exception entry and return a pluggy call costs more than everything else together.
    A hook with wrappers keeps the pluggy call.
    """
    impls = caller.get_hookimpls()
    if any(i.hookwrapper or getattr(i, "wrapper", False) for i in impls):
        return caller
    fns = [(i.function, tuple(i.argnames)) for i in reversed(impls)]
    if not caller.spec.opts.get("firstresult"):

        def call_all(**kw: Any) -> list[Any]:
            results = []
            for fn, names in fns:
                r = fn(*[kw[n] for n in names])
                if r is not None:
                    results.append(r)
            return results

        return call_all

    def call_first(**kw: Any) -> Any:
        for fn, names in fns:
            r = fn(*[kw[n] for n in names])
            if r is not None:
                return r
        return None

    return call_first


@attrs.define(slots=True)
class DirectCalls:
    """`direct_call` of the access-decision hook (asked once per access and configuration)."""

    sysreg_access: Any

    @classmethod
    def of(cls, hook: Any, *, monitored: bool = False) -> DirectCalls:
        """The calls for ``hook``; `monitored` keeps pluggy's own (``-d plugins`` watches them)."""
        if monitored:
            return cls(**{f.name: getattr(hook, f"armnv_{f.name}") for f in attrs.fields(cls)})
        return cls(**{f.name: direct_call(getattr(hook, f"armnv_{f.name}")) for f in attrs.fields(cls)})


# ---- the exception entry and return hooks, resolved per configuration ---------------------------


def _positional(fn: Callable[..., Any], argnames: tuple[str, ...], spec: tuple[str, ...]) -> Callable[..., Any]:
    # an implementation taking the specification's arguments in its order is called as it is
    if argnames == spec:
        return fn
    picks = tuple(spec.index(n) for n in argnames)
    return lambda *args: fn(*[args[i] for i in picks])


@attrs.define(frozen=True, slots=True)
class EntryHooks:
    """The implementations of the entry/return hooks that may matter under one configuration.

    Each is a tuple of callables taking the hook's arguments positionally (`ENTRY_HOOKS`),
    in pluggy's calling order; an empty tuple means nobody is asked.
    """

    exception_entry: tuple[Callable[..., Any], ...] = ()
    entry_pstate: tuple[Callable[..., Any], ...] = ()
    eret: tuple[Callable[..., Any], ...] = ()


class EntryHookTable:
    """Every implementation of the entry/return hooks with its `only_when` predicate.

    Built when the machine's set of hooks changes; `resolve` picks, for the current
    configuration, the ones `EntryHooks` holds. Hooks with wrappers, and every hook while
    ``-d plugins`` watches the calls, keep pluggy's own call (never filtered).
    """

    def __init__(self, hook: Any, *, monitored: bool = False) -> None:
        self.rows: dict[str, list[tuple[Callable[..., Any], Callable[[CPUState], Any] | None]]] = {}
        for name, spec in ENTRY_HOOKS.items():
            caller = getattr(hook, name)
            impls = caller.get_hookimpls()
            if not impls:
                self.rows[name] = []
            elif monitored or any(i.hookwrapper or getattr(i, "wrapper", False) for i in impls):
                self.rows[name] = [(_pluggy_call(caller, spec), None)]
            else:
                self.rows[name] = [
                    (_positional(i.function, tuple(i.argnames), spec), getattr(i.function, ONLY_WHEN, None))
                    for i in reversed(impls)
                ]
        self.fixed = all(pred is None for row in self.rows.values() for _, pred in row)
        self._all = self._pick(None)

    def _pick(self, cpu: CPUState | None) -> EntryHooks:
        picked = {
            name[len("armnv_") :]: tuple(fn for fn, pred in row if pred is None or cpu is None or pred(cpu))
            for name, row in self.rows.items()
        }
        return EntryHooks(**picked)

    def resolve(self, cpu: CPUState) -> EntryHooks:
        """The implementations that may matter under the CPU's current configuration."""
        return self._all if self.fixed else self._pick(cpu)


def _pluggy_call(caller: Any, spec: tuple[str, ...]) -> Callable[..., Any]:
    def call(*args: Any) -> Any:
        result = caller(**dict(zip(spec, args, strict=True)))
        # a firstresult hook answers the value itself; a notification's list means nothing here
        return None if isinstance(result, list) else result

    return call


# ---- carrying a decision out --------------------------------------------------------------------


def take(cpu: CPUState, decision: Decision, pc: int, trap_esr: int, what: str = "", name: str = "") -> int:
    """Take the exception `decision` asks for at the instruction `pc`; return the vector.

    ``Trap(el, esr=None)`` uses `trap_esr`, the syndrome of the instruction that was
    trapped (EC 0x18 for an access, EC 0x1A for an ERET), and counts a trap to `el`
    by its rule and `name` (``MSR VBAR_EL2``; `what` is the instruction as assembly,
    ``MSR VBAR_EL2, x0``, for the explanation).
    """
    if isinstance(decision, Trap):
        machine = cpu.machine
        machine.stats.trap(decision.el, decision.rule, name or what)
        if machine.levels is not None:
            machine.levels.note_rule(decision.rule, decision.why, name or what)
        if machine.log_int or machine.log_sysreg:
            machine.explain(explain_trap(cpu, decision, what), rule=decision.rule)
        return take_exception(cpu, decision.el, trap_esr if decision.esr is None else decision.esr, pc)
    if isinstance(decision, Undef):
        return undefined(cpu, pc)
    raise TypeError(f"a decision that takes no exception cannot be taken: {decision!r}")


def explain_trap(cpu: CPUState, decision: Trap, what: str) -> str:
    """``trap to EL2: MSR VBAR_EL2, x0 at EL1 (NV-06, HCR_EL2.NV=1)``."""
    why = ", ".join(part for part in (decision.rule, decision.why) if part)
    return f"trap to EL{decision.el}: {what or 'instruction'} at EL{cpu.el}" + (f" ({why})" if why else "")


# ---- system registers: armnv_sysreg_access -------------------------------------------------------


def is_id_space(key: int) -> bool:
    """op0 = 3, op1 in {0, 1, 3}, CRn = 0, CRm < 8 (FEAT_IDST, syndromes.md §3)."""
    op0, op1, crn, crm, _ = syn.split_key(key)
    return op0 == 3 and op1 in (0, 1, 3) and crn == 0 and crm < 8


def implemented(cpu: CPUState, reg: SysReg | None) -> bool:
    """Whether `reg` (the row of an accessed encoding, or None) exists on this machine."""
    return reg is not None and (reg.feature is None or reg.feature in cpu.machine.features)


def kernel_decision(cpu: CPUState, reg: SysReg | None, is_read: bool, key: int | None = None) -> Decision:
    """The base architecture's answer for an access no plugin decided.

    `key` is the encoding accessed (needed when `reg` is None; defaults to reg.key).
    """
    machine = cpu.machine
    if key is None:
        key = reg.key if reg is not None else -1
    if reg is None or (reg.feature is not None and reg.feature not in machine.features):
        return traps.unallocated_check(cpu, key) or UNDEF
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
    check = traps.CHECKS.get(key)
    if check is not None:
        decision = check(cpu, is_read)
        if decision is not None:
            return decision
    return ALLOW if target is reg else Allow(target)


def sysreg_access(cpu: CPUState, key: int, rt: int, is_read: bool) -> tuple[SysReg | None, Decision]:
    """The row of encoding `key` and the decision for this access: the plugins', else the kernel's.

    A decision depends only on the access (encoding, Xt, direction), the EL and configuration
    registers (the `armnv_sysreg_access` contract), so it is made once and kept in the EL's
    decision cache until a register marked `config` or `decides` is written. A plain allowed
    access also goes to the fast table, from which generated code makes it without a call.
    """
    ck = (key << 6) | (rt << 1) | is_read
    hit = cpu.dcache.get(ck)
    if hit is not None:
        return hit
    machine = cpu.machine
    reg = machine.sysregs.get(key)
    decision = None
    if machine.implements.sysreg_access:
        decision = machine.direct.sysreg_access(cpu=cpu, reg=reg, key=key, is_read=is_read, rt=rt)
    if decision is None:
        decision = kernel_decision(cpu, reg, is_read, key)
    result = (reg, decision)
    if machine.cache_decisions and (reg is None or not reg.uncached):
        cpu.dcache[ck] = result
        if type(decision) is Allow:
            _fast_entry(cpu, ck, decision.target or reg, is_read)
    return result


def _fast_entry(cpu: CPUState, ck: int, target: SysReg, is_read: bool) -> None:
    # what generated code needs to make the access itself: the storage slot to read, or
    # (slot, bits kept, bits written, RES1 bits) to write; registers with functions, and
    # writes that drop caches, stay with `framework.cpu.sysaccess.access`
    if is_read:
        if target.read is None:
            cpu.dfast[ck] = target.slot
    elif target.write is None and not target.config and not target.decides:
        cpu.dfast[ck] = (target.slot, ~target.wmask & M64, target.wmask, target.res1)


# ---- exception entry and return ------------------------------------------------------------------


def entry_hooks(cpu: CPUState) -> EntryHooks:
    """The entry/return hook implementations that may matter under the current configuration.

    Resolved once per configuration: `framework.vmem.MemorySystem.drop_decisions` (every
    write to a ``config`` or ``decides`` register, a new plugin, a run starting) forgets it.
    """
    hooks = cpu.entry_hooks
    if hooks is None:
        hooks = cpu.entry_hooks = cpu.machine.entry_table.resolve(cpu)
    return hooks


def exception_entry(cpu: CPUState, from_el: int, target_el: int, spsr: int, esr: int | None) -> int:
    """The value SPSR_<target_el> gets on exception entry (the PSTATE `spsr`, unless a plugin says)."""
    for fn in (cpu.entry_hooks or entry_hooks(cpu)).exception_entry:
        new = fn(cpu, from_el, target_el, spsr, esr)
        if new is not None:
            return new
    return spsr


def eret(cpu: CPUState, pc: int) -> Decision:
    """ERET at `pc`: ``Allow()`` for the ordinary exception return, or the exception to take.

    At EL0 it is UNDEFINED whatever the plugins say (syndromes.md §3); at EL1 and EL2
    a plugin may trap it (nv.md NV-15: ``Trap(2)``, EC 0x1A).
    """
    if cpu.el == 0:
        return UNDEF
    for fn in (cpu.entry_hooks or entry_hooks(cpu)).eret:
        decision = fn(cpu, pc)
        if decision is not None:
            return decision
    return ALLOW


# ---- PSTATE and permissions ----------------------------------------------------------------------


def current_el(cpu: CPUState) -> int:
    """The EL ``MRS CurrentEL`` reports: PSTATE.EL unless a plugin says otherwise (NV-20)."""
    machine = cpu.machine
    if machine.implements.current_el:
        el = machine.hook.armnv_current_el(cpu=cpu)
        if el is not None:
            return el
    return cpu.el


def msr_immediate(cpu: CPUState, op1: int, op2: int, crm: int) -> Decision:
    """MSR (immediate) to a PSTATE field the kernel does not own.

    ``Allow()`` when a plugin performed it (it answers True), a plugin's ``Trap`` or
    ``Undef``, or UNDEF when nobody implements the field.
    """
    machine = cpu.machine
    if machine.implements.msr_immediate:
        answer = machine.hook.armnv_msr_immediate(cpu=cpu, op1=op1, op2=op2, crm=crm)
        if answer is True:
            return ALLOW
        if isinstance(answer, Decision):
            return answer
    if machine.log_unimp:
        machine.log_unimp_msr(op1, op2, crm)
    return UNDEF


def unprivileged_el(cpu: CPUState) -> int:
    """The EL whose permissions LDTR/STTR check (pan.md §5), unless a plugin says (NV-25)."""
    machine = cpu.machine
    if machine.implements.unprivileged_el:
        el = machine.hook.armnv_unprivileged_el(cpu=cpu)
        if el is not None:
            return el
    if cpu.el == 1:
        return 1 if cpu.uao else 0
    if cpu.el == 2:
        hcr = cpu.sr["HCR_EL2"]
        return 2 if cpu.uao or hcr & (HCR_E2H | HCR_TGE) != HCR_E2H | HCR_TGE else 0
    return 0


def sctlr_a(cpu: CPUState) -> bool:
    """SCTLR_ELx.A of the current translation regime (alignment checking; no hook changes it)."""
    el = cpu.el
    if el == 0:
        hcr = cpu.sr["HCR_EL2"]
        el = 2 if hcr & (HCR_E2H | HCR_TGE) == HCR_E2H | HCR_TGE else 1
    return bool(cpu.sr[f"SCTLR_EL{max(el, 1)}"] & SCTLR_A)


__all__ = [
    "DirectCalls",
    "EntryHookTable",
    "EntryHooks",
    "Implemented",
    "current_el",
    "entry_hooks",
    "eret",
    "exception_entry",
    "implemented",
    "is_id_space",
    "kernel_decision",
    "msr_immediate",
    "sctlr_a",
    "sysreg_access",
    "take",
    "unprivileged_el",
]
