"""CPU models max, neoverse-n2 and neoverse-v1: identification registers and default features.

The values are the ones the reference emulator presents to software (spec
cpu-models.csv, copied here as `id_registers.csv`); `fields.py` gives their
field layout, so that a field no enabled feature claims reads as "not
implemented". The models name no default features of their own: every
feature says where it is on by default (`Feature.default_on`), most of them
"where the model's values advertise it". The plugin also declares the
features the kernel itself implements (`features.py`) and turns the selected
model — whichever plugin declared it — into system-register definitions
(`registers.py`).
"""

from __future__ import annotations

import csv
import functools
from importlib import resources
from typing import TYPE_CHECKING

from framework import hookimpl
from framework.api import CpuModel, Feature
from framework.arch import HCR_ARMV80_BITS, HCR_AT, HCR_E2H, HCR_NV, HCR_NV1, HCR_NV2, HCR_RW
from plugins.cpu_models.features import declared_features
from plugins.cpu_models.fields import LAYOUT
from plugins.cpu_models.registers import feature_gated, id_registers

if TYPE_CHECKING:
    from framework.api import Machine, SysReg

DESCRIPTIONS = {
    "max": "all features armnv implements (QEMU's -cpu max)",
    "neoverse-n2": "Arm Neoverse N2 r0p3 (Armv9.0)",
    "neoverse-v1": "Arm Neoverse V1 r1p2 (Armv8.4)",
}

# cpu-models.md §7: HCR_EL2 value read back after writing all ones, and the reset value
# (RW [31] is RAO/WI on the AArch64-only-EL1 Neoverse cores)
HCR_ALL_ONES = {"max": 0x00F67F3FFFFFFFFF, "neoverse-n2": 0x00F67F3FFFFFFFFF, "neoverse-v1": 0x00D67F3FFFFFFFFF}
HCR_RES1 = {"max": 0, "neoverse-n2": HCR_RW, "neoverse-v1": HCR_RW}
# bits the kernel owns ([33:0], E2H) and the ones FEAT_NV/FEAT_NV2 contribute (NV, NV1, AT, NV2)
HCR_KERNEL_BITS = HCR_ARMV80_BITS | HCR_E2H
HCR_NV_BITS = HCR_NV | HCR_NV1 | HCR_AT | HCR_NV2

# rows of the CSV that are not plain ID registers (kept in CpuModel.extra)
_NOT_ID = ("CCSIDR", "PMCR_EL0", "ICH_VTR_EL2", "CNTFRQ_EL0")


@functools.cache
def load_table() -> dict[str, dict[str, tuple[int, int, int, int, int, int]]]:
    """model -> register name -> (op0, op1, CRn, CRm, op2, value)."""
    table: dict[str, dict[str, tuple[int, int, int, int, int, int]]] = {}
    text = resources.files(__package__).joinpath("id_registers.csv").read_text()
    for row in csv.DictReader(text.splitlines()):
        enc = tuple(int(row[k]) for k in ("op0", "op1", "crn", "crm", "op2"))
        table.setdefault(row["model"], {})[row["register"]] = (*enc, int(row["value_hex"], 16))
    return table


@hookimpl
def armnv_features() -> list[Feature]:
    return declared_features()


@hookimpl
def armnv_cpu_models() -> list[CpuModel]:
    models = []
    for name, regs in load_table().items():
        id_regs = {r: v for r, v in regs.items() if not r.startswith(_NOT_ID)}
        extra = {r: v[5] for r, v in regs.items() if r.startswith(_NOT_ID)}
        if name in HCR_ALL_ONES:
            extra["HCR_EL2.res1"] = HCR_RES1[name]
            extra["HCR_EL2.writable"] = HCR_ALL_ONES[name] & ~HCR_RES1[name]
        models.append(
            CpuModel(
                name,
                DESCRIPTIONS.get(name, name),
                id_regs,
                extra=extra,
                id_fields=LAYOUT,
            )
        )
    return models


@hookimpl
def armnv_hcr_bits(machine: Machine) -> int:
    # the model's own bits (TLOR, TERR, TEA, APK, API, FWB, TID4, TICAB, TOCU, TTLBIS, TTLBOS, EnSCXT);
    # NV/NV1/AT/NV2 come from the nv and nv2 plugins when they are enabled (nv.md NV-02, NV-03)
    return machine.model.extra.get("HCR_EL2.writable", 0) & ~HCR_KERNEL_BITS & ~HCR_NV_BITS


@hookimpl
def armnv_sysregs(machine: Machine) -> list[SysReg]:
    return id_registers(machine) + feature_gated(machine)
