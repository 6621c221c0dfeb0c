"""Counters by virtualization level: who ran each instruction, who trapped to the host, world switches.

In the nested setup the host hypervisor (L0) owns physical EL2; the guest
hypervisor (L1) runs at EL1/EL0 under VMID 1, and its guest (L2) at EL1/EL0
under VMID 2 (``VTTBR_EL2.VMID``). EL0 in the host's EL2&0 regime
({E2H, TGE} = {1, 1}) is L0's own. Any other EL1/EL0 context is "other".

The level in force changes only at an exception entry or an ERET: the
registers it depends on (VTTBR_EL2, VTCR_EL2.VS, HCR_EL2.{E2H, TGE}) are
EL2 state, which EL1 never writes for real (FEAT_NV traps the access,
FEAT_NV2 redirects it to memory), and a write at EL2 leaves EL2 at L0.

Nothing here runs per instruction. At an exception entry or an ERET the
engine's instruction count is not yet exact (a block adds its count when it
ends), so the event marks the segment as finished and kicks the run loop,
whose slow path (`Machine.service`), reached before the next block runs,
`settle`s it with the exact count. The counters exist only when asked for
(``armnv demo``, ``armnv run --stats``): a machine without them pays one
``is None`` test per exception entry and return.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import attrs

from framework.arch import ESR_EC, HCR_E2H, HCR_TGE, VTCR_VS, VTTBR_VMID, VTTBR_VMID8
from framework.cpu.syndrome import EC_NAMES

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

LEVELS = ("L0", "L1", "L2", "other")
_VMID_LEVEL = {1: "L1", 2: "L2"}
_HOST = HCR_E2H | HCR_TGE

# (level, EL): who was running
Bucket = tuple[str, int]


def level_of(cpu: CPUState, el: int | None = None) -> Bucket:
    """The (level, EL) of the CPU's current context, or of exception level `el` in it."""
    sr = cpu.sr
    if el is None:
        el = cpu.el
    if el >= 2 or (el == 0 and sr["HCR_EL2"] & _HOST == _HOST):
        return ("L0", el)
    vmid = (VTTBR_VMID if sr.get("VTCR_EL2", 0) & VTCR_VS else VTTBR_VMID8).get(sr.get("VTTBR_EL2", 0))
    return (_VMID_LEVEL.get(vmid, "other"), el)


def exception_kind_name(esr: int | None, vector: int) -> str:
    """``HVC (EC 0x16)``, ``IRQ``: an exception class, for tables and traces."""
    if esr is None:
        return {0x80: "IRQ", 0x100: "FIQ", 0x180: "SError"}.get(vector, "async")
    ec = ESR_EC.get(esr)
    return f"{EC_NAMES.get(ec, 'EC')} (EC {ec:#04x})"


@attrs.define(frozen=True, slots=True)
class TraceEvent:
    """One step of the traced world switch: an exception to EL2 or an ERET."""

    kind: str  # "trap" (an exception taken to EL2) or "eret"
    source: Bucket
    target: Bucket
    ec: str = ""  # the exception class (traps)
    rule: str = ""  # the rule of the decision that trapped, if one did
    what: str = ""  # the trapped instruction (``MSR HCR_EL2``), or the exception class's name
    redirects: int = 0  # system-register accesses made to memory (FEAT_NV2) since the previous event


@attrs.define(slots=True, eq=False)
class LevelCounters:
    """Per-level instruction counts, exceptions to EL2 by source, world switches, one traced switch."""

    insns: Counter = attrs.field(factory=Counter)  # (level, EL) -> instructions
    # (source level, source EL, exception class name) -> exceptions taken to EL2
    to_el2: Counter = attrs.field(factory=Counter)
    # (source level, rule, instruction) -> exceptions to EL2 a decision explained
    rules: Counter = attrs.field(factory=Counter)
    why: dict[str, str] = attrs.field(factory=dict)  # rule -> the controls that made it apply
    world_switches: int = 0  # ERETs from EL2 into L2
    # which entry into L2 starts the traced world switch (the trace ends at the next one); 0: none
    trace_switch: int = 0
    trace: list[TraceEvent] = attrs.field(factory=list)
    tracing: bool = False
    bucket: Bucket = ("L0", 2)
    mark: int = 0  # instruction count where the current segment started
    pending: bool = False
    _rule: tuple[str, str, str] | None = None
    _redirects_seen: int = 0

    @classmethod
    def attach(cls, cpu: CPUState, *, trace_switch: int = 0) -> LevelCounters:
        """Start counting on the CPU's machine from now on (``machine.levels``)."""
        counters = cls(trace_switch=trace_switch, bucket=level_of(cpu), mark=cpu.icount)
        cpu.machine.levels = counters
        cpu.machine.observe_exceptions = True
        return counters

    # ---- events ------------------------------------------------------------------------------
    def note_rule(self, rule: str, why: str, what: str) -> None:
        """A decision is about to trap: its rule explains the exception entry that follows."""
        self._rule = (rule, why, what)

    def exception(self, cpu: CPUState, from_el: int, target_el: int, esr: int | None, vector: int) -> None:
        """Called by exception entry once PSTATE is the target's."""
        rule = self._rule
        self._rule = None
        self._segment_ends(cpu)
        if target_el != 2:
            return
        source = level_of(cpu, from_el)
        kind = exception_kind_name(esr, vector)
        self.to_el2[(source[0], from_el, kind)] += 1
        if rule is not None:
            self.rules[(source[0], rule[0] or "-", rule[2])] += 1
            if rule[1]:
                self.why.setdefault(rule[0] or "-", rule[1])
        if self.tracing:
            what = rule[2] if rule is not None else kind.split(" (")[0]
            self._record(cpu, "trap", source, ("L0", 2), kind, rule[0] if rule is not None else "", what)

    def exception_return(self, cpu: CPUState, from_el: int) -> None:
        """Called by ERET once PSTATE is restored."""
        self._segment_ends(cpu)
        if from_el != 2 or cpu.el == 2:
            return
        target = level_of(cpu)
        if target[0] == "L2":
            self.world_switches += 1
            n = self.world_switches
            if n == self.trace_switch:
                self.tracing = True
                self._redirects_seen = _redirects(cpu)
            elif self.tracing and n == self.trace_switch + 1:
                self._record(cpu, "eret", ("L0", 2), target)
                self.tracing = False
                return
        if self.tracing:
            self._record(cpu, "eret", ("L0", 2), target)

    def _record(self, cpu: CPUState, kind: str, source: Bucket, target: Bucket, *label: str) -> None:
        seen = _redirects(cpu)
        self.trace.append(TraceEvent(kind, source, target, *label, redirects=seen - self._redirects_seen))
        self._redirects_seen = seen

    def _segment_ends(self, cpu: CPUState) -> None:
        if not self.pending:
            self.pending = True
            cpu.machine.engine.kick()

    def settle(self, cpu: CPUState) -> None:
        """Between blocks (cpu.icount exact): close the segment an event ended, or the last one."""
        self.insns[self.bucket] += cpu.icount - self.mark
        self.mark = cpu.icount
        self.bucket = level_of(cpu)
        self.pending = False

    # ---- results ------------------------------------------------------------------------------
    def traps_from(self, level: str) -> int:
        """Exceptions taken to EL2 from `level` (L1, L2 or other): traps to L0."""
        return sum(n for (src, _, _), n in self.to_el2.items() if src == level)

    def traps_to_l0(self) -> int:
        """Exceptions taken to EL2 from a guest (not from L0 itself)."""
        return sum(n for (src, _, _), n in self.to_el2.items() if src != "L0")

    def traps_per_switch(self) -> float:
        """Traps to L0 from L1 per world switch (0 without world switches)."""
        return self.traps_from("L1") / self.world_switches if self.world_switches else 0.0

    def by_level(self) -> dict[str, int]:
        totals = dict.fromkeys(LEVELS, 0)
        for (level, _), n in self.insns.items():
            totals[level] += n
        return totals

    def lines(self) -> list[str]:
        """Lines for ``--stats``."""
        out = ["instructions by level:"]
        for (level, el), n in sorted(self.insns.items()):
            if n:
                out.append(f"  {level} EL{el}: {n}")
        out.append(f"world switches (entries into L2): {self.world_switches}")
        out.append(f"traps to L0: {self.traps_to_l0()} (from L1: {self.traps_from('L1')})")
        for (level, el, kind), n in sorted(self.to_el2.items(), key=lambda kv: (-kv[1], kv[0])):
            if level != "L0":
                out.append(f"  from {level} EL{el}: {kind}: {n}")
        return out


def _redirects(cpu: CPUState) -> int:
    return sum(cpu.machine.stats.to_memory_regs.values())
