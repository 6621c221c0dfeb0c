"""GICv3 on the virt board (feature "gicv3"): distributor, redistributor, CPU interface, virtualization.

With the feature on, the board gets the distributor at 0x0800_0000 and the
PE's redistributor (RD_base, then SGI_base 64 KiB later) at 0x080A_0000; the
GIC attaches itself to the kernel's `Interrupts` and from then on receives the
timers' PPIs and drives the CPU's IRQ and FIQ lines and its virtual IRQ/FIQ
(through ``virtual_sources``). Off (``--cpu max,gicv3=off``) the board has no
GIC: ID_AA64PFR0_EL1.GIC reads 0, the ICC_* and ICH_* encodings UNDEF and the
timers drive the IRQ line directly.

The module layout: `gic` holds the interrupt state and the physical CPU
interface, `dist` the MMIO frames, `virt` the list registers and the ICV
operations, `regs` the system-register rows. Rule IDs are the rules
reference's GIC-01 … GIC-14.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework import hookimpl
from framework.api import ADVERTISED, GIC_PPI, IRQ_LEVEL_HIGH, Feature, IdField, SysReg, fdt_cells
from plugins.gicv3.dist import DIST_FRAME_SIZE, REDIST_SIZE
from plugins.gicv3.gic import GIC, MAINTENANCE_PPI
from plugins.gicv3.regs import FEATURE, icc_registers, ich_registers
from plugins.gicv3.virt import VirtualInterface, model_vtr

if TYPE_CHECKING:
    from framework.api import DeviceTree, Machine

# ID_AA64PFR0_EL1.GIC [27:24]: 1 = the GICv3 system-register CPU interface
GIC_FIELD = IdField("ID_AA64PFR0_EL1", 24, 4, "GIC")
VIRT_GICD_BASE = 0x0800_0000
VIRT_GICR_BASE = 0x080A_0000


@hookimpl
def armnv_features() -> list[Feature]:
    return [
        Feature(
            FEATURE,
            "GICv3: distributor, redistributor, ICC_* CPU interface, ICH_*/ICV_* virtualization",
            id_fields=(GIC_FIELD,),
            default_on=(ADVERTISED,),  # GIC-01: every model
        )
    ]


@hookimpl
def armnv_sysregs(machine: Machine) -> list[SysReg]:
    return icc_registers(machine) + ich_registers(machine)


@hookimpl
def armnv_devices(machine: Machine) -> None:
    gic = GIC(machine)
    vif = VirtualInterface(gic, model_vtr(machine))
    machine.devices["gic"] = gic
    machine.devices["gic_virtual"] = vif
    machine.bus.add_device(VIRT_GICD_BASE, DIST_FRAME_SIZE, gic.distributor, "gicv3-distributor")
    machine.bus.add_device(VIRT_GICR_BASE, REDIST_SIZE, gic.redistributor, "gicv3-redistributor")
    machine.interrupts.attach_controller(gic)


@hookimpl
def armnv_device_tree(machine: Machine, tree: DeviceTree) -> None:
    # QEMU's node: one redistributor region, no ITS (there is none), and with EL2 the
    # maintenance interrupt
    handle = tree.phandle()
    regions = (VIRT_GICD_BASE, DIST_FRAME_SIZE, VIRT_GICR_BASE, REDIST_SIZE)
    node: dict = {
        "compatible": "arm,gic-v3",
        "#interrupt-cells": [3],
        "interrupt-controller": None,
        "#address-cells": [2],
        "#size-cells": [2],
        "ranges": None,
        "#redistributor-regions": [1],
        "reg": [cell for value in regions for cell in fdt_cells(value)],
        "phandle": [handle],
    }
    if "el2" in machine.features:
        node["interrupts"] = [GIC_PPI, MAINTENANCE_PPI - 16, IRQ_LEVEL_HIGH]
    tree.add_node("/", f"intc@{VIRT_GICD_BASE:x}", node)
    tree.interrupt_parent = handle
