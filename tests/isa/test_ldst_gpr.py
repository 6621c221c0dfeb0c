"""Single-register loads and stores of general-purpose registers, in every addressing form."""

from __future__ import annotations

import pytest
from ldst_support import BUF, M64, PATTERN, fill, le, sym, with_vectors


def sx(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def test_ldr_unsigned_offset_zero_extends_every_size(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldrb w2, [x1, #3]
    ldrh w3, [x1, #6]
    ldr w4, [x1, #8]
    ldr x5, [x1, #16]
    ldrb w6, [x1, #4095]
    ldr x7, [x1, #32760]
    """,
        setup=lambda m: (fill(PATTERN)(m), m.bus.write(BUF + 4095, 1, 0xEE), m.bus.write(BUF + 32760, 8, M64)),
    )
    x = m.cpu.x
    assert x[2] == PATTERN[3]
    assert x[3] == le(PATTERN, 6, 2)
    assert x[4] == le(PATTERN, 8, 4)
    assert x[5] == le(PATTERN, 16, 8)
    assert x[6] == 0xEE
    assert x[7] == M64


def test_sign_extending_loads_to_w_and_x(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldrsb x2, [x1]
    ldrsb w3, [x1]
    ldrsh x4, [x1, #2]
    ldrsh w5, [x1, #2]
    ldrsw x6, [x1, #4]
    ldrsb x7, [x1, #8]
    ldrsw x8, [x1, #8]
    """,
        setup=fill(bytes([0x80, 0, 0x34, 0x92, 0xFF, 0xFF, 0xFF, 0x87, 0x7F, 0x10, 0x20, 0x30])),
    )
    x = m.cpu.x
    assert x[2] == 0xFFFFFFFFFFFFFF80
    assert x[3] == 0xFFFFFF80  # a W destination: the upper 32 bits are zero
    assert x[4] == 0xFFFFFFFFFFFF9234
    assert x[5] == 0xFFFF9234
    assert x[6] == 0xFFFFFFFF87FFFFFF
    assert x[7] == 0x7F
    assert x[8] == 0x3020107F


def test_stores_write_only_their_bytes(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldr x2, =0x1122334455667788
    strb w2, [x1, #1]
    strh w2, [x1, #10]
    str w2, [x1, #20]
    str x2, [x1, #32]
    str xzr, [x1, #48]
    strb wzr, [x1, #56]
    """,
        setup=fill(b"\xaa" * 64),
    )
    mem = m.bus.read_bytes(BUF, 64)
    assert mem[0:3] == b"\xaa\x88\xaa"
    assert mem[8:13] == b"\xaa\xaa\x88\x77\xaa"
    assert mem[19:25] == b"\xaa\x88\x77\x66\x55\xaa"
    assert le(mem, 32, 8) == 0x1122334455667788
    assert mem[48:57] == b"\0" * 8 + b"\0"
    assert mem[57] == 0xAA


def test_pre_and_post_index_write_back_the_base(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    mov x10, x1
    ldr x2, [x10, #8]!
    mov x11, x10
    ldr x3, [x11], #-8
    mov x12, x1
    ldrb w4, [x12, #255]!
    mov x13, x1
    ldrsh x5, [x13], #-256
    mov x14, x1
    ldr x6, =0xcafe
    str x6, [x14, #-16]!
    mov x15, x1
    strh w6, [x15], #3
    """,
        setup=fill(PATTERN + b"\0" * 191 + bytes([0x5A])),
    )
    x = m.cpu.x
    assert (x[10], x[2]) == (BUF + 8, le(PATTERN, 8, 8))
    assert (x[11], x[3]) == (BUF, le(PATTERN, 8, 8))
    assert (x[12], x[4]) == (BUF + 255, 0x5A)
    assert (x[13], x[5]) == (BUF - 256, sx(le(PATTERN, 0, 2), 16) & M64)
    assert x[14] == BUF - 16 and m.bus.read(BUF - 16, 8) == 0xCAFE
    assert x[15] == BUF + 3 and m.bus.read(BUF, 2) == 0xCAFE


def test_sp_is_the_base_register_31(run_asm):
    m = run_asm(
        """
    mov x9, sp
    mov x2, #0x77
    str x2, [sp, #-16]!
    mov x10, sp
    ldr x3, [sp], #16
    mov x11, sp
    """
    )
    x = m.cpu.x
    assert x[10] == x[9] - 16
    assert x[11] == x[9]
    assert x[3] == 0x77


def test_unscaled_ldur_stur_at_any_byte_offset(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF + 16}
    ldur x2, [x1, #-13]
    ldur w3, [x1, #255]
    ldursh w4, [x1, #-256]
    ldr x5, =0x0102030405060708
    stur x5, [x1, #-3]
    """,
        setup=lambda m: (fill(PATTERN)(m), fill(bytes([0x34, 0x92]), BUF + 16 - 256)(m)),
    )
    x = m.cpu.x
    assert x[2] == le(PATTERN, 3, 8)
    assert x[3] == 0
    assert x[4] == 0xFFFF9234
    assert m.bus.read(BUF + 13, 8) == 0x0102030405060708


def test_register_offset_with_extend_and_shift(run_asm):
    m = run_asm(
        f"""
    ldr x1, ={BUF + 0x100}
    mov x2, #3
    ldr x3, [x1, x2, lsl #3]
    mov w4, #-4
    ldr x5, [x1, w4, sxtw #3]
    ldr w6, [x1, w4, sxtw]
    mov x7, #-1
    mov w7, #-11
    ldrb w8, [x1, w7, uxtw]
    ldrh w9, [x1, x2, lsl #1]
    ldrsw x10, [x1, x2, sxtx #2]
    ldr x11, [x1, x2]
    str x2, [x1, x2, lsl #3]
    """,
        setup=lambda m: (fill(PATTERN, BUF + 0x100 - 32)(m), m.bus.write(BUF + 0x100 + 0xFFFFFFF5, 1, 0x42)),
        memory=0x1_2000_0000,
    )
    x = m.cpu.x
    data = PATTERN  # placed 32 bytes below the base
    assert x[3] == le(data, 32 + 24, 8)
    assert x[5] == le(data, 32 - 32, 8)
    assert x[6] == le(data, 32 - 4, 4)
    assert x[8] == 0x42  # w7 = 0xFFFFFFF5 zero-extended
    assert x[9] == le(data, 32 + 6, 2)
    assert x[10] == sx(le(data, 32 + 12, 4), 32) & M64
    assert x[11] == le(data, 32 + 3, 8)
    assert m.bus.read(BUF + 0x100 + 24, 8) == 3


def test_literal_loads(run_asm):
    m = run_asm(
        """
    ldr w2, lit
    ldr x3, lit
    ldrsw x4, lit + 4
    ldr x5, back
    b 1f
    .balign 8
lit:
    .quad 0x8765432112345678
back:
    .quad 0xfeedface
1:
    """
    )
    x = m.cpu.x
    assert x[2] == 0x12345678
    assert x[3] == 0x8765432112345678
    assert x[4] == 0xFFFFFFFF87654321
    assert x[5] == 0xFEEDFACE


def test_prefetch_never_faults(run_asm):
    # PRFM/PRFUM are hints: an unbacked or out-of-range address takes no exception
    m = run_asm(
        with_vectors("""
    mov x1, #0x60000000
    mov x2, #-8
    prfm pldl1keep, [x1]
    prfum pstl2strm, [x2, #-1]
    prfm plil3keep, [x1, x2, lsl #3]
    prfm pldl1keep, .
    mov x20, #1
""")
    )
    assert m.stop.exit_code == 0
    assert m.cpu.x[20] == 1


def test_unaligned_accesses_to_normal_ram_succeed(run_asm):
    # syndromes.md §6: SCTLR_ELx.A = 0, Normal memory: little-endian bytes across doublewords and pages
    page_end = BUF + 0x1000
    m = run_asm(
        f"""
    ldr x1, ={BUF + 1}
    ldr x2, [x1]
    ldr w3, [x1, #2]
    ldr x4, ={page_end - 3}
    ldr x5, [x4]
    ldr x6, =0xa1a2a3a4a5a6a7a8
    str x6, [x4, #-8]
    ldrh w7, [x4, #2]
    str x6, [x4]
    """,
        setup=lambda m: (fill(PATTERN)(m), fill(PATTERN, page_end - 8)(m)),
    )
    x = m.cpu.x
    assert x[2] == le(PATTERN, 1, 8)
    assert x[3] == le(PATTERN, 3, 4)
    assert x[5] == le(PATTERN, 5, 3) | (le(PATTERN, 8, 5) << 24)
    assert x[7] == le(PATTERN, 7, 1) | (PATTERN[8] << 8)
    assert m.bus.read(page_end - 3, 8) == 0xA1A2A3A4A5A6A7A8
    assert m.bus.read(page_end - 11, 8) == 0xA1A2A3A4A5A6A7A8


def test_unprivileged_loads_at_el2_behave_as_plain_accesses(run_asm):
    # at EL2 with HCR_EL2.{E2H,TGE} != {1,1}, LDTR/STTR use EL2 permissions (pan.md §5)
    m = run_asm(
        f"""
    ldr x1, ={BUF}
    ldtr x2, [x1, #8]
    ldtrsb w3, [x1, #1]
    ldtrsh x4, [x1, #-2]
    ldr x5, =0x1234
    sttrh w5, [x1, #32]
    sttr x5, [x1, #255]
    """,
        setup=lambda m: (fill(PATTERN)(m), m.bus.write(BUF - 2, 2, 0x8001)),
    )
    x = m.cpu.x
    assert x[2] == le(PATTERN, 8, 8)
    assert x[3] == sx(PATTERN[1], 8) & 0xFFFFFFFF
    assert x[4] == 0xFFFFFFFFFFFF8001
    assert m.bus.read(BUF + 32, 2) == 0x1234
    assert m.bus.read(BUF + 255, 8) == 0x1234


def _ldst(size: int, v: int, opc: int, rest: int) -> int:
    """size:2 111 V 0x opc:2 … : the load/store register encodings."""
    return (size << 30) | (0b111 << 27) | (v << 26) | (opc << 22) | rest


UNALLOCATED = {
    # unsigned offset (bits 25:24 = 01), Rn = x1, Rt = x0
    "ldrsw-form-size2-opc3": _ldst(2, 0, 3, (1 << 24) | (1 << 5)),
    "size3-opc3-uimm": _ldst(3, 0, 3, (1 << 24) | (1 << 5)),
    "size3-opc3-unscaled": _ldst(3, 0, 3, 1 << 5),
    "prfm-pre-index": _ldst(3, 0, 2, (0b11 << 10) | (1 << 5)),
    "prfm-post-index": _ldst(3, 0, 2, (0b01 << 10) | (1 << 5)),
    "ldtr-prfm-slot": _ldst(3, 0, 2, (0b10 << 10) | (1 << 5)),
    "ldtr-size2-opc3": _ldst(2, 0, 3, (0b10 << 10) | (1 << 5)),
    # register offset with option<1> = 0 (UXTB/UXTH/SXTB/SXTH)
    "regoff-uxtb": _ldst(3, 0, 1, (1 << 21) | (2 << 16) | (0b000 << 13) | (0b10 << 10) | (1 << 5)),
    "regoff-sxth": _ldst(3, 0, 1, (1 << 21) | (2 << 16) | (0b101 << 13) | (0b10 << 10) | (1 << 5)),
}


@pytest.mark.parametrize("word", UNALLOCATED.values(), ids=UNALLOCATED.keys())
def test_unallocated_load_store_encodings_are_undefined(run_asm, word):
    m = run_asm(
        with_vectors(f"""
    ldr x1, ={BUF}
    mov x0, #0
undef_insn:
    .inst {word:#010x}
""")
    )
    assert m.stop.exit_code == 1
    assert m.cpu.sr["ESR_EL2"] == 0x02000000
    assert m.cpu.sr["ELR_EL2"] == sym(m, "undef_insn")
    assert m.cpu.x[28] == sym(m, "vectors") + 0x200
