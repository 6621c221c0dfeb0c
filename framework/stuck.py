"""A guest stuck in an exception loop: the same exception, at the same PC, again and again.

A vector table that cannot be fetched (VBAR_ELx left at 0, with nothing
there) takes an instruction abort at the vector itself, whose vector is the
same address; a handler that faults takes its own exception again. Neither
ever returns, so without this the guest would spin until ``--max-insns``.

The signature of a synchronous exception entry is (target EL, vector
address, ELR, EC). `STUCK_REPEATS` identical entries in a row, with no
exception return or other PSTATE write between them (any of those is
progress: a handler that returns, or that unmasks interrupts), stop the run.
Interrupts are left out: a guest that idles in ``wfi; b`` with a periodic
timer takes the same IRQ at the same PC legitimately.

Only exception entry pays for this, never an instruction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.arch import ESR_EC
from framework.cpu.syndrome import EC_IABT_LOWER, EC_IABT_SAME, EC_NAMES

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

STUCK_REPEATS = 1000

_VECTOR_KIND = 0x180  # offset bits of the IRQ/FIQ/SError entries within a group
_VBA = ~0x7FF
_BANKED = ((), ("VBAR_EL1", "ELR_EL1", "ESR_EL1"), ("VBAR_EL2", "ELR_EL2", "ESR_EL2"))
_EC_SHIFT, _EC_ONES = ESR_EC.shift, ESR_EC.ones


class ExceptionLoop:
    """Counts identical synchronous exception entries in a row."""

    __slots__ = ("key", "repeats", "threshold")

    def __init__(self, threshold: int = STUCK_REPEATS) -> None:
        self.threshold = threshold
        self.key: tuple[int, int, int, int] | None = None
        self.repeats = 0

    def progressed(self) -> None:
        """An exception return or a PSTATE write: whatever repeated was not a loop."""
        self.key = None

    def entered(self, cpu: CPUState) -> str | None:
        """After an exception entry: the explanation once it has repeated `threshold` times, else None."""
        el = cpu.el
        vbar_name, elr_name, esr_name = _BANKED[el]
        sr = cpu.sr
        vbar = sr[vbar_name] & _VBA
        pc = cpu.pc
        if (pc - vbar) & _VECTOR_KIND:
            return None  # an interrupt or SError: the guest may be idling, not stuck
        key = (el, pc, sr[elr_name], (sr[esr_name] >> _EC_SHIFT) & _EC_ONES)
        if key != self.key:
            self.key = key
            self.repeats = 1
            return None
        self.repeats += 1
        if self.repeats < self.threshold:
            return None
        self.key = None
        return describe(key, vbar_name, sr[vbar_name])

    def reset(self) -> None:
        self.key = None
        self.repeats = 0


def describe(key: tuple[int, int, int, int], vbar_name: str, vbar: int) -> str:
    el, vector, elr, ec = key
    name = EC_NAMES.get(ec, "exception")
    if ec in (EC_IABT_LOWER, EC_IABT_SAME) and elr == vector:
        cause = f"the vector itself cannot be fetched: no vector table installed at {vbar_name}"
    else:
        cause = "the exception handler takes the same exception itself, before it can return"
    return (
        f"guest stuck: {name} (EC {ec:#04x}) at PC {elr:#x} taken to EL{el} again and again "
        f"({vbar_name} = {vbar:#x}): likely cause: {cause}"
    )


__all__ = ["STUCK_REPEATS", "ExceptionLoop", "describe"]
