"""AdvSIMD integer instructions in the shapes compilers and glibc emit them, with values worked
from the Arm ARM definitions: string-search idioms, popcount, table lookups, modified
immediates, FPSR.QC, element moves, the FP/SIMD access trap and UNDEFINED corners.
"""

from __future__ import annotations

import pytest
from ldst_support import BUF, VECTORS, fill, sym

ONES = (1 << 128) - 1
QC = 1 << 27
FP_TRAP = 0x1E000000


def vbytes(data: bytes) -> int:
    return int.from_bytes(data, "little")


def setv(**regs: int):
    def setup(m):
        for name, value in regs.items():
            m.cpu.v[int(name[1:])] = value

    return setup


def test_strlen_idiom_cmeq_shrn_finds_the_terminator(run_asm):
    # glibc strlen/memchr: CMEQ against 0, SHRN #4 packs one nibble per byte into a doubleword
    text = b"hello, world\0abc"
    m = run_asm(
        """
    cmeq v1.16b, v0.16b, #0
    shrn v2.8b, v1.8h, #4
    umov x2, v2.d[0]
    rbit x3, x2
    clz x3, x3
    lsr x3, x3, #2
    """,
        setup=setv(v0=vbytes(text)),
    )
    nibbles = sum(0xF << (4 * i) for i, b in enumerate(text) if b == 0)
    assert m.cpu.v[1] == vbytes(bytes(0xFF if b == 0 else 0 for b in text))
    assert m.cpu.x[2] == nibbles
    assert m.cpu.x[3] == text.index(0)


def test_strchr_idiom_cmeq_orr_umaxp(run_asm):
    text = b"find the x here!"
    m = run_asm(
        """
    movi v1.16b, #'x'
    cmeq v2.16b, v0.16b, v1.16b
    cmeq v3.16b, v0.16b, #0
    orr v4.16b, v2.16b, v3.16b
    umaxp v5.16b, v4.16b, v4.16b
    umov x2, v5.d[0]
    uminp v6.16b, v4.16b, v4.16b
    umov x4, v6.d[0]
    """,
        setup=setv(v0=vbytes(text)),
    )
    match = [0xFF if b == ord("x") else 0 for b in text]
    pairs_max = [max(match[2 * i], match[2 * i + 1]) for i in range(8)]
    pairs_min = [min(match[2 * i], match[2 * i + 1]) for i in range(8)]
    assert m.cpu.v[2] == vbytes(bytes(match))
    assert m.cpu.x[2] == vbytes(bytes(pairs_max))
    assert m.cpu.x[4] == vbytes(bytes(pairs_min))


def test_popcount_cnt_uaddlv_and_addv(run_asm):
    value = 0xF0F0_0000_1234_5678_FFFF_FFFF_0000_0001
    m = run_asm(
        """
    cnt v1.16b, v0.16b
    uaddlv h2, v1.16b
    addv b3, v1.8b
    addp d4, v0.2d
    """,
        setup=lambda m: (setv(v0=value)(m), m.cpu.v.__setitem__(2, ONES), m.cpu.v.__setitem__(3, ONES)),
    )
    data = value.to_bytes(16, "little")
    assert m.cpu.v[1] == vbytes(bytes(bin(b).count("1") for b in data))
    assert m.cpu.v[2] == bin(value).count("1")  # the scalar write clears the rest of the register
    assert m.cpu.v[3] == sum(bin(b).count("1") for b in data[:8]) & 0xFF
    assert m.cpu.v[4] == ((value & (2**64 - 1)) + (value >> 64)) & (2**64 - 1)


def test_tbl_zeroes_and_tbx_keeps_out_of_range_indices(run_asm):
    table = bytes(range(0x40, 0x60))  # two registers
    index = bytes([0, 31, 32, 255, 16, 1, 200, 15, 3, 30, 64, 2, 17, 0, 33, 5])
    m = run_asm(
        """
    tbl v4.16b, {v30.16b, v31.16b}, v2.16b
    tbx v5.16b, {v30.16b, v31.16b}, v2.16b
    tbl v6.8b, {v30.16b}, v2.8b
    """,
        setup=setv(v30=vbytes(table[:16]), v31=vbytes(table[16:]), v2=vbytes(index), v5=ONES, v6=ONES),
    )
    assert m.cpu.v[4] == vbytes(bytes(table[i] if i < 32 else 0 for i in index))
    assert m.cpu.v[5] == vbytes(bytes(table[i] if i < 32 else 0xFF for i in index))
    assert m.cpu.v[6] == vbytes(bytes(table[i] if i < 16 else 0 for i in index[:8]))


def test_ext_rev64_zip_uzp_trn(run_asm):
    a = bytes(range(16))
    b = bytes(range(0x10, 0x20))
    m = run_asm(
        """
    ext v2.16b, v0.16b, v1.16b, #3
    rev64 v3.16b, v0.16b
    zip1 v4.8h, v0.8h, v1.8h
    uzp2 v5.4s, v0.4s, v1.4s
    trn1 v6.16b, v0.16b, v1.16b
    """,
        setup=setv(v0=vbytes(a), v1=vbytes(b)),
    )
    assert m.cpu.v[2] == vbytes((a + b)[3:19])
    assert m.cpu.v[3] == vbytes(a[7::-1] + a[15:7:-1])
    ha, hb = [a[i : i + 2] for i in range(0, 16, 2)], [b[i : i + 2] for i in range(0, 16, 2)]
    assert m.cpu.v[4] == vbytes(b"".join(x + y for x, y in zip(ha[:4], hb[:4], strict=True)))
    words = [(a + b)[i : i + 4] for i in range(0, 32, 4)]
    assert m.cpu.v[5] == vbytes(b"".join(words[1::2]))
    assert m.cpu.v[6] == vbytes(bytes(x for i in range(0, 16, 2) for x in (a[i], b[i])))


def test_modified_immediates(run_asm):
    m = run_asm(
        """
    movi v0.4s, #0xab, lsl #8
    mvni v1.8h, #0x12, lsl #8
    movi v2.2d, #0xff00ff0000ff00ff
    movi d3, #0xffffffff00000000
    movi v4.2s, #0x5a, msl #16
    orr v5.4s, #0x80, lsl #24
    bic v6.8h, #0xff
    movi v7.16b, #0x7e
    """,
        setup=setv(v3=ONES, v4=ONES, v5=0x1, v6=ONES),
    )

    def rep(value: int, esize: int) -> int:
        return sum(value << i for i in range(0, 128, esize))

    assert m.cpu.v[0] == rep(0xAB00, 32)
    assert m.cpu.v[1] == rep(0xEDFF, 16)
    assert m.cpu.v[2] == rep(0xFF00FF0000FF00FF, 64)
    assert m.cpu.v[3] == 0xFFFFFFFF00000000
    assert m.cpu.v[4] == rep(0x5AFFFF, 32) & (2**64 - 1)
    assert m.cpu.v[5] == rep(0x80000000, 32) | 1
    assert m.cpu.v[6] == rep(0xFF00, 16)
    assert m.cpu.v[7] == rep(0x7E, 8)


def test_saturation_sets_fpsr_qc_which_stays_set(run_asm):
    m = run_asm(
        """
    msr fpsr, xzr
    sqadd v2.8h, v0.8h, v0.8h
    mrs x2, fpsr
    uqadd v3.8h, v1.8h, v1.8h
    mrs x3, fpsr
    msr fpsr, xzr
    uqadd v4.8h, v1.8h, v1.8h
    mrs x4, fpsr
    uqsub b5, b0, b1
    mrs x5, fpsr
    """,
        setup=setv(v0=0x7000 | (0x8000 << 16), v1=0x0101),
    )
    assert m.cpu.v[2] == 0x7FFF | (0x8000 << 16)
    assert m.cpu.x[2] == QC
    assert m.cpu.x[3] == QC  # a later operation that does not saturate leaves QC set
    assert m.cpu.x[4] == 0
    assert m.cpu.v[5] == 0  # 0x00 - 0x01 saturates to 0
    assert m.cpu.x[5] == QC


def test_element_moves_dup_ins_umov_smov(run_asm):
    src = vbytes(bytes(range(0xF0, 0x100)))
    m = run_asm(
        """
    dup v1.8h, v0.h[3]
    ldr x9, =0x1122334455667788
    dup v2.2s, w9
    ins v3.s[2], w9
    ins v4.b[15], v0.b[1]
    umov w10, v0.b[15]
    smov x11, v0.h[7]
    smov w12, v0.b[0]
    umov x13, v0.d[1]
    mov s5, v0.s[3]
    """,
        setup=setv(v0=src, v2=ONES, v3=0, v4=0, v5=ONES),
    )
    h3 = (src >> 48) & 0xFFFF
    assert m.cpu.v[1] == sum(h3 << i for i in range(0, 128, 16))
    assert m.cpu.v[2] == 0x5566778855667788
    assert m.cpu.v[3] == 0x55667788 << 64
    assert m.cpu.v[4] == 0xF1 << 120
    assert m.cpu.x[10] == 0xFF
    assert m.cpu.x[11] == (0xFFFF_FFFF_FFFF_0000 | (src >> 112)) & (2**64 - 1)
    assert m.cpu.x[12] == 0xFFFF_FFF0
    assert m.cpu.x[13] == src >> 64
    assert m.cpu.v[5] == src >> 96


def test_64_bit_and_scalar_results_clear_the_upper_bits(run_asm):
    m = run_asm(
        """
    add v1.8b, v0.8b, v0.8b
    add d2, d0, d0
    sqadd h3, h0, h0
    ushr v4.2s, v0.2s, #1
    """,
        setup=setv(v0=ONES, v1=ONES, v2=ONES, v3=ONES, v4=ONES),
    )
    assert m.cpu.v[1] == 0xFEFEFEFEFEFEFEFE
    assert m.cpu.v[2] == 0xFFFFFFFFFFFFFFFE
    assert m.cpu.v[3] == 0xFFFE  # -1 + -1 = -2, no saturation
    assert m.cpu.v[4] == 0x7FFFFFFF7FFFFFFF


@pytest.mark.parametrize(
    "insn",
    ["add v0.16b, v1.16b, v2.16b", "umov w0, v1.b[0]", "dup v0.4s, w1", "movi v0.2d, #0", "cnt v0.8b, v1.8b"],
)
def test_syndromes_s3_advsimd_data_processing_takes_the_fp_access_trap(run_asm, insn):
    m = run_asm(
        f"""
    adr x9, vectors
    msr vbar_el2, x9
    msr vbar_el1, x9
    msr cpacr_el1, xzr
    mov x9, #(1 << 31)
    msr hcr_el2, x9
    adr x9, el1
    msr elr_el2, x9
    mov x9, #0x3c5
    msr spsr_el2, x9
    eret
el1:
    mov x20, #0
fp_insn:
    {insn}
    mov x20, #1
    b _armnv_exit
{VECTORS}
"""
    )
    assert m.cpu.sr["ESR_EL1"] == FP_TRAP
    assert m.cpu.sr["ELR_EL1"] == sym(m, "fp_insn")
    assert m.cpu.x[20] == 0


@pytest.mark.parametrize(
    "word",
    [
        0x0EE08400,  # ADD .1D: 64-bit elements need Q = 1
        0x0E011C00,  # INS (general) with Q = 0
        0x0E000400,  # DUP (element) with imm5 = 0b00000
        0x4EE09C00,  # MUL .2D
        0x0E000800,  # permute opcode 0b000: unallocated
        0x2E004000,  # EXT .8B with imm4 >= 8
        0x2F00F400,  # FMOV .1D (op = 1, cmode = 0b1111, Q = 0)
    ],
)
def test_unallocated_advsimd_encodings_undef(assert_undef, word):
    assert_undef(word)


def test_loop_over_a_buffer_in_both_block_shapes(run_asm):
    # a vectorised byte sum, the shape GCC -O3 gives `for (i...) s += a[i]`: LD1 post-index, UADALP, ADDV
    data = bytes((i * 37 + 11) & 0xFF for i in range(256))
    m = run_asm(
        f"""
    ldr x3, ={BUF}
    mov x4, #16
    movi v0.2d, #0
1:
    ld1 {{v1.16b}}, [x3], #16
    uadalp v0.8h, v1.16b
    subs x4, x4, #1
    b.ne 1b
    uaddlv s2, v0.8h
    umov w5, v2.s[0]
    """,
        setup=fill(data),
    )
    assert m.cpu.x[5] == sum(data)


# ---- FEAT_DotProd --------------------------------------------------------------------------------------------------


def test_sdot_udot_vector_and_by_element(run_asm):
    a = bytes((i * 29 + 200) & 0xFF for i in range(16))
    b = bytes((i * 71 + 3) & 0xFF for i in range(16))
    acc = [0xFFFFFFF0, 5, 0x7FFFFFFF, 0x80000000]
    m = run_asm(
        """
    mov v4.16b, v3.16b
    sdot v3.4s, v0.16b, v1.16b
    udot v4.4s, v0.16b, v1.4b[2]
    """,
        setup=setv(v0=vbytes(a), v1=vbytes(b), v3=sum(x << (32 * i) for i, x in enumerate(acc))),
    )

    def s8(x: int) -> int:
        return x - 256 if x >= 128 else x

    sdot = [(acc[i] + sum(s8(a[4 * i + k]) * s8(b[4 * i + k]) for k in range(4))) & 0xFFFFFFFF for i in range(4)]
    udot = [(acc[i] + sum(a[4 * i + k] * b[8 + k] for k in range(4))) & 0xFFFFFFFF for i in range(4)]
    assert m.cpu.v[3] == sum(x << (32 * i) for i, x in enumerate(sdot))
    assert m.cpu.v[4] == sum(x << (32 * i) for i, x in enumerate(udot))


def test_dotprod_off_makes_sdot_undefined_and_lowers_id_aa64isar0_dp(run_asm):
    body = (
        """
    mrs x2, id_aa64isar0_el1
    adr x9, vectors
    msr vbar_el2, x9
    mov x20, #0
fault_insn:
    sdot v0.4s, v1.16b, v2.16b
    mov x20, #1
    b _armnv_exit
"""
        + VECTORS
    )
    on = run_asm(body, cpu="max")
    off = run_asm(body, cpu="max,dotprod=off")
    assert (on.cpu.x[2] >> 44) & 0xF == 1 and on.cpu.x[20] == 1
    assert (off.cpu.x[2] >> 44) & 0xF == 0 and off.cpu.x[20] == 0
    assert off.cpu.sr["ESR_EL2"] == 0x02000000
    assert off.cpu.sr["ELR_EL2"] == sym(off, "fault_insn")


# ---- FEAT_AES / FEAT_PMULL ------------------------------------------------------------------------------------------


def test_aes_round_steps_match_the_fips_197_example(run_asm):
    # FIPS-197 appendix B, round 1: AESE = SubBytes(ShiftRows(state ^ key)), AESMC = MixColumns
    state = vbytes(bytes.fromhex("3243f6a8885a308d313198a2e0370734"))
    key = vbytes(bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"))
    m = run_asm(
        """
    .arch_extension crypto
    mov v2.16b, v0.16b
    aese v2.16b, v1.16b
    aesmc v3.16b, v2.16b
    aesimc v4.16b, v3.16b
    movi v6.16b, #0
    mov v5.16b, v4.16b
    aesd v5.16b, v6.16b
    """,
        setup=setv(v0=state, v1=key),
    )
    shifted = vbytes(bytes.fromhex("d4bf5d30e0b452aeb84111f11e2798e5"))
    assert m.cpu.v[2] == shifted
    assert m.cpu.v[3] == vbytes(bytes.fromhex("046681e5e0cb199a48f8d37a2806264c"))
    assert m.cpu.v[4] == shifted
    assert m.cpu.v[5] == state ^ key  # the round's input: 193de3bea0f4e22b9ac68d2ae9f84808


def test_pmull_of_doublewords_is_carry_less(run_asm):
    m = run_asm(
        """
    .arch_extension crypto
    pmull v2.1q, v0.1d, v1.1d
    pmull2 v3.1q, v0.2d, v1.2d
    """,
        setup=setv(v0=0x8000000000000001 | (0xFF << 64), v1=3 | (0xFF << 64)),
    )
    assert m.cpu.v[2] == (1 << 64) | (1 << 63) | 3  # (x^63 + 1)(x + 1)
    assert m.cpu.v[3] == 0x5555  # (x^7 + ... + 1)^2: the squares of the terms, no carries
