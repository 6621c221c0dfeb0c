"""Differential test of scalar and vector floating point against unicorn (QEMU's softfloat).

Each case (see `fp_diff_support`) loads V0-V3, X1, NZCV and FPCR from an input table, clears
the FPSR, runs one FP instruction and stores V3, X3, NZCV and FPSR to an output table. One
program holds a batch of cases; unicorn and armnv run it from the same tables and the output
tables must be identical. ARMNV_FP_DIFF_CASES sets the number of cases per suite (default 600).
"""

from __future__ import annotations

import os
import random

import pytest
from fp_diff_support import (
    DOUBLE_GENERATORS,
    SCALAR_GENERATORS,
    VECTOR_GENERATORS,
    fpcr_value,
    gpr_value,
    normal_double,
    operands,
    pick,
)

from framework.loader import load_image
from framework.testing import assemble, make_machine

try:
    import unicorn
    from unicorn import arm64_const as uc_arm64
except ImportError as exc:
    # unicorn is in the test extra: without it this comparison must fail, never pass as a skip
    raise ImportError(f"the differential test needs unicorn: pip install -e '.[test]' ({exc})") from exc

SEED = 0xF10A7
N_CASES = int(os.environ.get("ARMNV_FP_DIFF_CASES", "600"))
PER_BATCH = 200
RAM = 0x4000_0000
RAM_SIZE = 0x40_0000
INPUT = 0x4010_0000
OUTPUT = 0x4030_0000
IN_SIZE = 96  # q0-q3, x1, nzcv, fpcr (and padding)
OUT_SIZE = 48  # q3, x3, nzcv, fpsr (and padding)
INSNS_PER_CASE = 20

SUITES = {"scalar": SCALAR_GENERATORS, "vector": VECTOR_GENERATORS, "double-rn": DOUBLE_GENERATORS}


def case_source(k: int, insn: str) -> list[str]:
    return [
        f"case_{k}:",
        "    ldp q0, q1, [x20]",
        "    ldp q2, q3, [x20, #32]",
        "    ldp x1, x5, [x20, #64]",
        "    ldr x6, [x20, #80]",
        "    add x20, x20, #96",
        "    msr nzcv, x5",
        "    msr fpcr, x6",
        "    msr fpsr, xzr",
        "    mov x3, xzr",
        f"    {insn}",
        "    mrs x5, nzcv",
        "    mrs x6, fpsr",
        "    str q3, [x21]",
        "    stp x3, x5, [x21, #16]",
        "    str x6, [x21, #32]",
        "    add x21, x21, #48",
        "    b 1f",  # one block per case: each is translated once
        "1:",
    ]


def build(suite: str, batch: int, count: int) -> tuple[list[str], bytes]:
    rng = random.Random(f"{SEED}-{suite}-{batch}")
    insns, table = [], bytearray()
    for _ in range(count):
        insn, n = pick(rng, SUITES[suite])
        v = operands(rng, n)
        fpcr = fpcr_value(rng)
        if suite == "double-rn":
            v = (normal_double(rng), normal_double(rng), normal_double(rng), v[3])
            fpcr &= ~(3 << 22)
        insns.append(insn)
        for q in v:
            table += q.to_bytes(16, "little")
        table += gpr_value(rng).to_bytes(8, "little")
        table += (rng.randrange(16) << 28).to_bytes(8, "little")
        table += fpcr.to_bytes(8, "little")
        table += bytes(IN_SIZE - 88)
    return insns, bytes(table)


def batches() -> list[tuple[str, str, int, int]]:
    out = []
    for suite in SUITES:
        for mode in ("blocks", "single"):
            total = N_CASES if mode == "blocks" else max(1, N_CASES // 4)
            for b in range(0, total, PER_BATCH):
                out.append((suite, mode, b // PER_BATCH, min(PER_BATCH, total - b)))
    return out


def describe(insns: list[str], table: bytes, want: bytes, got: bytes) -> str:
    out = []
    for k, insn in enumerate(insns):
        w, g = want[k * OUT_SIZE : (k + 1) * OUT_SIZE], got[k * OUT_SIZE : (k + 1) * OUT_SIZE]
        if w == g:
            continue
        inp = table[k * IN_SIZE : (k + 1) * IN_SIZE]
        q = [int.from_bytes(inp[i * 16 : i * 16 + 16], "little") for i in range(4)]
        x1, nzcv, fpcr = (int.from_bytes(inp[64 + i * 8 : 72 + i * 8], "little") for i in range(3))
        out.append(f"case {k}: {insn}")
        out += [f"    v{i} = {q[i]:#034x}" for i in range(4)]
        out.append(f"    x1 = {x1:#x} nzcv = {nzcv >> 28:04b} fpcr = {fpcr:#010x}")
        for name, off, size in (("v3", 0, 16), ("x3", 16, 8), ("nzcv", 24, 8), ("fpsr", 32, 8)):
            a, b = int.from_bytes(w[off : off + size], "little"), int.from_bytes(g[off : off + size], "little")
            if a != b:
                out.append(f"    {name}: unicorn {a:#x} / armnv {b:#x}")
        if len(out) > 60:
            break
    return "\n".join(out)


@pytest.mark.parametrize(("suite", "mode", "batch", "count"), batches(), ids=lambda v: str(v))
def test_fp_against_unicorn(suite: str, mode: str, batch: int, count: int) -> None:
    insns, table = build(suite, batch, count)
    source = ["    .text", "    .global _start", "_start:"]
    source += [f"    ldr x20, ={INPUT:#x}", f"    ldr x21, ={OUTPUT:#x}"]
    for k, insn in enumerate(insns):
        source += case_source(k, insn)
    source += ["done:", "    b done", "    .ltorg"]
    elf = assemble("\n".join(source) + "\n", wrap=False)
    image = load_image(str(elf))
    symbols = {name: addr for addr, name in image.symbols.items()}

    uc = unicorn.Uc(unicorn.UC_ARCH_ARM64, unicorn.UC_MODE_ARM)
    uc.ctl_set_cpu_model(uc_arm64.UC_CPU_ARM64_MAX)
    uc.mem_map(RAM, RAM_SIZE)
    m = make_machine(one_insn_per_block=mode == "single")
    for seg in image.segments:
        uc.mem_write(seg.addr, seg.data)
        m.write_phys(seg.addr, seg.data)
    uc.mem_write(INPUT, table)
    m.write_phys(INPUT, table)

    uc.emu_start(symbols["_start"], symbols["done"], count=INSNS_PER_CASE * count + 10)
    want = bytes(uc.mem_read(OUTPUT, OUT_SIZE * count))
    m.cpu.pc = symbols["_start"]
    m.run(INSNS_PER_CASE * count + 10)
    assert m.cpu.pc == symbols["done"]
    got = m.bus.read_bytes(OUTPUT, OUT_SIZE * count)
    assert want == got, describe(insns, table, want, got)
