"""The identification registers of the selected CPU model, as system-register definitions.

Values are the model's after the feature rule (`Machine.id_value`). Access
rules (cpu-models.md §7, syndromes.md §3):

* ID registers are read-only and readable from EL1; an EL0 read UNDEFs, which
  the kernel reports as EC 0x18 (FEAT_IDST); writes UNDEF.
* CTR_EL0 and DCZID_EL0 are readable at EL0. The traps of these encodings
  (SCTLR_ELx.UCT, HCR_EL2.TID1/TID2/TID3/TID4) are the kernel's
  (`framework.cpu.traps`): they hold for whatever row defines the register.
* DCZID_EL0.DZP says whether DC ZVA may be used at the current EL; it is 1
  while no plugin defines DC ZVA.
* CCSIDR_EL1 / CCSIDR2_EL1 return the geometry of the cache CSSELR_EL1
  selects (cpu-models.md §3); CCSIDR2_EL1 exists only with FEAT_CCIDX.
* Unallocated encodings of the group-3 space (op0=3, op1=0, CRn=0,
  CRm=1..7) are reserved, RAZ.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from framework.api import SysReg, el0_enabled, make_key, reg
from framework.arch import CSSELR_IND, CSSELR_LEVEL, DCZID_DZP, HCR_TDZ, SCTLR_DZE, hcr_eff
from plugins.cpu_models.features import KERNEL_FEATURES

if TYPE_CHECKING:
    from framework.api import CPUState, Machine

DC_ZVA = make_key(1, 3, 7, 4, 1)

# Registers the kernel defines itself (MIDR/MPIDR read VPIDR/VMPIDR at EL1)
KERNEL_OWNED = ("MIDR_EL1", "MPIDR_EL1")


def dczid_read(value: int) -> Callable[[CPUState], int]:
    """DCZID_EL0 with DZP = 1 where DC ZVA would not execute (absent, SCTLR_ELx.DZE, HCR_EL2.TDZ)."""

    def read(cpu: CPUState) -> int:
        machine = cpu.machine
        zva = machine.sysregs.get(DC_ZVA)
        prohibited = (
            zva is None
            or (zva.feature is not None and zva.feature not in machine.features)
            or (cpu.el == 0 and not el0_enabled(cpu, SCTLR_DZE))
            or (cpu.el <= 1 and bool(hcr_eff(cpu) & HCR_TDZ))
        )
        return (value & ~DCZID_DZP) | (DCZID_DZP if prohibited else 0)

    return read


def cache_id_read(by_csselr: dict[int, int]) -> Callable[[CPUState], int]:
    """CCSIDR_EL1 / CCSIDR2_EL1: the row CSSELR_EL1.{Level, InD} selects; unimplemented caches read 0."""

    def read(cpu: CPUState) -> int:
        return by_csselr.get(cpu.sr.get("CSSELR_EL1", 0) & (CSSELR_LEVEL.mask | CSSELR_IND), 0)

    return read


def _cache_rows(extra: dict[str, int], register: str) -> dict[int, int]:
    prefix = f"{register}(CSSELR="
    return {int(k[len(prefix) : -1]): v for k, v in extra.items() if k.startswith(prefix)}


def id_registers(machine: Machine) -> list[SysReg]:
    """Definitions of the model's ID registers, cache identification and the reserved group-3 space."""
    model = machine.model
    regs: list[SysReg] = []
    for name, (op0, op1, crn, crm, op2, _raw) in model.id_regs.items():
        if name in KERNEL_OWNED:
            continue
        value = machine.id_value(name)
        min_el = 0 if op1 == 3 else 1  # CTR_EL0, DCZID_EL0
        if name == "DCZID_EL0":
            regs.append(reg(name, op0, op1, crn, crm, op2, access="RO", min_el=min_el, read=dczid_read(value)))
        else:
            regs.append(reg(name, op0, op1, crn, crm, op2, access="RO", min_el=min_el, reset=value))
    ccsidr = _cache_rows(model.extra, "CCSIDR_EL1")
    regs.append(reg("CCSIDR_EL1", 3, 1, 0, 0, 0, access="RO", read=cache_id_read(ccsidr)))
    if (machine.id_value("ID_AA64MMFR2_EL1") >> 20) & 0xF:  # FEAT_CCIDX
        ccsidr2 = _cache_rows(model.extra, "CCSIDR2_EL1")
        regs.append(reg("CCSIDR2_EL1", 3, 1, 0, 0, 2, access="RO", read=cache_id_read(ccsidr2)))
    defined = {r.key for r in regs} | {r.key for r in machine.sysregs}
    for crm in range(1, 8):
        for op2 in range(8):
            if make_key(3, 0, 0, crm, op2) not in defined:
                regs.append(reg(f"S3_0_C0_C{crm}_{op2}", 3, 0, 0, crm, op2, access="RO"))
    return regs


def feature_gated(machine: Machine) -> list[SysReg]:
    """The kernel registers of the kernel features, refined to UNDEF while their feature is off."""
    return [
        attrs.evolve(machine.sysregs[name], feature=kf.name)
        for kf in KERNEL_FEATURES
        for name in kf.registers
        if name in machine.sysregs and machine.sysregs[name].feature is None
    ]
