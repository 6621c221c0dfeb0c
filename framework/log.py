"""Debug logging: structlog events with stable names, rendered QEMU-style or as JSON.

Categories (``-d int,mmu,...``) select which events are produced at all, so a
disabled category costs one attribute test at the event site. Output goes to
stderr or to the ``-D`` file; stdout belongs to the guest.
"""

from __future__ import annotations

import sys
from typing import IO, Any

import structlog

CATEGORIES = {
    "int": "exception entries and returns (QEMU -d int)",
    "cpu": "CPU state dump at each exception",
    "exec": "every executed instruction, with disassembly",
    "in_asm": "every translated block, with disassembly",
    "mmu": "translation table walks and MMU faults",
    "unimp": "accesses to unimplemented devices or registers",
    "guest_errors": "guest mistakes the emulator tolerates (bad semihosting calls…)",
    "plugins": "plugin registration and hook decisions",
    "nochain": "translate one instruction per block (same as --one-insn-per-block)",
}

# QEMU's exception numbers for the -d int heading
_QEMU_EXCP = {
    0x00: (1, "UDEF"),
    0x15: (2, "SWI"),
    0x16: (11, "HVC"),
    0x17: (13, "SMC"),
    0x18: (1, "UDEF"),
    0x1A: (1, "UDEF"),
    0x20: (3, "PREFETCH_ABORT"),
    0x21: (3, "PREFETCH_ABORT"),
    0x24: (4, "DATA_ABORT"),
    0x25: (4, "DATA_ABORT"),
    0x3C: (7, "BKPT"),
}
_ASYNC = {"IRQ": (5, "IRQ"), "FIQ": (6, "FIQ"), "SError": (21, "SERROR")}


def parse_categories(spec: str | None) -> set[str]:
    if not spec:
        return set()
    cats = {c.strip() for c in spec.split(",") if c.strip()}
    unknown = cats - set(CATEGORIES)
    if unknown:
        from framework.errors import ArmnvError

        raise ArmnvError(f"unknown -d category {sorted(unknown)[0]!r} (known: {', '.join(CATEGORIES)})")
    return cats


def _console(_logger: Any, _name: str, ev: dict[str, Any]) -> str:
    event = ev.pop("event")
    if event == "exception.entry":
        kind = ev["kind"]
        if kind == "sync":
            ec = (ev["esr"] >> 26) & 0x3F
            num, name = _QEMU_EXCP.get(ec, (1, "UDEF"))
        else:
            num, name = _ASYNC.get(kind, (0, kind))
        lines = [
            f"Taking exception {num} [{name}] on CPU 0",
            f"...from EL{ev['from_el']} to EL{ev['to_el']}",
        ]
        if ev.get("esr") is not None:
            lines.append(f"...with ESR {(ev['esr'] >> 26) & 0x3F:#x}/{ev['esr']:#010x}")
        if ev.get("far") is not None:
            lines.append(f"...with FAR {ev['far']:#x}")
        lines.append(f"...with SPSR {ev['spsr']:#x}")
        lines.append(f"...with ELR {ev['elr']:#x}")
        lines.append(f"...to EL{ev['to_el']} PC {ev['pc']:#x} PSTATE {ev['pstate']:#x}")
        return "\n".join(lines)
    if event == "exception.return":
        return f"Exception return from AArch64 EL{ev['from_el']} to AArch64 EL{ev['to_el']} PC {ev['pc']:#x}"
    if event == "exec":
        return f"0x{ev['pc']:016x}:  {ev['word']:08x}      {ev['asm']}"
    if event == "in_asm":
        return ev["text"]
    if event == "cpu.dump":
        return ev["text"]
    rest = " ".join(f"{k}={_fmt(v)}" for k, v in ev.items())
    return f"{event} {rest}".rstrip()


def _fmt(v: Any) -> str:
    return hex(v) if isinstance(v, int) and not isinstance(v, bool) else str(v)


def make_logger(fmt: str, stream: IO[str] | None = None) -> Any:
    """A structlog logger writing one rendered event per line to `stream` (stderr by default)."""
    stream = stream or sys.stderr
    if fmt == "json":
        processors: list[Any] = [structlog.processors.JSONRenderer(sort_keys=True)]
    else:
        processors = [_console]
    return structlog.wrap_logger(structlog.PrintLogger(stream), processors=processors, cache_logger_on_first_use=True)
