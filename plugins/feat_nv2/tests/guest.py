"""Helpers for the FEAT_NV2 tests: the VNCR table, where a register lives, one-exception guests.

The rows of `vncr.csv` are read here as test data; whether a row's register
exists on a machine is judged from the guest-visible ID registers with
`test_nv_encodings.feature_present` (the conditions of the FEAT_NV table),
plus the few features that table does not name.
"""

from __future__ import annotations

import csv
from pathlib import Path

from plugins.feat_nv.tests.guest import encodings
from plugins.feat_nv.tests.test_nv_encodings import feature_present, field

VNCR = 0x4070_0000  # the VNCR page: RAM, above the guest's image, stack and results
SENTINEL = 0xEEEE_0000_0000_0000  # a slot nobody wrote holds SENTINEL | offset

# features of vncr.csv rows that the FEAT_NV encodings table does not name, by ID register field
EXTRA = {
    "FEAT_FGT2": lambda m: field(m.id_value("ID_AA64MMFR0_EL1"), 56) >= 2,
    "FEAT_AMUv1": lambda m: field(m.id_value("ID_AA64PFR0_EL1"), 44) >= 1,
    "FEAT_S1POE": lambda m: field(m.id_value("ID_AA64MMFR3_EL1"), 16) >= 1,
    "FEAT_SPE": lambda m: field(m.id_value("ID_AA64DFR0_EL1"), 32) >= 1,
    "FEAT_TRF": lambda m: field(m.id_value("ID_AA64DFR0_EL1"), 40) >= 1,
    "FEAT_MPAM": lambda m: (
        field(m.id_value("ID_AA64PFR0_EL1"), 40) >= 1 or field(m.id_value("ID_AA64PFR1_EL1"), 16) >= 1
    ),
}
EXTRA_ROWS = {
    "HDFGRTR2_EL2": "FEAT_FGT2",
    "HDFGWTR2_EL2": "FEAT_FGT2",
    "HFGRTR2_EL2": "FEAT_FGT2",
    "HFGWTR2_EL2": "FEAT_FGT2",
    "HFGITR2_EL2": "FEAT_FGT2",
    "HAFGRTR_EL2": "FEAT_AMUv1",
    "POR_EL1": "FEAT_S1POE",
    "POR_EL12": "FEAT_S1POE",
    "TRFCR_EL1": "FEAT_TRF",
    "TRFCR_EL12": "FEAT_TRF",
}


def vncr_rows() -> list[dict]:
    """Every row of the plugin's VNCR table, with its encoding and offset as ints."""
    with Path(__file__).parents[1].joinpath("vncr.csv").open() as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        for k in ("op0", "op1", "crn", "crm", "op2"):
            row[k] = int(row[k])
        row["offset"] = int(row["offset"], 16)
    return rows


def el12_name(name: str) -> str:
    return name.replace("_EL0", "_EL02") if name.startswith("CNT") else name.replace("_EL1", "_EL12")


def exists(m, row: dict) -> bool:
    """Whether the row's register exists on machine `m`, judged from its ID registers (NV2-19)."""
    name = row["name"]
    if name in EXTRA_ROWS:
        return EXTRA[EXTRA_ROWS[name]](m)
    if name.startswith(("PMS", "PMB")):
        return EXTRA["FEAT_SPE"](m)
    if name.startswith("MPAM"):
        return EXTRA["FEAT_MPAM"](m)
    conds = {r["name"]: r["exists_when"] for r in encodings()}
    if row["op1"] in (0, 3):
        # an EL1 register exists with the feature of its *_EL12 accessor (FEAT_VHE is on every model)
        cond = conds.get(el12_name(name), "")
    else:
        cond = conds[name]
    return feature_present(m, cond, name)


def key_word(row: dict, read: bool, rt: int) -> int:
    enc = row["op0"] << 19 | row["op1"] << 16 | row["crn"] << 12 | row["crm"] << 8 | row["op2"] << 5
    return (0xD5200000 if read else 0xD5000000) | enc | rt


HCR_RW = 1 << 31
HCR_NV = 1 << 42
HCR_NV2 = 1 << 45
NV2 = HCR_NV | HCR_NV2

EC_DABT_SAME = 0x25
ISS_VNCR = 1 << 13
IL = 1 << 25


def vncr_esr(dfsc: int, write: bool) -> int:
    """ESR_EL2 of a fault on a VNCR access, from the ESR layout of NV2-14: EC 0x25, IL, VNCR, WnR."""
    return EC_DABT_SAME << 26 | IL | ISS_VNCR | int(write) << 6 | dfsc


def fill(m, base: int = VNCR) -> None:
    """Every slot of the page at `base` holds SENTINEL | its offset."""
    for off in range(0, 0x1000, 8):
        m.bus.write(base + off, 8, SENTINEL | off)


def nv2_run(run_asm, body: str, hcr: int = NV2, *, vncr: int = VNCR, cpu: str = "max", setup=None, **kw):
    """Run `body` at EL1h with HCR_EL2 = RW | `hcr` and VNCR_EL2 = `vncr` (the page filled);
    every vector stops the machine unless `hvc` handles the synchronous exceptions taken to EL2."""
    from plugins.mmu.tests.guest import run

    el2 = {"vncr_el2": vncr} if "nv2=off" not in cpu else {}
    el2["hcr_el2"] = HCR_RW | hcr
    return run(run_asm, body, setup or fill, cpu=cpu, el=kw.pop("el", 1), el2=el2, **kw)


def slot(m, offset: int, base: int = VNCR) -> int:
    return m.bus.read(base + offset, 8)
