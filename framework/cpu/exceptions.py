"""Exception entry, routing, vectors and exception return (ERET).

Entry (`take_exception`) follows syndromes.md §10: SPSR_ELx gets the whole
PSTATE (after the `armnv_exception_entry` hook, e.g. NV-27), ELR_ELx the
preferred return address, ESR_ELx the syndrome (not for IRQ/FIQ), FAR_ELx
only for aborts; then PSTATE = target ELxh with D, A, I, F set and IL, SS,
UAO, BTYPE clear, plus the feature rules of `Machine.entry_pstate` (SSBS,
ALLINT, and PAN through the `armnv_entry_pstate` hook). The vector is
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

from framework.cpu import syndrome as syn
from framework.cpu.state import (
    M64,
    PSR_ALLINT,
    PSR_DAIF,
    PSR_DIT,
    PSR_IL,
    PSR_NZCV,
    PSR_PAN,
    PSR_SS,
    PSR_SSBS,
    PSR_UAO,
)
from framework.errors import ExceptionTaken

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

# HCR_EL2 bits used by the kernel's routing rules
HCR_FMO = 1 << 3
HCR_IMO = 1 << 4
HCR_AMO = 1 << 5
HCR_VF = 1 << 6
HCR_VI = 1 << 7
HCR_VSE = 1 << 8
HCR_TGE = 1 << 27
HCR_RW = 1 << 31
HCR_E2H = 1 << 34
MDSCR_SS = 1 << 0

VEC_SYNC, VEC_IRQ, VEC_FIQ, VEC_SERROR = 0x000, 0x080, 0x100, 0x180

KIND_NAMES = {VEC_SYNC: "sync", VEC_IRQ: "IRQ", VEC_FIQ: "FIQ", VEC_SERROR: "SError"}


def hcr(cpu: CPUState) -> int:
    """Effective HCR_EL2 (EL2 is always implemented and enabled on the virt board)."""
    return cpu.sr["HCR_EL2"]


def in_host(cpu: CPUState) -> bool:
    """{E2H, TGE} == {1, 1}: EL0 belongs to the EL2&0 regime."""
    return hcr(cpu) & (HCR_E2H | HCR_TGE) == HCR_E2H | HCR_TGE


def e2h_view(cpu: CPUState) -> bool:
    """EL0 register names reach EL2 state: at EL2 with E2H = 1, or at a host EL0 (NV-13)."""
    value = hcr(cpu)
    if cpu.el == 2:
        return bool(value & HCR_E2H)
    return cpu.el == 0 and value & (HCR_E2H | HCR_TGE) == HCR_E2H | HCR_TGE


def sync_target(cpu: CPUState) -> int:
    """Where an ordinary synchronous exception (UNDEF, SVC, EL1 abort) goes from here."""
    el = cpu.el
    if el == 0:
        return 2 if hcr(cpu) & HCR_TGE else 1
    return el


# the registers an exception entry to EL1 / EL2 writes and reads, by target EL
_BANKED = {el: tuple(f"{r}_EL{el}" for r in ("SPSR", "ELR", "ESR", "FAR", "VBAR")) for el in (1, 2)}


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
    machine = cpu.machine
    from_el = cpu.el
    if target_el == from_el:
        offset = 0x200 if cpu.spsel else 0x000
    else:
        offset = 0x400
    offset += vector
    spsr = cpu.pstate_bits()
    if machine.exception_entry_hooks:
        spsr = machine.adjust_saved_pstate(from_el, target_el, spsr, esr)
    sr = cpu.sr
    spsr_name, elr_name, esr_name, far_name, vbar_name = _BANKED[target_el]
    sr[spsr_name] = spsr
    sr[elr_name] = return_pc & M64
    if esr is not None:
        sr[esr_name] = esr
    if far is not None:
        sr[far_name] = far & M64
    # new PSTATE (syndromes.md §10)
    cpu.select_sp(target_el, 1)
    cpu.daif = PSR_DAIF
    cpu.il = 0
    cpu.ss = 0
    cpu.uao = 0
    cpu.btype = 0
    cpu.excl = None
    machine.entry_pstate(cpu, target_el)
    cpu.pc = (sr[vbar_name] & ~0x7FF & M64) + offset
    machine.stats.exception(esr, vector, from_el, target_el)
    if machine.log_int:
        machine.log_exception(from_el, target_el, vector, esr, return_pc, spsr, far)
    machine.pstate_changed(may_unmask=False)
    return cpu.pc


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


def illegal_return(cpu: CPUState, spsr: int) -> bool:
    """Whether an ERET with this SPSR is an illegal exception return (Arm ARM IllegalExceptionReturn).

    Illegal: SPSR.M names AArch32 (not implemented here) or a reserved mode
    (M[1] set, or EL0 with SP_ELx), a higher EL than the current one, EL3 (not
    implemented on the virt board), EL1 while HCR_EL2.TGE = 1, or an AArch64
    EL1/EL0 while HCR_EL2.RW = 0 makes EL1 (and so EL0) AArch32.
    """
    m = spsr & 0x1F
    new_el = m >> 2
    if m & 0x12 or new_el > cpu.el or new_el == 3 or (new_el == 0 and m & 1):
        return True
    if new_el == 2:
        return False
    hcr_el2 = hcr(cpu)
    if new_el == 1 and hcr_el2 & HCR_TGE:
        return True
    # EL1's register width comes from HCR_EL2.RW ({E2H,TGE} = {1,1} makes EL0 the host's, AArch64)
    return not hcr_el2 & HCR_RW and not (new_el == 0 and in_host(cpu))


def exception_return(cpu: CPUState, pc: int) -> int:
    """ERET at EL1/EL2: restore PSTATE from SPSR_ELx and continue at ELR_ELx.

    An illegal return keeps PSTATE.EL and PSTATE.SP, restores the rest from
    SPSR and sets PSTATE.IL, so the next instruction takes an Illegal
    Execution state exception (EC 0x0E, `illegal_state`).
    """
    el = cpu.el
    sr = cpu.sr
    spsr = sr[f"SPSR_EL{el}"]
    target = sr[f"ELR_EL{el}"]
    machine = cpu.machine
    restored = spsr & machine.restorable_pstate
    if sr["MDSCR_EL1"] & MDSCR_SS:
        # DebugExceptionReturnSS: SPSR.SS reaches PSTATE only with MDSCR_EL1.SS = 1 (the
        # rest of that rule is not modelled: software step exceptions are not implemented)
        restored |= spsr & PSR_SS
    if illegal_return(cpu, spsr):
        cpu.set_pstate_bits((restored & ~0x1F) | (el << 2) | cpu.spsel)
        cpu.il = 1
    else:
        cpu.set_pstate_bits(restored)
    cpu.excl = None
    cpu.pc = target & M64
    if machine.log_int:
        machine.log_return(el, cpu.el, cpu.pc, spsr)
    machine.pstate_changed()
    if cpu.il:
        machine.engine.kick()  # the next instruction takes the Illegal Execution state exception
    return cpu.pc


# SPSR bits that exist only with a feature: an ERET restores them only when it is implemented
_FEATURE_PSTATE_BITS = (
    ("dit", PSR_DIT),
    ("uao", PSR_UAO),
    ("pan", PSR_PAN),
    ("ssbs", PSR_SSBS),
    ("nmi", PSR_ALLINT),
    ("bti", 3 << 10),
)
# SS is not here: `exception_return` restores it only with MDSCR_EL1.SS = 1
_BASE_PSTATE_BITS = PSR_NZCV | PSR_IL | PSR_DAIF | 0x1F


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
