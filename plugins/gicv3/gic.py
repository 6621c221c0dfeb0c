"""The GICv3 of the virt board: interrupt state, the physical CPU interface, the output lines.

One object per machine (``machine.devices["gic"]``). Per-INTID state of the
SGIs, PPIs (redistributor) and SPIs (distributor) lives here; the CPU
interface's registers (ICC_*) and the virtualization registers (ICH_*) live
in ``cpu.sr`` like every system register, so FEAT_NV2 can redirect the ICH_*
ones to memory without knowing this plugin.

The GIC recomputes its outputs after every change (an input level, an MMIO
write, an ICC/ICH access): the highest-priority pending interrupt that may be
signalled drives the CPU's physical IRQ (Group 1) or FIQ (Group 0) line, and
the virtual CPU interface's signal is kept for `Interrupts.virtual_sources`.
A change made by a system-register access or a device input kicks the run
loop, so it is looked at after that instruction; one made by an MMIO store
does not (a store cannot end its translated block): it is looked at the next
time the run loop looks, at the same instruction in both engine modes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework.arch import (
    GICD_CTLR_ARE,
    GICD_CTLR_DS,
    GICD_CTLR_ENABLEGRP0,
    GICD_CTLR_ENABLEGRP1,
    ICC_BPR_BINARYPOINT,
    ICC_CTLR_CBPR,
    ICC_CTLR_EOIMODE,
    ICC_IGRPEN_ENABLE,
    ICC_PMR_PRIORITY,
    ICC_SGIR_AFF1,
    ICC_SGIR_AFF2,
    ICC_SGIR_AFF3,
    ICC_SGIR_INTID,
    ICC_SGIR_IRM,
    ICC_SGIR_RS,
    ICC_SGIR_TARGETLIST,
)
from plugins.gicv3.dist import NUM_IRQS, Distributor, Redistributor

if TYPE_CHECKING:
    from collections.abc import Callable

    from framework.api import CPUState, Machine

SPURIOUS = 1023
MAINTENANCE_PPI = 25  # GIC-01: the virt board's wiring
PRI_BITS = 5  # physical priority and preemption bits (gicv3-virt.md §1)
GROUP_ENABLE = (GICD_CTLR_ENABLEGRP0, GICD_CTLR_ENABLEGRP1)
LINE = ("fiq", "irq")  # Group 0 is signalled as FIQ, Group 1 as IRQ (one Security state)
AP_REGS = ("ICC_AP0R0_EL1", "ICC_AP1R0_EL1")
IGRPEN = ("ICC_IGRPEN0_EL1", "ICC_IGRPEN1_EL1")


def lowest_bit(value: int) -> int:
    """Index of the lowest set bit (value != 0)."""
    return (value & -value).bit_length() - 1


class GIC:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.nmi = "nmi" in machine.features
        self.debug = "gic" in machine.debug
        self.group = [False] * NUM_IRQS
        self.enabled = [False] * NUM_IRQS
        self.latch = [False] * NUM_IRQS  # edges, ISPENDR writes, SGIs
        self.level = [False] * NUM_IRQS  # input lines
        self.active = [False] * NUM_IRQS
        self.edge = [n < 16 for n in range(NUM_IRQS)]  # SGIs are edge-triggered; PPIs, SPIs level at reset
        self.priority = [0] * NUM_IRQS
        self.route = [0] * NUM_IRQS
        self.gicd_ctlr = GICD_CTLR_DS | GICD_CTLR_ARE
        self.distributor = Distributor(self)
        self.redistributor = Redistributor(self)
        self.kick = True
        # what the virtual CPU interface signals (a set of "irq"/"fiq"), kept up to date by virt.py
        self.vsignal: set[str] = set()
        self.virtual_update: Callable[[CPUState], None] | None = None

    @property
    def cpu(self) -> CPUState:
        return self.machine.cpu

    def log(self, event: str, **fields: Any) -> None:
        if self.debug:
            self.machine.logger.msg(f"gic.{event}", **fields)

    # ---- inputs ---------------------------------------------------------------------------------
    def set_ppi(self, intid: int, level: bool) -> None:
        """A PPI's input level (the timers through `Interrupts`, the maintenance interrupt)."""
        self.set_input(intid, level)

    def set_spi(self, intid: int, level: bool) -> None:
        """A device's SPI input level (INTID 32-287)."""
        if not 32 <= intid < NUM_IRQS:
            raise ValueError(f"SPI INTID {intid} is outside 32-{NUM_IRQS - 1}")
        self.set_input(intid, level)

    def set_input(self, intid: int, level: bool) -> None:
        if self.level[intid] == level:
            return
        self.level[intid] = level
        if level and self.edge[intid]:
            self.latch[intid] = True
        self.log("input", intid=intid, level=int(level), pending=int(self.is_pending(intid)))
        self.update()

    def is_pending(self, n: int) -> bool:
        return self.latch[n] or (self.level[n] and not self.edge[n])

    def set_state(self, kind: str, n: int) -> None:
        """One set bit of a GICD/GICR ISENABLER, ICENABLER, ISPENDR… write."""
        if kind == "set_enable":
            self.enabled[n] = True
        elif kind == "clear_enable":
            self.enabled[n] = False
        elif kind == "set_pending":
            self.latch[n] = True
            self.log("pending", intid=n, by="ISPENDR")
        elif kind == "clear_pending":
            self.latch[n] = False
        elif kind == "set_active":
            self.active[n] = True
        elif kind == "clear_active":
            self.active[n] = False

    # ---- MMIO (GIC-13: anything unexpected is RAZ/WI) ---------------------------------------------
    def mmio_read(self, fn: Callable[[int, int], int | None], offset: int, size: int) -> int:
        value = fn(offset, size) if not offset & (size - 1) else None
        if value is None:
            self._guest_error("read", offset, size)
            return 0
        return value

    def mmio_write(self, fn: Callable[[int, int, int], bool], offset: int, size: int, value: int) -> None:
        self.kick = False
        try:
            done = fn(offset, size, value) if not offset & (size - 1) else False
        finally:
            self.kick = True
        if not done:
            self._guest_error("write", offset, size)

    def _guest_error(self, access: str, offset: int, size: int) -> None:
        if "guest_errors" in self.machine.debug:
            self.machine.logger.msg("guest_error", device="gicv3", access=access, offset=offset, size=size)

    # ---- physical CPU interface --------------------------------------------------------------------
    def group_enabled(self, cpu: CPUState, g: int) -> bool:
        return bool(self.gicd_ctlr & GROUP_ENABLE[g] and cpu.sr[IGRPEN[g]] & ICC_IGRPEN_ENABLE)

    def gprio_mask(self, cpu: CPUState, g: int) -> int:
        """The group-priority part of a priority (GIC-02): BPR0 for Group 0, BPR1 (or BPR0 with CBPR) for 1."""
        sr = cpu.sr
        if g == 0 or sr["ICC_CTLR_EL1"] & ICC_CTLR_CBPR:
            return (0xFF << (ICC_BPR_BINARYPOINT.get(sr["ICC_BPR0_EL1"]) + 1)) & 0xFF
        return (0xFF << ICC_BPR_BINARYPOINT.get(sr["ICC_BPR1_EL1"])) & 0xFF

    def running_priority(self, cpu: CPUState) -> int:
        """ICC_RPR_EL1: the group priority of the highest-priority active interrupt, 0xFF if none."""
        bits = cpu.sr["ICC_AP0R0_EL1"] | cpu.sr["ICC_AP1R0_EL1"]
        return lowest_bit(bits) << (8 - PRI_BITS) if bits else 0xFF

    def hppi(self, cpu: CPUState) -> tuple[int, int, int] | None:
        """(priority, INTID, group) of the highest-priority pending interrupt the PE may see."""
        enabled = [self.group_enabled(cpu, 0), self.group_enabled(cpu, 1)]
        best = None
        for n in range(NUM_IRQS):
            if not self.enabled[n] or self.active[n] or not self.is_pending(n):
                continue
            g = int(self.group[n])
            if not enabled[g]:
                continue
            prio = self.priority[n]
            if best is None or prio < best[0]:
                best = (prio, n, g)
        return best

    def can_signal(self, cpu: CPUState, best: tuple[int, int, int] | None) -> bool:
        if best is None:
            return False
        prio, _, g = best
        pmr = ICC_PMR_PRIORITY.get(cpu.sr["ICC_PMR_EL1"])
        return prio < pmr and prio & self.gprio_mask(cpu, g) < self.running_priority(cpu)

    def update(self) -> None:
        """Recompute the physical lines and the virtual signal."""
        cpu = self.cpu
        best = self.hppi(cpu)
        signalled = best[2] if self.can_signal(cpu, best) else None
        interrupts = self.machine.interrupts
        for g in (0, 1):
            interrupts.set_line(LINE[g], signalled == g, kick=self.kick)
        if self.virtual_update is not None:
            self.virtual_update(cpu)

    def acknowledge(self, cpu: CPUState, g: int) -> int:
        """ICC_IAR0/1_EL1 (GIC-02): the INTID, now active, or 1023."""
        best = self.hppi(cpu)
        if best is None or best[2] != g or not self.can_signal(cpu, best):
            return SPURIOUS
        prio, n, _ = best
        self.active[n] = True
        self.latch[n] = False
        gprio = prio & self.gprio_mask(cpu, g)
        cpu.sr[AP_REGS[g]] |= 1 << (gprio >> (8 - PRI_BITS))
        self.log("activate", intid=n, group=g, priority=prio)
        self.update()
        return n

    def end_of_interrupt(self, cpu: CPUState, g: int, intid: int) -> None:
        """ICC_EOIR0/1_EL1: priority drop, and deactivation unless EOImode = 1 (GIC-02)."""
        if intid >= 1020 and intid < 8192:
            return  # special INTIDs have no effect
        ap0, ap1 = cpu.sr["ICC_AP0R0_EL1"], cpu.sr["ICC_AP1R0_EL1"]
        if not ap0 | ap1:
            return
        bit = lowest_bit(ap0 | ap1)
        # the highest active priority belongs to Group 0 when both groups have it
        top_group = 0 if ap0 >> bit & 1 else 1
        if top_group != g:
            return  # UNPREDICTABLE: an EOI of the other group's interrupt is ignored
        cpu.sr[AP_REGS[g]] &= ~(1 << bit)
        self.log("eoi", intid=intid, group=g)
        if not cpu.sr["ICC_CTLR_EL1"] & ICC_CTLR_EOIMODE:
            self.deactivate(intid)
        self.update()

    def deactivate(self, intid: int) -> None:
        if intid < NUM_IRQS and self.active[intid]:
            self.active[intid] = False
            self.log("deactivate", intid=intid)

    def highest_pending(self, cpu: CPUState, g: int) -> int:
        """ICC_HPPIR0/1_EL1."""
        best = self.hppi(cpu)
        return best[1] if best is not None and best[2] == g else SPURIOUS

    def generate_sgi(self, cpu: CPUState, value: int, group: int | None) -> None:
        """ICC_SGI0R/SGI1R/ASGI1R_EL1 (GIC-13): only this PE (affinity 0.0.0.0) exists."""
        if value & ICC_SGIR_IRM:
            return  # "every PE but this one": there is none
        to_self = (
            ICC_SGIR_TARGETLIST.get(value) & 1
            and not ICC_SGIR_RS.get(value) and not ICC_SGIR_AFF1.get(value) and not ICC_SGIR_AFF2.get(value)
            and not ICC_SGIR_AFF3.get(value)
        )  # fmt: skip
        if not to_self:
            return
        n = ICC_SGIR_INTID.get(value)
        # SGI0R reaches a Group 0 SGI only; SGI1R either group (one Security state, DS = 1)
        if group == 0 and self.group[n]:
            return
        self.latch[n] = True
        self.log("pending", intid=n, by="SGI")
        self.update()


__all__ = ["GIC", "MAINTENANCE_PPI", "PRI_BITS", "SPURIOUS"]
