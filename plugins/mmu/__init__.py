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
from framework.plugins import Feature
from plugins.mmu.at import at_registers
from plugins.mmu.tlbi import tlbi_registers
from plugins.mmu.walk import Walker

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.cpu.sysregs import SysReg
    from framework.machine import Machine
    from framework.vmem import Access, Translation


def walker(machine: Machine) -> Walker:
    """The machine's Walker (made on first use, when every plugin is registered)."""
    w = machine.mem.mmu
    if w is None:
        w = machine.mem.mmu = Walker(machine)
    return w


# Architectural features this plugin implements on top of "mmu"; the CPU models own the ID
# fields that advertise them (kept only while the feature is enabled)
MMU_FEATURES = (
    ("tgran16", "16 KiB translation granule"),
    ("asid16", "16-bit ASIDs (TCR_ELx.AS)"),
    ("vmid16", "16-bit VMIDs (VTCR_EL2.VS)"),
    ("hafdbs", "FEAT_HAFDBS: hardware Access flag and dirty state (TCR.HA/HD, DBM)"),
    ("hpds", "FEAT_HPDS: hierarchical permission disables (TCR.HPDn)"),
    ("xnx", "FEAT_XNX: stage-2 execute-never for EL0 and EL1 separately"),
    ("ttst", "FEAT_TTST: small translation tables (TnSZ up to 48)"),
    ("cnp", "FEAT_TTCNP: the TTBR CnP bit (accepted; one PE)"),
    ("tlbios", "FEAT_TLBIOS: TLBI outer-shareable forms"),
    ("tlbirange", "FEAT_TLBIRANGE: TLBI range forms"),
    ("xs", "FEAT_XS: TLBI nXS forms (the XS attribute is a hint)"),
)


@hookimpl
def armnv_features() -> list[Feature]:
    features = [Feature("mmu", "VMSAv8-64 stage 1 and stage 2 translation, AT and TLBI")]
    features += [Feature(name, text, requires=("mmu",)) for name, text in MMU_FEATURES]
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
