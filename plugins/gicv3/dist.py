"""GICv3 distributor and redistributor: interrupt state and its MMIO frames (virt board, one PE).

Affinity routing is always on and there is one Security state (GICD_CTLR.ARE
and DS read as 1), so INTIDs 0-31 (SGIs, PPIs) are configured in the
redistributor's SGI_base frame and the distributor's registers for them are
RAZ/WI; SPIs 32-287 are the distributor's. Every SPI routes to the one PE.
Registers are 32 bits wide except GICD_IROUTER<n> and GICR_TYPER (64, or
either 32-bit half) and the byte-addressable GICD/GICR_IPRIORITYR<n>. An
access of another size, a misaligned one and a reserved offset are RAZ/WI
(GIC-13): the architecture never makes them abort a PE.

Pending state is a latch (edges, GICx_ISPENDR writes, SGIs) ORed with the input
level of a level-sensitive interrupt, as the architecture defines it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.arch import (
    GICD_CTLR_ARE,
    GICD_CTLR_DS,
    GICD_CTLR_ENABLEGRP0,
    GICD_CTLR_ENABLEGRP1,
    GICD_IROUTER_IRM,
    GICD_PIDR2_ARCHREV,
    GICD_TYPER_A3V,
    GICD_TYPER_IDBITS,
    GICD_TYPER_ITLINESNUMBER,
    GICD_TYPER_LPIS,
    GICD_TYPER_NMI,
    GICD_TYPER_NO1N,
    GICR_TYPER_COMMONLPIAFF,
    GICR_TYPER_LAST,
    GICR_TYPER_PLPIS,
    GICR_WAKER_CHILDRENASLEEP,
    GICR_WAKER_PROCESSORSLEEP,
)

if TYPE_CHECKING:
    from plugins.gicv3.gic import GIC

IT_LINES = 8  # GICD_TYPER.ITLinesNumber: 32 * (8 + 1) = 288 INTIDs
NUM_IRQS = 32 * (IT_LINES + 1)
# GICD_IIDR / GICR_IIDR: implementer Arm (JEP106 0x43B), product 0, r0p0
IIDR = 0x43B
PIDR2 = GICD_PIDR2_ARCHREV.put(3) | 0xB  # ArchRev 3 (GICv3); low bits: the JEP106 ID bits of Arm
DIST_FRAME_SIZE = 0x1_0000
REDIST_FRAME = 0x1_0000
REDIST_SIZE = 2 * REDIST_FRAME  # RD_base, then SGI_base

# the banks of one-bit-per-INTID registers, at the same offsets in GICD and in SGI_base
BIT_BANKS = {
    0x080: "group",
    0x100: "set_enable",
    0x180: "clear_enable",
    0x200: "set_pending",
    0x280: "clear_pending",
    0x300: "set_active",
    0x380: "clear_active",
    0xD00: "grpmod",
}


class Distributor:
    """The GICD frame; state is the GIC's (`GIC` owns the per-INTID arrays)."""

    def __init__(self, gic: GIC) -> None:
        self.gic = gic
        nmi = GICD_TYPER_NMI if gic.nmi else 0
        self.typer = (
            GICD_TYPER_NO1N | GICD_TYPER_A3V | GICD_TYPER_IDBITS.put(15) | GICD_TYPER_LPIS | nmi
            | GICD_TYPER_ITLINESNUMBER.put(IT_LINES)
        )  # fmt: skip

    def read(self, offset: int, size: int) -> int:
        return self.gic.mmio_read(self._read, offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        self.gic.mmio_write(self._write, offset, size, value)

    def _read(self, offset: int, size: int) -> int | None:
        gic = self.gic
        if 0x6000 <= offset < 0x8000 and size in (4, 8):
            return _route_read(gic, offset, size)
        if size == 1:
            return _priority_read(gic, offset, 0x400, 32) if 0x400 <= offset < 0x400 + NUM_IRQS else None
        if size != 4:
            return None
        if offset == 0x0:
            return gic.gicd_ctlr
        if offset == 0x4:
            return self.typer
        if offset == 0x8:
            return IIDR
        if offset == 0xFFE8:
            return PIDR2
        return _banked_read(gic, offset, first=32)

    def _write(self, offset: int, size: int, value: int) -> bool:
        gic = self.gic
        if 0x6000 <= offset < 0x8000 and size in (4, 8):
            return _route_write(gic, offset, size, value)
        if size == 1:
            return 0x400 <= offset < 0x400 + NUM_IRQS and _priority_write(gic, offset, 0x400, 32, value)
        if size != 4:
            return False
        if offset == 0x0:
            enables = GICD_CTLR_ENABLEGRP0 | GICD_CTLR_ENABLEGRP1
            gic.gicd_ctlr = GICD_CTLR_DS | GICD_CTLR_ARE | (value & enables)
            gic.log("gicd.ctlr", value=gic.gicd_ctlr)
            return True
        return _banked_write(gic, offset, value, first=32)


class Redistributor:
    """RD_base and SGI_base of the PE's redistributor."""

    def __init__(self, gic: GIC) -> None:
        self.gic = gic
        self.waker = GICR_WAKER_PROCESSORSLEEP | GICR_WAKER_CHILDRENASLEEP
        # Processor_Number 0, affinity 0.0.0.0, the only (Last) redistributor
        self.typer = GICR_TYPER_PLPIS | GICR_TYPER_LAST | GICR_TYPER_COMMONLPIAFF.put(1)

    def read(self, offset: int, size: int) -> int:
        return self.gic.mmio_read(self._read, offset, size)

    def write(self, offset: int, size: int, value: int) -> None:
        self.gic.mmio_write(self._write, offset, size, value)

    def _read(self, offset: int, size: int) -> int | None:
        if offset >= REDIST_FRAME:
            return self._sgi_read(offset - REDIST_FRAME, size)
        if offset == 0x8 and size == 8:
            return self.typer
        if size != 4:
            return None
        return {0x0: 0, 0x4: IIDR, 0x8: self.typer & 0xFFFFFFFF, 0xC: self.typer >> 32, 0x14: self.waker,
                0xFFE8: PIDR2}.get(offset)  # fmt: skip

    def _write(self, offset: int, size: int, value: int) -> bool:
        if offset >= REDIST_FRAME:
            return self._sgi_write(offset - REDIST_FRAME, size, value)
        if offset == 0x14 and size == 4:
            # GIC-13: ChildrenAsleep follows ProcessorSleep at once (no power management to wait for)
            sleep = value & GICR_WAKER_PROCESSORSLEEP
            self.waker = sleep | (GICR_WAKER_CHILDRENASLEEP if sleep else 0)
            return True
        return False

    def _sgi_read(self, offset: int, size: int) -> int | None:
        if 0x400 <= offset < 0x420 and size in (1, 4):
            return _priority_read(self.gic, offset, 0x400, 0, size)
        if size != 4 or (offset >= 0x400 and offset not in (0xC00, 0xC04)):
            return None
        return _banked_read(self.gic, offset, first=0, last=32)

    def _sgi_write(self, offset: int, size: int, value: int) -> bool:
        gic = self.gic
        if 0x400 <= offset < 0x420 and size in (1, 4):
            return _priority_write(gic, offset, 0x400, 0, value, size)
        if size != 4:
            return False
        if offset == 0xC00:
            return True  # GICR_ICFGR0: SGIs are always edge-triggered
        return _banked_write(gic, offset, value, first=0, last=32)


# ---- register banks -----------------------------------------------------------------------------


def _priority_read(gic: GIC, offset: int, base: int, first: int, size: int = 1) -> int | None:
    n = offset - base
    if n < first:
        return 0
    if size == 4:
        return sum(gic.priority[n + i] << (8 * i) for i in range(4) if n + i < NUM_IRQS)
    return gic.priority[n]


def _priority_write(gic: GIC, offset: int, base: int, first: int, value: int, size: int = 1) -> bool:
    n = offset - base
    for i in range(size):
        if first <= n + i < NUM_IRQS:
            gic.priority[n + i] = (value >> (8 * i)) & 0xFF
    gic.update()
    return True


def _banked_read(gic: GIC, offset: int, *, first: int, last: int = NUM_IRQS) -> int | None:
    if 0x400 <= offset < 0x800:
        return _priority_read(gic, offset, 0x400, first, 4)
    if 0xC00 <= offset < 0xD00:
        # ICFGR<n>: two bits per INTID, bit 1 = edge-triggered; SGIs read as edge
        base = (offset - 0xC00) * 4
        if base + 16 <= first or base >= last:
            return 0
        return sum((2 if gic.edge[base + i] else 0) << (2 * i) for i in range(16) if base + i < NUM_IRQS)
    kind = BIT_BANKS.get(offset & ~0x7F)
    if kind is None:
        return None
    base = (offset & 0x7F) * 8
    if base < first or base >= last:
        return 0
    if kind == "group":
        bits = gic.group
    elif kind == "grpmod":
        return 0  # GIC-13: with one Security state group modifiers are RAZ/WI
    elif kind in ("set_enable", "clear_enable"):
        bits = gic.enabled
    elif kind in ("set_pending", "clear_pending"):
        bits = [gic.is_pending(i) for i in range(NUM_IRQS)]
    else:
        bits = gic.active
    return sum(1 << i for i in range(32) if bits[base + i])


def _banked_write(gic: GIC, offset: int, value: int, *, first: int, last: int = NUM_IRQS) -> bool:
    if 0x400 <= offset < 0x800:
        return _priority_write(gic, offset, 0x400, first, value, 4)
    if 0xC00 <= offset < 0xD00:
        base = (offset - 0xC00) * 4
        for i in range(16):
            n = base + i
            # SGI configuration is fixed; PPIs and SPIs choose level or edge
            if max(first, 16) <= n < min(last, NUM_IRQS):
                gic.edge[n] = bool(value >> (2 * i + 1) & 1)
        gic.update()
        return True
    kind = BIT_BANKS.get(offset & ~0x7F)
    if kind is None:
        return False
    base = (offset & 0x7F) * 8
    if base < first or base >= last:
        return True
    for i in range(32):
        n = base + i
        if n >= NUM_IRQS or kind == "grpmod":
            continue
        if kind == "group":
            gic.group[n] = bool(value >> i & 1)
        elif value >> i & 1:
            gic.set_state(kind, n)
    gic.update()
    return True


def _route_read(gic: GIC, offset: int, size: int) -> int:
    n, half = divmod(offset - 0x6000, 8)
    if n < 32 or n >= NUM_IRQS or half not in (0, 4) or (size == 8 and half):
        return 0
    value = gic.route[n]
    return value >> (8 * half) & (0xFFFFFFFF if size == 4 else -1)


def _route_write(gic: GIC, offset: int, size: int, value: int) -> bool:
    n, half = divmod(offset - 0x6000, 8)
    if n < 32 or n >= NUM_IRQS or half not in (0, 4) or (size == 8 and half):
        return True
    if size == 4:
        old = gic.route[n]
        value = (old & ~(0xFFFFFFFF << (8 * half))) | ((value & 0xFFFFFFFF) << (8 * half))
    # Aff3 [39:32], IRM [31], Aff2..Aff0 [23:0]: every SPI reaches the one PE either way
    gic.route[n] = value & (0xFF_0000_0000 | GICD_IROUTER_IRM | 0xFFFFFF)
    return True


__all__ = ["DIST_FRAME_SIZE", "NUM_IRQS", "REDIST_SIZE", "Distributor", "Redistributor"]
