"""The flattened device tree of the virt board, as QEMU's ``virt`` describes the same devices.

The node names, compatibles, interrupt specifiers and phandle habits follow
QEMU's generated tree, so software written for QEMU finds the same things,
but only what this board has is described: RAM (from ``-m``), the CPU, PSCI
with the conduit armnv answers, the PL011 and its clock, the architected
timer, /chosen, and whatever plugins add through the ``armnv_device_tree``
hook (the GICv3 plugin adds its distributor and redistributor). There are no
virtio-mmio transports, no PCIe, no flash, no RTC, no GPIO, no ITS and no
PMU node, because armnv has none of them: an access to their addresses is a
synchronous external abort.

The blob is built with the ``fdt`` package (pure Python); a board's tree takes
well under a millisecond.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import attrs
import fdt

from framework.errors import ArmnvError

if TYPE_CHECKING:
    from framework.machine import Machine

FDT_MAGIC = b"\xd0\x0d\xfe\xed"
FDT_HEADER_SIZE = 40
# no board tree is anywhere near this; a larger --dtb file is refused rather than read whole
MAX_DTB_SIZE = 2 << 20

# GIC interrupt specifier cells (the binding of arm,gic-v3): type, number, flags
GIC_SPI = 0
GIC_PPI = 1
IRQ_LEVEL_HIGH = 4

UART_NODE = "pl011@9000000"
# QEMU's PL011 clock: a 24 MHz fixed clock named apb-pclk
UART_CLOCK_HZ = 24_000_000
UART_SPI = 1

# Architected timer PPIs (INTIDs) in the order of the arm,armv8-timer binding: secure physical,
# non-secure physical, virtual, EL2 physical, EL2 virtual. The first has no timer behind it
# (no EL3) but the binding's list is positional, as in QEMU's tree.
TIMER_SECURE_PPI = 29

# PSCI 0.1 function IDs, for software that reads them from the node ("arm,psci")
PSCI_NODE_IDS = (("cpu_suspend", 0xC400_0001), ("cpu_off", 0x8400_0002), ("cpu_on", 0xC400_0003))


@attrs.define(frozen=True, slots=True)
class BoardInfo:
    """What the kernel's part of the tree describes."""

    ram_base: int
    ram_size: int
    uart_base: int
    psci_method: str  # "smc" or "hvc": the conduit armnv answers for the start EL
    timer_ppis: tuple[int, ...]  # non-secure physical, virtual, then the EL2 ones the CPU has
    mpidr: int
    bootargs: str
    initrd: tuple[int, int] | None  # [start, end) in guest physical memory


class DeviceTree:
    """The tree under construction, handed to plugins by the ``armnv_device_tree`` hook."""

    def __init__(self) -> None:
        self.fdt = fdt.FDT()
        self._next_phandle = 0x8000
        # set by the plugin that provides the interrupt controller
        self.interrupt_parent: int | None = None

    def phandle(self) -> int:
        """A new phandle, numbered from 0x8000 as QEMU numbers them."""
        handle = self._next_phandle
        self._next_phandle += 1
        return handle

    def add_node(self, path: str, name: str, props: dict[str, str | list[str] | list[int] | bytes | None]) -> None:
        """Add node `name` under `path` ("/" for the root) with `props`.

        A property's value is a string, a list of strings, a list of 32-bit cells,
        bytes, or None for an empty property (``interrupt-controller;``).
        """
        node = fdt.Node(name)
        for key, value in props.items():
            node.append(_prop(key, value))
        self.fdt.add_item(node, path)

    def set_prop(self, path: str, key: str, value: str | list[str] | list[int] | bytes | None) -> None:
        self.fdt.add_item(_prop(key, value), path)

    def to_dtb(self) -> bytes:
        return self.fdt.to_dtb(version=17)


def _prop(key: str, value: str | list[str] | list[int] | bytes | None) -> fdt.Property:
    if value is None:
        return fdt.Property(key)
    if isinstance(value, str):
        return fdt.PropStrings(key, value)
    if isinstance(value, bytes):
        return fdt.PropBytes(key, data=value)
    if value and isinstance(value[0], str):
        return fdt.PropStrings(key, *value)
    return fdt.PropWords(key, *value)


def cells(value: int) -> list[int]:
    """A 64-bit address or size as two cells (#address-cells = #size-cells = 2)."""
    return [value >> 32, value & 0xFFFF_FFFF]


def board_info(machine: Machine, *, initrd: tuple[int, int] | None = None) -> BoardInfo:
    """What the kernel describes of `machine`."""
    from framework.devices.psci import AFFINITY_MASK
    from framework.devices.timer import TIMERS

    # without EL2 the EL2 timers are unreachable, so they are not described
    el2 = "el2" in machine.features
    ppis = [t.intid for t in TIMERS if el2 or not t.el2]
    return BoardInfo(
        ram_base=machine.bus.ram.base,
        ram_size=machine.bus.ram.size,
        uart_base=0x0900_0000,
        psci_method=machine.devices["psci"].conduit,
        timer_ppis=tuple(ppis),
        mpidr=machine.cpu.sr["MPIDR_EL1"] & AFFINITY_MASK,
        bootargs=machine.config.append,
        initrd=initrd,
    )


def build_dtb(machine: Machine, *, initrd: tuple[int, int] | None = None) -> bytes:
    """The board's flattened device tree for `machine`, with the initrd range in /chosen."""
    info = board_info(machine, initrd=initrd)
    tree = DeviceTree()
    root = tree.fdt.root
    for prop in (
        fdt.PropWords("#address-cells", 2),
        fdt.PropWords("#size-cells", 2),
        fdt.PropStrings("compatible", "linux,dummy-virt"),
        fdt.PropStrings("model", "linux,dummy-virt"),
    ):
        root.append(prop)

    clock = tree.phandle()
    tree.add_node(
        "/",
        "apb-pclk",
        {
            "compatible": "fixed-clock",
            "#clock-cells": [0],
            "clock-frequency": [UART_CLOCK_HZ],
            "clock-output-names": "clk24mhz",
            "phandle": [clock],
        },
    )
    cpu = tree.phandle()
    tree.add_node("/", "cpus", {"#address-cells": [1], "#size-cells": [0]})
    tree.add_node(
        "/cpus",
        "cpu@0",
        {
            "device_type": "cpu",
            "compatible": "arm,armv8",
            # one address cell: Aff2..Aff0 (the arm,cpus binding)
            "reg": [info.mpidr & 0xFF_FFFF],
            "enable-method": "psci",
            "phandle": [cpu],
        },
    )
    tree.add_node(
        "/",
        f"memory@{info.ram_base:x}",
        {"device_type": "memory", "reg": cells(info.ram_base) + cells(info.ram_size)},
    )
    psci: dict = {"compatible": ["arm,psci-1.0", "arm,psci-0.2", "arm,psci"], "method": info.psci_method}
    psci.update({name: [fid] for name, fid in PSCI_NODE_IDS})
    tree.add_node("/", "psci", psci)

    # plugins first: the interrupt controller's phandle is needed by the nodes below
    machine.hook.armnv_device_tree(machine=machine, tree=tree)
    irq = tree.interrupt_parent is not None
    if irq:
        root.append(fdt.PropWords("interrupt-parent", tree.interrupt_parent))

    uart: dict = {
        "compatible": ["arm,pl011", "arm,primecell"],
        "reg": cells(info.uart_base) + cells(0x1000),
        "clock-names": ["uartclk", "apb_pclk"],
        "clocks": [clock, clock],
    }
    if irq:
        uart["interrupts"] = [GIC_SPI, UART_SPI, IRQ_LEVEL_HIGH]
    tree.add_node("/", UART_NODE, uart)

    timer: dict = {"compatible": ["arm,armv8-timer", "arm,armv7-timer"], "always-on": None}
    if irq:
        specs = []
        for intid in (TIMER_SECURE_PPI, *info.timer_ppis):
            specs += [GIC_PPI, intid - 16, IRQ_LEVEL_HIGH]
        timer["interrupts"] = specs
    tree.add_node("/", "timer", timer)

    chosen: dict = {"stdout-path": f"/{UART_NODE}"}
    if info.bootargs:
        chosen["bootargs"] = bootargs_value(info.bootargs)
    if info.initrd is not None:
        chosen["linux,initrd-start"] = cells(info.initrd[0])
        chosen["linux,initrd-end"] = cells(info.initrd[1])
    tree.add_node("/", "chosen", chosen)
    return tree.to_dtb()


def bootargs_value(text: str) -> bytes:
    """``--append`` as the NUL-terminated bytes of a string property, whatever bytes it holds.

    The command line reaches Python with undecodable bytes as surrogate escapes;
    the guest gets the original bytes, as from QEMU (the fdt package's string
    properties accept only printable ASCII).
    """
    return os.fsencode(text) + b"\0"


def check_dtb(path: str, data: bytes) -> None:
    """Refuse what is not a flattened device tree (for ``--dtb``), with a one-line reason."""
    if len(data) < FDT_HEADER_SIZE or data[:4] != FDT_MAGIC:
        raise ArmnvError(f"{path}: not a flattened device tree (no d00dfeed magic)")
    total = int.from_bytes(data[4:8], "big")
    if total > len(data) or total < FDT_HEADER_SIZE:
        raise ArmnvError(f"{path}: malformed device tree (totalsize {total} but the file has {len(data)} bytes)")


def user_dtb(path: str, data: bytes, *, bootargs: str, initrd: tuple[int, int] | None) -> bytes:
    """The user's tree (``--dtb``), with /chosen updated for ``--append`` and ``--initrd`` as QEMU does."""
    check_dtb(path, data)
    if not bootargs and initrd is None:
        return data[: int.from_bytes(data[4:8], "big")]
    try:
        tree = fdt.parse_dtb(data)
        # /chosen is created when the user's tree has none
        if bootargs:
            tree.set_property("bootargs", bootargs_value(bootargs), path="/chosen")
        if initrd is not None:
            tree.set_property("linux,initrd-start", cells(initrd[0]), path="/chosen")
            tree.set_property("linux,initrd-end", cells(initrd[1]), path="/chosen")
        return tree.to_dtb(version=17)
    except ArmnvError:
        raise
    except Exception as exc:  # the fdt package on hostile input: any error is a malformed tree
        raise ArmnvError(f"{path}: malformed device tree ({type(exc).__name__}: {exc})") from exc
