"""FEAT_NV2: VNCR_EL2 turns a guest hypervisor's register accesses into memory accesses (feature "nv2").

While HCR_EL2.{NV, NV2} = {1, 1} at EL1, an MRS/MSR of a register that has a
slot in the VNCR page (the table `vncr.csv`, shipped with this plugin) becomes
a 64-bit load or store at VNCR_EL2.BADDR + offset, made in the EL2 regime (the
kernel's `ToMemory` decision); SPSR_EL2, ELR_EL2, ESR_EL2 and FAR_EL2 reach
the EL1 registers; everything else keeps FEAT_NV's trap. This plugin's answer
to `armnv_sysreg_access` is ``tryfirst`` so that it is asked before FEAT_NV's
(NV-12). It never imports another plugin: the GIC's ICH_* rows apply as soon
as some plugin defines those registers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework import hookimpl
from framework.api import ADVERTISED, Feature, IdField, SysReg, only_when, reg
from framework.arch import HCR_NV, HCR_NV2, PSTATE_EL, VNCR_BADDR, VNCR_RESS
from plugins.feat_nv2.redirect import nv2_access

if TYPE_CHECKING:
    from framework.api import CPUState, Decision, Machine

# NV2-01: ID_AA64MMFR2_EL1.NV = 2 (with nv2 off the field is lowered to 1, FEAT_NV)
NV2_FIELD = IdField("ID_AA64MMFR2_EL1", 24, 4, "NV", absent=1)


@hookimpl
def armnv_features() -> list[Feature]:
    return [
        Feature(
            "nv2",
            "FEAT_NV2: VNCR_EL2; EL1 register accesses under NV become memory accesses (HCR_EL2.NV2)",
            requires=("nv",),
            id_fields=(NV2_FIELD,),
            default_on=(ADVERTISED,),  # NV-01: all three models report NV = 2
        )
    ]


@hookimpl
def armnv_hcr_bits(machine: Machine) -> int:
    return HCR_NV2  # NV2-01, NV-03


@hookimpl
def armnv_sysregs(machine: Machine) -> list[SysReg]:
    # NV2-02, NV2-03: BADDR [56:12] and RESS [63:57] stored as written, [11:0] RES0
    # decides: the address of every redirected access is made of it
    return [reg("VNCR_EL2", 3, 4, 2, 2, 0, wmask=VNCR_BADDR.mask | VNCR_RESS.mask, decides=True)]


@hookimpl(tryfirst=True)
def armnv_sysreg_access(cpu: CPUState, reg: SysReg | None, key: int, is_read: bool, rt: int) -> Decision | None:
    if cpu.el != 1 or cpu.sr["HCR_EL2"] & (HCR_NV | HCR_NV2) != HCR_NV | HCR_NV2:
        return None  # NV2-01: only an NV2-active EL1
    return nv2_access(cpu, reg, key, is_read)


def _nv_nv2_set(cpu: CPUState) -> bool:
    return cpu.sr["HCR_EL2"] & (HCR_NV | HCR_NV2) == HCR_NV | HCR_NV2


@hookimpl(tryfirst=True)
@only_when(_nv_nv2_set)
def armnv_exception_entry(cpu: CPUState, from_el: int, target_el: int, spsr: int, esr: int | None) -> int | None:
    # NV2-11: EL1 -> EL1 with NV = NV2 = 1 records EL2 in SPSR_EL1.M, whatever NV1 is
    if from_el == 1 and target_el == 1 and cpu.sr["HCR_EL2"] & (HCR_NV | HCR_NV2) == HCR_NV | HCR_NV2:
        return (spsr & ~PSTATE_EL.mask) | PSTATE_EL.put(2)
    return None
