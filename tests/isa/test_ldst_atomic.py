"""FEAT_LSE atomics: LD<op>/ST<op>, SWP, CAS, CASP."""

from __future__ import annotations

import pytest
from ldst_support import BUF, sym, with_vectors

# the memory operand and the register operand: in every size the memory value is negative and the
# register value positive (signed and unsigned order disagree), and their sum carries out exactly
MEM = 0xF0E1D2C3B4A59687
REG = 0x0F1E2D3C4B5A6979


def fill_slots(*values: int, at: int = BUF):
    """Doublewords at `at`, 16 bytes apart."""

    def setup(m):
        for i, v in enumerate(values):
            m.bus.write(at + 16 * i, 8, v)

    return setup


def signed(v: int, bits: int) -> int:
    return v - (1 << bits) if v >> (bits - 1) else v


# The architecture's definition of each operation on `bits`-bit operands (Arm ARM, LD<op>)
OPS = {
    "add": lambda o, s, bits: (o + s) & ((1 << bits) - 1),
    "clr": lambda o, s, bits: o & ~s,
    "eor": lambda o, s, bits: o ^ s,
    "set": lambda o, s, bits: o | s,
    "smax": lambda o, s, bits: o if signed(o, bits) >= signed(s, bits) else s,
    "smin": lambda o, s, bits: o if signed(o, bits) <= signed(s, bits) else s,
    "umax": lambda o, s, bits: max(o, s),
    "umin": lambda o, s, bits: min(o, s),
}

# (mnemonic suffix, register prefix, bytes) of the four sizes, each with another ordering variant
SIZES = [("b", "w", 1), ("ah", "w", 2), ("l", "w", 4), ("al", "x", 8)]


@pytest.mark.parametrize("op", OPS)
def test_ld_op_every_size_returns_the_old_value_and_stores_the_result(run_asm, op):
    lines = [f"    ldr x1, ={BUF}", f"    ldr x2, ={REG:#x}"]
    for i, (suffix, r, _) in enumerate(SIZES):
        lines.append(f"    add x3, x1, #{16 * i}")
        lines.append(f"    ld{op}{suffix} {r}2, {r}{10 + i}, [x3]")
    # the ST<op> alias: the same update, no register written
    lines += ["    add x3, x1, #64", "    mov x14, #0x5a", f"    st{op} x2, [x3]"]
    m = run_asm("\n".join(lines), setup=fill_slots(MEM, MEM, MEM, MEM, MEM))
    for i, (_, _, n) in enumerate([*SIZES, ("", "x", 8)]):
        bits = 8 * n
        mask = (1 << bits) - 1
        old, operand = MEM & mask, REG & mask
        new = OPS[op](old, operand, bits) & mask
        assert m.bus.read(BUF + 16 * i, n) == new, f"{n}-byte result"
        assert m.bus.read(BUF + 16 * i, 8) >> bits == (MEM >> bits if n < 8 else 0), "bytes beyond the access"
        if i < 4:
            assert m.cpu.x[10 + i] == old, f"{n}-byte old value, zero-extended"
    assert m.cpu.x[14] == 0x5A


def test_swp_every_size(run_asm):
    lines = [f"    ldr x1, ={BUF}", f"    ldr x2, ={REG:#x}"]
    for i, (suffix, r, _) in enumerate(SIZES):
        lines.append(f"    add x3, x1, #{16 * i}")
        lines.append(f"    swp{suffix} {r}2, {r}{10 + i}, [x3]")
    m = run_asm("\n".join(lines), setup=fill_slots(MEM, MEM, MEM, MEM))
    for i, (_, _, n) in enumerate(SIZES):
        mask = (1 << (8 * n)) - 1
        assert m.bus.read(BUF + 16 * i, n) == REG & mask
        assert m.cpu.x[10 + i] == MEM & mask


def test_source_and_destination_may_be_the_same_register(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    mov x2, #5
    ldadd x2, x2, [x1]
    add x3, x1, #16
    mov x4, #7
    swp x4, x4, [x3]
    """,
        setup=fill_slots(100, 200),
    )
    assert m.cpu.x[2] == 100 and m.bus.read(BUF, 8) == 105
    assert m.cpu.x[4] == 200 and m.bus.read(BUF + 16, 8) == 7


@pytest.mark.parametrize(("suffix", "r", "n"), [("b", "w", 1), ("h", "w", 2), ("", "w", 4), ("", "x", 8)])
@pytest.mark.parametrize("order", ["", "a", "l", "al"])
def test_cas_success_and_failure(run_asm, suffix, r, n, order):
    mask = (1 << (8 * n)) - 1
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldr x2, ={MEM:#x}
    ldr x3, ={REG:#x}
    cas{order}{suffix} {r}2, {r}3, [x1]
    add x4, x1, #16
    ldr x5, =0x1234
    cas{order}{suffix} {r}5, {r}3, [x4]
    """,
        setup=fill_slots(MEM, MEM),
    )
    # the comparison uses the low n bytes of Rs; Rs receives the old value, zero-extended
    assert m.cpu.x[2] == MEM & mask
    assert m.bus.read(BUF, 8) == (MEM & ~mask) | (REG & mask)
    assert m.cpu.x[5] == MEM & mask
    assert m.bus.read(BUF + 16, 8) == MEM


@pytest.mark.parametrize("order", ["", "a", "l", "al"])
def test_casp_64bit_pairs(run_asm, order):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldr x2, =0x1111
    ldr x3, =0x2222
    ldr x4, =0xaaaa
    ldr x5, =0xbbbb
    casp{order} x2, x3, x4, x5, [x1]
    add x6, x1, #16
    ldr x8, =0x1111
    ldr x9, =0x9999
    casp{order} x8, x9, x4, x5, [x6]
    """,
        setup=lambda m: m.bus.write_bytes(BUF, b"".join(v.to_bytes(8, "little") for v in (0x1111, 0x2222) * 2)),
    )
    x = m.cpu.x
    assert (x[2], x[3]) == (0x1111, 0x2222)
    assert (m.bus.read(BUF, 8), m.bus.read(BUF + 8, 8)) == (0xAAAA, 0xBBBB)
    # second compare fails on the high half: nothing stored, Rs pair gets the memory values
    assert (x[8], x[9]) == (0x1111, 0x2222)
    assert (m.bus.read(BUF + 16, 8), m.bus.read(BUF + 24, 8)) == (0x1111, 0x2222)


def test_casp_32bit_pairs(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldr x2, =0xffffffff00000001
    ldr x3, =0xffffffff00000002
    mov w4, #0x30
    mov w5, #0x40
    casp w2, w3, w4, w5, [x1]
    add x6, x1, #16
    mov w8, #1
    mov w9, #3
    caspal w8, w9, w4, w5, [x6]
    """,
        setup=fill_slots(0x0000000200000001, 0x0000000200000001),
    )
    x = m.cpu.x
    assert (x[2], x[3]) == (1, 2)  # W registers: upper halves cleared
    assert m.bus.read(BUF, 8) == 0x0000004000000030
    assert (x[8], x[9]) == (1, 2)
    assert m.bus.read(BUF + 16, 8) == 0x0000000200000001


def _casp_word(sz: int, rs: int, rt: int) -> int:
    """CASP: 0 sz 001000 0 L 1 Rs o0 11111 Rn Rt (L = o0 = 0, Rn = x1)."""
    return (sz << 30) | (0b001000 << 24) | (1 << 21) | (rs << 16) | (0b11111 << 10) | (1 << 5) | rt


@pytest.mark.parametrize(("rs", "rt"), [(3, 4), (2, 5)])
def test_casp_with_an_odd_register_is_undefined(run_asm, rs, rt):
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={BUF}
undef_insn:
    .inst {_casp_word(1, rs, rt):#010x}
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x02000000
    assert m.cpu.sr["ELR_EL2"] == sym(m, "undef_insn")


def test_unaligned_atomic_across_16_bytes_is_an_alignment_fault(run_asm):
    # WnR = 0: a read of that address would take the same fault (Arm ARM, Data Abort ISS.WnR)
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + 12}
    mov x2, #1
    mov x3, #3
fault_insn:
    ldadd x2, x3, [x11]
"""),
        setup=fill_slots(0, 0),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000021
    assert m.cpu.sr["FAR_EL2"] == BUF + 12
    assert m.cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    assert m.cpu.x[3] == 3
    assert m.bus.read_bytes(BUF, 32) == bytes(32)


def test_casp_doubleword_pair_must_be_16_byte_aligned(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={BUF + 8}
fault_insn:
    casp x2, x3, x4, x5, [x11]
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000021


def test_lse2_unaligned_atomics_within_16_bytes(run_asm):
    def setup(m):
        m.features = m.features | {"lse2"}
        fill_slots(MEM, 0)(m)

    m = run_asm(
        f"""
    ldr x1, ={BUF + 2}
    mov w2, #1
    ldadd w2, w3, [x1]
    add x4, x1, #5
    mov x5, #{MEM >> 56:#x}
    ldr x6, =0x77
    cash w5, w6, [x4]
    """,
        setup=setup,
    )
    assert m.cpu.x[3] == (MEM >> 16) & 0xFFFFFFFF
    assert m.bus.read(BUF + 2, 4) == ((MEM >> 16) + 1) & 0xFFFFFFFF
    assert m.cpu.x[5] == MEM >> 56  # the halfword at BUF + 7: MEM's top byte, then slot padding (0)
    assert m.bus.read(BUF + 7, 2) == 0x77


def test_atomic_on_unbacked_memory_is_an_external_abort_and_changes_nothing(run_asm):
    m = run_asm(
        with_vectors("""
    mov x11, #0x60000000
    mov x2, #1
    mov x3, #3
fault_insn:
    ldset x2, x3, [x11]
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000010
    assert m.cpu.sr["FAR_EL2"] == 0x60000000
    assert m.cpu.x[3] == 3


def test_atomics_undefined_without_feat_lse(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={BUF}
undef_insn:
    ldadd x2, x3, [x1]
"""),
        cpu="max,lse=off",
    )
    assert m.cpu.sr["ESR_EL2"] == 0x02000000
    assert m.cpu.sr["ELR_EL2"] == sym(m, "undef_insn")
