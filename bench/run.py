"""Guest MIPS of armnv on fixed workloads, with unicorn running the same machine code in the same run.

Each workload is assembly in ``bench/workloads/`` (``common.S`` is prepended
to all of them), assembled with the GNU cross toolchain at bench time. The
iteration count goes to the guest in x0: two short calibration runs on armnv
give the instructions per iteration, from which the count that reaches
``--insns`` instructions is chosen. Every run checks its own result — the
guest's exit status and the registers it leaves against a model computed
here — so an emulator that computes the wrong thing cannot look fast.

unicorn runs the same ELF segments from the same entry point to the
semihosting call at ``bench_end``; both columns use armnv's instruction count.
unicorn has no EL2, so it starts at EL1 (the MMU workload notices and skips
the drop from EL2) and cannot run the exception workload.

Times are process CPU time by default, so other load on the host does not
inflate them (``--wall`` for the wall clock).

    python bench/run.py [--insns N] [--only NAME ...] [--repeat R] [--one-insn-per-block]
                        [--no-unicorn] [--wall] [--json | --markdown]
"""

from __future__ import annotations

import argparse
import json
import platform
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from elftools.elf.elffile import ELFFile

from framework.cpu.syndrome import EC_NAMES
from framework.disasm import disassemble
from framework.loader import Image, load_image
from framework.testing import STACK_TOP, assemble, make_machine, toolchain_available

WORKLOAD_DIR = Path(__file__).resolve().parent / "workloads"
M64 = (1 << 64) - 1
RAM_BASE = 0x4000_0000
STATUS_TRAP = 0xEE  # common.S: an exception the workload did not expect
STATUS_NO_TRANSLATION = 3  # mmu.S: the alias page read back the wrong value
DEFAULT_INSNS = 20_000_000
# unicorn finishes a workload in milliseconds, so its figure is the best of several runs
UNICORN_RUNS = 5

Regs = Callable[[int], int]
Clock = Callable[[], float]
Check = Callable[[int, Regs], list[str]]


class BenchError(Exception):
    """A run did not produce the expected result."""


class Skip(Exception):  # noqa: N818 - not an error: the workload cannot run yet
    """The workload cannot run on this build (printed as a note)."""


# ---- models of what the guest computes ------------------------------------------------------
def _ror(value: int, n: int) -> int:
    return ((value >> n) | (value << (64 - n))) & M64


def _expect(regs: Regs, **want: int) -> list[str]:
    bad = []
    for name, value in want.items():
        got = regs(int(name[1:]))
        if got != value & M64:
            bad.append(f"{name} = {got:#x}, expected {value & M64:#x}")
    return bad


def check_int(n: int, regs: Regs) -> list[str]:
    a = b = c = 0
    for i in range(n, 0, -1):
        a = (a + i) & M64
        b ^= _ror(a, 7)
        c = (c - (b >> 3)) & M64
    return _expect(regs, x20=a, x21=b, x22=c)


BUF_WORDS = 8192
GOLDEN = 0x9E3779B97F4A7C15


def check_mem(n: int, regs: Regs) -> list[str]:
    # the checksum folds word k in rotated left by (BUF_WORDS - 1 - k); words 1.. never change
    rest = 0
    for k in range(1, BUF_WORDS):
        rest ^= _ror(k * GOLDEN & M64, (k + 1) % 64)
    total = 0
    for i in range(n):
        total += rest ^ _ror(i, 1)
    return _expect(regs, x16=n, x20=total)


FIB_N = 20


def check_fib(n: int, regs: Regs) -> list[str]:
    a, b = 0, 1
    for _ in range(FIB_N):
        a, b = b, a + b
    return _expect(regs, x20=n * a)


def check_sys(n: int, regs: Regs) -> list[str]:
    return _expect(regs, x20=n * (n + 1) // 2, x21=n, x22=n)


def check_ldst(n: int, regs: Regs) -> list[str]:
    return _expect(regs, x20=n * (n + 1) // 2)


def check_trap(n: int, regs: Regs) -> list[str]:
    return _expect(regs, x20=n * (n + 1) // 2, x21=n, x22=n)


def check_smc(n: int, regs: Regs) -> list[str]:
    return _expect(regs, x20=sum(i & 0xFFFF for i in range(1, n + 1)))


def check_nv2(n: int, regs: Regs) -> list[str]:
    # the last store to the TPIDR_EL2 slot was of x10, the counter at its last value, 1
    return _expect(regs, x20=n * (n + 1) // 2, x21=1)


def check_fp(n: int, regs: Regs) -> list[str]:
    # Python floats are IEEE binary64 with round-to-nearest-even, FPCR's default; the fused
    # multiply-add is exact here because acc * 0.5 is
    acc = total = 0.0
    truncated = 0
    for i in range(n, 0, -1):
        acc = acc * 0.5 + float(i)
        p = acc * 0.1
        total += p
        truncated += int(p)
    bits = lambda f: struct.unpack("<Q", struct.pack("<d", f))[0]  # noqa: E731
    return _expect(regs, x20=truncated, x21=bits(total), x22=bits(acc))


@attrs.define(frozen=True, slots=True)
class Workload:
    name: str
    title: str
    files: tuple[str, ...]
    check: Check
    unicorn: bool = True
    # round trips per iteration, for the exceptions-per-second figure
    exceptions: int = 0
    # a missing feature makes this workload a note rather than a failure
    optional: bool = False
    baseline: str | None = None
    # code patches per iteration, for the patches-per-second figure
    patches: int = 0
    # the part of --insns this workload runs (retranslating code costs far more per instruction)
    share: float = 1.0

    def source(self) -> str:
        return "\n".join((WORKLOAD_DIR / f).read_text() for f in ("common.S", *self.files))


WORKLOADS = (
    Workload("int", "integer loop (ADD/EOR/SUB/SUBS/B.NE)", ("int.S",), check_int),
    Workload("mem", "64 KiB memcpy + checksum, MMU off", ("mem.S", "memloop.S"), check_mem),
    Workload("fib", "recursive fib(20), BL/RET + frames", ("fib.S",), check_fib),
    Workload("sys", "HVC/SVC round trips + EL1 MSR/MRS", ("sys.S",), check_sys, unicorn=False, exceptions=2),
    Workload("ldst", "LDR/STR loop (baseline of sysreg, nv2)", ("ldst.S",), check_ldst),
    Workload("fp", "FP loop (SCVTF/FMADD/FMUL/FADD/FCVTZS, double)", ("fp.S",), check_fp),
    Workload(
        "sysreg",
        "allowed MSR/MRS of TPIDR_EL0/EL1/EL2 at EL2",
        ("sysreg.S",),
        check_ldst,
        unicorn=False,
        baseline="ldst",
    ),
    Workload(
        "trap",
        "hypervisor exits: HCR_EL2.TVM trap + emulation + ERET, HVC",
        ("trap.S",),
        check_trap,
        unicorn=False,
        exceptions=2,
    ),
    Workload(
        "nv2",
        "MSR/MRS at EL1 redirected to memory (HCR_EL2.{NV,NV2})",
        ("nv2.S",),
        check_nv2,
        unicorn=False,
        baseline="ldst",
    ),
    Workload(
        "mmu",
        "memcpy + checksum, MMU on, 4 KiB pages",
        ("mmu.S", "memloop.S"),
        check_mem,
        optional=True,
        baseline="mem",
    ),
    Workload(
        "smc",
        "self-modifying code: patch a MOVZ, DC CVAU/IC IVAU/ISB, call it",
        ("smc.S",),
        check_smc,
        patches=1,
        share=0.02,
    ),
)


# ---- running on armnv -----------------------------------------------------------------------
@attrs.define(slots=True)
class Program:
    workload: Workload
    elf: Path
    image: Image
    symbols: dict[str, int]

    @classmethod
    def build(cls, workload: Workload) -> Program:
        elf = assemble(workload.source(), wrap=False)
        with open(elf, "rb") as f:
            symtab = ELFFile(f).get_section_by_name(".symtab")
            symbols = {
                s.name: s["st_value"]
                for s in symtab.iter_symbols()
                if s.name and s["st_shndx"] not in ("SHN_ABS", "SHN_UNDEF") and s["st_info"]["type"] != "STT_FILE"
            }
        return cls(workload, elf, load_image(str(elf)), symbols)

    def where(self, addr: int) -> str:
        """`symbol+offset: instruction` for an address in the image."""
        best = max(((a, n) for n, a in self.symbols.items() if a <= addr and not n.startswith("$")), default=None)
        label = f"{best[1]}+{addr - best[0]:#x}" if best else f"{addr:#x}"
        for seg in self.image.segments:
            if seg.addr <= addr < seg.addr + len(seg.data) - 3:
                word = int.from_bytes(seg.data[addr - seg.addr : addr - seg.addr + 4], "little")
                return f"{label}: {disassemble(word, addr)}"
        return label


@attrs.define(slots=True)
class Run:
    insns: int
    seconds: float


def run_armnv(prog: Program, iters: int, *, one_insn_per_block: bool, limit: int, clock: Clock) -> Run:
    m = make_machine("max", one_insn_per_block=one_insn_per_block)
    m.load(str(prog.elf))
    cpu = m.cpu
    cpu.x[31] = STACK_TOP
    cpu.x[0] = iters
    trap_vectors = prog.symbols["bench_trap_vectors"]
    cpu.sr["VBAR_EL1"] = cpu.sr["VBAR_EL2"] = trap_vectors
    t0 = clock()
    try:
        stop = m.run(limit)
    except Exception as exc:  # a bug in armnv: report it as this workload's failure
        raise BenchError(f"armnv internal error at {prog.where(cpu.pc)}: {type(exc).__name__}: {exc}") from exc
    finally:
        m.close()
    seconds = clock() - t0
    if stop.kind != "exit":
        raise BenchError(f"armnv stopped ({stop.kind}) at {prog.where(cpu.pc)} after {cpu.icount} instructions")
    if stop.exit_code == STATUS_TRAP:
        el = cpu.el
        esr, elr = cpu.sr.get(f"ESR_EL{el}", 0), cpu.sr.get(f"ELR_EL{el}", 0)
        ec = esr >> 26 & 0x3F
        raise BenchError(
            f"armnv took an unexpected {EC_NAMES.get(ec, 'exception')} (EC {ec:#04x}, ESR {esr:#x}) "
            f"to EL{el} at {prog.where(elr)}"
        )
    if stop.exit_code == STATUS_NO_TRANSLATION and prog.workload.optional:
        raise Skip("MMU on but addresses are not translated (the MMU plugin cannot translate yet)")
    bad = [f"exit status {stop.exit_code}"] if stop.exit_code else []
    bad += prog.workload.check(iters, lambda n: cpu.x[n])
    if bad:
        raise BenchError("armnv computed a wrong result: " + "; ".join(bad))
    return Run(cpu.icount, seconds)


def calibrate(prog: Program, *, one_insn_per_block: bool) -> tuple[int, int]:
    """(instructions outside the loop, instructions per iteration) on armnv."""
    one, two = (
        run_armnv(prog, n, one_insn_per_block=one_insn_per_block, limit=50_000_000, clock=time.perf_counter).insns
        for n in (1, 2)
    )
    per = two - one
    if per <= 0:
        raise BenchError(f"calibration failed: {one} instructions for 1 iteration, {two} for 2")
    return one - per, per


# ---- running on unicorn ---------------------------------------------------------------------
def unicorn_version() -> str | None:
    try:
        import unicorn
    except ImportError:
        return None
    return unicorn.__version__


def run_unicorn(prog: Program, iters: int, insns: int, clock: Clock) -> Run:
    from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, Uc, UcError
    from unicorn import arm64_const as uc_arm64

    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    top = max([STACK_TOP] + [s.addr + len(s.data) for s in prog.image.segments])
    size = (top - RAM_BASE + 0x1F_FFFF) & ~0x1F_FFFF
    uc.mem_map(RAM_BASE, size)
    for seg in prog.image.segments:
        uc.mem_write(seg.addr, seg.data)
    uc.reg_write(uc_arm64.UC_ARM64_REG_SP, STACK_TOP)
    uc.reg_write(uc_arm64.UC_ARM64_REG_X0, iters)
    end = prog.symbols["bench_end"]
    t0 = clock()
    try:
        uc.emu_start(prog.image.entry, end)
    except UcError as exc:
        pc = uc.reg_read(uc_arm64.UC_ARM64_REG_PC)
        raise BenchError(f"unicorn: {exc} at {prog.where(pc)}") from exc
    seconds = clock() - t0

    def regs(n: int) -> int:
        return uc.reg_read(getattr(uc_arm64, f"UC_ARM64_REG_X{n}"))

    pc = uc.reg_read(uc_arm64.UC_ARM64_REG_PC)
    if pc != end:
        raise BenchError(f"unicorn stopped at {prog.where(pc)}, not at bench_end")
    status = regs(19)
    if status == STATUS_NO_TRANSLATION and prog.workload.optional:
        raise Skip("unicorn did not translate addresses with the MMU on")
    bad = [f"status x19 = {status:#x}"] if status else []
    bad += prog.workload.check(iters, regs)
    if bad:
        raise BenchError("unicorn computed a wrong result: " + "; ".join(bad))
    return Run(insns, seconds)


# ---- one workload ---------------------------------------------------------------------------
@attrs.define(slots=True)
class Result:
    name: str
    title: str
    status: str = "ok"  # ok | skipped | failed
    message: str = ""
    iterations: int = 0
    instructions: int = 0
    armnv_seconds: float | None = None
    armnv_mips: float | None = None
    unicorn_seconds: float | None = None
    unicorn_mips: float | None = None
    ratio: float | None = None  # unicorn MIPS / armnv MIPS
    exceptions_per_second: float | None = None
    slowdown: float | None = None  # armnv time per instruction relative to the baseline workload
    unicorn_slowdown: float | None = None
    notes: list[str] = attrs.field(factory=list)


def best_of(repeat: int, fn: Callable[[], Run]) -> Run:
    return min((fn() for _ in range(repeat)), key=lambda r: r.seconds)


def bench_one(w: Workload, args: argparse.Namespace, use_unicorn: bool) -> Result:
    res = Result(w.name, w.title)
    try:
        prog = Program.build(w)
        single = args.one_insn_per_block
        base, per = calibrate(prog, one_insn_per_block=single)
        iters = max(1, round((args.insns * w.share - base) / per))
        limit = base + iters * per + 1000
        arm = best_of(
            args.repeat, lambda: run_armnv(prog, iters, one_insn_per_block=single, limit=limit, clock=args.clock)
        )
    except Skip as exc:
        res.status, res.message = "skipped", str(exc)
        return res
    except BenchError as exc:
        res.status, res.message = ("skipped" if w.optional else "failed"), str(exc)
        return res
    res.iterations, res.instructions = iters, arm.insns
    res.armnv_seconds = arm.seconds
    res.armnv_mips = arm.insns / arm.seconds / 1e6
    if w.exceptions:
        res.exceptions_per_second = w.exceptions * iters / arm.seconds
        res.notes.append(f"{res.exceptions_per_second / 1000:.1f}k exception round trips/s")
    if w.patches:
        res.notes.append(f"{w.patches * iters / arm.seconds / 1000:.1f}k code patches/s")
    if not w.unicorn:
        res.notes.append("unicorn: no EL2")
    elif use_unicorn:
        try:
            uni = best_of(max(args.repeat, UNICORN_RUNS), lambda: run_unicorn(prog, iters, arm.insns, args.clock))
        except (BenchError, Skip) as exc:
            res.notes.append(str(exc))
        else:
            res.unicorn_seconds = uni.seconds
            res.unicorn_mips = uni.insns / uni.seconds / 1e6
            res.ratio = res.unicorn_mips / res.armnv_mips
    return res


def add_slowdowns(results: list[Result]) -> None:
    by_name = {r.name: r for r in results}
    for w in WORKLOADS:
        res, base = by_name.get(w.name), by_name.get(w.baseline or "")
        if res is None or base is None or res.status != "ok" or base.status != "ok":
            continue
        res.slowdown = base.armnv_mips / res.armnv_mips
        note = f"{res.slowdown:.2f}x the time per insn of {base.name}"
        if res.unicorn_mips and base.unicorn_mips:
            res.unicorn_slowdown = base.unicorn_mips / res.unicorn_mips
            note += f" (unicorn {res.unicorn_slowdown:.2f}x)"
        res.notes.append(note)


# ---- output ---------------------------------------------------------------------------------
COLUMNS = ("workload", "instructions", "armnv s", "armnv MIPS", "unicorn MIPS", "unicorn/armnv", "notes")


def _cells(r: Result) -> list[str]:
    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    if r.status != "ok":
        what = "not run" if r.status == "skipped" else "FAILED"
        return [r.name, "-", "-", "-", "-", "-", f"{what}: {r.message}"]
    return [
        r.name,
        f"{r.instructions:,}",
        num(r.armnv_seconds, ".2f"),
        num(r.armnv_mips, ".3f"),
        num(r.unicorn_mips, ".1f"),
        "-" if r.ratio is None else f"{r.ratio:,.0f}x",
        "; ".join(r.notes),
    ]


def render_table(results: list[Result]) -> str:
    rows = [list(COLUMNS)] + [_cells(r) for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for row in rows:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def render_markdown(results: list[Result]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in results:
        lines.append("| " + " | ".join(_cells(r)) + " |")
    return "\n".join(lines)


def environment(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "processor": platform.processor() or platform.machine(),
        "unicorn": unicorn_version(),
        "engine": "one instruction per block" if args.one_insn_per_block else "blocks",
        "clock": "wall" if args.wall else "process CPU time",
        "target_instructions": args.insns,
        "repeat": args.repeat,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--insns",
        type=int,
        default=DEFAULT_INSNS,
        metavar="N",
        help=f"guest instructions per workload (default {DEFAULT_INSNS:,})",
    )
    p.add_argument(
        "--only",
        action="append",
        choices=[w.name for w in WORKLOADS],
        metavar="NAME",
        help="run only this workload (repeatable): " + ", ".join(w.name for w in WORKLOADS),
    )
    p.add_argument("--repeat", type=int, default=1, metavar="R", help="best of R timed runs (default 1)")
    p.add_argument("--one-insn-per-block", action="store_true", help="translate one instruction per block")
    p.add_argument("--no-unicorn", action="store_true", help="run armnv only")
    p.add_argument(
        "--wall",
        action="store_true",
        help="time with the wall clock instead of process CPU time (which other load on the host does not inflate)",
    )
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the results as JSON")
    out.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    args = p.parse_args(argv)
    if args.insns <= 0 or args.repeat <= 0:
        p.error("--insns and --repeat must be positive")
    args.clock = time.perf_counter if args.wall else time.process_time
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not toolchain_available():
        print("bench: the AArch64 cross toolchain is not installed; `make bench` installs it", file=sys.stderr)
        return 2
    env = environment(args)
    use_unicorn = not args.no_unicorn and env["unicorn"] is not None
    chosen = [w for w in WORKLOADS if not args.only or w.name in args.only]
    if not args.json:
        print(
            f"armnv bench: Python {env['python']} on {env['machine']}, engine: {env['engine']}, "
            f"times are {env['clock']}, best of {args.repeat}; "
            + (f"unicorn {env['unicorn']}, best of {max(args.repeat, UNICORN_RUNS)}" if use_unicorn else "no unicorn"),
            flush=True,
        )
    results = []
    for w in chosen:
        if not args.json:
            print(f"  {w.name}: {w.title} ...", file=sys.stderr, flush=True)
        results.append(bench_one(w, args, use_unicorn))
    add_slowdowns(results)
    if args.json:
        print(json.dumps({"environment": env, "results": [attrs.asdict(r) for r in results]}, indent=2))
    else:
        print(render_markdown(results) if args.markdown else render_table(results))
    return 1 if any(r.status == "failed" for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
