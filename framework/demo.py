"""``armnv demo``: the nested-virtualization image under FEAT_NV and under FEAT_NV2, counted by the emulator.

The image's L0 reads ID_AA64MMFR2_EL1.NV and uses FEAT_NV2 when the CPU has
it, so the same image runs once on ``--cpu max`` (NV2) and once on ``--cpu
max,nv2=off`` (NV alone). Each run is counted by `framework.levels`, never by
the guest: instructions per level and EL, exceptions taken to L0 by class and
by rule, world switches (entries into L2), the system-register accesses NV2
made to memory. The guest's console output is kept per run, each piece
tagged with the level that wrote it.

An L0 panic is the image's semihosting exit with status 76 after a line
``L0 panic: ...``; the demo reports it loudly and fails.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import attrs
import typer

from framework.demo_plot import Panel, check_plot_path, render_svg, write_plot
from framework.errors import ArmnvError
from framework.levels import LEVELS, LevelCounters, level_of
from framework.options import parse_int

if TYPE_CHECKING:
    from framework.engine import StopReason
    from framework.machine import Machine

# --cpu of each mode: the image picks NV2 itself when ID_AA64MMFR2_EL1.NV = 2
MODES = {"nv": "max,nv2=off", "nv2": "max"}
MODE_NAMES = {"nv": "NV", "nv2": "NV2"}
PANIC_STATUS = 76
DEFAULT_IMAGE = Path(__file__).resolve().parents[1] / "examples" / "images" / "nested.elf"
DEFAULT_MAX_INSNS = 200_000_000
TRACE_SWITCH = 2  # the world switch the plot shows: from the second entry into L2 to the third


class LevelOutput:
    """The guest's console output, each write tagged with the level running when it was made."""

    def __init__(self) -> None:
        self.machine: Machine | None = None
        self.chunks: list[tuple[str, bytes]] = []

    def write(self, data: bytes) -> int:
        level = level_of(self.machine.cpu)[0] if self.machine is not None else "L0"
        if self.chunks and self.chunks[-1][0] == level:
            self.chunks[-1] = (level, self.chunks[-1][1] + bytes(data))
        else:
            self.chunks.append((level, bytes(data)))
        return len(data)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return b"".join(data for _, data in self.chunks).decode("utf-8", "replace")

    def lines(self) -> list[tuple[str, str]]:
        """(level, line) for each output line; a line belongs to the level that began it."""
        out: list[tuple[str, str]] = []
        open_line = False
        for level, data in self.chunks:
            for piece in data.decode("utf-8", "replace").splitlines(keepends=True):
                if open_line:
                    out[-1] = (out[-1][0], out[-1][1] + piece)
                else:
                    out.append((level, piece))
                open_line = not piece.endswith("\n")
        return [(level, line.rstrip("\n")) for level, line in out]


@attrs.define(slots=True)
class ModeRun:
    """One run of the image: how it stopped, the counters, the time, the output."""

    mode: str
    cpu: str
    stop: StopReason
    levels: LevelCounters
    icount: int
    seconds: float
    redirects: int
    output: LevelOutput

    @property
    def name(self) -> str:
        return MODE_NAMES[self.mode]

    @property
    def mips(self) -> float:
        return self.icount / self.seconds / 1e6 if self.seconds > 0 else 0.0

    @property
    def panic(self) -> str | None:
        """The L0 panic line, when L0 panicked (exit status 76)."""
        if self.stop.kind != "exit" or self.stop.exit_code != PANIC_STATUS:
            return None
        lines = [line for _, line in self.output.lines() if line.startswith("L0 panic:")]
        return lines[-1] if lines else f"L0 panic: (exit status {PANIC_STATUS}, no panic line)"

    @property
    def ok(self) -> bool:
        return self.stop.kind in ("exit", "poweroff") and self.stop.exit_code == 0

    def status(self) -> str:
        stop = self.stop
        if stop.kind == "exit":
            return f"exit {stop.exit_code}" + (" (L0 panic)" if self.panic else "")
        if stop.kind == "max-insns":
            return "stopped: --max-insns reached"
        return f"stopped: {stop.message or stop.kind}"


def parse_modes(mode: str) -> list[str]:
    """``nv``, ``nv2`` or ``both`` → the modes to run, NV first."""
    if mode == "both":
        return ["nv", "nv2"]
    if mode in MODES:
        return [mode]
    raise ArmnvError(f"--mode: unknown mode {mode!r} (known: nv, nv2, both)")


def image_path(image: str | None) -> str:
    """The image to run: IMAGE, or the nested-virtualization demo image."""
    if image is not None:
        return image
    if not DEFAULT_IMAGE.is_file():
        raise ArmnvError(f"demo: no image at {DEFAULT_IMAGE} (run `make images`, or give IMAGE)")
    return str(DEFAULT_IMAGE)


def run_mode(
    image: str,
    mode: str,
    *,
    max_insns: int | None = DEFAULT_MAX_INSNS,
    trace_switch: int = TRACE_SWITCH,
    one_insn_per_block: bool = False,
) -> ModeRun:
    """Run `image` in `mode` (``nv`` or ``nv2``) with the per-level counters on."""
    from framework.machine import Machine, MachineConfig

    cpu = MODES[mode]
    output = LevelOutput()
    config = MachineConfig(cpu=cpu, image_name=image, one_insn_per_block=one_insn_per_block)
    m = Machine(config, stdout=output)
    try:
        output.machine = m
        m.load(image)
        ram = m.bus.ram
        entry = m.cpu.pc
        if entry & 3 or not ram.base <= entry < ram.base + ram.size:
            raise ArmnvError(f"{image}: entry point {entry:#x} is not an aligned address in RAM")
        levels = LevelCounters.attach(m.cpu, trace_switch=trace_switch)
        t0 = time.perf_counter()
        stop = m.run(max_insns)
        seconds = time.perf_counter() - t0
    finally:
        m.close()
    redirects = sum(m.stats.to_memory_regs.values())
    return ModeRun(mode, cpu, stop, levels, m.cpu.icount, seconds, redirects, output)


# ---- the table --------------------------------------------------------------------------------------


def _table(rows: list[list[str]], indent: str = "  ") -> list[str]:
    """Rows of cells, the first column left-aligned and the others right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _n(value: int) -> str:
    return f"{value:,}"


def report(run: ModeRun) -> list[str]:
    """The lines ``armnv demo`` prints for one mode."""
    levels = run.levels
    out = [f"== {run.name} (--cpu {run.cpu}) ==", f"status: {run.status()}", "", "instructions executed by level:"]
    rows = [["level", "EL0", "EL1", "EL2", "total"]]
    for level in LEVELS:
        cells = [levels.insns.get((level, el), 0) for el in (0, 1, 2)]
        if level != "other" or any(cells):
            rows.append([level, *map(_n, cells), _n(sum(cells))])
    totals = [sum(levels.insns.get((lv, el), 0) for lv in LEVELS) for el in (0, 1, 2)]
    rows.append(["total", *map(_n, totals), _n(sum(totals))])
    out += _table(rows)

    sources = [lv for lv in ("L1", "L2", "other") if levels.traps_from(lv) or lv != "other"]
    out += ["", f"traps to L0: {_n(levels.traps_to_l0())}", "  by exception class:"]
    rows = [["class", *(f"from {lv}" for lv in sources)]]
    for kind in sorted({k for (src, _, k) in levels.to_el2 if src != "L0"}):
        counts = [sum(n for (s, _, k), n in levels.to_el2.items() if s == lv and k == kind) for lv in sources]
        rows.append([kind, *map(_n, counts)])
    out += _table(rows, "    ") if len(rows) > 1 else ["    (none)"]
    out.append("  by rule:")
    rules = sorted({(r, w) for (src, r, w) in levels.rules if src != "L0"})
    if not rules:
        out.append("    (none)")
    for rule in sorted({r for r, _ in rules}):
        total = sum(n for (src, r, _), n in levels.rules.items() if r == rule and src != "L0")
        why = levels.why.get(rule, "")
        out.append(f"    {rule}{f' ({why})' if why else ''}: {_n(total)}")
        items = [(w, n) for (src, r, w), n in levels.rules.items() if r == rule and src != "L0"]
        merged: dict[str, int] = {}
        for what, n in items:
            merged[what] = merged.get(what, 0) + n
        for what, n in sorted(merged.items(), key=lambda kv: (-kv[1], kv[0])):
            out.append(f"      {what}: {_n(n)}")

    switches = levels.world_switches
    out += [
        "",
        f"world switches (entries into L2): {_n(switches)}",
        f"traps to L0 from L1 per world switch: {per_switch(run)}",
        f"NV2 memory redirections: {_n(run.redirects)}"
        + (f" ({run.redirects / switches:.1f} per world switch)" if switches else ""),
        f"wall time: {run.seconds:.3f} s, {_n(run.icount)} instructions, {run.mips:.2f} MIPS",
        "",
        "console output (level that wrote each line):",
    ]
    lines = run.output.lines()
    out += [f"  [{level}] {line}" for level, line in lines] if lines else ["  (none)"]
    return out


def per_switch(run: ModeRun) -> str:
    levels = run.levels
    if not levels.world_switches:
        return "- (no world switch)"
    return f"{levels.traps_per_switch():.1f} ({_n(levels.traps_from('L1'))} / {_n(levels.world_switches)})"


def comparison(nv: ModeRun, nv2: ModeRun) -> str:
    """``NV2: 5.5x fewer traps to L0 per world switch than NV``."""
    a, b = nv.levels.traps_per_switch(), nv2.levels.traps_per_switch()
    if not nv.levels.world_switches or not nv2.levels.world_switches:
        return "NV2 vs NV: no comparison (a run made no world switch)"
    if b == 0:
        return f"NV2: no traps to L0 per world switch (NV: {a:.1f})"
    return f"NV2: {a / b:.1f}x fewer traps to L0 per world switch than NV"


def panel(run: ModeRun) -> Panel:
    """The plot's side for one run: its figures and its traced world switch."""
    levels = run.levels
    trace = levels.trace
    traps = sum(1 for e in trace if e.kind == "trap")
    figures = [
        f"traps to L0 from L1 per world switch: {per_switch(run)}",
        f"{_n(levels.world_switches)} world switches, {_n(levels.traps_to_l0())} traps to L0,"
        f" {_n(run.redirects)} NV2 memory redirections",
        f"shown: entry {levels.trace_switch} into L2 to entry {levels.trace_switch + 1}:"
        f" {traps} traps to L0, {sum(e.redirects for e in trace)} accesses to memory"
        if trace
        else f"no world switch {levels.trace_switch} to show",
    ]
    return Panel(f"{run.name} (--cpu {run.cpu})", figures, trace)


DEMO_EPILOG = (
    "The image (default examples/images/nested.elf) runs once per mode: nv on --cpu max,nv2=off, nv2 on "
    "--cpu max; its L0 picks NV2 when ID_AA64MMFR2_EL1.NV says it is there. Every figure comes from the "
    "emulator's counters. Exit status: 0 when every run exits with status 0; 1 when one does not (an L0 "
    "panic, exit status 76, is reported on stderr); 2 bad input ('armnv: error: ...')."
)


def demo_command(
    image: Annotated[
        str | None, typer.Argument(metavar="IMAGE", help="ELF image (default: examples/images/nested.elf).")
    ] = None,
    mode: Annotated[str, typer.Option("--mode", metavar="nv|nv2|both", help="Which runs to make.")] = "both",
    plot: Annotated[
        str | None,
        typer.Option("--plot", metavar="FILE.svg|FILE.png", help="Draw the trap flow of one world switch per mode."),
    ] = None,
    max_insns: Annotated[
        str | None,
        typer.Option("--max-insns", metavar="N", help=f"Stop each run after N instructions ({DEFAULT_MAX_INSNS:,})."),
    ] = None,
) -> int:
    """Run the nested-virtualization demo under FEAT_NV and FEAT_NV2; print what the emulator counted."""
    from framework.cli import _say
    from framework.console import print_line as _print

    modes = parse_modes(mode)
    limit = parse_int("--max-insns", max_insns) if max_insns is not None else DEFAULT_MAX_INSNS
    if plot is not None:
        check_plot_path(plot)
    path = image_path(image)
    runs: list[ModeRun] = []
    try:
        for m in modes:
            run = run_mode(path, m, max_insns=limit)
            runs.append(run)
            for line in report(run):
                _print(line)
            _print("")
    except KeyboardInterrupt:
        _say("stopped: interrupted")
        return 130
    if len(runs) == 2:
        _print(comparison(runs[0], runs[1]))
    if plot is not None:
        write_plot(plot, render_svg([(r.mode, panel(r)) for r in runs]))
    failed = False
    for run in runs:
        if run.panic is not None:
            _say(f"demo: L0 PANICKED in the {run.name} run: {run.panic}")
            failed = True
        elif not run.ok:
            _say(f"demo: the {run.name} run did not finish cleanly: {run.status()}")
            failed = True
    sys.stdout.flush()
    return 1 if failed else 0
