"""The trap flow of one world switch under NV and under NV2, side by side, as an SVG sequence diagram.

Each side has three lanes (L2, L1, L0) and one arrow per event of the traced
world switch (`framework.levels.TraceEvent`), top to bottom: an exception
taken to L0 in red, labelled with the instruction and the rule that trapped
it; an ERET from L0 in green. System-register accesses that FEAT_NV2 made to
memory between two events show as a note on the lane of the level that made
them. The SVG is written by hand (no dependency); a PNG is converted from it
with cairosvg when that is installed.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from framework.errors import ArmnvError
from framework.levels import TraceEvent

LANES = ("L2", "L1", "L0")
LANE_TITLES = {"L2": "L2 (kernel, EL1/EL0)", "L1": "L1 (guest hypervisor, EL1)", "L0": "L0 (host, EL2)"}
PANEL_W = 600
LANE_X = {"L2": 90, "L1": 300, "L0": 510}
TOP = 150  # y of the first event
STEP = 34  # between events
NOTE_H = 26
COLORS = {"trap": "#c0392b", "eret": "#1e8449"}


def plot_formats() -> tuple[str, ...]:
    """The file types ``--plot`` can write on this installation."""
    return ("svg", "png") if importlib.util.find_spec("cairosvg") is not None else ("svg",)


def check_plot_path(path: str) -> str:
    """The format of a ``--plot`` FILE (svg or png), or a one-line error."""
    kind = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    if kind not in ("svg", "png"):
        raise ArmnvError(f"--plot {path}: give a file name ending in .svg (or .png)")
    if kind not in plot_formats():
        raise ArmnvError(f"--plot {path}: PNG needs the cairosvg package, which is not installed; use FILE.svg")
    return kind


class Panel:
    """One side of the diagram: a mode's title, its figures and its traced events."""

    def __init__(self, title: str, figures: Sequence[str], events: Sequence[TraceEvent]) -> None:
        self.title = title
        self.figures = list(figures)
        self.events = list(events)

    def height(self) -> int:
        notes = sum(1 for e in self.events if e.redirects)
        return TOP + STEP * len(self.events) + NOTE_H * notes + 60


def _text(x: float, y: float, text: str, cls: str, anchor: str = "middle", **extra: str) -> str:
    attrs = "".join(f" {k.replace('_', '-')}={quoteattr(v)}" for k, v in extra.items())
    return f'<text class="{cls}" x="{x:.0f}" y="{y:.0f}" text-anchor="{anchor}"{attrs}>{escape(text)}</text>'


def _panel(panel: Panel, mode: str, x0: int, height: int) -> list[str]:
    out = [f'<g class="panel" data-mode={quoteattr(mode)}>']
    out.append(_text(x0 + PANEL_W / 2, 32, panel.title, "title"))
    for i, figure in enumerate(panel.figures):
        out.append(_text(x0 + PANEL_W / 2, 56 + 18 * i, figure, "figure"))
    for lane in LANES:
        x = x0 + LANE_X[lane]
        out.append(_text(x, TOP - 30, LANE_TITLES[lane], "lane-title"))
        out.append(
            f'<line class="lane" data-level="{lane}" x1="{x}" y1="{TOP - 20}" x2="{x}" y2="{height - 36}"'
            ' stroke="#888" stroke-dasharray="4 4"/>'
        )
    y = TOP
    for n, event in enumerate(panel.events, 1):
        if event.redirects:
            lane = event.source[0] if event.kind == "trap" else "L1"
            x = x0 + LANE_X.get(lane, LANE_X["L1"])
            out.append(
                f'<rect class="note" x="{x - 95}" y="{y - 12}" width="190" height="20" rx="4"'
                ' fill="#fdf2d0" stroke="#c9a227"/>'
            )
            plural = "es" if event.redirects != 1 else ""
            out.append(_text(x, y + 3, f"{event.redirects} register access{plural} to memory", "note-text"))
            y += NOTE_H
        src, dst = event.source[0], event.target[0]
        x1 = x0 + LANE_X.get(src, LANE_X["L1"])
        x2 = x0 + LANE_X.get(dst, LANE_X["L1"])
        color = COLORS[event.kind]
        out.append(
            f'<line class="arrow {event.kind}" data-from="{src}" data-to="{dst}" x1="{x1}" y1="{y}" x2="{x2}"'
            f' y2="{y}" stroke="{color}" stroke-width="2" marker-end="url(#head-{event.kind})"/>'
        )
        label = event.what or "exception"
        if event.kind == "trap" and event.rule:
            label += f" · {event.rule}"
        if event.kind == "eret":
            label = f"ERET to {dst} EL{event.target[1]}"
        out.append(_text((x1 + x2) / 2, y - 5, f"{n}. {label}", f"label {event.kind}"))
        y += STEP
    out.append("</g>")
    return out


def render_svg(panels: Sequence[tuple[str, Panel]]) -> str:
    """The diagram: one panel per (mode, Panel), left to right."""
    height = max([p.height() for _, p in panels] + [TOP + 60])
    width = PANEL_W * len(panels)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        "<title>Traps to L0 in one world switch: NV vs NV2</title>",
        "<defs>",
    ]
    for kind, color in COLORS.items():
        out.append(
            f'<marker id="head-{kind}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8"'
            f' orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{color}"/></marker>'
        )
    out += [
        "</defs>",
        "<style>.title{font-size:20px;font-weight:bold}.figure{font-size:13px;fill:#333}"
        ".lane-title{font-size:13px;font-weight:bold}.label{font-size:11px}.label.trap{fill:#922b21}"
        ".label.eret{fill:#186a3b}.note-text{font-size:11px;fill:#7d6608}.legend{font-size:12px;fill:#555}</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, (mode, panel) in enumerate(panels):
        out += _panel(panel, mode, PANEL_W * i, height)
        if i:
            out.append(f'<line x1="{PANEL_W * i}" y1="10" x2="{PANEL_W * i}" y2="{height - 32}" stroke="#ccc"/>')
    legend = "red: an exception taken to L0 (the instruction · the rule that trapped it); green: an ERET from L0"
    out.append(_text(width / 2, height - 12, legend, "legend"))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_plot(path: str, svg: str) -> None:
    """Write `svg` to `path`, converted to PNG when the name ends in .png."""
    kind = check_plot_path(path)
    try:
        if kind == "png":
            import cairosvg

            cairosvg.svg2png(bytestring=svg.encode(), write_to=path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(svg)
    except OSError as exc:
        raise ArmnvError(f"--plot {path}: cannot write ({exc.strerror or exc})") from None
