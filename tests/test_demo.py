"""Per-level counters (framework.levels) and ``armnv demo``, on a small three-level guest.

The guest (`nested_guest`) is L0 at EL2, L1 at EL1 under VMID 1 and L2 at
EL1 under VMID 2; its instruction counts, traps and world switches follow
from its code. It runs with FEAT_NV2 (``--cpu max``) and with FEAT_NV alone
(``--cpu max,nv2=off``), as the demo runs its image.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from nested_guest import (
    L0_LINE,
    L1_WRITES,
    L2_LINE,
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


def test_other_vmids_are_other_and_the_host_el0_is_l0(run_asm):
    # EL1 under VMID 3 is nobody's; EL0 with {E2H, TGE} = {1, 1} is the host's own (EL2&0 regime)
    boot = ["adr x0, vec", "msr vbar_el2, x0", f"ldr x0, ={1 << 31:#x}", "msr hcr_el2, x0"]
    boot += ["movz x0, #3, lsl #48", "msr vttbr_el2, x0", "adr x0, vmid3", "msr elr_el2, x0"]
    boot += ["mov x0, #0x3c5", "msr spsr_el2, x0", "eret"]
    vmid3 = ["vmid3: nop", "nop", "nop", "hvc #0"]
    to_host_el0 = ["cbnz x5, 1f", "mov x5, #1", f"ldr x0, ={1 << 31 | 1 << 34 | 1 << 27:#x}", "msr hcr_el2, x0"]
    to_host_el0 += ["isb", "adr x0, host_el0", "msr elr_el2, x0", "msr spsr_el2, xzr", "eret"]
    host_el0 = ["host_el0: nop", "nop", "svc #0"]
    leave = ["1: b _armnv_exit", "mov x0, #0x18", "adr x1, _armnv_exit_block", "hlt #0xf000"]
    code = "".join(f"    {line}\n" for line in boot + vmid3 + host_el0)
    code += "    .balign 2048\nvec:\n    .skip 0x400\n" + "".join(f"    {line}\n" for line in to_host_el0 + leave[:1])
    m = run_asm(code, setup=lambda m: LevelCounters.attach(m.cpu))
    assert m.stop.exit_code == 0
    el2 = len(boot) + len(to_host_el0) + 1 + len(leave)  # the second entry runs the CBNZ again
    assert {k: n for k, n in m.levels.insns.items() if n} == {
        ("L0", 2): el2,
        ("other", 1): len(vmid3),
        ("L0", 0): len(host_el0),
    }
    assert dict(m.levels.to_el2) == {("other", 1, HVC): 1, ("L0", 0, "SVC (EC 0x15)"): 1}
    assert m.levels.world_switches == 0 and m.levels.traps_to_l0() == 1


def test_counters_are_off_unless_asked_for(run_asm):
    m = run_asm(source(), cpu=NV2)
    assert m.levels is None and m.stop.exit_code == 0


# ---- armnv demo: the report, the plot, the command line -------------------------------------------------

PANIC = """
    mov x0, #4
    adr x1, panic_line
    hlt #0xf000
    mov x0, #0x18
    adr x1, panic_exit
    hlt #0xf000
    b .
panic_line: .asciz "L0 panic: unexpected exception from L1\\n"
    .balign 8
panic_exit: .quad 0x20026, 76
"""


def demo_run(elf, mode: str):
    from framework.demo import run_mode

    return run_mode(str(elf), mode, one_insn_per_block=os.environ.get("ARMNV_ENGINE") == "single")


def row(lines: list[str], first: str) -> list[int]:
    cells = next(line.split() for line in lines if line.split()[:1] == [first])
    return [int(c.replace(",", "")) for c in cells[1:] if c.replace(",", "").isdigit()]


@pytest.mark.parametrize("mode", ["nv", "nv2"])
def test_demo_report_shows_the_counted_figures(asm, mode):
    from framework.demo import report

    run = demo_run(asm(source()), mode)
    nv2 = mode == "nv2"
    lines = report(run)
    insns = expected_insns(nv2)
    assert lines[0] == ("== NV2 (--cpu max) ==" if nv2 else "== NV (--cpu max,nv2=off) ==")
    assert lines[1] == "status: exit 0"
    for level, el in insns:
        assert row(lines, level) == [insns[(level, el)] if e == el else 0 for e in (0, 1, 2)] + [insns[(level, el)]]
    assert row(lines, "total")[-1] == sum(insns.values()) == run.icount
    traps = expected_traps_from_l1(nv2)
    assert f"world switches (entries into L2): {ROUNDS}" in lines
    assert f"traps to L0 from L1 per world switch: {traps / ROUNDS:.1f} ({traps} / {ROUNDS})" in lines
    assert f"traps to L0: {traps + ROUNDS}" in lines  # and L2's HVC each round
    redirects = 4 * ROUNDS if nv2 else 0
    assert any(line.startswith(f"NV2 memory redirections: {redirects} ") for line in lines)
    assert row(lines, "ERET") == [ROUNDS, 0]  # the "ERET trap (EC 0x1a)" row: from L1, from L2
    console = lines[lines.index("console output (level that wrote each line):") + 1 :]
    assert console == [f"  [L2] {L2_LINE}"] * ROUNDS + [f"  [L0] {L0_LINE}"]


def test_demo_nv2_makes_at_least_5x_fewer_traps_per_world_switch(asm):
    from framework.demo import comparison

    elf = asm(source())
    nv, nv2 = demo_run(elf, "nv"), demo_run(elf, "nv2")
    ratio = nv.levels.traps_per_switch() / nv2.levels.traps_per_switch()
    assert ratio == expected_traps_from_l1(False) / expected_traps_from_l1(True) >= 5
    assert comparison(nv, nv2) == f"NV2: {ratio:.1f}x fewer traps to L0 per world switch than NV"
    assert nv.panic is None and nv2.panic is None and nv.ok and nv2.ok


def test_demo_plot_has_a_lane_per_level_and_an_arrow_per_event(asm):
    from framework.demo import panel
    from framework.demo_plot import render_svg

    elf = asm(source())
    runs = {mode: demo_run(elf, mode) for mode in ("nv", "nv2")}
    root = ElementTree.fromstring(render_svg([(mode, panel(run)) for mode, run in runs.items()]))
    ns = "{http://www.w3.org/2000/svg}"
    panels = {g.get("data-mode"): g for g in root.iter(f"{ns}g") if g.get("class") == "panel"}
    assert sorted(panels) == ["nv", "nv2"]
    writes = 6  # the MSRs to EL2 registers that trap under NV (NV-06)
    for mode, g in panels.items():
        lanes = [e.get("data-level") for e in g.iter(f"{ns}line") if e.get("class") == "lane"]
        assert lanes == ["L2", "L1", "L0"]
        arrows = [(e.get("class"), e.get("data-from"), e.get("data-to")) for e in g.iter(f"{ns}line")]
        arrows = [a for a in arrows if a[0] and a[0].startswith("arrow")]
        traps = [a for a in arrows if a[0] == "arrow trap"]
        erets = [a for a in arrows if a[0] == "arrow eret"]
        n = writes if mode == "nv" else 0
        assert len(traps) == 2 + n and len(erets) == 3 + n
        assert all(dst == "L0" for _, _, dst in traps) and all(src == "L0" for _, src, _ in erets)
        labels = [t.text for t in g.iter(f"{ns}text") if (t.get("class") or "").startswith("label")]
        assert labels[-2].endswith("ERET · NV-15") and labels[1].endswith("HVC")
        notes = [t.text for t in g.iter(f"{ns}text") if t.get("class") == "note-text"]
        assert notes == (["4 register accesses to memory"] if mode == "nv2" else [])
    assert any("MSR VTTBR_EL2 · NV-06" in (t.text or "") for t in panels["nv"].iter(f"{ns}text"))


ARMNV = Path(sys.executable).parent / "armnv"


def armnv(*args) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ARMNV), *map(str, args)], capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )


def one_error_line(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("armnv: error: "), proc.stderr
    assert all(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in proc.stderr


def test_cli_demo_runs_both_modes_and_draws_the_plot(asm, tmp_path):
    out = tmp_path / "flow.svg"
    proc = armnv("demo", asm(source()), "--plot", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert "== NV (--cpu max,nv2=off) ==" in lines and "== NV2 (--cpu max) ==" in lines
    assert lines[-1] == "NV2: 5.5x fewer traps to L0 per world switch than NV"
    root = ElementTree.parse(out).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"


def test_cli_demo_one_mode(asm):
    proc = armnv("demo", asm(source()), "--mode", "nv2")
    assert proc.returncode == 0, proc.stderr
    assert "== NV2 (--cpu max) ==" in proc.stdout and "== NV " not in proc.stdout
    assert "fewer traps" not in proc.stdout


def test_cli_demo_bad_input_is_one_line_and_status_2(asm, tmp_path):
    elf = asm(source())
    one_error_line(armnv("demo", elf, "--mode", "bogus"), "--mode", "bogus")
    one_error_line(armnv("demo", tmp_path / "missing.elf"), "missing.elf", "no such file")
    one_error_line(armnv("demo", elf, "--plot", tmp_path / "flow.txt"), "--plot", ".svg")
    one_error_line(armnv("demo", elf, "--max-insns", "many"), "--max-insns")
    one_error_line(armnv("demo", elf, "--plot", tmp_path / "no" / "dir" / "flow.svg"), "--plot", "cannot write")


def test_cli_demo_png_needs_cairosvg(asm, tmp_path):
    out = tmp_path / "flow.png"
    proc = armnv("demo", asm(source()), "--mode", "nv2", "--plot", out)
    if importlib.util.find_spec("cairosvg") is None:
        one_error_line(proc, "--plot", "cairosvg", ".svg")
        assert not out.exists()
    else:
        assert proc.returncode == 0 and out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"


def test_cli_demo_without_image_names_the_default_image(tmp_path, monkeypatch, capsys):
    from framework import demo
    from framework.cli import run_cli

    monkeypatch.setattr(demo, "DEFAULT_IMAGE", tmp_path / "nested.elf")
    assert run_cli(["demo"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("armnv: error: demo: no image at ") and "nested.elf" in err[0]


def test_cli_demo_reports_an_l0_panic_and_fails(asm):
    proc = armnv("demo", asm(PANIC), "--mode", "nv")
    assert proc.returncode == 1
    assert "status: exit 76 (L0 panic)" in proc.stdout.splitlines()
    assert "  [L0] L0 panic: unexpected exception from L1" in proc.stdout.splitlines()
    assert proc.stderr.splitlines() == [
        "armnv: demo: L0 PANICKED in the NV run: L0 panic: unexpected exception from L1"
    ]


def test_cli_demo_a_run_stopped_by_max_insns_fails(asm):
    proc = armnv("demo", asm(source()), "--mode", "nv", "--max-insns", "100")
    assert proc.returncode == 1
    assert "status: stopped: --max-insns reached" in proc.stdout.splitlines()
    assert proc.stderr.splitlines() == ["armnv: demo: the NV run did not finish cleanly: stopped: --max-insns reached"]


def test_cli_run_stats_counts_by_level(asm):
    proc = armnv("run", "--cpu", NV2, "--stats", asm(source()))
    assert proc.returncode == 0, proc.stderr
    insns = expected_insns(True)
    for (level, el), n in insns.items():
        assert f"  {level} EL{el}: {n}" in proc.stderr.splitlines()
    assert f"world switches (entries into L2): {ROUNDS}" in proc.stderr.splitlines()
