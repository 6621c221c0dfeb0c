"""VMSAv8-64 MMU: stage 1 and stage 2 translation, AT and TLBI (feature "mmu").

The kernel asks `armnv_translate` on every software-TLB miss; the walker
(`walk.py`) answers with a `Translation` or a `TranslationFault`, or None
when no translation is in force. AT and TLBI are system-instruction rows
(`at.py`, `tlbi.py`) contributed through `armnv_sysregs`. Per-machine state
(what the model implements, which hooks other plugins implement) lives in a
`Walker` attached to the machine's memory system, told when a plugin joins the
machine (`armnv_plugins_changed`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework import hookimpl
from framework.api import ADVERTISED, EVERY_MODEL, Feature, IdField
from plugins.mmu.at import at_registers
from plugins.mmu.tlbi import tlbi_registers
from plugins.mmu.walk import Walker

if TYPE_CHECKING:
    from framework.api import Access, CPUState, Machine, SysReg, Translation


def walker(machine: Machine) -> Walker:
    """The machine's Walker (made on first use, when every plugin is registered)."""
    w = machine.mem.mmu
    if w is None:
        w = machine.mem.mmu = Walker(machine)
    return w


MMFR0, MMFR1, MMFR2, ISAR0, ISAR1 = (f"ID_AA64{r}_EL1" for r in ("MMFR0", "MMFR1", "MMFR2", "ISAR0", "ISAR1"))

# Architectural features this plugin implements on top of "mmu", each with the ID fields that
# advertise it: on by default wherever the model's values do. Where a field has further levels
# (TGran16 = 2 and TGran16_2 = 3 are FEAT_LPA2, HPDS = 2 is FEAT_HPDS2) the claim stops below them.
MMU_FEATURES = (
    (
        "tgran16",
        "16 KiB translation granule",
        (IdField(MMFR0, 20, 4, "TGran16", top=1), IdField(MMFR0, 32, 4, "TGran16_2", absent=1, top=2)),
    ),
    ("asid16", "16-bit ASIDs (TCR_ELx.AS)", (IdField(MMFR0, 4, 4, "ASIDBits"),)),
    ("vmid16", "16-bit VMIDs (VTCR_EL2.VS)", (IdField(MMFR1, 4, 4, "VMIDBits"),)),
    (
        "hafdbs",
        "FEAT_HAFDBS: hardware Access flag and dirty state (TCR.HA/HD, DBM)",
        (IdField(MMFR1, 0, 4, "HAFDBS"),),
    ),
    ("hpds", "FEAT_HPDS: hierarchical permission disables (TCR.HPDn)", (IdField(MMFR1, 12, 4, "HPDS", top=1),)),
    ("xnx", "FEAT_XNX: stage-2 execute-never for EL0 and EL1 separately", (IdField(MMFR1, 28, 4, "XNX"),)),
    ("ttst", "FEAT_TTST: small translation tables (TnSZ up to 48)", (IdField(MMFR2, 28, 4, "ST"),)),
    ("cnp", "FEAT_TTCNP: the TTBR CnP bit (accepted; one PE)", (IdField(MMFR2, 0, 4, "CnP"),)),
    ("tlbios", "FEAT_TLBIOS: TLBI outer-shareable forms", (IdField(ISAR0, 56, 4, "TLB", top=1),)),
    ("tlbirange", "FEAT_TLBIRANGE: TLBI range forms", (IdField(ISAR0, 56, 4, "TLB", absent=1),)),
    ("xs", "FEAT_XS: TLBI nXS forms (the XS attribute is a hint)", (IdField(ISAR1, 56, 4, "XS"),)),
)


@hookimpl
def armnv_features() -> list[Feature]:
    # VMSAv8-64 is part of every AArch64 PE, so every model has the MMU
    features = [Feature("mmu", "VMSAv8-64 stage 1 and stage 2 translation, AT and TLBI", default_on=(EVERY_MODEL,))]
    features += [
        Feature(name, text, requires=("mmu",), id_fields=fields, default_on=(ADVERTISED,))
        for name, text, fields in MMU_FEATURES
    ]
    return features


@hookimpl
def armnv_sysregs(machine: Machine) -> list[SysReg]:
    return at_registers(walker) + tlbi_registers(machine)


@hookimpl
def armnv_machine_built(machine: Machine) -> None:
    walker(machine)


@hookimpl
def armnv_plugins_changed(machine: Machine) -> None:
    walker(machine).hooks_changed()


@hookimpl
def armnv_translate(cpu: CPUState, va: int, access: Access) -> Translation | None:
    return walker(cpu.machine).translate(cpu, va, access)
