"""CPU models max, neoverse-n2 and neoverse-v1: identification registers and default features.

The values are the ones the reference emulator presents to software
(spec cpu-models.csv, copied here as `id_registers.csv`).
"""

from __future__ import annotations

import csv
import functools
from importlib import resources

from framework import hookimpl
from framework.plugins import CpuModel

DESCRIPTIONS = {
    "max": "all features armnv implements (QEMU's -cpu max)",
    "neoverse-n2": "Arm Neoverse N2 r0p3 (Armv9.0)",
    "neoverse-v1": "Arm Neoverse V1 r1p2 (Armv8.4)",
}

# registers the CSV reports that are not plain ID registers (handled elsewhere)
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
def armnv_cpu_models() -> list[CpuModel]:
    table = load_table()
    models = []
    for name, regs in table.items():
        id_regs = {r: v for r, v in regs.items() if not r.startswith(_NOT_ID)}
        extra = {r: v[5] for r, v in regs.items() if r.startswith(_NOT_ID)}
        models.append(CpuModel(name, DESCRIPTIONS.get(name, name), id_regs, default_features=(), extra=extra))
    return models
