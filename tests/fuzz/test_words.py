"""Robustness: no 32-bit word, executed at EL2, EL1 or EL0, may raise a Python exception out of Machine.run.

Whatever a guest executes — unallocated encodings, system instructions, branches to nowhere,
loads and stores to RAM, devices or unmapped addresses — the architecture defines an outcome
(UNDEF, abort, trap…) and the emulator must produce it. The words come from hypothesis (with a
fixed, derandomized profile), from a seeded generator, and from every row of the decode table
with random operand fields, so that every emitter sees random operands.

Each word is written to RAM (dropping any translation of that page) and run for a few
instructions from a restored CPU state; exception vectors stop the machine with a semihosting
exit. A word that changed system registers gets a fresh machine afterwards. ARMNV_FUZZ_EXAMPLES
scales every test here (see `common.py`); `test_sequences.py` runs sequences of words under
random configurations.
"""

from __future__ import annotations

import copy
import functools
import random
import traceback

import attrs
import pytest
from hypothesis import given

from framework.cpu.state import CPUState
from framework.testing import assemble, make_machine

from .common import LONG_RUN, M64, WORDS, assert_stopped, decode_rows, fuzz_settings, row_word

SCRATCH = 0x4020_0000
HCR_RW = 1 << 31
HCR_TGE = 1 << 27
HCR_E2H = 1 << 34
MAX_INSNS = 6

# The word runs at `word_slot`; every vector ends the run through semihosting (or, where
# semihosting is not available, by taking another exception to a level where it is).
PROGRAM = """
    .text
    .global _start
_start:
    b .
    .balign 4096
word_slot:
    nop
    b .
    .balign 2048
vectors:
    .rept 16
    mov x0, #0x18
    adr x1, exit_block
    hlt #0xf000
    b .
    .balign 128
    .endr
    .balign 8
exit_block:
    .quad 0x20026, 0
"""

# (name, EL, SPSel, HCR_EL2)
ENVIRONMENTS = (
    ("el2", 2, 1, HCR_RW),
    ("el1", 1, 1, HCR_RW),
    ("el0", 0, 0, HCR_RW),
    ("el0-host", 0, 0, HCR_RW | HCR_E2H | HCR_TGE),
)

# CPUState fields that describe the memory context rather than the CPU: rebuilt by switching
_CONTEXT_FIELDS = {"tlb_r", "tlb_w", "vcache", "vcache1", "machine"}
# registers every exception writes: restoring them is enough, they configure nothing
_REPORTING = {f"{r}_EL{el}" for r in ("ESR", "ELR", "SPSR", "FAR") for el in (1, 2)} | {"HPFAR_EL2", "PAR_EL1"}


def initial_registers(word_pc: int) -> list[int]:
    """Register values that make random loads, stores and branches hit interesting places."""
    regs = [SCRATCH + 0x1000 * i for i in range(31)]
    regs[3] = 0  # address 0: not RAM
    regs[4] = M64  # beyond the PA size
    regs[5] = 0x0900_0000  # the PL011 UART
    regs[6] = 0x0800_0000  # the GIC distributor
    regs[7] = SCRATCH + 3  # misaligned
    regs[8] = word_pc  # the word's page: a store there drops its translation
    return [*regs, SCRATCH + 0x10_0000]  # SP


class WordRunner:
    """One machine in one environment, reused for many words."""

    def __init__(self, name: str, el: int, spsel: int, hcr: int) -> None:
        self.name, self.el, self.spsel, self.hcr = name, el, spsel, hcr
        self.elf = str(assemble(PROGRAM, wrap=False))
        self._build()

    def _build(self) -> None:
        m = self.machine = make_machine()
        m.load(self.elf)
        symbols = {name: addr for addr, name in m.symbols.items()}
        self.word_pc = symbols["word_slot"]
        cpu = m.cpu
        cpu.sr["VBAR_EL2"] = cpu.sr["VBAR_EL1"] = symbols["vectors"]
        cpu.sr["HCR_EL2"] = self.hcr
        cpu.x[:] = initial_registers(self.word_pc)
        cpu.select_sp(self.el, self.spsel)
        cpu.x[31] = SCRATCH + 0x10_0000
        cpu.pc = self.word_pc
        m.pstate_changed()
        self.page = self.word_pc & ~0xFFF
        self.code = m.bus.read_bytes(self.page, 0x1000)  # the word's page, vectors included
        self.snapshot = {
            f.name: copy.deepcopy(getattr(cpu, f.name)) for f in attrs.fields(CPUState) if f.name not in _CONTEXT_FIELDS
        }

    def _restore(self) -> None:
        cpu = self.machine.cpu
        for name, value in self.snapshot.items():
            setattr(cpu, name, copy.copy(value))
        self.machine.pstate_changed()

    def execute(self, word: int) -> None:
        """Run `word`; any Python exception propagates (it is a bug)."""
        sr, before = self.machine.cpu.sr, self.snapshot["sr"]
        if any(sr[k] != before.get(k) for k in sr.keys() - _REPORTING):
            self._build()  # an MSR changed the configuration: start from a clean machine
        else:
            self._restore()
        # the page again as loaded (an earlier word may have stored to it), with the word in its slot
        off = self.word_pc - self.page
        self.machine.write_phys(self.page, self.code[:off] + word.to_bytes(4, "little") + self.code[off + 4 :])
        assert_stopped(self.machine.run(MAX_INSNS), f"word {word:#010x} at {self.name}")


@functools.cache
def runners() -> tuple[WordRunner, ...]:
    return tuple(WordRunner(*env) for env in ENVIRONMENTS)


def run_everywhere(words) -> list[str]:
    """Execute every word in every environment; describe each Python exception raised."""
    failures = []
    for runner in runners():
        for word in words:
            try:
                runner.execute(word)
            except Exception:
                failures.append(f"word {word:#010x} at {runner.name}:\n{traceback.format_exc()}")
                runner._build()
    return failures


def row_words(rng: random.Random, per_row: int) -> list[int]:
    """Random words that decode to each row of the table: its fixed bits, random fields."""
    return [row_word(row, rng.getrandbits(32)) for row in decode_rows() for _ in range(per_row)]


def seed(fixed: object) -> object:
    """`fixed` in CI; a fresh seed for a long run (it is part of every failure report)."""
    return random.SystemRandom().getrandbits(64) if LONG_RUN else fixed


def test_every_decode_row_with_random_fields_is_safe():
    per_row = max(40, LONG_RUN // len(decode_rows()))
    s = seed(0xA64)
    failures = run_everywhere(row_words(random.Random(s), per_row))
    assert not failures, f"{len(failures)} Python exceptions escaped Machine.run (seed {s!r}):\n" + "\n".join(
        failures[:5]
    )


@pytest.mark.parametrize("chunk", range(4))
def test_seeded_random_words_are_safe(chunk):
    s = seed(f"armnv-random-words-{chunk}")
    rng = random.Random(s)
    failures = run_everywhere([rng.getrandbits(32) for _ in range(max(1000, LONG_RUN // 4))])
    assert not failures, f"{len(failures)} Python exceptions escaped Machine.run (seed {s!r}):\n" + "\n".join(
        failures[:5]
    )


@fuzz_settings(400)
@given(word=WORDS)
def test_hypothesis_words_are_safe(word):
    for runner in runners():
        try:
            runner.execute(word)
        except Exception:
            runner._build()
            raise
