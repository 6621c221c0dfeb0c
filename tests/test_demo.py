"""Per-level counters (framework.levels) and ``armnv demo``, on a small three-level guest.

The guest (`nested_guest`) is L0 at EL2, L1 at EL1 under VMID 1 and L2 at
EL1 under VMID 2; its instruction counts, traps and world switches follow
from its code. It runs with FEAT_NV2 (``--cpu max``) and with FEAT_NV alone
(``--cpu max,nv2=off``), as the demo runs its image.
"""

from __future__ import annotations

import pytest
from nested_guest import (
    L1_WRITES,
    ROUNDS,
    expected_insns,
    expected_traps_from_l1,
    source,
)

from framework.levels import LevelCounters

NV, NV2 = "max,nv2=off", "max"
SYSREG, ERET, HVC = "system register trap (EC 0x18)", "ERET trap (EC 0x1a)", "HVC (EC 0x16)"


def run_levels(run_asm, cpu: str, trace_switch: int = 0):
    m = run_asm(source(), cpu=cpu, setup=lambda m: LevelCounters.attach(m.cpu, trace_switch=trace_switch))
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, m.stop
    return m


@pytest.mark.parametrize("cpu", [NV, NV2])
def test_instructions_by_level_follow_the_program(run_asm, cpu):
    m = run_levels(run_asm, cpu)
    counted = {bucket: n for bucket, n in m.levels.insns.items() if n}
    assert counted == expected_insns(nv2=cpu == NV2)
    assert sum(counted.values()) == m.cpu.icount


@pytest.mark.parametrize("cpu", [NV, NV2])
def test_world_switches_and_traps_by_source(run_asm, cpu):
    m = run_levels(run_asm, cpu)
    levels = m.levels
    assert levels.world_switches == ROUNDS
    nv2 = cpu == NV2
    expected = {("L1", 1, ERET): ROUNDS, ("L1", 1, HVC): 1, ("L2", 1, HVC): ROUNDS}
    if not nv2:
        expected[("L1", 1, SYSREG)] = ROUNDS * (len(L1_WRITES) + 2)
    assert dict(levels.to_el2) == expected
    assert levels.traps_from("L1") == expected_traps_from_l1(nv2)
    assert levels.traps_per_switch() == expected_traps_from_l1(nv2) / ROUNDS


def test_nv06_nv15_traps_by_rule(run_asm):
    m = run_levels(run_asm, NV)
    rules = dict(m.levels.rules)
    names = ["VTTBR_EL2", "HCR_EL2", "VTCR_EL2", "TPIDR_EL2", "ELR_EL2", "SPSR_EL2"]
    assert rules == {("L1", "NV-06", f"MSR {n}"): ROUNDS for n in names} | {("L1", "NV-15", "ERET"): ROUNDS}


def test_nv2_redirects_the_world_switch_writes_to_memory(run_asm):
    m = run_levels(run_asm, NV2)
    # NV2-04: the four VNCR-backed registers go to memory; ELR/SPSR_EL2 reach ELR/SPSR_EL1
    assert dict(m.stats.to_memory_regs) == {n: ROUNDS for n in ("VTTBR_EL2", "HCR_EL2", "VTCR_EL2", "TPIDR_EL2")}
    assert dict(m.levels.rules) == {("L1", "NV-15", "ERET"): ROUNDS}


def _steps(trace):
    return [(e.kind, e.source, e.target, e.what) for e in trace]


@pytest.mark.parametrize("cpu", [NV, NV2])
def test_trace_of_the_second_world_switch(run_asm, cpu):
    m = run_levels(run_asm, cpu, trace_switch=2)
    trace = m.levels.trace
    l0, l1, l2 = ("L0", 2), ("L1", 1), ("L2", 1)
    steps = [("eret", l0, l2, ""), ("trap", l2, l0, "HVC"), ("eret", l0, l1, "")]
    if cpu == NV:
        for name in ["VTTBR_EL2", "HCR_EL2", "VTCR_EL2", "TPIDR_EL2", "ELR_EL2", "SPSR_EL2"]:
            steps += [("trap", l1, l0, f"MSR {name}"), ("eret", l0, l1, "")]
    steps += [("trap", l1, l0, "ERET"), ("eret", l0, l2, "")]
    assert _steps(trace) == steps
    eret_trap = trace[-2]
    assert eret_trap.rule == "NV-15" and eret_trap.ec == ERET
    # the four redirected writes happen between resuming L1 and L1's ERET
    assert [e.redirects for e in trace] == [0] * (len(trace) - 2) + [4 if cpu == NV2 else 0, 0]


def test_counters_are_off_unless_asked_for(run_asm):
    m = run_asm(source(), cpu=NV2)
    assert m.levels is None and m.stop.exit_code == 0
