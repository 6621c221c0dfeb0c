"""Exception entry, routing, vectors and exception return (ERET).

Entry (`take_exception`) follows syndromes.md §10: SPSR_ELx gets the whole
PSTATE (after the `armnv_exception_entry` hook, e.g. NV-27), ELR_ELx the
preferred return address, ESR_ELx the syndrome (not for IRQ/FIQ), FAR_ELx
only for aborts; then PSTATE = target ELxh with D, A, I, F set and IL, SS,
UAO, BTYPE clear, plus the feature rules (SSBS, ALLINT, and PAN through the
`armnv_entry_pstate` hook). The vector is
VBAR_ELx + 0x000/0x200 (current EL with SP_EL0/SP_ELx) or 0x400 (lower EL,
AArch64), + 0x80/0x100/0x180 for IRQ/FIQ/SError.

Routing of synchronous exceptions (`sync_target`): from EL0 to EL1, or to
EL2 when HCR_EL2.TGE = 1 (with or without E2H); from EL1 and EL2 to the same
EL unless the rule names EL2 (HVC, EL2 traps, stage-2 aborts).

Guest-visible exceptions never surface as Python errors: the helpers here
move the CPU to the vector and either return the new PC (for instructions that
always end their block, such as SVC) or raise `ExceptionTaken` (for faults in
the middle of a block).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.arch import (
    ESR_EC,
    HCR_E2H,
    HCR_RW,
    HCR_TGE,
    HCR_VF,
    HCR_VI,
    HCR_VSE,
    MDSCR_SS,
    PSTATE_ALLINT,
    PSTATE_BTYPE,
    PSTATE_DAIF,
    PSTATE_DIT,
    PSTATE_EL,
    PSTATE_IL,
    PSTATE_M,
    PSTATE_M1,
    PSTATE_NRW,
    PSTATE_NZCV,
    PSTATE_PAN,
    PSTATE_SP,
    PSTATE_SS,
    PSTATE_SSBS,
    PSTATE_UAO,
    SCTLR_DSSBS,
    SCTLR_SPINTMASK,
    VBAR_VBA,
)
from framework.cpu import syndrome as syn
from framework.cpu.state import M64, ONE_BIT_FIELDS
from framework.cpu.sysregs import Allow
from framework.errors import ExceptionTaken

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

VEC_SYNC, VEC_IRQ, VEC_FIQ, VEC_SERROR = 0x000, 0x080, 0x100, 0x180

# module-level ints for the exception entry/return path
_DAIF, _VBA, _EL, _EL_SHIFT = PSTATE_DAIF.mask, VBAR_VBA.mask, PSTATE_EL.mask, PSTATE_EL.shift
_NOT_AARCH64_M = PSTATE_NRW | PSTATE_M1  # an AArch32 mode, or a reserved one
# where CPUState's one-bit PSTATE fields (0 or 1) and BTYPE go in the SPSR layout
_DIT, _UAO, _PAN, _SS, _IL, _ALLINT, _SSBS, _BTYPE = (shift for _, shift in ONE_BIT_FIELDS)

KIND_NAMES = {VEC_SYNC: "sync", VEC_IRQ: "IRQ", VEC_FIQ: "FIQ", VEC_SERROR: "SError"}


def in_host(cpu: CPUState) -> bool:
    """{E2H, TGE} == {1, 1}: EL0 belongs to the EL2&0 regime."""
    return cpu.sr["HCR_EL2"] & (HCR_E2H | HCR_TGE) == HCR_E2H | HCR_TGE


def e2h_view(cpu: CPUState) -> bool:
    """EL0 register names reach EL2 state: at EL2 with E2H = 1, or at a host EL0 (NV-13)."""
    value = cpu.sr["HCR_EL2"]
    if cpu.el == 2:
        return bool(value & HCR_E2H)
    return cpu.el == 0 and value & (HCR_E2H | HCR_TGE) == HCR_E2H | HCR_TGE


def sync_target(cpu: CPUState) -> int:
    """Where an ordinary synchronous exception (UNDEF, SVC, EL1 abort) goes from here."""
    el = cpu.el
    if el == 0:
        return 2 if cpu.sr["HCR_EL2"] & HCR_TGE else 1
    return el


# the registers an exception entry to EL1 / EL2 writes and reads, by target EL
_SCTLR = ("SCTLR_EL1", "SCTLR_EL1", "SCTLR_EL2", "SCTLR_EL3")
_BANKED = {el: tuple(f"{r}_EL{el}" for r in ("SPSR", "ELR", "ESR", "FAR", "VBAR")) for el in (1, 2)}
# SPSR_ELx, ELR_ELx by the EL an ERET is made at
_RETURN_REGS = (None, ("SPSR_EL1", "ELR_EL1"), ("SPSR_EL2", "ELR_EL2"), None)
_EC_SHIFT, _EC_ONES = ESR_EC.shift, ESR_EC.ones


def take_exception(
    cpu: CPUState,
    target_el: int,
    esr: int | None,
    return_pc: int,
    *,
    far: int | None = None,
    vector: int = VEC_SYNC,
) -> int:
    """Enter `target_el`: write SPSR/ELR/ESR/FAR, set PSTATE, jump to the vector.

    Returns the new PC (also stored in cpu.pc).
    """
    # Every exception a guest takes comes through here. What depends only on where it goes
    # from and to and on configuration registers (the banked names, the vector offset, the
    # SCTLR-driven PSTATE rules, the hook implementations that can matter) is worked out
    # once per configuration (`entry_plan`); the rest is written out instead of called.
    machine = cpu.machine
    from_el = cpu.el
    spsel = cpu.spsel
    key = (target_el << 12) | (from_el << 10) | (spsel << 9) | vector
    plan = cpu.entry_plans.get(key)
    if plan is None:
        plan = cpu.entry_plans[key] = entry_plan(cpu, from_el, spsel, target_el, vector)
    spsr_name, elr_name, esr_name, far_name, vbar_name, offset, ssbs, allint, entry_hooks, pstate_hooks = plan
    # CPUState.pstate_bits, written out with the EL and SP already at hand
    spsr = (
        cpu.nzcv
        | cpu.daif
        | (from_el << _EL_SHIFT)
        | spsel
        | (cpu.dit << _DIT)
        | (cpu.uao << _UAO)
        | (cpu.pan << _PAN)
        | (cpu.ss << _SS)
        | (cpu.il << _IL)
        | (cpu.allint << _ALLINT)
        | (cpu.ssbs << _SSBS)
        | (cpu.btype << _BTYPE)
    )
    for fn in entry_hooks:
        new = fn(cpu, from_el, target_el, spsr, esr)
        if new is not None:
            spsr = new
            break
    sr = cpu.sr
    sr[spsr_name] = spsr
    sr[elr_name] = return_pc & M64
    if esr is not None:
        sr[esr_name] = esr
    if far is not None:
        sr[far_name] = far & M64
    # new PSTATE (syndromes.md §10); the stack pointer banking of `CPUState.select_sp`
    x = cpu.x
    sp_el = cpu.sp_el
    if spsel:
        sp_el[from_el] = x[31]
    else:
        sp_el[0] = x[31]
        cpu.spsel = 1
    cpu.el = target_el
    x[31] = sp_el[target_el]
    cpu.daif = _DAIF
    cpu.il = cpu.ss = cpu.uao = cpu.btype = 0
    cpu.excl = None
    if ssbs is not None:
        cpu.ssbs = ssbs
    if allint is not None:
        cpu.allint = allint
    for fn in pstate_hooks:
        fn(cpu, target_el)
    pc = cpu.pc = (sr[vbar_name] & _VBA) + offset
    # Stats.exception_counts: at (EC << 2) | EL, or 256 + ((vector >> 7) << 2) | EL for an interrupt
    if esr is None:
        machine.stats.exception_counts[256 + ((vector >> 5) | target_el)] += 1
    else:
        machine.stats.exception_counts[(((esr >> _EC_SHIFT) & _EC_ONES) << 2) | target_el] += 1
    if machine.observe_exceptions:
        if machine.levels is not None:
            machine.levels.exception(cpu, from_el, target_el, esr, vector)
        if machine.log_int:
            machine.log_exception(from_el, target_el, vector, esr, return_pc, spsr, far)
    # pstate_changed(may_unmask=False), written out: entry masks DAIF and raises the EL, so
    # only the context changes; a second entry with no return between them may be the
    # start of an exception loop (`framework.stuck`), the first never is
    machine.mem.switch(cpu)
    loop = machine.exception_loop
    if loop.entries:
        stuck = loop.entered(cpu)
        if stuck is not None:
            machine.request_stop("exception-loop", stuck)
    else:
        loop.entries = 1
    return pc


def entry_plan(cpu: CPUState, from_el: int, spsel: int, target_el: int, vector: int) -> tuple:
    """What an exception entry from (`from_el`, `spsel`) to `target_el` at `vector` does.

    (SPSR, ELR, ESR, FAR and VBAR names of the target EL, the vector's offset, the
    PSTATE.SSBS and PSTATE.ALLINT it sets or None, and the `armnv_exception_entry` and
    `armnv_entry_pstate` implementations to call). Kept in `cpu.entry_plans` until a
    configuration register is written: SCTLR_ELx and the hooks' `only_when` predicates
    read nothing else. The SSBS and ALLINT rules (syndromes.md §10): PSTATE.SSBS =
    SCTLR_ELx.DSSBS with FEAT_SSBS, PSTATE.ALLINT = NOT SCTLR_ELx.SPINTMASK with FEAT_NMI.
    """
    machine = cpu.machine
    hooks = cpu.entry_hooks or decisions.entry_hooks(cpu)
    if target_el == from_el:
        offset = (0x200 if spsel else 0x000) + vector
    else:
        offset = 0x400 + vector
    sctlr = cpu.sr[_SCTLR[target_el]]
    ssbs = (1 if sctlr & SCTLR_DSSBS else 0) if machine.entry_ssbs else None
    allint = (0 if sctlr & SCTLR_SPINTMASK else 1) if machine.entry_nmi else None
    return (*_BANKED[target_el], offset, ssbs, allint, hooks.exception_entry, hooks.entry_pstate)


def sync_exception(cpu: CPUState, esr: int, pc: int, target_el: int | None = None) -> int:
    """Take a synchronous exception whose preferred return address is `pc`; return the vector."""
    return take_exception(cpu, sync_target(cpu) if target_el is None else target_el, esr, pc)


def raise_sync(cpu: CPUState, esr: int, pc: int, target_el: int | None = None, far: int | None = None) -> None:
    """Take a synchronous exception from inside a block and unwind it."""
    take_exception(cpu, sync_target(cpu) if target_el is None else target_el, esr, pc, far=far)
    raise ExceptionTaken(pc)


def undefined(cpu: CPUState, pc: int) -> int:
    """UNDEFINED instruction (EC 0x00) at `pc`."""
    return sync_exception(cpu, syn.uncategorized(), pc)


def unallocated(cpu: CPUState, word: int, pc: int) -> int:
    """`undefined` for an encoding the decoder does not implement, logged first (``-d unimp``)."""
    cpu.machine.log_unimp_insn(word, pc)
    return undefined(cpu, pc)


def illegal_return(cpu: CPUState, spsr: int) -> bool:
    """Whether an ERET with this SPSR is an illegal exception return (Arm ARM IllegalExceptionReturn).

    Illegal: SPSR.M names AArch32 (not implemented here) or a reserved mode
    (M[1] set, or EL0 with SP_ELx), a higher EL than the current one, EL3 (not
    implemented on the virt board), EL1 while HCR_EL2.TGE = 1, or an AArch64
    EL1/EL0 while HCR_EL2.RW = 0 makes EL1 (and so EL0) AArch32.
    """
    new_el = (spsr & _EL) >> _EL_SHIFT
    if spsr & _NOT_AARCH64_M or new_el > cpu.el or new_el == 3 or (new_el == 0 and spsr & PSTATE_SP):
        return True
    if new_el == 2:
        return False
    hcr_el2 = cpu.sr["HCR_EL2"]
    if new_el == 1 and hcr_el2 & HCR_TGE:
        return True
    # EL1's register width comes from HCR_EL2.RW ({E2H,TGE} = {1,1} makes EL0 the host's, AArch64)
    return not hcr_el2 & HCR_RW and not (new_el == 0 and in_host(cpu))


def exception_return(cpu: CPUState, pc: int) -> int:
    """ERET at `pc`: restore PSTATE from SPSR_ELx and continue at ELR_ELx; return the new PC.

    First the decision: UNDEFINED at EL0 (syndromes.md §3), or what a plugin says when
    one can matter under this configuration (NV-15: a trap to EL2, EC 0x1A).

    An illegal return keeps PSTATE.EL and PSTATE.SP, restores the rest from
    SPSR and sets PSTATE.IL, so the next instruction takes an Illegal
    Execution state exception (EC 0x0E, `illegal_state`).

    What an SPSR value does at an EL depends otherwise only on HCR_EL2 and the
    machine's features, so it is worked out once (`return_plan`) and kept in
    `cpu.eret_plans` until a configuration register is written.
    """
    el = cpu.el
    if not el or (cpu.entry_hooks or decisions.entry_hooks(cpu)).eret:
        decision = decisions.eret(cpu, pc)
        if type(decision) is not Allow:
            return decisions.take(cpu, decision, pc, _ERET_TRAP, "ERET")
    sr = cpu.sr
    spsr_name, elr_name = _RETURN_REGS[el]
    spsr = sr[spsr_name]
    machine = cpu.machine
    if sr["MDSCR_EL1"] & MDSCR_SS:
        # DebugExceptionReturnSS: SPSR.SS reaches PSTATE only with MDSCR_EL1.SS = 1 (the
        # rest of that rule is not modelled: software step exceptions are not implemented)
        plan = return_plan(cpu, el, spsr, spsr & PSTATE_SS)
    else:
        key = (spsr << 3) | (cpu.spsel << 2) | el  # an illegal return keeps PSTATE.SP
        plan = cpu.eret_plans.get(key)
        if plan is None:
            if len(cpu.eret_plans) >= _MAX_PLANS:
                cpu.eret_plans.clear()
            plan = cpu.eret_plans[key] = return_plan(cpu, el, spsr, 0)
    nzcv, daif, new_el, spsel, features, old_sp, new_sp, kick = plan
    # CPUState.set_pstate_bits, written out (with the SP banking of select_sp)
    cpu.nzcv = nzcv
    cpu.daif = daif
    if features is None:
        cpu.dit = cpu.uao = cpu.pan = cpu.ss = cpu.il = cpu.allint = cpu.ssbs = cpu.btype = 0
    else:
        cpu.dit, cpu.uao, cpu.pan, cpu.ss, cpu.il, cpu.allint, cpu.ssbs, cpu.btype = features
    x = cpu.x
    sp_el = cpu.sp_el
    sp_el[old_sp] = x[31]
    cpu.el = new_el
    cpu.spsel = spsel
    x[31] = sp_el[new_sp]
    cpu.excl = None
    target = cpu.pc = sr[elr_name] & M64
    if machine.observe_exceptions:
        if machine.levels is not None:
            machine.levels.exception_return(cpu, el)
        if machine.log_int:
            machine.log_return(el, cpu.el, target, spsr)
    # machine.pstate_changed(), written out
    machine.mem.switch(cpu)
    machine.exception_loop.entries = 0  # progressed(), written out
    interrupts = machine.interrupts
    if kick or interrupts.asserted or interrupts.virtual_sources:
        # an interrupt may be takeable now, or PSTATE.IL is set (the next instruction takes
        # the Illegal Execution state exception): the run loop looks before the next block
        machine.engine.kick()
    return target


_MAX_PLANS = 256
_ERET_TRAP = syn.eret_trap()  # EC 0x1A, ISS 0: the syndrome of a trapped ERET (syndromes.md §5)
# HCR_EL2's virtual interrupt lines: asserted, an interrupt may be takeable after a return
VIRTUAL_LINES = HCR_VI | HCR_VF | HCR_VSE


def return_plan(cpu: CPUState, el: int, spsr: int, ss: int) -> tuple:
    """What an ERET at `el` with this SPSR does, for `exception_return`.

    (NZCV, DAIF, EL, SP, the other PSTATE bits, the stack pointer to bank, the one to
    select, whether the run loop must look before the next block). The other bits are
    None when all of DIT, UAO, PAN, SS, IL, ALLINT, SSBS and BTYPE end up 0 (the usual
    return), else their values in that order (`ONE_BIT_FIELDS`). `ss` is SPSR.SS when MDSCR_EL1.SS lets it
    through, else 0. The run loop looks when HCR_EL2 asserts a virtual interrupt (it may
    be takeable at the new EL) or the return is illegal (PSTATE.IL).
    """
    restored = (spsr & cpu.machine.restorable_pstate) | ss
    if illegal_return(cpu, spsr):
        restored = (restored & ~(PSTATE_M.mask | PSTATE_NRW)) | PSTATE_EL.put(el) | cpu.spsel | PSTATE_IL
    features = tuple((restored >> shift) & (0b11 if name == "btype" else 1) for name, shift in ONE_BIT_FIELDS)
    new_el = (restored & _EL) >> _EL_SHIFT
    spsel = 1 if restored & PSTATE_SP else 0
    return (
        restored & PSTATE_NZCV.mask,
        restored & _DAIF,
        new_el,
        spsel,
        features if any(features) else None,
        el if cpu.spsel else 0,
        new_el if spsel else 0,
        bool(cpu.sr["HCR_EL2"] & VIRTUAL_LINES or restored & PSTATE_IL),
    )


# SPSR bits that exist only with a feature: an ERET restores them only when it is implemented
_FEATURE_PSTATE_BITS = (
    ("dit", PSTATE_DIT),
    ("uao", PSTATE_UAO),
    ("pan", PSTATE_PAN),
    ("ssbs", PSTATE_SSBS),
    ("nmi", PSTATE_ALLINT),
    ("bti", PSTATE_BTYPE.mask),
)
# SS is not here: `exception_return` restores it only with MDSCR_EL1.SS = 1
_BASE_PSTATE_BITS = PSTATE_NZCV.mask | PSTATE_IL | PSTATE_DAIF.mask | PSTATE_M.mask | PSTATE_NRW


def restorable_bits(machine) -> int:
    """The SPSR bits an exception return copies into PSTATE on this machine."""
    features = machine.features
    bits = _BASE_PSTATE_BITS
    for feature, mask in _FEATURE_PSTATE_BITS:
        if feature in features:
            bits |= mask
    return bits


def illegal_state(cpu: CPUState) -> int:
    """Take the Illegal Execution state exception (EC 0x0E) at the current PC."""
    return sync_exception(cpu, syn.esr(syn.EC_ILLEGAL_STATE), cpu.pc)


# Last, because the decisions take exceptions with the functions above: whichever of the
# two modules is imported first, the other then finds everything it uses at call time.
from framework.cpu import decisions  # noqa: E402
