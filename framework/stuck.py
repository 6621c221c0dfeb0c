"""A guest stuck in an exception loop: the same exception, at the same PC, again and again.

A vector table that cannot be fetched (VBAR_ELx left at 0, with nothing
there) takes an instruction abort at the vector itself, whose vector is the
same address; a handler that faults takes its own exception again. Neither
ever returns, so without this the guest would spin until ``--max-insns``.

The signature of a synchronous exception entry is its vector address and
its ELR (the vector address also fixes the target EL, through VBAR_ELx).
`STUCK_REPEATS` identical entries in a row, with no exception return or
other PSTATE write between them (any of those is progress: a handler that
returns, or that unmasks interrupts), stop the run.
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

# offset bits of the IRQ/FIQ/SError entries within a vector group (VBAR_ELx is 2 KiB aligned,
# so they are the vector address's own bits)
_VECTOR_KIND = 0x180
_ELR = ("", "ELR_EL1", "ELR_EL2")
_EC_SHIFT, _EC_ONES = ESR_EC.shift, ESR_EC.ones


class ExceptionLoop:
    """Counts identical synchronous exception entries in a row.

    The cheap part of the signature — the vector address and ELR — is compared on each
    entry; the EL, the exception class and VBAR only go into the explanation.
    """

    __slots__ = ("elr", "entries", "repeats", "threshold", "vector")

    def __init__(self, threshold: int = STUCK_REPEATS) -> None:
        self.threshold = threshold
        # 0 after an exception return or PSTATE write, 1 after one entry, 2 while entries are
        # compared: the first entry after a return costs one store, and is never compared
        self.entries = 0
        self.vector = -1
        self.elr = -1
        self.repeats = 0

    def progressed(self) -> None:
        """An exception return or a PSTATE write: whatever repeated was not a loop."""
        self.entries = 0

    def entered(self, cpu: CPUState) -> str | None:
        """After the second and later exception entries with no return between them.

        The explanation once the same entry has repeated `threshold` times, else None.
        """
        vector = cpu.pc
        if vector & _VECTOR_KIND:
            return None  # an interrupt or SError: the guest may be idling, not stuck
        elr = cpu.sr[_ELR[cpu.el]]
        if self.entries == 1 or vector != self.vector or elr != self.elr:
            self.entries = 2
            self.vector = vector
            self.elr = elr
            self.repeats = 1
            return None
        self.repeats += 1
        if self.repeats < self.threshold:
            return None
        self.entries = 0
        return describe(cpu)

    def reset(self) -> None:
        self.entries = 0
        self.repeats = 0


def describe(cpu: CPUState) -> str:
    """The stop line for a CPU that has just taken its exception once more."""
    el = cpu.el
    vbar_name = f"VBAR_EL{el}"
    elr = cpu.sr[f"ELR_EL{el}"]
    ec = (cpu.sr[f"ESR_EL{el}"] >> _EC_SHIFT) & _EC_ONES
    name = EC_NAMES.get(ec, "exception")
    if ec in (EC_IABT_LOWER, EC_IABT_SAME) and elr == cpu.pc:
        cause = f"the vector itself cannot be fetched: no vector table installed at {vbar_name}"
    else:
        cause = "the exception handler takes the same exception itself, before it can return"
    return (
        f"guest stuck: {name} (EC {ec:#04x}) at PC {elr:#x} taken to EL{el} again and again "
        f"({vbar_name} = {cpu.sr[vbar_name]:#x}): likely cause: {cause}"
    )


__all__ = ["STUCK_REPEATS", "ExceptionLoop", "describe"]
