"""The FEAT_NV2 decision for an MRS/MSR at an NV2-active EL1 (NV2-04 … NV2-10, NV2-19).

Order (NV-12, NV2-08): an encoding this machine does not implement is left to
the kernel (UNDEF, after its TIDCP trap: NV2-19); SPSR/ELR/ESR/FAR_EL2 reach
the EL1 registers (NV2-10); a register with a slot whose NV1 condition holds
becomes a memory access (NV2-04), after the EL1 register's own trap controls
for the FOO_EL1/CNTx_*_EL0 encodings (NV2-08 step 3); anything else is left to
FEAT_NV's trap (NV2-09).
"""

from __future__ import annotations

import csv
import functools
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from framework.api import Allow, ToMemory, kernel_decision
from framework.api import syndrome as syn
from framework.arch import HCR_NV1, VNCR_BADDR, VNCR_RESS

if TYPE_CHECKING:
    from framework.api import CPUState, Decision, SysReg

# NV2-10: EL2 registers that reach their EL1 counterpart (same encoding with op1 = 0)
EL1_REDIRECTS = {
    syn.make_key(3, 4, 4, 0, 0): "SPSR_EL1",
    syn.make_key(3, 4, 4, 0, 1): "ELR_EL1",
    syn.make_key(3, 4, 5, 2, 0): "ESR_EL1",
    syn.make_key(3, 4, 6, 0, 0): "FAR_EL1",
    syn.make_key(3, 4, 5, 6, 0): "TFSR_EL1",
}


@attrs.define(frozen=True, slots=True)
class Slot:
    """One row of the VNCR table: where a register lives in the page, and when."""

    name: str
    offset: int
    nv1: str  # "any", "0" (only with NV1 = 0: the *_EL12/*_EL02 accessors), "1" (only with NV1 = 1)

    def applies(self, nv1: bool) -> bool:
        return self.nv1 == "any" or (self.nv1 == "1") == nv1


@functools.cache
def slots() -> dict[int, Slot]:
    """The VNCR page layout by encoding key (NV2-17: the table shipped with the plugin)."""
    table: dict[int, Slot] = {}
    with Path(__file__).with_name("vncr.csv").open() as f:
        for row in csv.DictReader(f):
            key = syn.make_key(*(int(row[k]) for k in ("op0", "op1", "crn", "crm", "op2")))
            table[key] = Slot(row["name"], int(row["offset"], 16), row["nv1"])
    return table


def vncr_address(vncr: int, offset: int) -> tuple[int, int | None]:
    """The slot's VA, and a fault status code when RESS does not repeat bit 56 (NV2-03)."""
    ress = VNCR_RESS.get(vncr)
    top = VNCR_BADDR.get(vncr) >> (VNCR_BADDR.width - 1)  # bit 56
    fsc = None if ress == (VNCR_RESS.ones if top else 0) else syn.FSC_TRANSLATION  # level 0
    return (vncr & (VNCR_BADDR.mask | VNCR_RESS.mask)) + offset, fsc


def exists(cpu: CPUState, reg: SysReg | None) -> bool:
    return reg is not None and (reg.feature is None or reg.feature in cpu.machine.features)


def nv2_access(cpu: CPUState, reg: SysReg | None, key: int, is_read: bool) -> Decision | None:
    if not exists(cpu, reg):
        return None  # NV2-19: unallocated here, the kernel UNDEFs it
    el1_name = EL1_REDIRECTS.get(key)
    if el1_name is not None:
        return Allow(cpu.machine.sysregs[el1_name])  # NV2-10: no EL1 trap checks
    slot = slots().get(key)
    if slot is None or not slot.applies(bool(cpu.sr["HCR_EL2"] & HCR_NV1)):
        return None  # NV2-09: FEAT_NV traps it (op1 = 4/5) or the access is ordinary
    if syn.split_key(key)[1] in (0, 3):
        # NV2-08: a FOO_EL1 / CNTx_*_EL0 encoding keeps its EL1 trap controls (TVM, TRVM, TACR,
        # the timer enables, MDCR_EL2.TDA…), which win over the redirect
        decision = kernel_decision(cpu, reg, is_read, key)
        if type(decision) is not Allow:
            return decision
    va, fsc = vncr_address(cpu.sr["VNCR_EL2"], slot.offset)
    return ToMemory(va, fsc=fsc, rule="NV2-04", why=f"VNCR_EL2 + {slot.offset:#x}")
