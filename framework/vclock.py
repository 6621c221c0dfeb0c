"""Virtual time: a clock made of the instruction count and the time the CPU spent waiting.

armnv never looks at the host's clock for the guest's time. Each executed
instruction advances virtual time by ``2**shift`` nanoseconds (QEMU's
``-icount shift=N``; the default shift is 0, one nanosecond per
instruction), and when the CPU waits (WFI, or a WFE with nothing to consume)
time jumps to the next event instead of being spent executing: the *idle*
part of the clock. Both parts change only at exact instruction counts (the
run loop's slow path), so a run's time line is the same on every host and in
both engine modes.

Event sources (timers) give their next event as a virtual time in
nanoseconds; the run loop turns the earliest one into the instruction count
it waits for (`icount_at`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.errors import ArmnvError

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

DEFAULT_SHIFT = 0
# QEMU's own limit: beyond 2**10 ns an instruction the counter would jump in visible steps
MAX_SHIFT = 10


class VirtualClock:
    """Virtual nanoseconds: ``instructions << shift`` plus the time skipped while waiting."""

    __slots__ = ("idle", "shift")

    def __init__(self, shift: int = DEFAULT_SHIFT) -> None:
        self.shift = shift
        self.idle = 0  # nanoseconds skipped by waits

    def now(self, cpu: CPUState) -> int:
        """Virtual time in ns at the instruction being executed (exact inside a block-ending helper)."""
        return (cpu.now() << self.shift) + self.idle

    def icount_at(self, ns: int) -> int:
        """The first instruction count at which the clock, running without waits, reaches `ns`."""
        return -((self.idle - ns) >> self.shift)

    def skip_to(self, cpu: CPUState, ns: int) -> None:
        """The CPU waits until `ns`: add the wait to the idle time (nothing if `ns` is not ahead)."""
        now = self.now(cpu)
        if ns > now:
            self.idle += ns - now

    def reset(self) -> None:
        self.idle = 0


def parse_icount(text: str) -> int:
    """The shift of ``-icount shift=N[,sleep=off]`` (or a plain ``N``, as QEMU also accepts).

    ``sleep=off`` is what armnv always does (waits are skipped, never slept on the host),
    so it is accepted and changes nothing; QEMU's settings that follow the host's clock
    are refused.
    """
    shift = DEFAULT_SHIFT
    seen = set()
    for part in text.split(","):
        key, sep, value = (s.strip() for s in part.partition("="))
        if not sep:
            key, value = "shift", key
        if key in seen:
            raise ArmnvError(f"-icount {text}: {key} given twice")
        seen.add(key)
        if key == "sleep":
            if value != "off":
                raise ArmnvError(f"-icount {text}: sleep={value}: waits are always skipped in virtual time (sleep=off)")
            continue
        if key != "shift":
            raise ArmnvError(f"-icount {text}: unknown setting {key!r} (known: shift=N, sleep=off)")
        if value == "auto":
            raise ArmnvError(f"-icount {text}: shift=auto follows the host's speed; armnv's time is exact: give 0-10")
        if not value.isdecimal() or int(value) > MAX_SHIFT:
            raise ArmnvError(f"-icount {text}: the shift is a number of 0 to {MAX_SHIFT} (2**N ns per instruction)")
        shift = int(value)
    return shift


__all__ = ["DEFAULT_SHIFT", "MAX_SHIFT", "VirtualClock", "parse_icount"]
