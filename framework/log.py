"""Debug logging: structlog events with stable names, rendered QEMU-style or as JSON.

Categories (``-d int,mmu,...``) select which events are produced at all, so a
disabled category costs one attribute test at the event site. Output goes to
stderr or to the ``-D`` file; stdout belongs to the guest.

The console renderer prints the events QEMU also logs in QEMU's own words
(``-d int``, ``-d in_asm``), so a trace of the same image on both can be
compared line by line; ``--log-format json`` prints one JSON object per event
with the same fields.
"""

from __future__ import annotations

import contextlib
import sys
from typing import IO, Any

import structlog

from framework.arch import ESR_EC
from framework.errors import ArmnvError

CATEGORIES = {
    "int": "exception entries and returns, PSCI and semihosting calls (QEMU -d int)",
    "cpu": "CPU state dump at each exception",
    "exec": "every executed instruction, with disassembly",
    "in_asm": "every translated block, with disassembly (QEMU -d in_asm)",
    "op": "the generated Python source of every translated block (QEMU -d op)",
    "mmu": "translation table walks and MMU faults",
    "sysreg": "system-register traps and redirections, each with the rule that decided it",
    "gic": "interrupt-controller state changes: pending, activate, EOI, list registers, maintenance",
    "unimp": "accesses to unimplemented system registers and PSTATE fields, unallocated instructions",
    "guest_errors": "guest mistakes the emulator tolerates (bad semihosting calls, bad UART offsets...)",
    "plugins": "plugin registration, and every hook decision a plugin answered (which plugin, what answer)",
    "nochain": "translate one instruction per block (same as --one-insn-per-block)",
}

LOG_FORMATS = ("console", "json")

# QEMU's exception numbers and names (target/arm: EXCP_*), for the -d int heading
EXCP_UDEF = (1, "Undefined Instruction")
EXCP_SWI = (2, "SVC")
EXCP_PREFETCH_ABORT = (3, "Prefetch Abort")
EXCP_DATA_ABORT = (4, "Data Abort")
EXCP_IRQ = (5, "IRQ")
EXCP_FIQ = (6, "FIQ")
EXCP_BKPT = (7, "Breakpoint")
EXCP_HVC = (11, "Hypervisor Call")
EXCP_HYP_TRAP = (12, "Hypervisor Trap")
EXCP_SMC = (13, "Secure Monitor Call")
EXCP_VIRQ = (14, "Virtual IRQ")
EXCP_VFIQ = (15, "Virtual FIQ")
EXCP_SEMIHOST = (16, "Semihosting call")
EXCP_VSERR = (24, "Virtual SERR")

# synchronous exceptions by EC; anything not listed is raised by QEMU as EXCP_UDEF
_SYNC_EXCP = {
    0x15: EXCP_SWI,
    0x16: EXCP_HVC,
    0x17: EXCP_HYP_TRAP,  # an SMC that reaches EL2 was trapped by HCR_EL2.TSC
    0x20: EXCP_PREFETCH_ABORT,
    0x21: EXCP_PREFETCH_ABORT,
    0x22: EXCP_PREFETCH_ABORT,
    0x24: EXCP_DATA_ABORT,
    0x25: EXCP_DATA_ABORT,
    0x3C: EXCP_BKPT,
}
# asynchronous exceptions by (kind, virtual)
_ASYNC_EXCP = {
    ("IRQ", False): EXCP_IRQ,
    ("IRQ", True): EXCP_VIRQ,
    ("FIQ", False): EXCP_FIQ,
    ("FIQ", True): EXCP_VFIQ,
    ("SError", False): EXCP_VSERR,
    ("SError", True): EXCP_VSERR,
}


def parse_categories(spec: str | list[str] | None) -> set[str]:
    """``"int,exec"`` (or several such strings) -> {"int", "exec"}; unknown names are an ArmnvError."""
    if not spec:
        return set()
    parts = spec if isinstance(spec, list) else [spec]
    cats = {c.strip() for part in parts for c in part.split(",") if c.strip()}
    unknown = cats - set(CATEGORIES)
    if unknown:
        raise ArmnvError(f"unknown -d category {sorted(unknown)[0]!r} (try -d help)")
    return cats


def categories_help() -> str:
    """The text ``-d help`` prints."""
    width = max(map(len, CATEGORIES))
    lines = ["Log items (comma separated):"]
    lines += [f"{name:<{width}}  {text}" for name, text in CATEGORIES.items()]
    return "\n".join(lines)


# ---- the console renderer ---------------------------------------------------------------------


def disasm_line(pc: int, word: int, asm: str) -> str:
    """One instruction as QEMU's capstone disassembler prints it."""
    mnemonic, _, operands = asm.partition(" ")
    return f"0x{pc:08x}:  {word:08x}  {mnemonic:<8} {operands}".rstrip()


def _exception_entry(ev: dict[str, Any]) -> str:
    if ev["kind"] == "sync":
        num, name = _SYNC_EXCP.get(ESR_EC.get(ev["esr"]), EXCP_UDEF)
    else:
        num, name = _ASYNC_EXCP.get((ev["kind"], bool(ev.get("virtual"))), (0, ev["kind"]))
    lines = [f"Taking exception {num} [{name}] on CPU 0", f"...from EL{ev['from_el']} to EL{ev['to_el']}"]
    if ev.get("reason"):
        lines.append(f"...{ev['reason']}")
    if ev.get("esr") is not None:
        lines.append(f"...with ESR {ESR_EC.get(ev['esr']):#x}/{ev['esr']:#x}")
    if ev.get("far") is not None:
        lines.append(f"...with FAR {ev['far']:#x}")
    lines.append(f"...with SPSR {ev['spsr']:#x}")
    lines.append(f"...with ELR {ev['elr']:#x}")
    lines.append(f"...to EL{ev['to_el']} PC {ev['pc']:#x} PSTATE {ev['pstate']:#x}")
    return "\n".join(lines)


def _exception_return(ev: dict[str, Any]) -> str:
    return f"Exception return from AArch64 EL{ev['from_el']} to AArch64 EL{ev['to_el']} PC {ev['pc']:#x}"


def _in_asm(ev: dict[str, Any]) -> str:
    lines = ["----------------", f"IN: {ev.get('symbol') or ''}"]
    lines += [disasm_line(i["pc"], i["word"], i["asm"]) for i in ev["insns"]]
    return "\n".join(lines) + "\n"


def _op(ev: dict[str, Any]) -> str:
    head = f"OP: {ev['filename']} pa {ev['pa']:#x}, {ev['n']} instruction{'s' if ev['n'] != 1 else ''}"
    return "\n".join(["----------------", head, ev["source"]])


def _exec(ev: dict[str, Any]) -> str:
    return f"Trace EL{ev['el']}: " + disasm_line(ev["pc"], ev["word"], ev["asm"])


def _psci_call(ev: dict[str, Any]) -> str:
    # QEMU takes an SMC to (absent) EL3 and then reports it handled by its firmware
    num, name = EXCP_SMC
    return f"Taking exception {num} [{name}] on CPU 0\n...from EL{ev['el']} to EL3\n...handled as PSCI call"


def _semihosting_call(ev: dict[str, Any]) -> str:
    num, name = EXCP_SEMIHOST
    el = ev["el"]
    return (
        f"Taking exception {num} [{name}] on CPU 0\n...from EL{el} to EL{el}\n"
        f"...handling as semihosting call {ev['op']:#x}"
    )


def _plugins_decision(ev: dict[str, Any]) -> str:
    return f"plugins: {ev['hook']} {ev['call']} -> {ev['answer']} [{ev['plugin']}]"


def _unimp_insn(ev: dict[str, Any]) -> str:
    return f"unimp: unallocated instruction {ev['word']:#010x} at PC {ev['pc']:#x} (EL{ev['el']}): UNDEFINED"


def _unimp_sysreg(ev: dict[str, Any]) -> str:
    return f"unimp: {ev['access']}: unimplemented system register at PC {ev['pc']:#x} (EL{ev['el']})"


def _unimp_msr_imm(ev: dict[str, Any]) -> str:
    return (
        f"unimp: MSR (immediate) op1={ev['op1']} op2={ev['op2']} CRm={ev['crm']}: unimplemented PSTATE field"
        f" at PC {ev['pc']:#x} (EL{ev['el']})"
    )


_RENDERERS = {
    "exception.entry": _exception_entry,
    "exception.return": _exception_return,
    "in_asm": _in_asm,
    "op": _op,
    "exec": _exec,
    "psci.call": _psci_call,
    "semihosting.call": _semihosting_call,
    "plugins.decision": _plugins_decision,
    "plugins.register": lambda ev: f"plugins: registered {ev['plugin']}: {ev['hooks']}",
    "unimp.insn": _unimp_insn,
    "unimp.sysreg": _unimp_sysreg,
    "unimp.msr_imm": _unimp_msr_imm,
    "cpu.dump": lambda ev: ev["text"],
    "sysreg.decision": lambda ev: ev["text"],
    "text": lambda ev: ev["text"],
}


def _console(_logger: Any, _name: str, ev: dict[str, Any]) -> str:
    event = ev.pop("event")
    render = _RENDERERS.get(event)
    if render is not None:
        return render(ev)
    rest = " ".join(f"{k}={_fmt(v)}" for k, v in ev.items())
    return f"{event} {rest}".rstrip()


def _fmt(v: Any) -> str:
    return hex(v) if isinstance(v, int) and not isinstance(v, bool) else str(v)


class LogFile:
    """The ``-D`` file. A write that fails (a full disk, ``-D /dev/full``) becomes one
    `ArmnvError` naming the file, so the run stops with a one-line error (exit 2),
    and the file is dropped so that closing it cannot fail again.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.failed = False
        try:
            self._file: IO[str] | None = open(path, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise ArmnvError(f"-D {path}: cannot open: {exc.strerror or exc}") from None

    def write(self, text: str) -> int:
        if self._file is not None:
            try:
                self._file.write(text)
            except OSError as exc:
                self._fail(exc)
        return len(text)

    def flush(self) -> None:
        if self._file is not None:
            try:
                self._file.flush()
            except OSError as exc:
                self._fail(exc)

    def close(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except OSError as exc:
                self._file = f
                self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        f, self._file = self._file, None
        self.failed = True
        if f is not None:
            with contextlib.suppress(OSError):  # the unwritten text goes with it
                f.close()
        raise ArmnvError(f"-D {self.path}: cannot write: {exc.strerror or exc}") from None


def make_logger(fmt: str, stream: IO[str] | LogFile | None = None) -> Any:
    """A structlog logger writing one rendered event per line to `stream` (stderr by default)."""
    if fmt not in LOG_FORMATS:
        raise ArmnvError(f"unknown log format {fmt!r} (known: {', '.join(LOG_FORMATS)})")
    stream = stream or sys.stderr
    if fmt == "json":
        processors: list[Any] = [structlog.processors.JSONRenderer(sort_keys=True)]
    else:
        processors = [_console]
    return structlog.wrap_logger(structlog.PrintLogger(stream), processors=processors, cache_logger_on_first_use=True)
