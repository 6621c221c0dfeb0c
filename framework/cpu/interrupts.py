"""Asynchronous exceptions: physical IRQ/FIQ/SError lines and the virtual ones from HCR_EL2.

Interrupt controllers and timers drive the physical lines with `set_line`;
HCR_EL2.{VI,VF,VSE} drive the virtual ones. Pending interrupts are looked at
between blocks, when the run loop reaches its deadline; anything that can
make an interrupt takeable (a line change, a DAIF or HCR_EL2 write, ERET)
kicks the loop so the check happens before the next block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from framework.cpu.exceptions import (
    HCR_AMO,
    HCR_E2H,
    HCR_FMO,
    HCR_IMO,
    HCR_TGE,
    HCR_VF,
    HCR_VI,
    HCR_VSE,
    VEC_FIQ,
    VEC_IRQ,
    VEC_SERROR,
    take_exception,
)
from framework.cpu.state import PSR_A, PSR_F, PSR_I
from framework.cpu.syndrome import EC_SERROR, esr

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.machine import Machine

NEVER = 1 << 62

# (vector, PSTATE mask bit, HCR_EL2 routing bit, HCR_EL2 virtual-pending bit)
KINDS = {
    "serror": (VEC_SERROR, PSR_A, HCR_AMO, HCR_VSE),
    "irq": (VEC_IRQ, PSR_I, HCR_IMO, HCR_VI),
    "fiq": (VEC_FIQ, PSR_F, HCR_FMO, HCR_VF),
}
ORDER = ("serror", "fiq", "irq")


class Interrupts:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.lines = {"irq": False, "fiq": False, "serror": False}
        # functions returning the icount of their next event (timers), or NEVER
        self.event_sources: list[Callable[[CPUState], int]] = []
        # functions returning extra pending virtual lines (the GIC virtual CPU interface)
        self.virtual_sources: list[Callable[[CPUState], set[str]]] = []

    def set_line(self, kind: str, level: bool) -> None:
        if self.lines[kind] != level:
            self.lines[kind] = level
            self.machine.engine.kick()

    def next_event(self, cpu: CPUState) -> int:
        return min((src(cpu) for src in self.event_sources), default=NEVER)

    def _virtual_pending(self, cpu: CPUState, hcr: int) -> set[str]:
        pending = {k for k in KINDS if hcr & KINDS[k][3]}
        for src in self.virtual_sources:
            pending |= src(cpu)
        return pending

    def physical_target(self, cpu: CPUState, kind: str) -> int:
        hcr = cpu.sr["HCR_EL2"]
        return 2 if hcr & (KINDS[kind][2] | HCR_TGE) else 1

    def takeable(self, cpu: CPUState) -> tuple[str, int, bool] | None:
        """The highest-priority interrupt that can be taken now: (kind, target EL, virtual)."""
        hcr = cpu.sr["HCR_EL2"]
        el = cpu.el
        masked_bits = cpu.daif
        for kind in ORDER:
            if not self.lines[kind]:
                continue
            target = self.physical_target(cpu, kind)
            if target < el:
                continue
            if target == el and masked_bits & KINDS[kind][1]:
                # at EL2 with E2H=0 interrupts routed to EL2 are masked by PSTATE too
                continue
            return kind, target, False
        if el < 2 and not hcr & HCR_TGE:
            virt = self._virtual_pending(cpu, hcr)
            for kind in ORDER:
                # a virtual interrupt exists only when the physical one is routed to EL2
                if kind in virt and hcr & KINDS[kind][2] and not masked_bits & KINDS[kind][1]:
                    return kind, 1, True
        return None

    def any_pending(self, cpu: CPUState) -> bool:
        """Something would wake a WFI (pending whatever PSTATE masks say)."""
        if any(self.lines.values()):
            return True
        hcr = cpu.sr["HCR_EL2"]
        return cpu.el < 2 and bool(self._virtual_pending(cpu, hcr))

    def take_pending(self, cpu: CPUState) -> bool:
        found = self.takeable(cpu)
        if found is None:
            return False
        kind, target, _virtual = found
        vector = KINDS[kind][0]
        syndrome = esr(EC_SERROR) if kind == "serror" else None
        if kind == "serror" and _virtual:
            cpu.sr["HCR_EL2"] &= ~HCR_VSE  # a virtual SError is consumed when taken
        cpu.halted = False
        take_exception(cpu, target, syndrome, cpu.pc, vector=vector)
        return True

    def next_wakeup(self, cpu: CPUState) -> int | None:
        if self.any_pending(cpu):
            return cpu.icount
        event = self.next_event(cpu)
        return None if event >= NEVER else event


__all__ = ["HCR_E2H", "Interrupts"]
