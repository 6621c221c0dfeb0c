"""Fixtures for the instruction tests: many one-instruction cases in one guest, a reference model.

A `Case` is an instruction that reads x2-x4 (and SP), writes x5 (and/or SP, NZCV). `run_cases`
runs a list of them in one guest program, each from its own inputs, and returns what every case
left in x5, NZCV and SP. The `a64` fixture is a small reference model written from the Arm ARM
pseudocode (AddWithCarry, ShiftReg, ExtendReg, ConditionHolds), independent of the emulator's
code generator, to compute expected values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import pytest

CASE_BUF = 0x4010_0000
M64 = (1 << 64) - 1


@attrs.define
class Case:
    insn: str  # assembly, may be several lines
    x2: int = 0
    x3: int = 0
    x4: int = 0
    x5: int = 0  # the destination's value before (BFM and MOVK keep part of it)
    nzcv: int = 0  # NZCV before, as the 4-bit number 0bNZCV
    sp: int = 0x4018_0000


@attrs.define
class Outcome:
    x5: int
    nzcv: int  # 0bNZCV
    sp: int


def _case_lines(case: Case) -> list[str]:
    return [
        f"ldr x2, ={case.x2 & M64:#x}",
        f"ldr x3, ={case.x3 & M64:#x}",
        f"ldr x4, ={case.x4 & M64:#x}",
        f"ldr x5, ={case.x5 & M64:#x}",
        f"ldr x9, ={case.sp & M64:#x}",
        "mov sp, x9",
        f"mov x9, #{(case.nzcv & 0xF) << 28:#x}",
        "msr nzcv, x9",
        *case.insn.splitlines(),
        "mrs x9, nzcv",
        "mov x10, sp",
        "mov sp, x27",
        "stp x5, x9, [x28], #16",
        "str x10, [x28], #8",
    ]


def run_cases_program(run_asm: Callable, cases: Sequence[Case]) -> list[Outcome]:
    lines = [f"ldr x28, ={CASE_BUF:#x}", "mov x27, sp"]
    for case in cases:
        # each case's literals right after it, out of the way of execution
        lines += [*_case_lines(case), "b 9f", ".ltorg", "9:"]
    m = run_asm("\n".join("    " + line for line in lines), max_insns=100 * len(cases) + 1000)
    assert m.stop.kind == "exit", f"guest did not finish: {m.stop}"
    data = m.bus.read_bytes(CASE_BUF, 24 * len(cases))
    out = []
    for i in range(len(cases)):
        x5, nzcv, sp = (int.from_bytes(data[24 * i + 8 * k : 24 * i + 8 * k + 8], "little") for k in range(3))
        out.append(Outcome(x5, nzcv >> 28, sp))
    return out


@pytest.fixture
def run_cases(run_asm) -> Callable[[Sequence[Case]], list[Outcome]]:
    """Run instruction cases in one guest: ``run_cases([Case("add x5, x2, x3", x2=1, x3=2)])``."""
    return lambda cases: run_cases_program(run_asm, cases)


# ---- reference model ------------------------------------------------------------------------------


class A64:
    """Integer semantics from the Arm ARM pseudocode, on plain Python ints."""

    CONDS = ("eq", "ne", "cs", "cc", "mi", "pl", "vs", "vc", "hi", "ls", "ge", "lt", "gt", "le", "al", "nv")

    @staticmethod
    def mask(width: int) -> int:
        return (1 << width) - 1

    @staticmethod
    def sint(value: int, width: int) -> int:
        value &= (1 << width) - 1
        return value - (1 << width) if value >= 1 << (width - 1) else value

    @classmethod
    def add_with_carry(cls, x: int, y: int, carry: int, width: int) -> tuple[int, int]:
        """(result, 0bNZCV) of x + y + carry, exactly as AddWithCarry() defines it."""
        x &= cls.mask(width)
        y &= cls.mask(width)
        unsigned_sum = x + y + carry
        signed_sum = cls.sint(x, width) + cls.sint(y, width) + carry
        result = unsigned_sum & cls.mask(width)
        n = result >> (width - 1)
        z = int(result == 0)
        c = int(result != unsigned_sum)
        v = int(cls.sint(result, width) != signed_sum)
        return result, n << 3 | z << 2 | c << 1 | v

    @classmethod
    def shift(cls, value: int, kind: str, amount: int, width: int) -> int:
        value &= cls.mask(width)
        if kind == "lsl":
            return (value << amount) & cls.mask(width)
        if kind == "lsr":
            return value >> amount
        if kind == "asr":
            return (cls.sint(value, width) >> amount) & cls.mask(width)
        bits = f"{value:0{width}b}"
        return int(bits[width - amount :] + bits[: width - amount], 2)  # ror

    @classmethod
    def extend(cls, value: int, kind: str, amount: int, width: int) -> int:
        size = {"b": 8, "h": 16, "w": 32, "x": 64}[kind[-1]]
        v = value & cls.mask(size)
        if kind.startswith("s"):
            v = cls.sint(v, size)
        return (v << amount) & cls.mask(width)

    @classmethod
    def cond_holds(cls, cond: str, nzcv: int) -> bool:
        n, z, c, v = (nzcv >> 3) & 1, (nzcv >> 2) & 1, (nzcv >> 1) & 1, nzcv & 1
        base = {
            "eq": z == 1,
            "cs": c == 1,
            "mi": n == 1,
            "vs": v == 1,
            "hi": c == 1 and z == 0,
            "ge": n == v,
            "gt": n == v and z == 0,
            "al": True,
        }
        i = cls.CONDS.index(cond)
        positive = cls.CONDS[i & ~1]
        if positive == "al":
            return True
        return base[positive] if i % 2 == 0 else not base[positive]


@pytest.fixture
def a64() -> type[A64]:
    """The reference model (see `A64`)."""
    return A64


# ---- UNDEFINED encodings ------------------------------------------------------------------------------

UNDEF_VECTORS = """
    b _armnv_exit
    .balign 2048
undef_vectors:
    .rept 16
    mrs x21, esr_el2
    mrs x22, elr_el2
    b _armnv_exit
    .balign 128
    .endr
"""


def run_undef_program(run_asm: Callable, word: int):
    """Execute the raw instruction `word` at EL2 with vectors that record ESR_EL2 and ELR_EL2."""
    m = run_asm(
        f"""
    adr x9, undef_vectors
    msr vbar_el2, x9
    mov x21, #-1
    mov x22, #-1
insn_under_test:
    .inst {word:#010x}
    {UNDEF_VECTORS}
"""
    )
    insn_pc = next(addr for addr, name in m.symbols.items() if name == "insn_under_test")
    return m, insn_pc


@pytest.fixture
def assert_undef(run_asm) -> Callable[[int], None]:
    """Check that the raw instruction `word` is UNDEFINED: EC 0x00 taken to EL2 at its own address."""

    def check(word: int) -> None:
        m, insn_pc = run_undef_program(run_asm, word)
        assert m.cpu.x[21] == 0x0200_0000, f"{word:#010x}: ESR_EL2 {m.cpu.x[21]:#x}, expected an UNDEF (0x2000000)"
        assert m.cpu.x[22] == insn_pc, f"{word:#010x}: ELR_EL2 {m.cpu.x[22]:#x}, expected {insn_pc:#x}"

    return check
