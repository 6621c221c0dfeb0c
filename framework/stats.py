"""Always-on counters: instructions, exceptions by class and target EL, traps to EL2."""

from __future__ import annotations

from collections import Counter, defaultdict

import attrs

from framework.cpu.syndrome import EC_NAMES

EXCEPTION_SLOTS = 256 + (4 << 2)  # 64 ECs and 4 vector offsets, by 4 target ELs


def _counts() -> defaultdict:
    # counted on the exception path: a defaultdict(int) adds one in about half the time of a Counter
    return defaultdict(int)


@attrs.define(slots=True)
class Stats:
    # exceptions counted in a list (cheaper than a dictionary), at (EC << 2) | target EL, or
    # 256 + ((vector >> 7) << 2) | target EL for interrupts; `exceptions` gives them by
    # (EC or -vector, target EL)
    exception_counts: list[int] = attrs.field(factory=lambda: [0] * EXCEPTION_SLOTS)
    traps: defaultdict = attrs.field(factory=_counts)  # target EL of EC 0x18/0x1A-style traps
    # (target EL, rule, instruction) of the traps a decision explained
    trap_rules: defaultdict = attrs.field(factory=_counts)
    # register name -> accesses a ToMemory decision performed as memory accesses
    to_memory_regs: defaultdict = attrs.field(factory=_counts)
    blocks_translated: int = 0

    @property
    def exceptions(self) -> dict[tuple[int, int], int]:
        """Exceptions taken by (EC, or -vector for interrupts, target EL)."""
        out = {}
        for index, n in enumerate(self.exception_counts):
            if n:
                kind = index >> 2
                out[(kind if kind < 64 else -((kind - 64) << 7), index & 3)] = n
        return out

    @staticmethod
    def exception_name(kind: int) -> str:
        if kind < 0:
            return {0x80: "IRQ", 0x100: "FIQ", 0x180: "SError"}.get(-kind, "async")
        return f"{EC_NAMES.get(kind, 'EC')} (EC {kind:#04x})"

    def named_exceptions(self) -> dict[tuple[str, int], int]:
        return {(self.exception_name(kind), el): n for (kind, el), n in self.exceptions.items()}

    def trap(self, target_el: int, rule: str = "", what: str = "") -> None:
        self.traps[target_el] += 1
        if rule or what:
            self.trap_rules[(target_el, rule or "-", what)] += 1

    def to_memory(self, name: str) -> None:
        self.to_memory_regs[name] += 1

    def lines(self, icount: int, seconds: float, virtual_ns: int | None = None, idle_ns: int = 0) -> list[str]:
        mips = icount / seconds / 1e6 if seconds > 0 else 0.0
        out = [
            f"instructions executed: {icount}",
            f"run time: {seconds:.3f} s ({mips:.2f} MIPS)",
            f"blocks translated: {self.blocks_translated}",
            f"exceptions taken: {sum(self.exceptions.values())}",
        ]
        if virtual_ns is not None:
            # the guest's own time (framework.vclock), and how much of it was skipped waiting
            out.insert(2, f"virtual time: {virtual_ns / 1e9:.9f} s ({idle_ns / 1e9:.9f} s of it waiting)")
        for (name, el), n in sorted(self.named_exceptions().items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  {name} -> EL{el}: {n}")
        out.append(f"traps to EL2: {self.traps.get(2, 0)}")
        rules: Counter = Counter()
        for (el, rule, _), n in self.trap_rules.items():
            if el == 2:
                rules[rule] += n
        for rule, n in sorted(rules.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  {rule}: {n}")
            items = [(what, c) for (el, r, what), c in self.trap_rules.items() if el == 2 and r == rule]
            for what, c in sorted(items, key=lambda kv: (-kv[1], kv[0])):
                out.append(f"    {what}: {c}")
        if self.to_memory_regs:
            out.append(f"system-register accesses made to memory: {sum(self.to_memory_regs.values())}")
            for name, n in sorted(self.to_memory_regs.items(), key=lambda kv: (-kv[1], kv[0])):
                out.append(f"  {name}: {n}")
        return out
