"""The ``armnv`` command line.

    armnv run IMAGE [options]     run a bare-metal AArch64 image or a kernel on the virt board
    armnv dumpdtb FILE [options]  write the device tree of the board to FILE
    armnv demo [IMAGE] [options]  the nested-virtualization demo under NV and NV2 (framework.demo)
    armnv cpus [--verbose]        CPU models and their default features
    armnv features                optional architectural features
    armnv plugins                 discovered plugins in registration order, their features and hooks

Stdout belongs to the guest: only what it writes through semihosting or the
UART goes there. Logs (``-d``), ``--stats`` and ``--profile`` go to stderr, or
logs and stats to the ``-D`` file. Options follow QEMU's habits (``-d int,exec``,
``-D FILE``, ``--memory 512M``).

Exit status of ``armnv run``:

    N    the guest exited through semihosting with status N (PSCI SYSTEM_OFF: 0);
         armnv itself prints nothing on stderr
    2    bad input, or an output armnv cannot write: one "armnv: error: ..." line
    3    internal error (a bug in armnv): "armnv: internal error: ...", guest PC,
         instruction, CPU state and Python traceback
    123  the guest is stuck in an exception loop (the same exception at the same PC,
         again and again, without returning): "armnv: stopped: guest stuck: ..."
    124  --max-insns reached: "armnv: stopped: ..." says where the guest was
    125  the guest can never run again (WFI with no possible wake-up, PSCI CPU_OFF
         of the only CPU): "armnv: stopped: ..."
    130  interrupted (Ctrl-C): "armnv: stopped: interrupted ..."; or killed by the
         debugger (--gdb): "armnv: stopped: killed by the debugger ..."

A guest may exit with 2, 3, 123, 124, 125 or 130 too: armnv's own statuses always
come with a stderr line starting "armnv: " (for 2, 123, 124, 125 and 130 the last
line), a guest's exit never does, so a script can tell them apart.

Output errors: a write to stdout or to the -D file that fails (a full disk,
``>/dev/full``, stdout closed) stops armnv with one "armnv: error: ..." line
and status 2, as soon as it happens. A reader that goes away (``armnv run x |
head``) is not an error, as on QEMU: the guest runs on, its output is dropped.
"""

from __future__ import annotations

import cProfile
import importlib.metadata
import os
import pstats
import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

import framework
from framework import demo as _demo
from framework import plugins
from framework.boot import write_file
from framework.console import GuestOutput, ReaderGone, flush_stdout, print_line
from framework.errors import ArmnvError
from framework.log import LOG_FORMATS, categories_help, parse_categories
from framework.options import parse_int, parse_machine, parse_size
from framework.vclock import DEFAULT_SHIFT, parse_icount

if TYPE_CHECKING:
    from framework.engine import StopReason
    from framework.machine import Machine

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_EXCEPTION_LOOP = 123
EXIT_MAX_INSNS = 124
EXIT_STUCK = 125
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="armnv",
    help="armnv: a pure-Python AArch64 system emulator for nested virtualization.",
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


# ---- commands -------------------------------------------------------------------------------------


def _version(value: bool) -> None:
    if value:
        print_line(f"armnv {framework.__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_version)
    ] = False,
) -> None:
    """armnv: a pure-Python AArch64 system emulator for nested virtualization."""


MACHINE_METAVAR = "virt[,virtualization=on|off][,dumpdtb=FILE]"
MACHINE_HELP = "Board: virt; virtualization=off: no EL2, start at EL1, PSCI over HVC."
APPEND_HELP = "Kernel command line: /chosen bootargs and semihosting SYS_GET_CMDLINE."

RUN_EPILOG = (
    "Exit status: the guest's semihosting exit status (armnv prints nothing); 2 bad input or an "
    "unwritable output ('armnv: error: ...'); 3 internal error; 123 the guest is stuck in an exception "
    "loop; 124 --max-insns reached; 125 the "
    "guest can never run again (WFI with no wake-up source, PSCI CPU_OFF of the only CPU); 130 "
    "interrupted, or killed by the debugger. armnv's own statuses come with a stderr line starting 'armnv: '."
)


ICOUNT_HELP = "Each instruction is 2**N ns of virtual time (default 0); waits skip to the next event."


@app.command(epilog=RUN_EPILOG)
def run(
    image: Annotated[
        str | None,
        typer.Argument(metavar="IMAGE", help="ELF image, arm64 Linux Image or raw kernel (docs/booting.md)."),
    ] = None,
    cpu: Annotated[str, typer.Option("--cpu", metavar="MODEL[,FEAT=on|off,...]", help="CPU model and features.")] = (
        "max"
    ),
    machine: Annotated[str, typer.Option("--machine", "-M", metavar=MACHINE_METAVAR, help=MACHINE_HELP)] = "virt",
    memory: Annotated[str, typer.Option("--memory", "-m", metavar="SIZE", help="RAM size: 512M, 4G, ...")] = "512M",
    max_insns: Annotated[
        str | None, typer.Option("--max-insns", metavar="N", help="Stop after N instructions (exit 124).")
    ] = None,
    icount: Annotated[
        str | None,
        typer.Option("-icount", "--icount", metavar="[shift=]N[,sleep=off]", help=ICOUNT_HELP),
    ] = None,
    stats: Annotated[bool, typer.Option("--stats", help="Print counters at exit (stderr or -D).")] = False,
    debug: Annotated[
        list[str] | None, typer.Option("-d", metavar="CATEGORIES", help="Comma list of log categories; -d help.")
    ] = None,
    logfile: Annotated[str | None, typer.Option("-D", metavar="FILE", help="Write logs to FILE.")] = None,
    log_format: Annotated[str, typer.Option("--log-format", metavar="console|json", help="Log format.")] = "console",
    append: Annotated[str, typer.Option("--append", metavar="CMDLINE", help=APPEND_HELP)] = "",
    initrd: Annotated[
        str | None, typer.Option("--initrd", metavar="FILE", help="Load FILE as the initial ramdisk (in /chosen).")
    ] = None,
    dtb: Annotated[
        str | None,
        typer.Option("--dtb", metavar="FILE", help="Give the guest this device tree instead of the board's."),
    ] = None,
    semihosting_config: Annotated[
        str,
        typer.Option(
            "--semihosting-config",
            metavar="userspace=on|off[,enable=on|off]",
            help="Who may make semihosting calls: EL1 and EL2, and EL0 with userspace=on.",
        ),
    ] = "",
    load_addr: Annotated[
        str | None, typer.Option("--load-addr", metavar="ADDR", help="Load IMAGE as a raw binary at ADDR.")
    ] = None,
    one_insn_per_block: Annotated[
        bool, typer.Option("--one-insn-per-block", help="Translate one instruction per block.")
    ] = False,
    profile: Annotated[bool, typer.Option("--profile", help="Profile armnv itself (cProfile, stderr).")] = False,
    gdb: Annotated[
        str | None,
        typer.Option(
            "--gdb",
            metavar="tcp::PORT|tcp:HOST:PORT",
            help="Accept a GDB debugger (gdb-multiarch: target remote) on PORT of 127.0.0.1, or of HOST.",
        ),
    ] = None,
    gdb_default: Annotated[bool, typer.Option("-s", help="Same as --gdb tcp::1234.")] = False,
    wait_gdb: Annotated[
        bool, typer.Option("--wait-gdb", "-S", help="With --gdb or -s: start only once a debugger is connected.")
    ] = False,
) -> int:
    """Run an AArch64 image on the virt board, starting at EL2 (EL1 without EL2) with the MMU off."""
    if debug and "help" in {c.strip() for d in debug for c in d.split(",")}:
        print_line(categories_help())
        return 0
    if image is None:
        raise ArmnvError("run: missing IMAGE argument")
    categories = parse_categories(debug)
    board = parse_machine(machine)
    ram_size = parse_size(memory)
    limit = parse_int("--max-insns", max_insns) if max_insns is not None else None
    address = parse_int("--load-addr", load_addr) if load_addr is not None else None
    shift = parse_icount(icount) if icount is not None else DEFAULT_SHIFT
    if log_format not in LOG_FORMATS:
        raise ArmnvError(f"--log-format: unknown format {log_format!r} (known: {', '.join(LOG_FORMATS)})")
    if gdb is not None and gdb_default:
        raise ArmnvError("-s is --gdb tcp::1234: give one of them")
    gdb_address = "tcp::1234" if gdb_default else gdb
    if gdb_address is not None:
        from framework.gdbstub import parse_address

        parse_address(gdb_address)
    elif wait_gdb:
        raise ArmnvError("--wait-gdb (-S) waits for a debugger: give --gdb ADDRESS or -s too")
    from framework.devices.semihosting import SemihostingConfig, parse_semihosting_config

    semihosting = parse_semihosting_config(semihosting_config) if semihosting_config else SemihostingConfig()
    if logfile is not None and _same_file(logfile, image):
        raise ArmnvError(f"-D {logfile}: is the image itself; the log would overwrite it")

    from framework.machine import Machine, MachineConfig

    config = MachineConfig(
        cpu=cpu,
        machine=board.name,
        virtualization=board.virtualization,
        memory=ram_size,
        debug=frozenset(categories),
        log_format=log_format,
        log_file=logfile,
        append=append,
        image_name=image,
        one_insn_per_block=one_insn_per_block,
        icount_shift=shift,
        semihosting=semihosting,
    )
    try:
        m = Machine(config, stdout=GuestOutput(getattr(sys.stdout, "buffer", None)))
    except ArmnvError:
        raise
    except Exception as exc:
        blame = _plugin_error(exc, "failed while building the machine")
        if blame is not None:
            raise blame from exc
        if isinstance(exc, (OSError, MemoryError, OverflowError)):
            raise ArmnvError(f"--memory {memory}: cannot allocate guest RAM ({exc})") from exc
        raise
    try:
        entry = m.load(image, address, initrd=initrd, dtb=dtb)
        if board.dumpdtb is not None:
            # QEMU's dumpdtb: the tree this guest would get, then stop before running it
            write_file(
                board.dumpdtb, m.bus.read_bytes(m.boot_layout.dtb[0], m.boot_layout.dtb[1] - m.boot_layout.dtb[0])
            )
            return 0
        ram = m.bus.ram
        if entry & 3 or not ram.base <= entry < ram.base + ram.size:
            raise ArmnvError(f"{image}: entry point {entry:#x} is not an aligned address in RAM")
        for warning in plugins.undeclared_switches(m.catalog, cpu):
            _say(f"warning: {warning}")
        if stats:
            from framework.levels import LevelCounters

            LevelCounters.attach(m.cpu)
        if gdb_address is None:
            return _run_machine(m, limit, stats=stats, profile=profile)
        from framework.gdbstub import GdbServer

        server = GdbServer(m, gdb_address, wait=wait_gdb)
        try:
            waiting = ", waiting for a debugger to connect" if wait_gdb else ""
            _say(f"gdb: listening on {server.host}:{server.port}{waiting}")
            return _run_machine(m, limit, stats=stats, profile=profile, runner=server.run)
        finally:
            server.close()
    finally:
        m.close()


@app.command()
def dumpdtb(
    file: Annotated[str, typer.Argument(metavar="FILE", help="Where to write the device tree blob.")],
    cpu: Annotated[str, typer.Option("--cpu", metavar="MODEL[,FEAT=on|off,...]", help="CPU model and features.")] = (
        "max"
    ),
    machine: Annotated[str, typer.Option("--machine", "-M", metavar=MACHINE_METAVAR, help=MACHINE_HELP)] = "virt",
    memory: Annotated[str, typer.Option("--memory", "-m", metavar="SIZE", help="RAM size: 512M, 4G, ...")] = "512M",
    append: Annotated[str, typer.Option("--append", metavar="CMDLINE", help=APPEND_HELP)] = "",
) -> int:
    """Write the flattened device tree the board gives a guest (decode it with dtc -I dtb -O dts FILE)."""
    from framework.boot import dump_board_dtb

    board = parse_machine(machine)
    if board.dumpdtb is not None:
        raise ArmnvError("dumpdtb: give the file once, as FILE (-M virt,dumpdtb=FILE is for armnv run)")
    dump_board_dtb(file, cpu=cpu, memory=parse_size(memory), append=append, virtualization=board.virtualization)
    return 0


@app.command()
def cpus(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show ID register details.")] = False) -> int:
    """List the CPU models and their default features."""
    from framework.describe import describe_model

    catalog = plugins.discover()
    width = max((len(name) for name in catalog.models), default=0)
    for name, model in sorted(catalog.models.items()):
        features = plugins.select_features(catalog, model, {})
        if verbose:
            # the model's own description: identity, defaults, ID fields armnv changes
            print_line("\n".join(describe_model(catalog, model, features)))
            continue
        print_line(f"{name:<{width}}  {model.description}")
        print_line(f"{'':<{width}}  default features: {', '.join(sorted(features)) or '(none)'}")
    return 0


@app.command()
def features() -> int:
    """List the optional architectural features: name, plugin, requirements, description."""
    catalog = plugins.discover()
    rows = [("FEATURE", "PLUGIN", "REQUIRES", "DESCRIPTION")]
    for name, feat in sorted(catalog.features.items()):
        rows.append((name, feat.plugin, ",".join(feat.requires) or "-", feat.description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print_line("  ".join(cell.ljust(w) for cell, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    return 0


@app.command("plugins")
def list_plugins() -> int:
    """List every discovered plugin in registration order: origin, features, CPU models and hooks."""
    from framework.describe import describe_plugins

    print_line("\n".join(describe_plugins(plugins.discover())))
    return 0


app.command("demo", epilog=_demo.DEMO_EPILOG)(_demo.demo_command)


# ---- running ---------------------------------------------------------------------------------------


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _plugin_error(exc: BaseException, doing: str) -> ArmnvError | None:
    """The error to report when `exc` was raised by a third-party plugin's code, else None.

    A builtin plugin that raises is a bug in armnv (an internal error); a
    third-party one is reported like a broken entry point, naming it.
    """
    modules = {}
    for ep in importlib.metadata.entry_points(group=plugins.ENTRY_POINT_GROUP):
        dist = ep.dist
        if dist is not None and dist.metadata["Name"] != plugins.PROJECT:
            modules[ep.module] = f"{ep.name!r} ({dist.metadata['Name']} {dist.version})"
    for frame, _ in reversed(list(traceback.walk_tb(exc.__traceback__))):
        name = frame.f_globals.get("__name__", "")
        for module, label in modules.items():
            if name == module or name.startswith(module + "."):
                return ArmnvError(f"plugin {label} {doing}: {type(exc).__name__}: {exc}")
    return None


def _run_machine(
    m: Machine,
    limit: int | None,
    *,
    stats: bool,
    profile: bool,
    runner: Callable[[int | None], StopReason] | None = None,
) -> int:
    run = m.run if runner is None else runner
    profiler = cProfile.Profile() if profile else None
    try:
        try:
            stop = profiler.runcall(run, limit) if profiler else run(limit)
        finally:
            # before any stop line: that is the last thing armnv prints
            if profiler is not None:
                pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    except KeyboardInterrupt as exc:
        _settle_icount(m, exc)
        _say(f"stopped: interrupted at {_where(m)}")
        return EXIT_INTERRUPTED
    except ArmnvError:
        raise
    except Exception as exc:
        _settle_icount(m, exc)
        _internal_error(m, exc)
        return EXIT_INTERNAL
    if stats:
        _report_stats(m)
    return _exit_status(m, stop)


# how each kind of stop ends the process: exit status, and what to say on stderr (None: nothing)
_STOPS = {
    "poweroff": (0, None),
    "reset": (0, "stopped: the guest asked for a system reset (PSCI SYSTEM_RESET) at {where}"),
    "max-insns": (EXIT_MAX_INSNS, "stopped: --max-insns reached at {where}"),
    "exception-loop": (EXIT_EXCEPTION_LOOP, "stopped: {message}"),
    "wfi": (EXIT_STUCK, "stopped: {message} at {where}"),
    "cpu-off": (EXIT_STUCK, "stopped: the guest switched off its only CPU (PSCI CPU_OFF) at {where}"),
    "killed": (EXIT_INTERRUPTED, "stopped: killed by the debugger at {where}"),
}


def _exit_status(m: Machine, stop: StopReason) -> int:
    if stop.kind == "exit":
        return stop.exit_code & 0xFF  # as a process status: what exit(3) would make of it
    status, say = _STOPS.get(stop.kind, (1, "stopped: {message} at {where}"))
    if say is not None:
        _say(say.format(where=_where(m), message=stop.message or stop.kind))
    return status


def _where(m: Machine, pc: int | None = None) -> str:
    """Where the guest is: ``PC 0x40080010 <main+0x10>, EL2h, after 1234 instructions``."""
    cpu = m.cpu
    pc = cpu.pc if pc is None else pc
    symbol = m.symbols.describe(pc) if hasattr(m.symbols, "describe") else ""
    sym = f" <{symbol}>" if symbol else ""
    return f"PC {pc:#x}{sym}, EL{cpu.el}{'h' if cpu.spsel else 't'}, after {cpu.icount} instructions"


def _settle_icount(m: Machine, exc: BaseException) -> None:
    """Add the iterations of a self-loop block that `exc` (Ctrl-C, a bug) left in the middle.

    Such a block counts its iterations in a local and adds them to
    ``cpu.icount`` only when it returns, so without this a guest interrupted
    in a tight loop would be reported "after 0 instructions".
    """
    from framework.engine import Engine

    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    blk = next((f.f_locals.get("blk") for f in frames if f.f_code is Engine.run.__code__), None)
    code = getattr(getattr(blk, "fn", None), "__code__", None)
    for frame in frames:
        it = frame.f_locals.get("it")
        if frame.f_code is code and isinstance(it, int):
            m.cpu.icount += (it - 1) * blk.n


def _report_stats(m: Machine) -> None:
    virtual_ns = m.clock.now(m.cpu)
    lines = m.stats.lines(m.cpu.icount, m.run_time, virtual_ns, m.clock.idle)
    if m.levels is not None:
        lines += m.levels.lines()
    if m.config.log_format == "json":
        m.logger.msg(
            "stats", instructions=m.cpu.icount, seconds=round(m.run_time, 6), virtual_ns=virtual_ns, lines=lines
        )
    else:
        m.logger.msg("text", text="\n".join(lines))


def _guest_site(exc: BaseException, default_pc: int) -> tuple[int, bool]:
    """(PC of the guest instruction the failing code was handling, True if it was being translated)."""
    from framework.isa.codegen import Ctx

    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    for frame in reversed(frames):
        local = frame.f_locals
        if isinstance(local.get("ctx"), Ctx):
            return local["ctx"].pc, True
        if isinstance(local.get("pc"), int) and frame.f_code.co_name != "run":
            return local["pc"], False
    return default_pc, False


def _instruction_at(m: Machine, pc: int) -> str:
    from framework.disasm import disassemble
    from framework.vmem import Access

    try:
        pa = m.mem.translate(m.cpu, pc, Access(fetch=True, el=m.cpu.el)).pa
        word = m.bus.read(pa, 4)
    except Exception:
        return "instruction unreadable"
    return f"instruction {word:08x} ({disassemble(word, pc)})"


def _internal_error(m: Machine, exc: BaseException) -> None:
    pc, translating = _guest_site(exc, m.cpu.pc)
    err = sys.stderr
    print(f"armnv: internal error: {type(exc).__name__}: {exc}", file=err)
    doing = "translating" if translating else "executing"
    print(f"while {doing} the guest instruction at {_where(m, pc)}: {_instruction_at(m, pc)}", file=err)
    try:
        print(m.cpu_dump(), file=err)
    except Exception as dump_exc:  # the state may be what is broken
        print(f"(CPU dump failed: {dump_exc!r})", file=err)
    print("Python traceback (please include it in a bug report):", file=err)
    traceback.print_exception(exc, file=err)


# ---- entry point -------------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"armnv: {message}", file=sys.stderr, flush=True)


def _error(message: str) -> None:
    one_line = " ".join(message.split())
    print(f"armnv: error: {one_line}", file=sys.stderr, flush=True)


# typer re-exports click's BadParameter; its ClickException base covers every usage error
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def run_cli(argv: list[str] | None = None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); return the exit status."""
    command = typer.main.get_command(app)
    try:
        try:
            result = command.main(args=argv, prog_name="armnv", standalone_mode=False)
        finally:
            flush_stdout()
    except ArmnvError as exc:
        _error(str(exc))
        return EXIT_BAD_INPUT
    except ReaderGone:
        return 0
    except _USAGE_ERROR as exc:
        ctx = getattr(exc, "ctx", None)
        hint = f" (try '{ctx.command_path} --help')" if ctx is not None else ""
        _error(exc.format_message() + hint)
        return EXIT_BAD_INPUT
    except typer.Abort:
        _say("stopped: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        blame = _plugin_error(exc, "failed")
        if blame is not None:
            _error(str(blame))
            return EXIT_BAD_INPUT
        print(f"armnv: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        traceback.print_exception(exc, file=sys.stderr)
        return EXIT_INTERNAL
    return result if isinstance(result, int) else 0


def main(argv: list[str] | None = None) -> NoReturn:
    """The ``armnv`` console script."""
    _reserve_standard_streams()
    sys.exit(run_cli(argv))


def _reserve_standard_streams() -> None:
    """Started with fd 1 or 2 closed (``>&-``), keep the descriptor taken by /dev/null.

    Otherwise the next file opened (the -D log, the image) would get it. Python
    has already set ``sys.stdout`` to None, so guest output is still an error;
    a closed stderr just loses armnv's messages.
    """
    for fd in (1, 2):
        try:
            os.fstat(fd)
        except OSError:
            devnull = os.open(os.devnull, os.O_WRONLY)
            if devnull != fd:
                os.dup2(devnull, fd)
                os.close(devnull)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process


if __name__ == "__main__":
    main()
