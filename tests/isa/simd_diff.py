"""Differential runs of Advanced SIMD instructions against unicorn (QEMU's TCG).

A case is a short straight-line run of instructions from a random state (V0-V31,
X0-X26, FPSR = 0, a random scratch buffer). All cases of a batch share one
assembled program; each runs on unicorn and on armnv from the same state, and
every V and X register, FPSR.QC and the scratch buffer must agree.

x27 holds the scratch buffer's address and is never written; memory
instructions address it through x28, which a unit sets just before it.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from framework.loader import load_image
from framework.testing import assemble, make_machine

try:
    import unicorn
    from unicorn import arm64_const as uc_arm64
except ImportError as exc:
    # unicorn is in the test extra: without it this comparison must fail, never pass as a skip
    raise ImportError(f"the SIMD differential test needs unicorn: pip install -e '.[test]' ({exc})") from exc

RAM = 0x4000_0000
RAM_SIZE = 0x40_0000
SCRATCH = 0x4030_0000
SCRATCH_SIZE = 0x400
QC = 1 << 27

UC_X = [getattr(uc_arm64, f"UC_ARM64_REG_X{i}") for i in range(29)]
UC_Q = [getattr(uc_arm64, f"UC_ARM64_REG_Q{i}") for i in range(32)]

SPECIAL_LANES = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF)


def random_vector(rng: random.Random) -> int:
    """Mostly random bits, sometimes lanes at the edges of their ranges (saturation, sign)."""
    k = rng.random()
    if k < 0.5:
        return rng.getrandbits(128)
    if k < 0.6:
        return 0
    esize = rng.choice((8, 16, 32, 64))
    value = 0
    for i in range(0, 128, esize):
        lane = rng.choice((*SPECIAL_LANES, rng.getrandbits(esize), (1 << esize) - 1, 1 << (esize - 1)))
        value |= (lane & ((1 << esize) - 1)) << i
    return value


@attrs.define
class Case:
    tag: int
    lines: list[str]
    vregs: list[int]
    xregs: list[int]
    memory: bytes


@attrs.define
class Result:
    vregs: list[int]
    xregs: list[int]
    qc: int
    memory: bytes


def make_cases(rng: random.Random, count: int, units: list[Callable[[random.Random], list[str]]], length: int) -> list:
    cases = []
    for tag in range(count):
        body = [insn for _ in range(rng.randrange(1, length + 1)) for insn in rng.choice(units)(rng)]
        lines = [f"seq_{tag}:", *("    " + s for s in body), f"end_{tag}:", f"    b end_{tag}"]
        xregs = [rng.getrandbits(64) for _ in range(29)]
        xregs[27] = SCRATCH + 0x100
        cases.append(Case(tag, lines, [random_vector(rng) for _ in range(32)], xregs, rng.randbytes(SCRATCH_SIZE)))
    return cases


def run_cases(cases: list[Case], *, one_insn_per_block: bool = False) -> list[tuple[Case, Result, Result]]:
    source = ["    .arch_extension crypto", "    .text", "    .global _start", "_start:", "    b ."]
    for case in cases:
        source += case.lines
    elf = assemble("\n".join(source) + "\n", wrap=False)
    image = load_image(str(elf))
    symbols = {name: addr for addr, name in image.symbols.items()}
    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.ctl_set_cpu_model(uc_arm64.UC_CPU_ARM64_MAX)
    uc.mem_map(RAM, RAM_SIZE)
    m = make_machine(one_insn_per_block=one_insn_per_block)
    for seg in image.segments:
        uc.mem_write(seg.addr, seg.data)
        m.write_phys(seg.addr, seg.data)
    out = []
    for case in cases:
        start, end = symbols[f"seq_{case.tag}"], symbols[f"end_{case.tag}"]
        budget = 4 * len(case.lines) + 16
        for reg, value in zip(UC_X + UC_Q, case.xregs + case.vregs, strict=True):
            uc.reg_write(reg, value)
        uc.reg_write(uc_arm64.UC_ARM64_REG_FPSR, 0)
        uc.mem_write(SCRATCH, case.memory)
        uc.emu_start(start, end, count=budget)
        want = Result(
            [uc.reg_read(r) for r in UC_Q],
            [uc.reg_read(r) for r in UC_X],
            uc.reg_read(uc_arm64.UC_ARM64_REG_FPSR) & QC,
            bytes(uc.mem_read(SCRATCH, SCRATCH_SIZE)),
        )
        cpu = m.cpu
        cpu.x[:29] = case.xregs
        cpu.v[:] = case.vregs
        cpu.fpsr = 0
        cpu.pc = start
        m.write_phys(SCRATCH, case.memory)
        m.run(budget)
        got = Result(list(cpu.v), list(cpu.x[:29]), cpu.fpsr & QC, m.bus.read_bytes(SCRATCH, SCRATCH_SIZE))
        assert cpu.pc == end, f"armnv did not reach the end of sequence {case.tag}: pc {cpu.pc:#x}\n" + "\n".join(
            case.lines
        )
        out.append((case, want, got))
    return out


def describe(case: Case, want: Result, got: Result) -> str:
    out = [f"sequence {case.tag} differs from unicorn:", *case.lines, "differences (unicorn / armnv):"]
    for i, (a, b) in enumerate(zip(want.vregs, got.vregs, strict=True)):
        if a != b:
            out.append(f"    v{i:<2} {a:#034x} / {b:#034x} (initially {case.vregs[i]:#034x})")
    for i, (a, b) in enumerate(zip(want.xregs, got.xregs, strict=True)):
        if a != b:
            out.append(f"    x{i:<2} {a:#018x} / {b:#018x}")
    if want.qc != got.qc:
        out.append(f"    FPSR.QC {want.qc >> 27} / {got.qc >> 27}")
    for off in range(SCRATCH_SIZE):
        if want.memory[off] != got.memory[off]:
            out.append(f"    mem[{SCRATCH + off:#x}] {want.memory[off]:#04x} / {got.memory[off]:#04x} (the first)")
            break
    for i in range(32):
        if want.vregs[i] != got.vregs[i] or any(f"v{i}." in s or f"q{i}," in s for s in case.lines):
            out.append(f"    initial v{i} {case.vregs[i]:#034x}")
    return "\n".join(out)


def check(cases: list[Case], *, one_insn_per_block: bool = False) -> None:
    failures = [
        describe(case, want, got)
        for case, want, got in run_cases(cases, one_insn_per_block=one_insn_per_block)
        if attrs.astuple(want) != attrs.astuple(got)
    ]
    assert not failures, f"{len(failures)} of {len(cases)} sequences differ\n" + "\n\n".join(failures[:3])
