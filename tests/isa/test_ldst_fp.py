"""FP/SIMD register loads and stores (B/H/S/D/Q, pairs) and the FP/SIMD access trap (EC 0x07)."""

from __future__ import annotations

import pytest
from ldst_support import BUF, PATTERN, RAM_END, VECTORS, fill, le, sym

ONES = (1 << 128) - 1


def with_vectors(body: str) -> str:
    return f"""
    adr x9, vectors
    msr vbar_el2, x9
    msr vbar_el1, x9
{body}
    b _armnv_exit
{VECTORS}
"""


def ones_in_v(*regs: int):
    def setup(m):
        for r in regs:
            m.cpu.v[r] = ONES

    return setup


# ---- loads and stores ------------------------------------------------------------------------------


def test_scalar_loads_zero_extend_to_128_bits(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldr b0, [x1, #1]
    ldr h1, [x1, #2]
    ldr s2, [x1, #4]
    ldr d3, [x1, #8]
    ldr q4, [x1, #16]
    ldr q5, [x1, #65520]
    """,
        setup=lambda m: (ones_in_v(0, 1, 2, 3, 4)(m), fill(PATTERN)(m), fill(PATTERN[:16], BUF + 65520)(m)),
    )
    v = m.cpu.v
    assert v[0] == PATTERN[1]
    assert v[1] == le(PATTERN, 2, 2)
    assert v[2] == le(PATTERN, 4, 4)
    assert v[3] == le(PATTERN, 8, 8)
    assert v[4] == le(PATTERN, 16, 16)
    assert v[5] == le(PATTERN, 0, 16)


def test_scalar_stores_write_the_low_bytes(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    str b7, [x1]
    str h7, [x1, #2]
    str s7, [x1, #4]
    str d7, [x1, #8]
    str q7, [x1, #16]
    """,
        setup=lambda m: (fill(b"\xaa" * 48)(m), m.cpu.v.__setitem__(7, le(PATTERN, 32, 16))),
    )
    q = PATTERN[32:48]
    assert m.bus.read_bytes(BUF, 48) == q[:1] + b"\xaa" + q[:2] + q[:4] + q[:8] + q + b"\xaa" * 16


def test_q_register_round_trip_and_index_forms(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    mov x10, x1
    ldr q0, [x10, #16]!
    mov x11, x1
    ldr q1, [x11], #-32
    ldur q2, [x1, #3]
    mov x12, #2
    ldr q3, [x1, x12, lsl #4]
    mov w13, #-1
    ldr d4, [x1, w13, sxtw #3]
    add x14, x1, #0x200
    str q0, [x14, #-16]!
    add x15, x1, #0x300
    stur q1, [x15, #-1]
    str q3, [x15], #48
    """,
        setup=lambda m: (fill(PATTERN)(m), fill(PATTERN[:8], BUF - 8)(m)),
    )
    v, x = m.cpu.v, m.cpu.x
    assert (x[10], v[0]) == (BUF + 16, le(PATTERN, 16, 16))
    assert (x[11], v[1]) == (BUF - 32, le(PATTERN, 0, 16))
    assert v[2] == le(PATTERN, 3, 16)
    assert v[3] == le(PATTERN, 32, 16)
    assert v[4] == le(PATTERN, 0, 8)
    assert x[14] == BUF + 0x1F0 and m.bus.read_bytes(BUF + 0x1F0, 16) == PATTERN[16:32]
    assert m.bus.read_bytes(BUF + 0x2FF, 1) == PATTERN[0:1]
    assert x[15] == BUF + 0x330 and m.bus.read_bytes(BUF + 0x300, 16) == PATTERN[32:48]


def test_literal_loads_of_s_d_q(run_asm):
    m = run_asm(
        """
    ldr s0, lit
    ldr d1, lit
    ldr q2, lit
    b 1f
    .balign 16
lit:
    .quad 0x0706050403020100, 0x0f0e0d0c0b0a0908
1:
    """,
        setup=ones_in_v(0, 1, 2),
    )
    v = m.cpu.v
    assert v[0] == 0x03020100
    assert v[1] == 0x0706050403020100
    assert v[2] == 0x0F0E0D0C0B0A09080706050403020100


def test_unaligned_q_access_across_a_page(run_asm):
    page = BUF + 0x1000
    m = run_asm(
        f"""
    ldr x1, ={page - 7}
    ldr q0, [x1]
    str q0, [x1, #32]
    """,
        setup=fill(PATTERN[:16], page - 7),
    )
    assert m.cpu.v[0] == le(PATTERN, 0, 16)
    assert m.bus.read_bytes(page + 25, 16) == PATTERN[:16]


@pytest.mark.parametrize(("reg", "n"), [("s", 4), ("d", 8), ("q", 16)])
def test_pairs_of_s_d_q(run_asm, reg, n):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldp {reg}0, {reg}1, [x1]
    mov x10, x1
    ldp {reg}2, {reg}3, [x10, #{2 * n}]!
    ldnp {reg}4, {reg}5, [x1, #{-2 * n}]
    add x11, x1, #0x100
    stp {reg}1, {reg}0, [x11], #-{2 * n}
    add x12, x1, #0x200
    stnp {reg}3, {reg}2, [x12]
    """,
        setup=lambda m: (
            ones_in_v(0, 1, 2, 3, 4, 5)(m),
            fill(PATTERN)(m),
            fill(PATTERN[32 : 32 + 2 * n], BUF - 2 * n)(m),
        ),
    )
    v, x = m.cpu.v, m.cpu.x
    assert (v[0], v[1]) == (le(PATTERN, 0, n), le(PATTERN, n, n))
    assert (x[10], v[2], v[3]) == (BUF + 2 * n, le(PATTERN, 2 * n, n), le(PATTERN, 3 * n, n))
    assert (v[4], v[5]) == (le(PATTERN, 32, n), le(PATTERN, 32 + n, n))
    assert x[11] == BUF + 0x100 - 2 * n
    assert m.bus.read_bytes(BUF + 0x100, 2 * n) == PATTERN[n : 2 * n] + PATTERN[0:n]
    assert m.bus.read_bytes(BUF + 0x200, 2 * n) == PATTERN[3 * n : 4 * n] + PATTERN[2 * n : 3 * n]


def test_stp_q_fault_on_second_register_stores_nothing(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={RAM_END - 16}
fault_insn:
    stp q0, q1, [x11]
"""),
        setup=lambda m: (ones_in_v(0, 1)(m), fill(b"\x11" * 16, RAM_END - 16)(m)),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000050
    assert m.cpu.sr["FAR_EL2"] == RAM_END
    assert m.cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    assert m.bus.read_bytes(RAM_END - 16, 16) == b"\x11" * 16


def test_ldp_q_fault_on_second_register_loads_nothing(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={RAM_END - 16}
fault_insn:
    ldp q0, q1, [x11, #0]!
"""),
        setup=ones_in_v(0, 1),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000010
    assert (m.cpu.v[0], m.cpu.v[1], m.cpu.x[11]) == (ONES, ONES, RAM_END - 16)


def _fp_ldst(size: int, opc: int, rest: int) -> int:
    return (size << 30) | (0b111 << 27) | (1 << 26) | (opc << 22) | rest


UNALLOCATED = {
    "q-with-size-01": _fp_ldst(1, 3, (1 << 24) | (1 << 5)),
    "q-with-size-11-unscaled": _fp_ldst(3, 2, 1 << 5),
    "unprivileged-fp": _fp_ldst(2, 1, (0b10 << 10) | (1 << 5)),
    "regoff-uxth": _fp_ldst(3, 1, (1 << 21) | (2 << 16) | (0b001 << 13) | (0b10 << 10) | (1 << 5)),
    "ldr-literal-opc11": (0b11 << 30) | (0b011100 << 24) | 8,
    "ldp-opc11": (0b11 << 30) | (0b101 << 27) | (1 << 26) | (0b10 << 23) | (1 << 22) | (1 << 5),
}


@pytest.mark.parametrize("word", UNALLOCATED.values(), ids=UNALLOCATED.keys())
def test_unallocated_fp_load_store_encodings_are_undefined(run_asm, word):
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={BUF}
undef_insn:
    .inst {word:#010x}
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x02000000
    assert m.cpu.sr["ELR_EL2"] == sym(m, "undef_insn")


# ---- the FP/SIMD access trap (syndromes.md §3: EC 0x07, ISS 0 from AArch64) ------------------------

HCR_RW = 1 << 31
HCR_TGE = 1 << 27
HCR_E2H = 1 << 34
TFP = 1 << 10
FP_TRAP = 0x1E000000
SVC0 = 0x56000000


def fpen(v: int) -> int:
    return v << 20


def fp_at(el: int, *, hcr: int = 0, cpacr: int = 0, cptr: int = 0, insn: str = "ldr q0, [x11]") -> str:
    """A guest that configures the traps at EL2, then runs `insn` at `el` followed by SVC #0."""
    drop = ""
    if el < 2:
        spsr = 0x3C5 if el == 1 else 0x3C0
        drop = f"""
    adr x9, lower
    msr elr_el2, x9
    mov x9, #{spsr:#x}
    msr spsr_el2, x9
    eret
lower:"""
    return with_vectors(f"""
    ldr x9, ={cpacr:#x}
    msr cpacr_el1, x9
    ldr x9, ={cptr:#x}
    msr cptr_el2, x9
    ldr x9, ={hcr | HCR_RW:#x}
    msr hcr_el2, x9
    ldr x11, ={BUF}
    mov x20, #0{drop}
    mov x21, #21
fp_insn:
    {insn}
    mov x20, #1
    svc #0
""")


# (EL, HCR_EL2 bits, CPACR_EL1, CPTR_EL2) -> (target EL, ESR) of the trap, or None
TRAP_CASES = {
    "el1-cpacr00": (1, 0, 0, 0, (1, FP_TRAP)),
    "el1-cpacr10": (1, 0, fpen(2), 0, (1, FP_TRAP)),
    "el1-cpacr01": (1, 0, fpen(1), 0, None),
    "el1-cpacr11": (1, 0, fpen(3), 0, None),
    "el0-cpacr01": (0, 0, fpen(1), 0, (1, FP_TRAP)),
    "el0-cpacr11": (0, 0, fpen(3), 0, None),
    # CPACR_EL1 trap with TGE = 1 goes to EL2 as an UNDEFINED-class exception (Arm ARM AdvSIMDFPAccessTrap)
    "el0-tge-cpacr00": (0, HCR_TGE, 0, 0, (2, 0x02000000)),
    "el1-tfp": (1, 0, fpen(3), TFP, (2, FP_TRAP)),
    "el1-cpacr-before-tfp": (1, 0, 0, TFP, (1, FP_TRAP)),
    "el0-tfp": (0, 0, fpen(3), TFP, (2, FP_TRAP)),
    "el2-tfp": (2, 0, 0, TFP, (2, FP_TRAP)),
    "el2-reset": (2, 0, 0, 0, None),
    # HCR_EL2.E2H = 1: CPTR_EL2 has the CPACR layout
    "el2-e2h-fpen00": (2, HCR_E2H, 0, 0, (2, FP_TRAP)),
    "el2-e2h-fpen10": (2, HCR_E2H, 0, fpen(2), (2, FP_TRAP)),
    "el2-e2h-fpen01": (2, HCR_E2H, 0, fpen(1), None),
    "el2-e2h-fpen11-tfp-ignored": (2, HCR_E2H, 0, fpen(3) | TFP, None),
    "el1-e2h-fpen00": (1, HCR_E2H, fpen(3), 0, (2, FP_TRAP)),
    "el1-e2h-fpen01": (1, HCR_E2H, fpen(3), fpen(1), None),
    "el0-host-fpen01": (0, HCR_E2H | HCR_TGE, 0, fpen(1), (2, FP_TRAP)),
    "el0-host-fpen11-cpacr-ignored": (0, HCR_E2H | HCR_TGE, 0, fpen(3), None),
}


@pytest.mark.parametrize(("el", "hcr", "cpacr", "cptr", "trap"), TRAP_CASES.values(), ids=TRAP_CASES.keys())
def test_fp_access_trap_routing(run_asm, el, hcr, cpacr, cptr, trap):
    m = run_asm(fp_at(el, hcr=hcr, cpacr=cpacr, cptr=cptr))
    cpu = m.cpu
    assert m.stop.exit_code == 1
    if trap is None:
        svc_el = 2 if el == 2 or hcr & HCR_TGE else 1
        assert cpu.x[20] == 1
        assert cpu.sr[f"ESR_EL{svc_el}"] == SVC0
        return
    target, esr = trap
    assert cpu.x[20] == 0, "the trapped instruction and what follows did not run"
    assert cpu.x[21] == 21
    assert cpu.sr[f"ESR_EL{target}"] == esr
    assert cpu.sr[f"ELR_EL{target}"] == sym(m, "fp_insn")
    offset = 0x200 if target == el else 0x400
    assert cpu.x[28] == sym(m, "vectors") + offset


@pytest.mark.parametrize(
    "insn", ["str b0, [x11]", "ldp s0, s1, [x11]", "stnp q0, q1, [x11]", "ldr d0, fp_insn", "ldur h0, [x11, #-1]"]
)
def test_every_fp_form_checks_the_trap(run_asm, insn):
    m = run_asm(fp_at(1, insn=insn))
    assert m.cpu.sr["ESR_EL1"] == FP_TRAP
    assert m.cpu.sr["ELR_EL1"] == sym(m, "fp_insn")


def test_fp_trap_leaves_memory_and_base_unchanged(run_asm):
    m = run_asm(fp_at(1, insn="str q0, [x11, #16]!"), setup=fill(b"\x11" * 32))
    assert m.cpu.sr["ESR_EL1"] == FP_TRAP
    assert m.cpu.x[11] == BUF
    assert m.bus.read_bytes(BUF, 32) == b"\x11" * 32


def test_a_change_of_cpacr_is_seen_by_the_next_fp_access(run_asm):
    # the check runs once per translated block: MSR ends the block, so the next access checks again
    m = run_asm(
        fp_at(
            1,
            cpacr=fpen(3),
            insn="""ldr q0, [x11]
    mov x21, #22
    msr cpacr_el1, xzr
    ldr q1, [x11]""",
        )
    )
    assert m.cpu.x[21] == 22
    assert m.cpu.sr["ESR_EL1"] == FP_TRAP
    assert m.cpu.sr["ELR_EL1"] == sym(m, "fp_insn") + 12
