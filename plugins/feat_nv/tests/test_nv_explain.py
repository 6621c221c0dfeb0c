"""Explainable traps: every FEAT_NV trap says which rule caused it (-d int, -d sysreg, JSON, --stats)."""

from __future__ import annotations

import json

from plugins.feat_nv.tests.guest import HCR_AT, HCR_NV, HCR_NV1, HCR_RW, program

# EL2 handler: step over the trapped instruction and return to EL1
STEP = "    mrs x10, elr_el2\n    add x10, x10, #4\n    msr elr_el2, x10\n"


def run_logged(run_asm, tmp_path, body: str, hcr: int, debug: set[str], fmt: str = "console"):
    log = tmp_path / "log.txt"
    src = program(body, el=1, el2={"hcr_el2": HCR_RW | hcr}, hvc=STEP)
    # the HVC vector entry serves every synchronous exception from EL1: traps are stepped over too
    m = run_asm(src, debug=frozenset(debug), log_file=str(log), log_format=fmt)
    m.close()
    return m, log.read_text()


def test_nv06_int_log_explains_the_trap(run_asm, tmp_path):
    _m, text = run_logged(run_asm, tmp_path, "    msr vbar_el2, x3\n", HCR_NV, {"int"})
    assert "...trap to EL2: MSR VBAR_EL2, x3 at EL1 (NV-06, HCR_EL2.NV=1)" in text.splitlines()
    # the explanation sits in the entry it explains, after the from/to line
    lines = text.splitlines()
    i = lines.index("...trap to EL2: MSR VBAR_EL2, x3 at EL1 (NV-06, HCR_EL2.NV=1)")
    assert lines[i - 1] == "...from EL1 to EL2" and lines[i + 1].startswith("...with ESR 0x18/")


def test_nv15_21_17_each_trap_names_its_rule(run_asm, tmp_path):
    body = "    mrs x5, vbar_el1\n    at s1e1r, x1\n    eret\n"
    _m, text = run_logged(run_asm, tmp_path, body, HCR_NV | HCR_NV1 | HCR_AT, {"sysreg"})
    lines = [x for x in text.splitlines() if x.startswith("trap to")]
    assert lines[:3] == [
        "trap to EL2: MRS x5, VBAR_EL1 at EL1 (NV-21, HCR_EL2.{NV,NV1}={1,1})",
        "trap to EL2: AT S1E1R, x1 at EL1 (NV-17, HCR_EL2.AT=1)",
        "trap to EL2: ERET at EL1 (NV-15, HCR_EL2.NV=1)",
    ]


def test_nv06_json_log_carries_the_reason(run_asm, tmp_path):
    _m, text = run_logged(run_asm, tmp_path, "    mrs x5, hcr_el2\n", HCR_NV, {"int"}, fmt="json")
    events = [json.loads(x) for x in text.splitlines()]
    entries = [e for e in events if e["event"] == "exception.entry" and e.get("reason")]
    assert entries[0]["reason"] == "trap to EL2: MRS x5, HCR_EL2 at EL1 (NV-06, HCR_EL2.NV=1)"
    assert entries[0]["esr"] >> 26 == 0x18


def test_nv06_stats_tally_traps_by_rule_and_register(run_asm):
    body = "    msr vbar_el2, x3\n    msr vbar_el2, x3\n    mrs x5, hcr_el2\n    eret\n"
    m = run_asm(program(body, el=1, el2={"hcr_el2": HCR_RW | HCR_NV}, hvc=STEP))
    lines = m.stats.lines(m.cpu.icount, 1.0)
    i = lines.index("traps to EL2: 4")
    assert lines[i + 1 : i + 6] == [
        "  NV-06: 3",
        "    MSR VBAR_EL2: 2",
        "    MRS HCR_EL2: 1",
        "  NV-15: 1",
        "    ERET: 1",
    ]


def test_nv06_no_explanation_without_a_debug_category(run_asm, tmp_path):
    m, text = run_logged(run_asm, tmp_path, "    msr vbar_el2, x3\n", HCR_NV, set())
    assert text == ""
    assert m.pending_reason is None
