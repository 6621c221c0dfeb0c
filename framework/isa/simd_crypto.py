"""FEAT_AES with FEAT_PMULL: AESE, AESD, AESMC, AESIMC and PMULL/PMULL2 of doublewords (the `aes` feature).

The AES state is Vd's 16 bytes in column order (byte 4c + r is row r of
column c), as in the Arm ARM's AESShiftRows/AESMixColumns. The S-boxes are
computed from their definition (the inverse in GF(2^8) modulo x^8+x^4+x^3+x+1,
then the affine map), not copied from a table.
"""

from __future__ import annotations

from framework.isa.codegen import Ctx
from framework.isa.simd_lanes import M64, call, set_v, simd_begin
from framework.isa.table import insn


def gf_mul(a: int, b: int) -> int:
    """Product in GF(2^8) modulo the AES polynomial 0x11B."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return r


def _sbox() -> tuple[bytes, bytes]:
    inverse = [0] * 256
    for x in range(1, 256):
        # x^254 is x's inverse in the multiplicative group of order 255
        r, base, e = 1, x, 254
        while e:
            if e & 1:
                r = gf_mul(r, base)
            base = gf_mul(base, base)
            e >>= 1
        inverse[x] = r
    fwd = bytearray(256)
    for x in range(256):
        b = inverse[x]
        s = b
        for k in range(1, 5):
            s ^= ((b << k) | (b >> (8 - k))) & 0xFF
        fwd[x] = s ^ 0x63
    inv = bytearray(256)
    for x in range(256):
        inv[fwd[x]] = x
    return bytes(fwd), bytes(inv)


SBOX, INV_SBOX = _sbox()
SHIFT_ROWS = [r + 4 * ((c + r) % 4) for c in range(4) for r in range(4)]  # byte 4c + r takes this byte
INV_SHIFT_ROWS = [r + 4 * ((c - r) % 4) for c in range(4) for r in range(4)]
MIX = (2, 3, 1, 1)
INV_MIX = (14, 11, 13, 9)
# products by each coefficient, as bytes.translate tables
_MUL = {k: bytes(gf_mul(x, k) for x in range(256)) for k in (1, 2, 3, 9, 11, 13, 14)}


def aes_round(cpu, d: int, n: int, decrypt: int) -> int:
    """AESE (SubBytes(ShiftRows(d ^ n))) or AESD with the inverse steps."""
    state = (d ^ n).to_bytes(16, "little")
    order, box = (INV_SHIFT_ROWS, INV_SBOX) if decrypt else (SHIFT_ROWS, SBOX)
    return int.from_bytes(bytes(state[i] for i in order).translate(box), "little")


def aes_mix(cpu, n: int, inverse: int) -> int:
    """AESMC (MixColumns) or AESIMC (InvMixColumns) of each of the four columns."""
    coef = INV_MIX if inverse else MIX
    s = n.to_bytes(16, "little")
    out = bytearray(16)
    for c in range(0, 16, 4):
        for r in range(4):
            v = 0
            for k in range(4):
                v ^= _MUL[coef[(k - r) % 4]][s[c + k]]
            out[c + r] = v
    return int.from_bytes(out, "little")


@insn("01001110 00 10100 0010 D:1 10 rn:5 rd:5", feature="aes")
def AESE_AESD(ctx: Ctx, D: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    set_v(ctx, rd, call(ctx, aes_round, f"v[{rd}]", f"v[{rn}]", str(D)))


@insn("01001110 00 10100 0011 inverse:1 10 rn:5 rd:5", feature="aes")
def AESMC_AESIMC(ctx: Ctx, inverse: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    set_v(ctx, rd, call(ctx, aes_mix, f"v[{rn}]", str(inverse)))


def clmul64(cpu, a: int, b: int) -> int:
    """PMULL of doublewords: the 128-bit carry-less product."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        a <<= 1
        b >>= 1
    return r


@insn("0 Q:1 0 01110 11 1 rm:5 1110 00 rn:5 rd:5", feature="aes")
def PMULL_1Q(ctx: Ctx, Q: int, rm: int, rn: int, rd: int) -> None:
    simd_begin(ctx)
    half = " >> 64" if Q else f" & {M64:#x}"
    set_v(ctx, rd, call(ctx, clmul64, f"(v[{rn}]{half})", f"(v[{rm}]{half})"))
