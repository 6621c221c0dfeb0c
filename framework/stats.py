"""Always-on counters: instructions, exceptions by class and target EL, traps to EL2."""

from __future__ import annotations

from collections import Counter

import attrs

from framework.cpu.syndrome import EC_NAMES


@attrs.define(slots=True)
class Stats:
    exceptions: Counter = attrs.field(factory=Counter)  # (kind or EC name, target EL)
    traps: Counter = attrs.field(factory=Counter)  # target EL of EC 0x18/0x1A-style traps
    blocks_translated: int = 0

    def exception(self, esr: int | None, vector: int, from_el: int, target_el: int) -> None:
        if esr is None:
            name = {0x80: "IRQ", 0x100: "FIQ", 0x180: "SError"}.get(vector, "async")
        else:
            ec = (esr >> 26) & 0x3F
            name = f"{EC_NAMES.get(ec, 'EC')} (EC {ec:#04x})"
        self.exceptions[(name, target_el)] += 1

    def trap(self, target_el: int) -> None:
        self.traps[target_el] += 1

    def lines(self, icount: int, seconds: float) -> list[str]:
        mips = icount / seconds / 1e6 if seconds > 0 else 0.0
        out = [
            f"instructions executed: {icount}",
            f"run time: {seconds:.3f} s ({mips:.2f} MIPS)",
            f"blocks translated: {self.blocks_translated}",
            f"exceptions taken: {sum(self.exceptions.values())}",
        ]
        for (name, el), n in sorted(self.exceptions.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"  {name} -> EL{el}: {n}")
        out.append(f"traps to EL2: {self.traps.get(2, 0)}")
        return out
