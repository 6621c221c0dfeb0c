"""Random instruction sequences under random configurations: Machine.run always returns a StopReason.

Each example builds a fresh machine (so that hypothesis can replay a failure on its own) for a
random CPU model and engine mode. A fixed guest, `SETUP`, configures it at EL2 from a block of
values hypothesis drew, with MSRs (so every write takes the architectural path, hooks and cache
drops included), then ERETs into the sequence:

* HCR_EL2: any bits (the PE keeps the writable ones, so HCR_EL2.NV/NV1/NV2 get exercised as
  soon as a plugin makes them writable), with {E2H, TGE} and RW chosen to reach the wanted EL;
* SCTLR_EL1 and SCTLR_EL2: any bits, with the MMU (bit M) on or off independently;
* CPACR_EL1, CPTR_EL2, MDCR_EL2, CNTHCTL_EL2, CNTKCTL_EL1, VNCR_EL2 (when the CPU has it), the
  stack pointers and the general-purpose registers;
* the SPSR of that ERET: EL2h/EL2t, EL1h/EL1t, EL0t or a host EL0t, with random NZCV, DAIF, PAN,
  UAO, DIT, SSBS, BTYPE, ALLINT and SS bits.

Stage-1 tables (used by EL1&0, EL2 and EL2&0) and stage-2 tables (used when the random HCR_EL2
sets VM or DC) map the image read-only and executable, a scratch area read-write and
execute-never, an EL1-only area, an area with AF = 0, and the devices, and leave holes. The
vectors either stop the machine (semihosting exit) or return past the instruction that trapped,
so a sequence goes on after a fault. Exit kinds are not judged: exit, max-insns, wfi… are all
fine; a Python exception escaping Machine.run is a bug.
"""

from __future__ import annotations

import functools
import io
import struct

import attrs
from hypothesis import given
from hypothesis import strategies as st

from framework.cpu.syndrome import split_key
from framework.testing import assemble, make_machine

from .common import M32, M64, WORDS, assert_stopped, fuzz_settings

CPUS = ("max", "neoverse-n2", "neoverse-v1")
HCR_RW, HCR_TGE, HCR_E2H = 1 << 31, 1 << 27, 1 << 34
SCTLR_M, SCTLR_EE = 1 << 0, 1 << 25

# physical layout (RAM from 0x4000_0000); the image is linked at 0x4008_0000
S1_L1, S1_L2_LOW, S1_L2_RAM, S2_L1 = 0x4010_0000, 0x4010_1000, 0x4010_2000, 0x4010_3000
CONFIG = 0x4010_8000
SCRATCH = 0x4020_0000  # read-write, execute-never
UNMAPPED = 0x4040_0000  # a hole in the stage-1 map
EL1_ONLY = 0x4060_0000  # read-write at EL1 only
NO_AF = 0x4080_0000  # access flag clear
NO_RAM = 0x6000_0000  # neither RAM nor a device
UART, GICD = 0x0900_0000, 0x0800_0000

TCR = 0x8080_3519  # T0SZ = 25 (4 KiB granule, start at level 1), EPD1; valid in both TCR_EL2 layouts
MAIR = 0xFF00  # attribute 0: Device-nGnRnE, attribute 1: Normal write-back
VTCR = 0x8000_3559  # T0SZ = 25, SL0 = 1 (start at level 1)

# stage-1 block descriptors (level 2, 2 MiB): AttrIndx, AP, SH, AF, UXN/PXN
NORMAL, DEVICE = 1 << 2, 0
AP_EL1_RW, AP_ALL_RW, AP_ALL_RO = 0 << 6, 1 << 6, 3 << 6
SH_INNER, AF, PXN, UXN = 3 << 8, 1 << 10, 1 << 53, 1 << 54
BLOCK, TABLE = 0b01, 0b11
S1_TABLES = {
    S1_L1: {0: S1_L2_LOW | TABLE, 1: S1_L2_RAM | TABLE},
    S1_L2_LOW: {
        GICD >> 21: GICD | DEVICE | AP_ALL_RW | AF | PXN | UXN | BLOCK,
        UART >> 21: UART | DEVICE | AP_ALL_RW | AF | PXN | UXN | BLOCK,
    },
    S1_L2_RAM: {
        0: 0x4000_0000 | NORMAL | AP_ALL_RO | SH_INNER | AF | BLOCK,  # the image, tables and config
        1: SCRATCH | NORMAL | AP_ALL_RW | SH_INNER | AF | PXN | UXN | BLOCK,
        3: EL1_ONLY | NORMAL | AP_EL1_RW | SH_INNER | AF | UXN | BLOCK,
        4: NO_AF | NORMAL | AP_ALL_RW | SH_INNER | BLOCK,
    },
    # stage 2, level 1 (1 GiB): devices (MemAttr Device-nGnRE, XN) and RAM (Normal), S2AP = RW
    S2_L1: {
        0: 0x0 | (1 << 2) | (3 << 6) | AF | (2 << 53) | BLOCK,
        1: 0x4000_0000 | (0xF << 2) | (3 << 6) | (3 << 8) | AF | BLOCK,
    },
}  # fmt: skip

# the block SETUP reads, in order (8 bytes each)
FIELDS = (
    "hcr", "sctlr_el1", "sctlr_el2", "spsr", "elr", "cpacr_el1", "cptr_el2", "mdcr_el2", "cnthctl_el2",
    "cntkctl_el1", "vbar_el1", "vbar_el2", "sp_el0", "sp_el1", "sp_el2", "vncr_el2", "has_vncr",
)  # fmt: skip
OFF = {name: 8 * i for i, name in enumerate(FIELDS)}
REGS = 8 * len(FIELDS)
SLOT_WORDS = 16

SETUP = f"""
    .text
    .global _start
_start:
    ldr x30, ={CONFIG:#x}
    ldr x0, ={S1_L1:#x}
    msr ttbr0_el1, x0
    msr ttbr0_el2, x0
    ldr x0, ={TCR:#x}
    msr tcr_el1, x0
    msr tcr_el2, x0
    ldr x0, ={MAIR:#x}
    msr mair_el1, x0
    msr mair_el2, x0
    ldr x0, ={S2_L1:#x}
    msr vttbr_el2, x0
    ldr x0, ={VTCR:#x}
    msr vtcr_el2, x0
    ldp x0, x1, [x30, #{OFF["cpacr_el1"]}]
    msr cpacr_el1, x0
    msr cptr_el2, x1
    ldp x0, x1, [x30, #{OFF["mdcr_el2"]}]
    msr mdcr_el2, x0
    msr cnthctl_el2, x1
    ldp x0, x1, [x30, #{OFF["cntkctl_el1"]}]
    msr cntkctl_el1, x0
    msr vbar_el1, x1
    ldp x0, x1, [x30, #{OFF["vbar_el2"]}]
    msr vbar_el2, x0
    msr sp_el0, x1
    ldp x0, x1, [x30, #{OFF["sp_el1"]}]
    msr sp_el1, x0
    mov sp, x1
    ldp x0, x1, [x30, #{OFF["vncr_el2"]}]
    cbz x1, 1f
    msr s3_4_c2_c2_0, x0  // VNCR_EL2
1:
    ldp x0, x1, [x30, #{OFF["spsr"]}]
    msr spsr_el2, x0
    msr elr_el2, x1
    ldp x0, x1, [x30, #{OFF["sctlr_el1"]}]
    msr sctlr_el1, x0
    msr sctlr_el2, x1
    isb
    // HCR_EL2 last: with E2H = 1 the EL1 names above would have reached the EL2 registers
    ldr x0, [x30, #{OFF["hcr"]}]
    msr hcr_el2, x0
    isb
""" + "".join(f"    ldp x{i}, x{i + 1}, [x30, #{REGS + 8 * i}]\n" for i in range(0, 30, 2)) + f"""
    ldr x30, [x30, #{REGS + 240}]
setup_eret:
    eret

    .balign 2048
vec_exit:
    .rept 16
    mov x0, #0x18
    adr x1, exit_block
    hlt #0xf000
    b .
    .balign 128
    .endr
""" + "".join(
    f"""
    .balign 2048
vec_skip_el{el}:
    .rept 16
    mrs x17, elr_el{el}
    add x17, x17, #4
    msr elr_el{el}, x17
    eret
    .balign 128
    .endr
"""
    for el in (1, 2)
) + f"""
    .balign 8
exit_block:
    .quad 0x20026, 0

    .balign 4096
slot:
    .rept {SLOT_WORDS}
    nop
    .endr
    b .
"""  # fmt: skip


@functools.cache
def image() -> tuple[str, dict[str, int]]:
    elf = str(assemble(SETUP, wrap=False))
    m = make_machine()
    m.load(elf)
    return elf, {name: addr for addr, name in m.symbols.items()}


@functools.cache
def known_encodings() -> tuple[tuple[int, int, int, int, int], ...]:
    """Every system register and instruction encoding a `max` machine defines."""
    return tuple(sorted({split_key(r.key) for r in make_machine().sysregs}))


def sysreg_word(is_read: bool, enc: tuple[int, int, int, int, int], rt: int) -> int:
    op0, op1, crn, crm, op2 = enc
    return 0xD500_0000 | is_read << 21 | op0 << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5 | rt


ENCODINGS = st.one_of(
    st.sampled_from(known_encodings()),
    st.tuples(st.integers(1, 3), st.integers(0, 7), st.integers(0, 15), st.integers(0, 15), st.integers(0, 7)),
)
# MRS/MSR/SYS/SYSL: the system-register access decisions are where NV, NV2 and VHE live
SYSREG_WORDS = st.builds(sysreg_word, st.booleans(), ENCODINGS, st.integers(0, 31))
SEQUENCES = st.lists(st.one_of(WORDS, SYSREG_WORDS), min_size=1, max_size=SLOT_WORDS)

# any value, or one with a few bits set (so configurations with little trapping are frequent too)
BITS64 = st.one_of(
    st.integers(0, M64),
    st.sets(st.integers(0, 63), max_size=6).map(lambda bits: sum(1 << b for b in bits)),
)
ADDRESSES = st.sampled_from(
    (0, SCRATCH, SCRATCH + 0x800, SCRATCH + 3, SCRATCH + 0x1F_FFF8, UNMAPPED, EL1_ONLY, NO_AF, NO_RAM, UART, GICD,
     CONFIG, S1_L2_RAM, 0x4008_0000, M64, 0xFFFF_0000_0000_0000, 0x0000_8000_0000_0000)
)  # fmt: skip
REGISTER_VALUES = st.one_of(ADDRESSES, st.integers(0, M64))

# (SPSR.M, E2H, TGE, RW): None = any
TARGETS = (
    (0x9, None, None, None),  # EL2h
    (0x8, None, None, None),  # EL2t
    (0x5, None, 0, 1),  # EL1h (TGE = 1 would make the return illegal)
    (0x4, None, 0, 1),  # EL1t
    (0x0, 0, None, 1),  # EL0t in the EL1&0 regime (TGE alone routes its exceptions to EL2)
    (0x0, 1, 0, 1),  # EL0t under E2H alone
    (0x0, 1, 1, None),  # host EL0t
)
# SPSR bits drawn at random: NZCV, DIT, UAO, PAN, SS, ALLINT, SSBS, BTYPE, DAIF (not IL)
SPSR_RANDOM = 0xF000_0000 | 1 << 24 | 1 << 23 | 1 << 22 | 1 << 21 | 1 << 13 | 1 << 12 | 3 << 10 | 0x3C0


@attrs.define(frozen=True)
class Config:
    cpu: str
    single_insn_blocks: bool
    values: dict[str, int]
    regs: tuple[int, ...]


@st.composite
def configurations(draw) -> Config:
    _, symbols = image()
    mode, e2h, tge, rw = draw(st.sampled_from(TARGETS))
    hcr = draw(BITS64) & ~(HCR_E2H | HCR_TGE)
    hcr |= (draw(st.booleans()) if e2h is None else e2h) * HCR_E2H
    hcr |= (draw(st.booleans()) if tge is None else tge) * HCR_TGE
    if rw is not None:
        hcr = hcr & ~HCR_RW | rw * HCR_RW
    sctlr = [draw(BITS64) & ~SCTLR_M | draw(st.booleans()) * SCTLR_M for _ in range(2)]
    sctlr[1] &= ~SCTLR_EE  # SETUP reads its block at EL2 after writing SCTLR_EL2: keep it little-endian
    skip = draw(st.booleans())
    cpu = draw(st.sampled_from(CPUS))
    values = {
        "hcr": hcr,
        "sctlr_el1": sctlr[0],
        "sctlr_el2": sctlr[1],
        "spsr": draw(st.integers(0, M32)) & SPSR_RANDOM | mode,
        "elr": symbols["slot"],
        "cpacr_el1": draw(BITS64),
        "cptr_el2": draw(BITS64),
        "mdcr_el2": draw(BITS64),
        "cnthctl_el2": draw(BITS64),
        "cntkctl_el1": draw(BITS64),
        "vbar_el1": symbols["vec_skip_el1" if skip else "vec_exit"],
        "vbar_el2": symbols["vec_skip_el2" if skip else "vec_exit"],
        "sp_el0": draw(ADDRESSES),
        "sp_el1": draw(ADDRESSES),
        "sp_el2": draw(ADDRESSES),
        "vncr_el2": draw(st.sampled_from((SCRATCH, SCRATCH + 0x1000, UNMAPPED, NO_RAM, 0))),
        "has_vncr": 0,
    }
    regs = tuple(draw(st.lists(REGISTER_VALUES, min_size=31, max_size=31)))
    return Config(cpu, draw(st.booleans()), values, regs)


def tables() -> list[tuple[int, bytes]]:
    return [
        (base, b"".join(struct.pack("<Q", entries.get(i, 0)) for i in range(512)))
        for base, entries in S1_TABLES.items()
    ]


def run(config: Config, words: list[int]):
    elf, symbols = image()
    m = make_machine(config.cpu, one_insn_per_block=config.single_insn_blocks)
    m.load(elf)
    m.devices["semihosting"].stdin = io.BytesIO()  # a SYS_READ must not wait for the test's stdin
    values = dict(config.values)
    values["has_vncr"] = int("VNCR_EL2" in m.sysregs)
    block = b"".join(struct.pack("<Q", values[name] & M64) for name in FIELDS)
    block += b"".join(struct.pack("<Q", r) for r in config.regs)
    for base, data in tables():
        m.write_phys(base, data)
    m.write_phys(CONFIG, block)
    m.write_phys(symbols["slot"], b"".join(struct.pack("<I", w) for w in words))
    budget = (symbols["setup_eret"] - symbols["_start"]) // 4 + 1 + 8 * len(words) + 16
    return m, m.run(budget)


@fuzz_settings(250)
@given(config=configurations(), words=SEQUENCES)
def test_random_sequences_under_random_configurations(config, words):
    _, stop = run(config, words)
    assert_stopped(stop, f"{config.cpu}, HCR_EL2 {config.values['hcr']:#x}, SPSR {config.values['spsr']:#x}")


def test_setup_reaches_the_sequence_at_every_target():
    # the harness itself: with the random parts quiet (no traps, MMU off) a one-SVC sequence is
    # entered at the EL the SPSR names, and its SVC stops the machine through the vectors
    _, symbols = image()
    for mode, e2h, tge, _ in TARGETS:
        hcr = HCR_RW | (e2h or 0) * HCR_E2H | (tge or 0) * HCR_TGE
        values = dict.fromkeys(FIELDS, 0) | {
            "hcr": hcr, "sctlr_el1": 0x30D00800, "sctlr_el2": 0x30C50830, "spsr": 0x3C0 | mode,
            "elr": symbols["slot"], "cnthctl_el2": 3, "cpacr_el1": 3 << 20, "vbar_el1": symbols["vec_exit"],
            "vbar_el2": symbols["vec_exit"], "sp_el0": SCRATCH, "sp_el1": SCRATCH, "sp_el2": SCRATCH,
        }  # fmt: skip
        m, stop = run(Config("max", False, values, (0,) * 31), [0xD4000001])  # SVC #0
        assert (stop.kind, stop.exit_code) == ("exit", 0), f"SPSR.M {mode:#x}"
        el = 2 if mode >> 2 == 2 or (mode >> 2 == 0 and tge) else 1
        sr = m.cpu.sr
        assert (m.cpu.el, sr[f"ESR_EL{el}"], sr[f"SPSR_EL{el}"] & 0xF) == (el, 0x56000000, mode)
        assert sr[f"ELR_EL{el}"] == symbols["slot"] + 4
