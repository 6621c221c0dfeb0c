"""AT (address translation) instructions and their PAR_EL1 results (MMU-07, MMU-08).

Each instruction is one table row; its write function translates Xt with the
regime, privilege and access kind of the row and writes PAR_EL1. Trapping
(HCR_EL2.AT, FEAT_NV) is decided before the write function runs, by the
system-register access hook and the kernel's checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from framework.api import REGIME_EL2, REGIME_EL10, REGIME_EL20, Access, SysReg, Translation, TranslationFault, reg
from framework.api import syndrome as syn
from framework.arch import HCR_E2H, HCR_TGE, PAR_ATTR, PAR_F, PAR_FST, PAR_NS, PAR_PA, PAR_PTW, PAR_RES1, PAR_S, PAR_SH
from plugins.mmu.attrs import par_shareability

if TYPE_CHECKING:
    from framework.api import CPUState
    from plugins.mmu.walk import Walker


@attrs.define(frozen=True, slots=True)
class AtOp:
    """One AT instruction: what it translates and with whose permissions."""

    name: str
    op1: int
    crm: int
    op2: int
    el: int  # the privilege whose permissions are checked: 0, 1 or 2
    stage12: bool = False  # S12E*: stage 1 and stage 2
    pan: bool = False  # S1E1RP/WP: PSTATE.PAN applies (FEAT_PAN2)
    feature: str | None = None

    @property
    def write(self) -> bool:
        return bool(self.op2 & 1)

    def access(self, cpu: CPUState) -> Access:
        hcr = cpu.sr["HCR_EL2"]
        host = hcr & (HCR_E2H | HCR_TGE) == HCR_E2H | HCR_TGE
        if self.el == 2:
            # AT S1E2*: the EL2 regime, or EL2&0 with VHE
            return Access(
                write=self.write, el=2, at=True, pan=False, regime=REGIME_EL20 if hcr & HCR_E2H else REGIME_EL2
            )
        if host:
            # {E2H, TGE} = {1, 1}: the EL1 forms translate in the EL2&0 regime, at EL2 privilege
            return Access(write=self.write, el=2 if self.el else 0, at=True, pan=self.pan, regime=REGIME_EL20)
        return Access(
            write=self.write, el=self.el, at=True, pan=self.pan, regime=REGIME_EL10, stage1_only=not self.stage12
        )


AT_OPS = (
    AtOp("AT S1E1R", 0, 8, 0, 1),
    AtOp("AT S1E1W", 0, 8, 1, 1),
    AtOp("AT S1E0R", 0, 8, 2, 0),
    AtOp("AT S1E0W", 0, 8, 3, 0),
    AtOp("AT S1E1RP", 0, 9, 0, 1, pan=True, feature="pan"),
    AtOp("AT S1E1WP", 0, 9, 1, 1, pan=True, feature="pan"),
    AtOp("AT S1E2R", 4, 8, 0, 2),
    AtOp("AT S1E2W", 4, 8, 1, 2),
    AtOp("AT S12E1R", 4, 8, 4, 1, stage12=True),
    AtOp("AT S12E1W", 4, 8, 5, 1, stage12=True),
    AtOp("AT S12E0R", 4, 8, 6, 0, stage12=True),
    AtOp("AT S12E0W", 4, 8, 7, 0, stage12=True),
)


def par_success(tr: Translation) -> int:
    """PAR_EL1 for a successful translation: ATTR, PA, NS (the board runs Non-secure), SH (MMU-07)."""
    sh = par_shareability(tr.attrs, tr.sh)
    return PAR_ATTR.put(tr.attrs) | (tr.pa & PAR_PA.mask) | PAR_RES1 | PAR_NS | PAR_SH.put(sh)


def par_fault(fault: TranslationFault) -> int:
    """PAR_EL1 for a fault: F, FST, PTW, S (MMU-07)."""
    par = PAR_RES1 | PAR_FST.put(fault.fsc) | PAR_F
    if fault.stage2:
        par |= PAR_S
    if fault.s1ptw:
        par |= PAR_PTW
    return par


def _external_on_walk(fsc: int) -> bool:
    return fsc == 0x13 or syn.FSC_EXTERNAL_WALK <= fsc <= syn.FSC_EXTERNAL_WALK + 3


def execute(walker: Walker, cpu: CPUState, op: AtOp, va: int) -> None:
    """Translate `va` for `op` and write PAR_EL1, or take the exception the walk requires."""
    acc = op.access(cpu)
    mem = cpu.machine.mem
    try:
        tr = walker.translate(cpu, va, acc)
        if tr is None:
            # no translation in force: the VA is the PA, Device-nGnRnE (MMU-08)
            if va >> mem.pa_bits:
                raise TranslationFault(syn.FSC_ADDR_SIZE)
            tr = Translation(va, device=True, attrs=0x00, sh=2)
    except TranslationFault as fault:
        stage1_of_2 = acc.regime == REGIME_EL10 and acc.stage1_only
        if (fault.s1ptw and cpu.el == 1 and stage1_of_2) or _external_on_walk(fault.fsc):
            # syndromes.md §6: a stage-2 fault on the walk of an EL1 AT S1E0*/S1E1*, and any
            # external abort on a walk, is a Data Abort with CM = 1, WnR = 1; PAR_EL1 is unchanged
            mem.data_abort(cpu, va, fault, True, cpu.pc, 0, cm=True)
        cpu.sr["PAR_EL1"] = par_fault(fault)
        return
    cpu.sr["PAR_EL1"] = par_success(tr)


def at_registers(walker_of) -> list[SysReg]:
    """The AT rows; `walker_of(machine)` gives the machine's Walker."""
    regs = []
    for op in AT_OPS:

        def write(cpu: CPUState, value: int, op: AtOp = op) -> None:
            # a feature may give the operation its own meaning first (hook armnv_at)
            machine = cpu.machine
            par = machine.hook.armnv_at(cpu=cpu, op=op.name.removeprefix("AT "), va=value)
            if par is None:
                execute(walker_of(machine), cpu, op, value)
            else:
                cpu.sr["PAR_EL1"] = par

        regs.append(
            reg(
                op.name,
                1,
                op.op1,
                7,
                op.crm,
                op.op2,
                min_el=2 if op.op1 == 4 else 1,
                access="WO",
                feature=op.feature,
                write=write,
            )
        )
    return regs
