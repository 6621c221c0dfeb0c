"""FEAT_PAN, FEAT_PAN2 and FEAT_PAN3: Privileged Access Never (feature "pan").

The kernel keeps PSTATE.PAN (``cpu.pan``), saves it in SPSR bit 22 and
restores it on ERET while this feature is enabled; the MMU plugin checks the
permission of a privileged data access against the memory context's "PAN in
effect" answer and offers AT S1E1RP/S1E1WP with this feature. This plugin
owns the rest:

* ID_AA64MMFR1_EL1.PAN: the model's level (1 PAN, 2 PAN2's AT variants,
  3 PAN3's SCTLR_ELx.EPAN), lowered to 0 when the feature is off;
* the PAN register (MRS/MSR) and ``MSR PAN, #imm``, UNDEF at EL0 (PAN §2);
* PSTATE.PAN on exception entry from SCTLR_ELx.SPAN (PAN §3);
* the answer to "does PAN restrict privileged accesses now" (PAN §4, §7),
  asked by the kernel when it builds a memory context, never per access.

FEAT_NV's rule that PAN is ignored under HCR_EL2.{NV, NV1} = {1, 1} (PAN §6,
NV-24) is FEAT_NV's own ``tryfirst`` answer to ``armnv_pan_active``: this
plugin does not know NV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework import hookimpl
from framework.api import ADVERTISED, Feature, IdField, SysReg, in_host, only_when, reg
from framework.arch import PSTATE_PAN, SCTLR_SPAN

if TYPE_CHECKING:
    from framework.api import CPUState, Machine

# PAN §1: ID_AA64MMFR1_EL1.PAN [23:20]
PAN_FIELD = IdField("ID_AA64MMFR1_EL1", 20, 4, "PAN")
# MSR <pstatefield>, #imm for PAN: op1 = 0, op2 = 4 (PAN §2)
MSR_IMM_PAN = (0, 4)


@hookimpl
def armnv_features() -> list[Feature]:
    return [
        Feature(
            "pan",
            "FEAT_PAN/PAN2/PAN3: PSTATE.PAN, SCTLR_ELx.SPAN, AT S1E1RP/WP, SCTLR_ELx.EPAN",
            id_fields=(PAN_FIELD,),
            default_on=(ADVERTISED,),  # PAN §1: every model (max 3, neoverse-n2/-v1 2)
        )
    ]


def _read_pan(cpu: CPUState) -> int:
    return PSTATE_PAN if cpu.pan else 0


def _write_pan(cpu: CPUState, value: int) -> None:
    set_pan(cpu, 1 if value & PSTATE_PAN else 0)


def set_pan(cpu: CPUState, value: int) -> None:
    if cpu.pan != value:
        cpu.pan = value
        cpu.machine.pstate_changed()  # another memory context: PAN selects the permissions cached


@hookimpl
def armnv_sysregs(machine: Machine) -> list[SysReg]:
    # PAN §2: (3,0,4,2,3), EL1 and above (op1 = 0 gives min_el 1: UNDEF at EL0)
    return [reg("PAN", 3, 0, 4, 2, 3, read=_read_pan, write=_write_pan)]


@hookimpl
def armnv_msr_immediate(cpu: CPUState, op1: int, op2: int, crm: int) -> bool | None:
    if (op1, op2) != MSR_IMM_PAN or cpu.el == 0:
        return None  # PAN §2: UNDEF at EL0 (nobody else performs it)
    set_pan(cpu, crm & 1)
    return True


def _entry_may_set_pan(cpu: CPUState) -> bool:
    # the entries that can set PAN: to EL1 with SCTLR_EL1.SPAN = 0, to a host EL2 with SCTLR_EL2.SPAN = 0
    sr = cpu.sr
    return not sr["SCTLR_EL1"] & SCTLR_SPAN or (in_host(cpu) and not sr["SCTLR_EL2"] & SCTLR_SPAN)


@hookimpl
@only_when(_entry_may_set_pan)
def armnv_entry_pstate(cpu: CPUState, target_el: int) -> None:
    # PAN §3: entry to EL1, or to EL2 with {E2H, TGE} = {1, 1}, sets PAN unless SCTLR_ELx.SPAN
    if target_el == 2 and not in_host(cpu):
        return
    if not cpu.sr[f"SCTLR_EL{target_el}"] & SCTLR_SPAN:
        cpu.pan = 1


@hookimpl
def armnv_pan_active(cpu: CPUState) -> bool | None:
    # PAN §4, §7: PSTATE.PAN at EL1 and EL2. The MMU applies it only in a regime with EL0
    # (EL1&0, EL2&0), so at EL2 with E2H = 0 it reaches nothing but AT S1E1RP/WP, which
    # check the EL1&0 regime with the current PSTATE.PAN
    return bool(cpu.pan) and cpu.el != 0


@hookimpl
def armnv_cpu_dump(cpu: CPUState) -> list[str]:
    return ["PAN"] if cpu.pan else []
