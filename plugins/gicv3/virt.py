"""The virtual CPU interface: ICH_*_EL2 as EL2 programs them, ICV_*_EL1 as EL1 sees them.

State is the ICH_* registers in ``cpu.sr`` (list registers, ICH_HCR_EL2,
ICH_VMCR_EL2, ICH_AP0R0/AP1R0_EL2); the status registers (MISR, EISR, ELRSR)
are computed from them. After every write and every virtual acknowledge,
EOI or deactivation the GIC recomputes the virtual signal (vIRQ, vFIQ) and
the maintenance interrupt's level (GIC-11), a PPI like any other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.arch import (
    ICH_AP1R_NMI,
    ICH_APR_PRIORITIES,
    ICH_HCR_EN,
    ICH_HCR_EOICOUNT,
    ICH_HCR_LRENPIE,
    ICH_HCR_NPIE,
    ICH_HCR_UIE,
    ICH_HCR_VGRP0DIE,
    ICH_HCR_VGRP0EIE,
    ICH_HCR_VGRP1DIE,
    ICH_HCR_VGRP1EIE,
    ICH_LR_EOI,
    ICH_LR_GROUP,
    ICH_LR_HW,
    ICH_LR_NMI,
    ICH_LR_PINTID,
    ICH_LR_PRIORITY,
    ICH_LR_STATE,
    ICH_LR_VINTID,
    ICH_MISR_EOI,
    ICH_MISR_LRENP,
    ICH_MISR_NP,
    ICH_MISR_U,
    ICH_MISR_VGRP0D,
    ICH_MISR_VGRP0E,
    ICH_MISR_VGRP1D,
    ICH_MISR_VGRP1E,
    ICH_VMCR_VBPR0,
    ICH_VMCR_VBPR1,
    ICH_VMCR_VCBPR,
    ICH_VMCR_VENG0,
    ICH_VMCR_VENG1,
    ICH_VMCR_VEOIM,
    ICH_VMCR_VFIQEN,
    ICH_VMCR_VPMR,
    ICH_VTR_LISTREGS,
    ICH_VTR_PREBITS,
    ICH_VTR_PRIBITS,
)
from plugins.gicv3.gic import GIC, MAINTENANCE_PPI, SPURIOUS, lowest_bit

if TYPE_CHECKING:
    from framework.api import CPUState, Machine

# ICH_VTR_EL2 of a model that does not give one (gicv3-virt.md §1: 4 LRs, 5 priority bits)
DEFAULT_VTR = 0x90B80003
INVALID, PENDING, ACTIVE, ACTIVE_PENDING = 0, 1, 2, 3
LPI_BASE = 8192
VENG = (ICH_VMCR_VENG0, ICH_VMCR_VENG1)
AP = ("ICH_AP0R0_EL2", "ICH_AP1R0_EL2")
LINE = ("fiq", "irq")
VMCR_WMASK = (
    ICH_VMCR_VENG0 | ICH_VMCR_VENG1 | ICH_VMCR_VCBPR | ICH_VMCR_VEOIM | ICH_VMCR_VBPR1.mask
    | ICH_VMCR_VBPR0.mask | ICH_VMCR_VPMR.mask
)  # fmt: skip
VMCR_RES1 = ICH_VMCR_VFIQEN
# ICH_MISR_EL2 VGrp bits: (HCR enable bit, MISR bit, VMCR bit, wanted VMCR bit value)
VGRP_CONDITIONS = (
    (ICH_HCR_VGRP0EIE, ICH_MISR_VGRP0E, ICH_VMCR_VENG0, True),
    (ICH_HCR_VGRP0DIE, ICH_MISR_VGRP0D, ICH_VMCR_VENG0, False),
    (ICH_HCR_VGRP1EIE, ICH_MISR_VGRP1E, ICH_VMCR_VENG1, True),
    (ICH_HCR_VGRP1DIE, ICH_MISR_VGRP1D, ICH_VMCR_VENG1, False),
)


def model_vtr(machine: Machine) -> int:
    """ICH_VTR_EL2 of the machine's CPU model (GIC-01, GIC-06)."""
    return machine.model.extra.get("ICH_VTR_EL2") or DEFAULT_VTR


def ich_parameters(vtr: int) -> tuple[int, int, int]:
    """(list registers, virtual priority bits, virtual preemption bits) from ICH_VTR_EL2."""
    return ICH_VTR_LISTREGS.get(vtr) + 1, ICH_VTR_PRIBITS.get(vtr) + 1, ICH_VTR_PREBITS.get(vtr) + 1


def lr_write_mask(pri_bits: int, nmi: bool) -> int:
    """GIC-09: all bits kept except the unimplemented priority bits (and NMI without FEAT_GICv3_NMI)."""
    low_prio = ICH_LR_PRIORITY.put((1 << (8 - pri_bits)) - 1)
    return ((1 << 64) - 1) & ~low_prio & ~(0 if nmi else ICH_LR_NMI)


class VirtualInterface:
    """The ICH/ICV logic of the PE; the GIC calls `update` after every change."""

    def __init__(self, gic: GIC, vtr: int) -> None:
        self.gic = gic
        self.vtr = vtr
        self.num_lrs, self.pri_bits, self.pre_bits = ich_parameters(vtr)
        self.num_aprs = 1 << (self.pre_bits - 5)
        self.lr_names = tuple(f"ICH_LR{n}_EL2" for n in range(self.num_lrs))
        self.min_bpr0 = 7 - self.pre_bits
        self.maintenance = False
        gic.virtual_update = self.update

    def source(self, cpu: CPUState) -> set[str]:
        """The kernel's `virtual_sources` entry: vIRQ/vFIQ as the list registers signal them."""
        return self.gic.vsignal

    # ---- list registers -----------------------------------------------------------------------
    def lrs(self, cpu: CPUState) -> list[int]:
        sr = cpu.sr
        return [sr[name] for name in self.lr_names]

    def gprio_mask(self, cpu: CPUState, g: int) -> int:
        vmcr = cpu.sr["ICH_VMCR_EL2"]
        if g == 0 or vmcr & ICH_VMCR_VCBPR:
            return (0xFF << (ICH_VMCR_VBPR0.get(vmcr) + 1)) & 0xFF
        return (0xFF << ICH_VMCR_VBPR1.get(vmcr)) & 0xFF

    def running_priority(self, cpu: CPUState) -> int:
        """ICV_RPR_EL1 (GIC-14): 0xFF when no virtual interrupt is active."""
        sr = cpu.sr
        if sr["ICH_AP1R0_EL2"] & ICH_AP1R_NMI:
            return 0
        bits = (sr["ICH_AP0R0_EL2"] | sr["ICH_AP1R0_EL2"]) & ICH_APR_PRIORITIES.mask
        return lowest_bit(bits) << (8 - self.pre_bits) if bits else 0xFF

    def hppvi(self, cpu: CPUState) -> tuple[int, int] | None:
        """(LR index, LR value) of the highest-priority pending virtual interrupt (GIC-14)."""
        vmcr = cpu.sr["ICH_VMCR_EL2"]
        best = None
        best_key = None
        for i, lr in enumerate(self.lrs(cpu)):
            if ICH_LR_STATE.get(lr) != PENDING:
                continue
            g = 1 if lr & ICH_LR_GROUP else 0
            if not vmcr & VENG[g]:
                continue
            prio = ICH_LR_PRIORITY.get(lr)
            if prio == 0xFF:
                continue
            # lower value first; an NMI beats a non-NMI of the same priority; then the lower LR
            key = (prio, 0 if lr & ICH_LR_NMI and g else 1, i)
            if best_key is None or key < best_key:
                best, best_key = (i, lr), key
        return best

    def can_signal(self, cpu: CPUState, lr: int) -> bool:
        sr = cpu.sr
        if not sr["ICH_HCR_EL2"] & ICH_HCR_EN:
            return False
        g = 1 if lr & ICH_LR_GROUP else 0
        prio = ICH_LR_PRIORITY.get(lr)
        nmi = bool(g and lr & ICH_LR_NMI)
        if not nmi and prio >= ICH_VMCR_VPMR.get(sr["ICH_VMCR_EL2"]):
            return False
        running = self.running_priority(cpu)
        gprio = prio & self.gprio_mask(cpu, g)
        if nmi and not sr["ICH_AP1R0_EL2"] & ICH_AP1R_NMI:
            return gprio <= running
        return gprio < running

    # ---- status registers ---------------------------------------------------------------------
    def eisr(self, cpu: CPUState) -> int:
        """GIC-10: LRs with an EOI maintenance request outstanding."""
        return sum(
            1 << i
            for i, lr in enumerate(self.lrs(cpu))
            if ICH_LR_STATE.get(lr) == INVALID and not lr & ICH_LR_HW and lr & ICH_LR_EOI
        )

    def elrsr(self, cpu: CPUState) -> int:
        """GIC-10: free LRs."""
        return sum(
            1 << i
            for i, lr in enumerate(self.lrs(cpu))
            if ICH_LR_STATE.get(lr) == INVALID and (lr & ICH_LR_HW or not lr & ICH_LR_EOI)
        )

    def misr(self, cpu: CPUState) -> int:
        """GIC-11: the maintenance conditions."""
        sr = cpu.sr
        hcr = sr["ICH_HCR_EL2"]
        vmcr = sr["ICH_VMCR_EL2"]
        states = [ICH_LR_STATE.get(lr) for lr in self.lrs(cpu)]
        value = ICH_MISR_EOI if self.eisr(cpu) else 0
        if hcr & ICH_HCR_UIE and sum(s != INVALID for s in states) <= 1:
            value |= ICH_MISR_U
        if hcr & ICH_HCR_LRENPIE and ICH_HCR_EOICOUNT.get(hcr):
            value |= ICH_MISR_LRENP
        if hcr & ICH_HCR_NPIE and PENDING not in states:
            value |= ICH_MISR_NP
        for enable, bit, veng, wanted in VGRP_CONDITIONS:
            if hcr & enable and bool(vmcr & veng) == wanted:
                value |= bit
        return value

    def update(self, cpu: CPUState) -> None:
        """Recompute the vIRQ/vFIQ signal and the maintenance interrupt (level-sensitive PPI 25)."""
        found = self.hppvi(cpu)
        signal = set()
        if found is not None and self.can_signal(cpu, found[1]):
            signal.add(LINE[1 if found[1] & ICH_LR_GROUP else 0])
        gic = self.gic
        if signal != gic.vsignal:
            gic.vsignal = signal
            # listed only while it signals: the kernel's "could anything be pending" stays cheap
            sources = gic.machine.interrupts.virtual_sources
            if signal and self.source not in sources:
                sources.append(self.source)
            elif not signal and self.source in sources:
                sources.remove(self.source)
            if gic.kick:
                gic.machine.engine.kick()
        level = bool(cpu.sr["ICH_HCR_EL2"] & ICH_HCR_EN) and self.misr(cpu) != 0
        if level != self.maintenance:
            self.maintenance = level
            gic.log("maintenance", level=int(level), misr=self.misr(cpu))
            gic.set_input(MAINTENANCE_PPI, level)

    # ---- ICV_* operations ----------------------------------------------------------------------
    def acknowledge(self, cpu: CPUState, g: int) -> int:
        """ICV_IAR0/1_EL1 (GIC-14)."""
        found = self.hppvi(cpu)
        if found is None:
            return SPURIOUS
        i, lr = found
        if (1 if lr & ICH_LR_GROUP else 0) != g or not self.can_signal(cpu, lr):
            return SPURIOUS
        vintid = ICH_LR_VINTID.get(lr)
        name = self.lr_names[i]
        if 1020 <= vintid <= 1023:
            cpu.sr[name] = lr & ~ICH_LR_STATE.mask
        else:
            cpu.sr[name] = (lr & ~ICH_LR_STATE.mask) | ICH_LR_STATE.put(ACTIVE)
            if g and lr & ICH_LR_NMI:
                cpu.sr[AP[1]] |= ICH_AP1R_NMI
            else:
                gprio = ICH_LR_PRIORITY.get(lr) & self.gprio_mask(cpu, g)
                cpu.sr[AP[g]] |= 1 << (gprio >> (8 - self.pre_bits))
        self.gic.log("virtual.activate", lr=i, vintid=vintid, group=g)
        self.gic.update()
        return vintid

    def _drop_priority(self, cpu: CPUState) -> int | None:
        """Clear the highest active priority; return its group priority, or None when nothing is active."""
        sr = cpu.sr
        if sr[AP[1]] & ICH_AP1R_NMI:
            sr[AP[1]] &= ~ICH_AP1R_NMI
            return 0
        ap0, ap1 = sr[AP[0]] & ICH_APR_PRIORITIES.mask, sr[AP[1]] & ICH_APR_PRIORITIES.mask
        if not ap0 | ap1:
            return None
        bit = lowest_bit(ap0 | ap1)
        g = 0 if ap0 >> bit & 1 else 1
        sr[AP[g]] &= ~(1 << bit)
        return bit << (8 - self.pre_bits)

    def _find_active(self, cpu: CPUState, vintid: int) -> int | None:
        for i, lr in enumerate(self.lrs(cpu)):
            if ICH_LR_VINTID.get(lr) == vintid and ICH_LR_STATE.get(lr) & ACTIVE:
                return i
        return None

    def _deactivate(self, cpu: CPUState, i: int) -> None:
        name = self.lr_names[i]
        lr = cpu.sr[name]
        state = ICH_LR_STATE.get(lr) & ~ACTIVE
        cpu.sr[name] = (lr & ~ICH_LR_STATE.mask) | ICH_LR_STATE.put(state)
        self.gic.log("virtual.deactivate", lr=i, vintid=ICH_LR_VINTID.get(lr), value=cpu.sr[name])
        if lr & ICH_LR_HW:
            pintid = ICH_LR_PINTID.get(lr)
            if pintid < 1020:
                self.gic.deactivate(pintid)

    def _count_eoi(self, cpu: CPUState) -> None:
        hcr = cpu.sr["ICH_HCR_EL2"]
        count = (ICH_HCR_EOICOUNT.get(hcr) + 1) & ICH_HCR_EOICOUNT.ones
        cpu.sr["ICH_HCR_EL2"] = (hcr & ~ICH_HCR_EOICOUNT.mask) | ICH_HCR_EOICOUNT.put(count)

    def end_of_interrupt(self, cpu: CPUState, g: int, vintid: int) -> None:
        """ICV_EOIR0/1_EL1 (GIC-14; GIC-09: an LPI is deactivated at once, whatever EOImode)."""
        if 1020 <= vintid < LPI_BASE and vintid <= 1023:
            return
        dropped = self._drop_priority(cpu)
        if dropped is None:
            return
        self.gic.log("virtual.eoi", vintid=vintid, group=g)
        split = bool(cpu.sr["ICH_VMCR_EL2"] & ICH_VMCR_VEOIM)
        if not split or vintid >= LPI_BASE:
            i = self._find_active(cpu, vintid)
            if i is None:
                if vintid < LPI_BASE:
                    self._count_eoi(cpu)
            else:
                lr = cpu.sr[self.lr_names[i]]
                lr_group = 1 if lr & ICH_LR_GROUP else 0
                lr_gprio = ICH_LR_PRIORITY.get(lr) & self.gprio_mask(cpu, lr_group)
                if lr_group == g and (lr_gprio == dropped or (lr & ICH_LR_NMI and dropped == 0)):
                    self._deactivate(cpu, i)
        self.gic.update()

    def deactivate(self, cpu: CPUState, vintid: int) -> None:
        """ICV_DIR_EL1: only with EOImode = 1; an INTID >= 1020 is ignored (GIC-09)."""
        if vintid >= 1020 or not cpu.sr["ICH_VMCR_EL2"] & ICH_VMCR_VEOIM:
            return
        i = self._find_active(cpu, vintid)
        if i is None:
            self._count_eoi(cpu)
        else:
            self._deactivate(cpu, i)
        self.gic.update()

    def highest_pending(self, cpu: CPUState, g: int) -> int:
        """ICV_HPPIR0/1_EL1."""
        found = self.hppvi(cpu)
        if found is None or (1 if found[1] & ICH_LR_GROUP else 0) != g:
            return SPURIOUS
        return ICH_LR_VINTID.get(found[1])

    # ---- ICH_VMCR_EL2 and the ICV views of it -------------------------------------------------------
    def vmcr_write(self, cpu: CPUState, value: int) -> None:
        """GIC-08, GIC-12: keep the implemented fields; VFIQEn reads 1; VBPRs are raised to their minimum."""
        value = (value & VMCR_WMASK) | VMCR_RES1
        bpr0 = max(ICH_VMCR_VBPR0.get(value), self.min_bpr0)
        bpr1 = max(ICH_VMCR_VBPR1.get(value), self.min_bpr0 + 1)
        value = (value & ~(ICH_VMCR_VBPR0.mask | ICH_VMCR_VBPR1.mask)) | ICH_VMCR_VBPR0.put(bpr0)
        cpu.sr["ICH_VMCR_EL2"] = value | ICH_VMCR_VBPR1.put(bpr1)
        self.gic.log("vmcr", value=cpu.sr["ICH_VMCR_EL2"])
        self.gic.update()

    def vmcr_field_write(self, cpu: CPUState, mask: int, field_value: int) -> None:
        self.vmcr_write(cpu, (cpu.sr["ICH_VMCR_EL2"] & ~mask) | (field_value & mask))


__all__ = ["DEFAULT_VTR", "LPI_BASE", "VirtualInterface"]
