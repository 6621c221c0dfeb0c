"""Asynchronous exceptions: IRQ, FIQ and SError, physical and virtual.

Sources:
  - physical lines, `set_line(kind, level)`, driven by an interrupt controller
    plugin (GICv3);
  - PPIs, `set_ppi(intid, level)`, the per-PE interrupts of kernel devices
    (the generic timer). An interrupt controller that attaches itself
    (`attach_controller`) receives them; on a board without one they are
    ORed into the IRQ line, so bare-metal programs can use timer interrupts;
  - virtual interrupts: HCR_EL2.VI/VF/VSE and `virtual_sources` (the GIC's
    virtual CPU interface).

Routing and masking (no EL3; Arm ARM "Asynchronous exception routing and
masking", as the reference implements it): a physical interrupt targets EL2
when the effective HCR_EL2.IMO/FMO/AMO or TGE is set, else EL1. It is never
taken at an EL above its target (it stays pending). Taken to the current EL
or from EL0 to EL1 it is masked by PSTATE.I/F/A; taken from EL0/EL1 to EL2 it
is not masked — except from a host EL0 ({E2H,TGE} = {1,1}), whose effective
routing bits are 0, so PSTATE masks there too. Virtual interrupts exist at
EL0/EL1 only, with TGE = 0 and the matching routing bit set, and are masked
by PSTATE. With FEAT_NMI and SCTLR_ELx.NMI = 1, PSTATE.ALLINT (or
SCTLR_ELx.SPINTMASK while on SP_ELx) also masks IRQ and FIQ taken to the
current EL. Among several takeable ones the order is physical SError, FIQ,
IRQ, then virtual IRQ, FIQ, SError (the reference's order).

Pending interrupts are looked at between instructions, when the run loop
reaches its deadline; anything that can make one takeable (a line change, a
DAIF or HCR_EL2 write, ERET, a timer write) kicks the loop. Devices whose
outputs change with time (`pollers`) are refreshed first, and their next
events (`event_sources`, in virtual nanoseconds, `framework.vclock`) become
deadlines: the instruction counts at which the clock reaches them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from framework.arch import (
    HCR_AMO,
    HCR_FMO,
    HCR_IMO,
    HCR_TGE,
    HCR_VF,
    HCR_VI,
    HCR_VSE,
    PSTATE_A,
    PSTATE_F,
    PSTATE_I,
    SCTLR_NMI,
    SCTLR_SPINTMASK,
    VSESR_IDS,
    VSESR_ISS,
    hcr_eff,
)
from framework.cpu.exceptions import VEC_FIQ, VEC_IRQ, VEC_SERROR, VIRTUAL_LINES, take_exception
from framework.cpu.syndrome import EC_SERROR, esr

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.machine import Machine

NEVER = 1 << 62

# (vector, PSTATE mask bit, HCR_EL2 routing bit, HCR_EL2 virtual-pending bit)
KINDS = {
    "serror": (VEC_SERROR, PSTATE_A, HCR_AMO, HCR_VSE),
    "irq": (VEC_IRQ, PSTATE_I, HCR_IMO, HCR_VI),
    "fiq": (VEC_FIQ, PSTATE_F, HCR_FMO, HCR_VF),
}
PHYSICAL_ORDER = ("serror", "fiq", "irq")
VIRTUAL_ORDER = ("irq", "fiq", "serror")

# VSESR_EL2.{IDS, ISS}: the ESR ISS of a virtual SError
_VSERROR_ISS = VSESR_IDS | VSESR_ISS.mask


class Controller(Protocol):
    """What an interrupt controller offers the kernel's devices."""

    def set_ppi(self, intid: int, level: bool) -> None: ...


class Interrupts:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.lines = {"irq": False, "fiq": False, "serror": False}
        self.asserted = False  # any of the lines high (kept by set_line)
        self.ppis: dict[int, bool] = {}
        self.controller: Controller | None = None
        # functions returning the virtual time (ns) of their next event (timers), or NEVER
        self.event_sources: list[Callable[[CPUState], int]] = []
        # functions that bring time-dependent outputs up to date (timers)
        self.pollers: list[Callable[[CPUState], None]] = []
        # functions returning extra pending virtual lines (the GIC virtual CPU interface)
        self.virtual_sources: list[Callable[[CPUState], set[str]]] = []

    # ---- inputs ------------------------------------------------------------------------
    def set_line(self, kind: str, level: bool, *, kick: bool = True) -> None:
        """Drive a physical input. ``kick=False`` leaves the run loop alone: the level is
        looked at the next time it looks anyway (a controller changed by an MMIO store,
        which cannot end its block, so that delivery does not depend on block boundaries).
        """
        if self.lines[kind] != level:
            self.lines[kind] = level
            self.asserted = any(self.lines.values())
            if kick:
                self.machine.engine.kick()

    def set_ppi(self, intid: int, level: bool) -> None:
        """A kernel device's private peripheral interrupt (timer INTIDs 26-30) changed level."""
        self.ppis[intid] = level
        if self.controller is not None:
            self.controller.set_ppi(intid, level)
        else:
            self.set_line("irq", any(self.ppis.values()))

    def attach_controller(self, controller: Controller) -> None:
        """An interrupt controller takes over the PPIs (and drives the lines itself)."""
        self.controller = controller
        self.set_line("irq", False)
        for intid, level in self.ppis.items():
            controller.set_ppi(intid, level)

    def maybe_pending(self, cpu: CPUState) -> bool:
        """Cheap test: could any interrupt be pending (physical line, HCR_EL2.VI/VF/VSE, controller)?"""
        return self.asserted or bool(cpu.sr["HCR_EL2"] & VIRTUAL_LINES) or bool(self.virtual_sources)

    def poll(self, cpu: CPUState) -> None:
        for poller in self.pollers:
            poller(cpu)

    def next_event_time(self, cpu: CPUState) -> int:
        """The virtual time (ns) of the earliest event of a source, NEVER if none has one."""
        return min((src(cpu) for src in self.event_sources), default=NEVER)

    def next_event(self, cpu: CPUState) -> int:
        """The instruction count at which the earliest event is due (NEVER if none)."""
        ns = self.next_event_time(cpu)
        return NEVER if ns >= NEVER else self.machine.clock.icount_at(ns)

    # ---- decisions ----------------------------------------------------------------------
    def _virtual_pending(self, cpu: CPUState, hcr: int) -> set[str]:
        if hcr & HCR_TGE:
            return set()
        pending = {k for k in KINDS if hcr & KINDS[k][3]}
        for src in self.virtual_sources:
            pending |= src(cpu)
        return pending

    def _allint_masks(self, cpu: CPUState, target: int) -> bool:
        """FEAT_NMI: ALLINT (or SPINTMASK on SP_ELx) masks IRQ/FIQ taken to the current EL."""
        if "nmi" not in self.machine.features or cpu.el != target:
            return False
        sctlr = cpu.sr[f"SCTLR_EL{target}"]
        if not sctlr & SCTLR_NMI:
            return False
        return bool(cpu.allint or (sctlr & SCTLR_SPINTMASK and cpu.spsel))

    def physical_target(self, cpu: CPUState, kind: str) -> int:
        return 2 if hcr_eff(cpu) & (KINDS[kind][2] | HCR_TGE) else 1

    def takeable(self, cpu: CPUState) -> tuple[str, int, bool] | None:
        """The interrupt to take now: (kind, target EL, virtual), or None."""
        hcr = hcr_eff(cpu)
        el = cpu.el
        daif = cpu.daif
        for kind in PHYSICAL_ORDER:
            if not self.lines[kind]:
                continue
            _, mask, route, _ = KINDS[kind]
            target = 2 if hcr & (route | HCR_TGE) else 1
            if target < el:
                continue
            # PSTATE masks unless the interrupt goes up to EL2 by its routing bit
            if (target == el or not hcr & route) and (
                daif & mask or (kind != "serror" and self._allint_masks(cpu, target))
            ):
                continue
            return kind, target, False
        if el < 2:
            raw = cpu.sr["HCR_EL2"]
            virtual = self._virtual_pending(cpu, raw)
            for kind in VIRTUAL_ORDER:
                _, mask, route, _ = KINDS[kind]
                if kind not in virtual or not raw & route or daif & mask:
                    continue
                if kind != "serror" and self._allint_masks(cpu, 1):
                    continue
                return kind, 1, True
        return None

    def any_pending(self, cpu: CPUState) -> bool:
        """A WFI wake-up event: an interrupt is pending, whatever PSTATE masks say."""
        if any(self.lines.values()):
            return True
        return bool(self._virtual_pending(cpu, cpu.sr["HCR_EL2"]))

    def take_pending(self, cpu: CPUState) -> bool:
        found = self.takeable(cpu)
        if found is None:
            return False
        kind, target, virtual = found
        syndrome = None
        if kind == "serror":
            iss = 0
            if virtual:
                # taking a virtual SError consumes it; its syndrome comes from VSESR_EL2 (FEAT_RAS)
                cpu.sr["HCR_EL2"] &= ~HCR_VSE
                iss = cpu.sr["VSESR_EL2"] & _VSERROR_ISS
            syndrome = esr(EC_SERROR, iss)
        cpu.halted = False
        take_exception(cpu, target, syndrome, cpu.pc, vector=KINDS[kind][0])
        return True

    def isr(self, cpu: CPUState) -> int:
        """ISR_EL1: pending A/I/F — the virtual ones at EL1 when HCR_EL2 routes the physical ones to EL2."""
        hcr = hcr_eff(cpu)
        virtual = self._virtual_pending(cpu, cpu.sr["HCR_EL2"]) if cpu.el == 1 else set()
        value = 0
        for kind, (_, mask, route, _) in KINDS.items():
            pending = kind in virtual if cpu.el == 1 and hcr & route else self.lines[kind]
            if pending:
                value |= mask
        return value


def read_isr(cpu: CPUState) -> int:
    return cpu.machine.interrupts.isr(cpu)


__all__ = ["NEVER", "Controller", "Interrupts", "read_isr"]
