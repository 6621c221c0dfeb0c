"""Instructions of optional features: executed when the feature is on, UNDEFINED when it is off.

Each case runs the instruction on ``max`` (which has the feature) and with ``--cpu max,<feature>=off``:
off, the instruction takes an Undefined Instruction exception (ESR_EL2 = EC 0x00 with IL set) whose
preferred return is the instruction itself, and nothing after it runs. A test also checks that every
feature owning an instruction — a row of the decode table, a kernel feature's probe words or its
registers — has a case here.
"""

from __future__ import annotations

import zlib

import attrs
import pytest

from framework.isa.table import ROWS, decoder
from framework.testing import with_stop_vectors
from plugins.cpu_models.features import KERNEL_FEATURES

BUF = 0x4010_0000
M32 = 0xFFFF_FFFF
ESR_UNDEF = 0x0200_0000  # EC 0x00, IL = 1


def crc32_step(acc: int, data: bytes) -> int:
    """CRC32B/H/W/X: zlib's CRC-32 without its initial and final inversion."""
    return ~zlib.crc32(data, ~acc & M32) & M32


@attrs.define(frozen=True)
class Case:
    feature: str
    insn: str  # the instruction under test (labelled), possibly with more lines after it
    x5: int  # what x5 holds when the instruction executed
    before: str = ""
    memory: tuple[tuple[int, int], ...] = ()  # doublewords to place before the run: (address, value)
    declared: bool = True  # switched with --cpu (else the feature is added to or removed from the machine)


CASES = [
    Case("crc32", "crc32b w5, w2, w3", crc32_step(0x1234_5678, b"\xab"), "ldr x2, =0x12345678\nmov x3, #0x1ab"),
    Case(
        "crc32",
        "crc32x w5, w2, x3",
        crc32_step(0xFFFF_FFFF, (0x0123_4567_89AB_CDEF).to_bytes(8, "little")),
        "mov w2, #-1\nldr x3, =0x0123456789abcdef",
    ),
    Case("lse", "ldadd x3, x5, [x1]\nldr x6, [x1]\nadd x5, x5, x6, lsl #8", 5 + (12 << 8), "mov x3, #7", ((BUF, 5),)),
    Case(
        "lse",
        "cas x5, x3, [x1]\nldr x6, [x1]\nadd x5, x5, x6, lsl #8",
        5 + (7 << 8),
        "mov x5, #5\nmov x3, #7",
        ((BUF, 5),),
    ),
    Case("lrcpc", "ldapr x5, [x1]", 0x1122_3344_5566_7788, memory=((BUF, 0x1122_3344_5566_7788),)),
    Case("lrcpc2", "ldapur x5, [x1, #8]", 0x99, memory=((BUF + 8, 0x99),)),
    Case("lrcpc2", "stlur x3, [x1, #-8]\nldur x5, [x1, #-8]", 42, "mov x3, #42"),
    Case("lor", "ldlar x5, [x1]", 77, memory=((BUF, 77),), declared=False),
    Case("sb", "sb\nmov x5, #1", 1),
    # BC.EQ .+8 with Z set: skips the MOV (taken), so x5 = 0 + 1
    Case("hbc", ".inst 0x54000050\nmov x5, #2\nadd x5, x5, #1", 1, "mov x5, #0\ncmp x5, #0"),
    Case("uao", "msr uao, #1\nmrs x5, uao", 1 << 23),
    Case("dit", "msr dit, #1\nmrs x5, dit", 1 << 24),
    Case("ssbs", "msr ssbs, #1\nmrs x5, ssbs", 1 << 12),
    # MSR ALLINT, #1; ALLINT is S3_0_C4_C3_0
    Case("nmi", ".inst 0xd501411f\nmrs x5, s3_0_c4_c3_0", 1 << 13),
    Case("dpb", "dc cvap, x1\nmov x5, #1", 1),
    Case("dpb2", "dc cvadp, x1\nmov x5, #1", 1),
    # AESE V0.16B, V1.16B of a zero state and key: SubBytes(0) = 0x63 in every byte
    Case("aes", ".inst 0x4e284820\numov x5, v0.d[1]", 0x6363636363636363, "movi v0.16b, #0\nmovi v1.16b, #0"),
    # each 32-bit lane: 1 + 4 * (3 * 2)
    Case(
        "dotprod",
        "sdot v0.4s, v1.16b, v2.16b\numov w5, v0.s[0]",
        25,
        "movi v1.16b, #3\nmovi v2.16b, #2\nmovi v0.4s, #1",
    ),
]

# hints stay hints: without their feature they are NOPs, not UNDEFINED
HINT_CASES = [Case("dgh", ".inst 0xd50320df\nmov x5, #1", 1)]  # DGH

# encodings decoded only with a feature no plugin provides yet
ALWAYS_OFF = {"pauth": ".inst 0xd69f0bff"}  # ERETAA


def program(case: Case) -> str:
    return with_stop_vectors(f"""
    ldr x1, ={BUF:#x}
{case.before}
insn_under_test:
{case.insn}
""")


def run_case(run_asm, case: Case, on: bool):
    def setup(m):
        for addr, value in case.memory:
            m.bus.write(addr, 8, value)
        if not case.declared:
            m.features = m.features | {case.feature} if on else m.features - {case.feature}

    cpu = "max" if on or not case.declared else f"max,{case.feature}=off"
    return run_asm(program(case), cpu=cpu, setup=setup)


def insn_address(m) -> int:
    return next(addr for addr, name in m.symbols.items() if name == "insn_under_test")


def ids(case: Case) -> str:
    return f"{case.feature}-{case.insn.split()[0]}"


@pytest.mark.parametrize("case", CASES + HINT_CASES, ids=ids)
def test_instruction_executes_with_its_feature(run_asm, case):
    m = run_case(run_asm, case, on=True)
    assert case.feature in m.features
    assert (m.stop.kind, m.stop.exit_code) == ("exit", 0), f"exception: ESR_EL2 = {m.cpu.sr['ESR_EL2']:#x}"
    assert m.cpu.x[5] == case.x5


@pytest.mark.parametrize("case", CASES, ids=ids)
def test_instruction_is_undefined_without_its_feature(run_asm, case):
    m = run_case(run_asm, case, on=False)
    assert case.feature not in m.features
    assert (m.stop.kind, m.stop.exit_code) == ("exit", 1)  # the stop vectors
    assert m.cpu.sr["ESR_EL2"] == ESR_UNDEF
    assert m.cpu.sr["ELR_EL2"] == insn_address(m)


@pytest.mark.parametrize("case", HINT_CASES, ids=ids)
def test_hint_without_its_feature_is_a_nop(run_asm, case):
    m = run_asm(program(case), cpu=f"max,{case.feature}=off")
    assert (m.stop.kind, m.stop.exit_code) == ("exit", 0)
    assert m.cpu.x[5] == case.x5


@pytest.mark.parametrize("feature", sorted(ALWAYS_OFF))
def test_instructions_of_unimplemented_features_are_undefined(run_asm, feature):
    case = Case(feature, ALWAYS_OFF[feature], 0)
    m = run_asm(program(case))
    assert feature not in m.features
    assert m.cpu.sr["ESR_EL2"] == ESR_UNDEF
    assert m.cpu.sr["ELR_EL2"] == insn_address(m)


def test_a_model_without_the_feature_undefines_its_instruction(run_asm):
    # Neoverse V1 has no FEAT_SB
    m = run_asm(program(Case("sb", "sb", 0)), cpu="neoverse-v1")
    assert m.cpu.sr["ESR_EL2"] == ESR_UNDEF
    assert m.cpu.sr["ELR_EL2"] == insn_address(m)


def test_every_feature_that_owns_instructions_has_a_case():
    decoder()  # loads every instruction group
    owners = {row.feature for row in ROWS if row.feature is not None}
    owners |= {kf.name for kf in KERNEL_FEATURES if kf.probes or kf.registers}
    covered = {c.feature for c in CASES + HINT_CASES} | set(ALWAYS_OFF)
    assert owners <= covered, f"no on/off case for {sorted(owners - covered)}"
