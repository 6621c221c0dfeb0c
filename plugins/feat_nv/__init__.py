"""FEAT_NV: a guest hypervisor at EL1 that believes it is at EL2 (feature "nv").

With HCR_EL2.NV = 1, code at EL1 may execute the EL2-level instructions that
would otherwise UNDEF: they trap to EL2 with a syndrome the host hypervisor
(L0) decodes and emulates against its copy of the guest hypervisor's (L1's)
"virtual EL2" state. ERET traps too, CurrentEL reads EL2, and exceptions that
L1 takes to itself report EL2 in SPSR_EL1.M. HCR_EL2.NV1 = 1 makes EL1 look
like a non-VHE EL2 (more traps, EL2 page-table format, no PAN, privileged
LDTR/STTR); HCR_EL2.AT traps the EL1 address-translation instructions.

Every rule cites its item of the rules reference (NV-01 … NV-38); the
decision for a system-register access is in `traps.py`, the rest is here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework import hookimpl
from framework.api import ADVERTISED, Feature, IdField, Trap, only_when
from framework.arch import (
    DESC_AP1,
    DESC_PXN,
    DESC_PXNTABLE,
    DESC_UXN,
    DESC_XNTABLE,
    HCR_AT,
    HCR_NV,
    HCR_NV1,
    HCR_NV2,
    PSTATE_EL,
)
from framework.arch import DESC_APTABLE as _APTABLE
from plugins.feat_nv.traps import nv_access

if TYPE_CHECKING:
    from framework.api import CPUState, Decision, Machine, SysReg

# NV-01: ID_AA64MMFR2_EL1.NV [27:24]: 1 = FEAT_NV (2 = FEAT_NV2, the nv2 feature's level)
NV_FIELD = IdField("ID_AA64MMFR2_EL1", 24, 4, "NV", top=1)
APTABLE0 = 1 << _APTABLE.shift  # APTable[0]: no EL0 access below this table


@hookimpl
def armnv_features() -> list[Feature]:
    return [
        Feature(
            "nv",
            "FEAT_NV: EL2 instructions at EL1 trap to EL2 (HCR_EL2.NV, NV1, AT)",
            requires=("el2", "vhe"),
            id_fields=(NV_FIELD,),
            default_on=(ADVERTISED,),  # NV-01: all three models
        )
    ]


@hookimpl
def armnv_hcr_bits(machine: Machine) -> int:
    # NV-02: NV, NV1 and AT are writable with FEAT_NV (NV1 too: the models have E2H0 = 0)
    return HCR_NV | HCR_NV1 | HCR_AT


def _nv(cpu: CPUState) -> int:
    """HCR_EL2 when the PE is NV-active (EL1 with NV = 1), else 0 (NV-04: nothing applies)."""
    if cpu.el != 1:
        return 0
    hcr = cpu.sr["HCR_EL2"]
    return hcr if hcr & HCR_NV else 0


@hookimpl
def armnv_sysreg_access(cpu: CPUState, reg: SysReg | None, key: int, is_read: bool, rt: int) -> Decision | None:
    # NV-06 … NV-21: the trap decision (NV2's redirections are asked first, tryfirst)
    if cpu.el != 1:
        return None
    return nv_access(cpu, reg, key)


@hookimpl
def armnv_current_el(cpu: CPUState) -> int | None:
    # NV-20: CurrentEL reads EL2 at an NV-active EL1 (PSTATE.EL stays 1)
    return 2 if _nv(cpu) else None


def _nv_set(cpu: CPUState) -> int:
    """HCR_EL2.NV, whatever the EL: while it is 0 no entry or ERET rule of this feature applies."""
    return cpu.sr["HCR_EL2"] & HCR_NV


@hookimpl
@only_when(_nv_set)
def armnv_exception_entry(cpu: CPUState, from_el: int, target_el: int, spsr: int, esr: int | None) -> int | None:
    # NV-27: EL1 -> EL1 with {NV, NV1, NV2} = {1, 0, 0} records EL2 in SPSR_EL1.M[3:2]
    # (NV2-11, the rule with NV2 = 1, is the nv2 feature's)
    if from_el == 1 and target_el == 1 and _nv(cpu) & (HCR_NV | HCR_NV1 | HCR_NV2) == HCR_NV:
        return (spsr & ~PSTATE_EL.mask) | PSTATE_EL.put(2)
    return None


# NV-15: ERET at an NV-active EL1 traps to EL2 (EC 0x1A, ISS 0), whatever NV1/NV2/E2H
ERET_TRAP = Trap(2, rule="NV-15", why="HCR_EL2.NV=1")


@hookimpl
@only_when(_nv_set)
def armnv_eret(cpu: CPUState, pc: int) -> Decision | None:
    return ERET_TRAP if _nv(cpu) else None


def _nv_nv1(cpu: CPUState) -> bool:
    return _nv(cpu) & HCR_NV1 != 0


@hookimpl(tryfirst=True)
def armnv_pan_active(cpu: CPUState) -> bool | None:
    # NV-24: PSTATE.PAN is ignored with {NV, NV1} = {1, 1}; first, so the pan plugin's answer is not asked
    return False if _nv_nv1(cpu) else None


@hookimpl
def armnv_unprivileged_el(cpu: CPUState) -> int | None:
    # NV-25: LDTR*/STTR* behave as LDR/STR with {NV, NV1} = {1, 1}
    return 1 if _nv_nv1(cpu) else None


@hookimpl
def armnv_descriptor(cpu: CPUState, regime: str, stage: int, desc: int, level: int, is_table: bool) -> int | None:
    # NV-26 applies whenever HCR_EL2.{NV, NV1} = {1, 1}, also to AT S1E1*/S12E1* made at EL2
    if stage != 1 or regime != "EL1&0":
        return None
    hcr = cpu.sr["HCR_EL2"]
    if hcr & (HCR_NV | HCR_NV1) != HCR_NV | HCR_NV1:
        return None
    if is_table:
        # bit 60 is PXNTable, bit 59 is ignored, APTable[0] reads as 0
        pxn = DESC_PXNTABLE if desc & DESC_XNTABLE else 0
        return (desc & ~(DESC_PXNTABLE | DESC_XNTABLE | APTABLE0)) | pxn
    # bit 54 is PXN, bit 53 is ignored, UXN is 0 and EL0 has no data access (AP[1] = 0)
    pxn = DESC_PXN if desc & DESC_UXN else 0
    return (desc & ~(DESC_PXN | DESC_UXN | DESC_AP1)) | pxn


@hookimpl
def armnv_cpu_dump(cpu: CPUState) -> list[str]:
    # NV-37: the PSTATE line ends with the set bits of HCR_EL2.{NV, NV1, NV2}
    hcr = cpu.sr["HCR_EL2"]
    return [name for name, bit in (("NV", HCR_NV), ("NV1", HCR_NV1), ("NV2", HCR_NV2)) if hcr & bit]
