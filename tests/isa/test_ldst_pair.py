"""Load/store pair of general-purpose registers: LDP, STP, LDPSW, LDNP, STNP."""

from __future__ import annotations

import pytest
from ldst_support import BUF, PATTERN, RAM_END, fill, le, sym, with_vectors


def test_ldp_stp_64bit_offset_pre_and_post_index(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF + 0x100}
    ldp x2, x3, [x1, #-16]
    mov x10, x1
    ldp x4, x5, [x10, #504]!
    mov x11, x1
    ldr x6, =0x1111
    ldr x7, =0x2222
    stp x6, x7, [x11], #-512
    mov x12, x1
    stp x7, x6, [x12, #-512]!
    """,
        setup=lambda m: (fill(PATTERN, BUF + 0x100 - 16)(m), fill(PATTERN, BUF + 0x100 + 504)(m)),
    )
    x = m.cpu.x
    assert (x[2], x[3]) == (le(PATTERN, 0, 8), le(PATTERN, 8, 8))
    assert (x[10], x[4], x[5]) == (BUF + 0x100 + 504, le(PATTERN, 0, 8), le(PATTERN, 8, 8))
    assert x[11] == BUF + 0x100 - 512
    assert (m.bus.read(BUF + 0x100, 8), m.bus.read(BUF + 0x108, 8)) == (0x1111, 0x2222)
    assert x[12] == BUF + 0x100 - 512
    assert (m.bus.read(BUF + 0x100 - 512, 8), m.bus.read(BUF + 0x100 - 504, 8)) == (0x2222, 0x1111)


def test_ldp_stp_32bit_zero_extend_and_store_low_words(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    mov x2, #-1
    mov x3, #-1
    ldp w2, w3, [x1, #4]
    ldr x4, =0xaaaaaaaa11111111
    ldr x5, =0xbbbbbbbb22222222
    stp w4, w5, [x1, #-256]
    ldp w6, w7, [x1], #252
    mov x8, x1
    """,
        setup=fill(PATTERN),
    )
    x = m.cpu.x
    assert (x[2], x[3]) == (le(PATTERN, 4, 4), le(PATTERN, 8, 4))
    assert m.bus.read(BUF - 256, 8) == 0x2222222211111111
    assert (x[6], x[7], x[8]) == (le(PATTERN, 0, 4), le(PATTERN, 4, 4), BUF + 252)


def test_ldpsw_sign_extends_both_words(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldpsw x2, x3, [x1]
    ldpsw x4, x5, [x1, #8]!
    mov x6, x1
    """,
        setup=fill(bytes.fromhex("00000080 ffffff7f 01000000 feffffff")),
    )
    x = m.cpu.x
    assert x[2] == 0xFFFFFFFF80000000
    assert x[3] == 0x7FFFFFFF
    assert (x[4], x[5]) == (1, 0xFFFFFFFFFFFFFFFE)
    assert x[6] == BUF + 8


def test_ldnp_stnp_behave_as_offset_pairs(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldnp x2, x3, [x1, #16]
    ldnp w4, w5, [x1, #-8]
    stnp x3, x2, [x1, #64]
    stnp w2, w3, [x1, #80]
    """,
        setup=lambda m: (fill(PATTERN)(m), fill(PATTERN[32:40], BUF - 8)(m)),
    )
    x = m.cpu.x
    assert (x[2], x[3]) == (le(PATTERN, 16, 8), le(PATTERN, 24, 8))
    assert (x[4], x[5]) == (le(PATTERN, 32, 4), le(PATTERN, 36, 4))
    assert m.bus.read_bytes(BUF + 64, 16) == PATTERN[24:32] + PATTERN[16:24]
    assert m.bus.read_bytes(BUF + 80, 8) == PATTERN[16:20] + PATTERN[24:28]


def test_function_frame_with_sp(run_asm):
    m = run_asm(
        """
    mov x9, sp
    mov x29, #0x29
    mov x30, #0x30
    stp x29, x30, [sp, #-32]!
    mov x29, #0
    mov x30, #0
    ldp x29, x30, [sp], #32
    mov x10, sp
    """
    )
    x = m.cpu.x
    assert (x[29], x[30]) == (0x29, 0x30)
    assert x[10] == x[9]
    assert m.bus.read(x[9] - 32, 8) == 0x29


def test_unaligned_pair_across_a_page_in_normal_ram(run_asm):
    page = BUF + 0x1000
    m = run_asm(
        f"""
    ldr x1, ={page - 9}
    ldp x2, x3, [x1]
    ldr x4, =0x0102030405060708
    ldr x5, =0x1112131415161718
    stp x4, x5, [x1, #32]
    """,
        setup=fill(PATTERN, page - 9),
    )
    x = m.cpu.x
    assert (x[2], x[3]) == (le(PATTERN, 0, 8), le(PATTERN, 8, 8))
    assert m.bus.read(page + 23, 8) == 0x0102030405060708
    assert m.bus.read(page + 31, 8) == 0x1112131415161718


def test_ldp_fault_on_second_element_changes_no_register(run_asm):
    # the first element is the last doubleword of RAM, the second is unbacked: external abort
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={RAM_END - 8}
    mov x2, #2
    mov x3, #3
fault_insn:
    ldp x2, x3, [x11, #0]!
"""),
        setup=lambda m: m.bus.write(RAM_END - 8, 8, 0xDEAD),
    )
    cpu = m.cpu
    assert m.stop.exit_code == 1
    assert cpu.sr["ESR_EL2"] == 0x96000010
    assert cpu.sr["FAR_EL2"] == RAM_END
    assert cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    assert (cpu.x[11], cpu.x[2], cpu.x[3]) == (RAM_END - 8, 2, 3)


def test_stp_fault_on_second_element_stores_nothing(run_asm):
    m = run_asm(
        with_vectors(f"""
    ldr x11, ={RAM_END - 8}
    mov x2, #2
    mov x3, #3
fault_insn:
    stp x2, x3, [x11], #16
"""),
        setup=lambda m: m.bus.write(RAM_END - 8, 8, 0xDEAD),
    )
    cpu = m.cpu
    assert cpu.sr["ESR_EL2"] == 0x96000050  # WnR = 1
    assert cpu.sr["FAR_EL2"] == RAM_END
    assert cpu.sr["ELR_EL2"] == sym(m, "fault_insn")
    assert m.bus.read(RAM_END - 8, 8) == 0xDEAD
    assert cpu.x[11] == RAM_END - 8


def test_stp_fault_on_an_element_crossing_into_unbacked_memory(run_asm):
    # 32-bit pair at RAM_END - 6: the second word straddles the end of RAM
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={RAM_END - 6}
    mov w2, #-1
    mov w3, #-1
    stp w2, w3, [x1]
"""),
        setup=lambda m: m.bus.write(RAM_END - 8, 8, 0),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96000050
    assert m.cpu.sr["FAR_EL2"] == RAM_END
    assert m.bus.read(RAM_END - 8, 8) == 0


def _pair(opc: int, v: int, idx: int, load: int) -> int:
    """opc:2 101 V 0 idx:2 L imm7 Rt2 Rn Rt with imm7 = 0, Rt2 = x3, Rn = x1, Rt = x2."""
    return (opc << 30) | (0b101 << 27) | (v << 26) | (idx << 23) | (load << 22) | (3 << 10) | (1 << 5) | 2


UNALLOCATED = {
    "ldp-opc3": _pair(3, 0, 2, 1),
    "stp-opc3": _pair(3, 0, 3, 0),
    "ldnpsw": _pair(1, 0, 0, 1),
    "stnp-opc1": _pair(1, 0, 0, 0),
}


@pytest.mark.parametrize("word", UNALLOCATED.values(), ids=UNALLOCATED.keys())
def test_unallocated_pair_encodings_are_undefined(run_asm, word):
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={BUF}
undef_insn:
    .inst {word:#010x}
""")
    )
    assert m.cpu.sr["ESR_EL2"] == 0x02000000
    assert m.cpu.sr["ELR_EL2"] == sym(m, "undef_insn")
