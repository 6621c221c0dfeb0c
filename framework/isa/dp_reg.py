"""Data processing — register: logical and ADD/SUB (shifted, extended), with carry, conditional
compare and select, 1-source (RBIT, REV*, CLZ, CLS), 2-source (divide, variable shifts, CRC32),
3-source (multiply-add, long and high multiplies), and the FEAT_FlagM RMIF/SETF8/SETF16.

Operands are built as Python expressions. An expression is *reduced* when it already lies in
[0, 2**width); results of modular arithmetic and of bitwise operations only need their low bits
right, so unreduced operands are combined freely and the result is reduced once at the end.
Flag-setting forms reduce their operands first, because the carry and overflow are computed
from them (see `Ctx.flags_sub` / `Ctx.flags_add`).

Encodings left without a row here (CSSC ABS/CNT/CTZ/SMAX…, PAuth, MTE SUBP/IRG/GMI, PACGA,
FEAT_CPA) decode to nothing and are UNDEFINED.
"""

from __future__ import annotations

from collections.abc import Callable

from framework.isa.codegen import MASK, Ctx
from framework.isa.common import SHIFT_LSL, extended, ones, shifted
from framework.isa.table import insn


def _width(sf: int) -> int:
    return 64 if sf else 32


def _reduced(expr: str, ok: bool, sf: int) -> str:
    return expr if ok else f"({expr} & {MASK[sf]:#x})"


def _operand2(ctx: Ctx, rm: int, shift: int, amount: int, sf: int) -> tuple[str, bool]:
    """The shifted-register operand: (expression, whether it is reduced)."""
    if rm == 31:
        return "0", True
    if amount == 0:
        return ctx.x(rm), bool(sf)
    if shift == SHIFT_LSL:
        return f"({ctx.x(rm)} << {amount})", False
    return shifted(ctx, ctx.r(rm, sf), shift, amount, sf), True


def _signed(ctx: Ctx, value: str, bits: int) -> str:
    """Expression of the reduced `value` read as a `bits`-bit two's complement number."""
    if value == "0":
        return "0"
    v = ctx.local(value, "v")
    return f"({v} - (({v} >> {bits - 1}) << {bits}))"


# ---- logical (shifted register) -----------------------------------------------------------------


@insn("sf:1 opc:2 01010 shift:2 N:1 rm:5 imm6:6 rn:5 rd:5")
def LOGICAL_reg(ctx: Ctx, sf: int, opc: int, shift: int, N: int, rm: int, imm6: int, rn: int, rd: int) -> None:
    if not sf and imm6 >= 32:
        return ctx.undef()
    if rd == 31 and opc != 3:
        return None  # no flags, result discarded
    m = MASK[sf]
    ones_k = f"{m:#x}"
    b, b_ok = _operand2(ctx, rm, shift, imm6, sf)
    if N:  # BIC, ORN, EON, BICS: the operand is inverted
        if b == "0":
            b, b_ok = ones_k, True
        else:
            b = f"({b} ^ {ones_k})" if b_ok else f"~{b}"
    a, a_ok = ctx.x(rn), bool(sf) or rn == 31
    if opc in (0, 3):  # AND, ANDS
        if "0" in (a, b):
            expr, ok = "0", True
        elif b == ones_k:
            expr, ok = a, a_ok
        else:
            expr, ok = f"{a} & {b}", a_ok or b_ok
    elif a == "0" or b == "0":  # ORR / EOR with zero: MOV, MVN
        expr, ok = (b, b_ok) if a == "0" else (a, a_ok)
    elif opc == 1:
        expr, ok = (ones_k, True) if b == ones_k else (f"{a} | {b}", a_ok and b_ok)
    else:
        expr, ok = f"{a} ^ {b}", a_ok and b_ok
    if opc == 3:
        r = ctx.local(_reduced(expr, ok, sf), "r")
        ctx.flags_logic(r, sf)
        ctx.set_r(rd, r, sf, masked=True)
    else:
        ctx.set_r(rd, expr, sf, masked=ok)
    return None


# ---- ADD / SUB (shifted and extended register) -------------------------------------------------------


def _add_sub(ctx: Ctx, sf: int, op: int, S: int, a: str, a_ok: bool, b: str, b_ok: bool, rd: int, rd_sp: bool) -> None:
    """Rd = a + b or a - b, setting NZCV when S. Rd 31 is SP when `rd_sp`, else XZR."""
    m = MASK[sf]
    if not S:
        if rd == 31 and not rd_sp:
            return
        if b == "0":
            expr, ok = a, a_ok
        elif a == "0":
            expr, ok = (f"-{b}", False) if op else (b, b_ok)
        else:
            expr, ok = f"{a} {'-' if op else '+'} {b}", False
        ctx.set_rsp(rd, expr, sf, masked=ok)
        return
    av = ctx.local(_reduced(a, a_ok, sf), "a")
    bv = ctx.local(_reduced(b, b_ok, sf), "b")
    r = ctx.tmp("r")
    if op:  # SUBS, CMP, NEGS
        ctx.emit(f"{r} = ({av} - {bv}) & {m:#x}")
        ctx.flags_sub(av, bv, r, sf)
    else:  # ADDS, CMN
        s = ctx.tmp("s")
        ctx.emit(f"{s} = {av} + {bv}")
        ctx.emit(f"{r} = {s} & {m:#x}")
        ctx.flags_add(av, bv, s, r, sf)
    ctx.set_r(rd, r, sf, masked=True)


@insn("sf:1 op:1 S:1 01011 shift:2 0 rm:5 imm6:6 rn:5 rd:5")
def ADD_SUB_shifted(ctx: Ctx, sf: int, op: int, S: int, shift: int, rm: int, imm6: int, rn: int, rd: int) -> None:
    if shift == 3 or (not sf and imm6 >= 32):
        return ctx.undef()
    b, b_ok = _operand2(ctx, rm, shift, imm6, sf)
    _add_sub(ctx, sf, op, S, ctx.x(rn), bool(sf) or rn == 31, b, b_ok, rd, rd_sp=False)
    return None


@insn("sf:1 op:1 S:1 01011 00 1 rm:5 option:3 imm3:3 rn:5 rd:5")
def ADD_SUB_extended(ctx: Ctx, sf: int, op: int, S: int, rm: int, option: int, imm3: int, rn: int, rd: int) -> None:
    if imm3 > 4:
        return ctx.undef()
    # Rn is SP-capable; Rd is SP for ADD/SUB and XZR for ADDS/SUBS (CMP/CMN)
    b = "0" if rm == 31 else extended(ctx, ctx.x(rm), option, imm3, sf)
    _add_sub(ctx, sf, op, S, ctx.xsp(rn), bool(sf), b, True, rd, rd_sp=not S)
    return None


# ---- ADC / SBC, RMIF, SETF8 / SETF16 ---------------------------------------------------------------


@insn("sf:1 op:1 S:1 11010000 rm:5 000000 rn:5 rd:5")
def ADC_SBC(ctx: Ctx, sf: int, op: int, S: int, rm: int, rn: int, rd: int) -> None:
    if rd == 31 and not S:
        return
    m = MASK[sf]
    carry = ctx.cond(2)  # CS: PSTATE.C, from pending flags when an earlier instruction set them
    if not S:
        a, b = ctx.x(rn), ctx.x(rm)
        # SBC = Rn + NOT(Rm) + C = Rn - Rm - 1 + C; a carry known at translation time folds away
        expr = f"{a} - {b} - 1" if op else f"{a} + {b}"
        if carry == "True":
            expr = f"{a} - {b}" if op else f"{a} + {b} + 1"
        elif carry != "False":
            expr += f" + {carry}"
        ctx.set_r(rd, expr, sf)
        return
    av = ctx.local(ctx.r(rn, sf), "a")
    bv = ctx.local(f"{ctx.r(rm, sf)} ^ {m:#x}" if op else ctx.r(rm, sf), "b")
    s, r = ctx.tmp("s"), ctx.tmp("r")
    ctx.emit(f"{s} = {av} + {bv} + {carry}")
    ctx.emit(f"{r} = {s} & {m:#x}")
    ctx.flags_add(av, bv, s, r, sf)
    ctx.set_r(rd, r, sf, masked=True)


def _old_flags(ctx: Ctx) -> str:
    """The current packed NZCV, for instructions that keep some of the flags."""
    if not ctx.flags_written:
        ctx.flags_read_first = True  # a block looping on itself must write them back first
    return ctx.local(ctx.packed_flags(), "f")


@insn("1 0 1 11010000 imm6:6 00001 rn:5 0 mask:4")
def RMIF(ctx: Ctx, imm6: int, rn: int, mask: int) -> None:
    # FEAT_FlagM: the low four bits of ROR(Xn, imm6) go to N, Z, C, V where `mask` selects
    v = ctx.x(rn)
    bits = f"({v} >> {imm6} | {v} << {64 - imm6})" if imm6 else v
    new = f"({bits} << 28) & {mask << 28:#x}"
    if mask != 0xF:
        new = f"({_old_flags(ctx)} & {0xF0000000 & ~(mask << 28):#x}) | {new}"
    ctx.flags_value(new)


@insn("0 0 1 11010000 000000 sz:1 0010 rn:5 0 1101")
def SETF(ctx: Ctx, sz: int, rn: int) -> None:
    # FEAT_FlagM SETF8/SETF16: N, Z from the low 8/16 bits, V = bit msb+1 XOR bit msb, C kept
    msb = 15 if sz else 7
    v = ctx.local(ctx.x(rn), "v")
    old = _old_flags(ctx)
    ctx.flags_value(
        f"({old} & 0x20000000) | (({v} >> {msb} & 1) << 31) | (({v} & {ones(msb + 1):#x} == 0) << 30)"
        f" | ((({v} >> {msb + 1}) ^ ({v} >> {msb})) & 1) << 28"
    )


# ---- conditional compare and select ---------------------------------------------------------------


def _ccmp(ctx: Ctx, sf: int, op: int, b: str, cond: int, rn: int, nzcv: int) -> None:
    """CCMP (op=1) / CCMN (op=0): flags of Rn - b (Rn + b) if cond holds, else the immediate nzcv."""
    m = MASK[sf]
    a = ctx.r(rn, sf)

    def compare() -> None:
        av, bv = ctx.local(a, "a"), ctx.local(b, "b")
        r = ctx.tmp("r")
        if op:
            ctx.emit(f"{r} = ({av} - {bv}) & {m:#x}")
            ctx.flags_sub(av, bv, r, sf)
        else:
            s = ctx.tmp("s")
            ctx.emit(f"{s} = {av} + {bv}")
            ctx.emit(f"{r} = {s} & {m:#x}")
            ctx.flags_add(av, bv, s, r, sf)

    if cond >= 14:  # AL/NV: a plain CMP/CMN, whose flags stay lazy
        compare()
        return
    c = ctx.local(ctx.cond(cond), "c")
    f = ctx.tmp("f")
    ctx.emit(f"if {c}:")
    with ctx.block():
        compare()
        ctx.emit(f"{f} = {ctx.packed_flags()}")
    ctx.emit("else:")
    with ctx.block():
        ctx.emit(f"{f} = {nzcv << 28:#x}")
    ctx.flags_value(f)


@insn("sf:1 op:1 1 11010010 rm:5 cond:4 0 0 rn:5 0 nzcv:4")
def CCMP_reg(ctx: Ctx, sf: int, op: int, rm: int, cond: int, rn: int, nzcv: int) -> None:
    _ccmp(ctx, sf, op, ctx.r(rm, sf), cond, rn, nzcv)


@insn("sf:1 op:1 1 11010010 imm5:5 cond:4 1 0 rn:5 0 nzcv:4")
def CCMP_imm(ctx: Ctx, sf: int, op: int, imm5: int, cond: int, rn: int, nzcv: int) -> None:
    _ccmp(ctx, sf, op, str(imm5), cond, rn, nzcv)


@insn("sf:1 op:1 0 11010100 rm:5 cond:4 0 o2:1 rn:5 rd:5")
def CSEL(ctx: Ctx, sf: int, op: int, rm: int, cond: int, o2: int, rn: int, rd: int) -> None:
    """CSEL, CSINC, CSINV, CSNEG (op:o2) and their aliases CSET, CSETM, CINC, CINV, CNEG."""
    if rd == 31:
        return
    m = MASK[sf]
    a, a_ok = ctx.x(rn), bool(sf) or rn == 31
    if cond >= 14:
        ctx.set_r(rd, a, sf, masked=a_ok)
        return
    b = ctx.x(rm)
    kind = op << 1 | o2
    if b == "0":
        e, e_ok = ("0", "1", f"{m:#x}", "0")[kind], True
    elif kind == 0:
        e, e_ok = b, bool(sf)
    elif kind == 1:
        e, e_ok = f"({b} + 1)", False
    elif kind == 2:
        e, e_ok = f"({b} ^ {m:#x})", bool(sf)
    else:
        e, e_ok = f"-{b}", False
    c = ctx.cond(cond)
    if a_ok and e_ok:
        ctx.set_r(rd, f"{a} if {c} else {e}", sf, masked=True)
    elif sf:
        ctx.set_r(rd, f"{a} if {c} else {e} & {m:#x}", sf, masked=True)
    else:
        ctx.set_r(rd, f"({a} if {c} else {e})", sf)


# ---- data processing, 1 source ------------------------------------------------------------------------

# bytes with their bits in the opposite order: RBIT is a byte reversal plus this translation
_RBIT_BYTE = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def _halfword_low_bytes(width: int) -> int:
    """0x00FF00FF…: the low byte of every halfword."""
    return int("00FF" * (width // 16), 16)


def _rev_bytes(v: str, nbytes: int) -> str:
    return f"int.from_bytes({v}.to_bytes({nbytes}, 'little'), 'big')"


def _rbit(ctx: Ctx, v: str, width: int) -> str:
    table = ctx.const(_RBIT_BYTE, "rbit")
    return f"int.from_bytes({v}.to_bytes({width // 8}, 'big').translate({table}), 'little')"


def _rev16(ctx: Ctx, v: str, width: int) -> str:
    k = _halfword_low_bytes(width)
    return f"(({v} >> 8) & {k:#x}) | (({v} & {k:#x}) << 8)"


def _rev32(ctx: Ctx, v: str, width: int) -> str:
    if width == 32:  # REV Wd
        return _rev_bytes(v, 4)
    t = ctx.local(_rev_bytes(v, 8), "t")  # REV32 Xd: reverse all, then swap the words back
    return f"({t} >> 32) | (({t} & 0xFFFFFFFF) << 32)"


def _rev64(ctx: Ctx, v: str, width: int) -> str:
    return _rev_bytes(v, 8)


def _clz(ctx: Ctx, v: str, width: int) -> str:
    return f"{width} - {v}.bit_length()"


def _cls(ctx: Ctx, v: str, width: int) -> str:
    # CountLeadingSignBits(x) = CountLeadingZeroBits(x<N-1:1> EOR x<N-2:0>)
    return f"{width - 1} - (({v} ^ ({v} >> 1)) & {ones(width - 1):#x}).bit_length()"


# opcode -> (expression builder, value of the result when Rn is XZR, as a function of the width)
_DP1: dict[int, tuple[Callable[[Ctx, str, int], str], Callable[[int], int]]] = {
    0b000: (_rbit, lambda w: 0),
    0b001: (_rev16, lambda w: 0),
    0b010: (_rev32, lambda w: 0),
    0b011: (_rev64, lambda w: 0),
    0b100: (_clz, lambda w: w),
    0b101: (_cls, lambda w: w - 1),
}


@insn("sf:1 1 0 11010110 00000 000 opc:3 rn:5 rd:5")
def DP_1SRC(ctx: Ctx, sf: int, opc: int, rn: int, rd: int) -> None:
    entry = _DP1.get(opc)
    if entry is None or (opc == 0b011 and not sf):  # 0b110/0b111 are FEAT_CSSC CTZ/CNT
        return ctx.undef()
    if rd == 31:
        return None
    build, of_zero = entry
    width = _width(sf)
    if rn == 31:
        ctx.set_r(rd, f"{of_zero(width):#x}", sf, masked=True)
        return None
    v = ctx.local(ctx.r(rn, sf), "v")
    ctx.set_r(rd, build(ctx, v, width), sf, masked=True)
    return None


# ---- data processing, 2 sources -----------------------------------------------------------------------


@insn("sf:1 0 0 11010110 rm:5 00001 o1:1 rn:5 rd:5")
def DIV(ctx: Ctx, sf: int, rm: int, o1: int, rn: int, rd: int) -> None:
    """UDIV (o1=0), SDIV (o1=1): rounding towards zero; dividing by zero gives 0, no exception."""
    if rd == 31:
        return
    if rm == 31 or rn == 31:
        ctx.set_r(rd, "0", sf, masked=True)
        return
    width = _width(sf)
    d = ctx.local(ctx.r(rm, sf), "d")
    if not o1:
        ctx.set_r(rd, f"{ctx.r(rn, sf)} // {d} if {d} else 0", sf, masked=True)
        return
    n, sd = ctx.tmp("n"), ctx.tmp("sd")
    q = ctx.tmp("q")
    ctx.emit(f"if {d}:")
    with ctx.block():
        ctx.emit(f"{n} = {_signed(ctx, ctx.r(rn, sf), width)}")
        ctx.emit(f"{sd} = {d} - (({d} >> {width - 1}) << {width})")
        ctx.emit(f"{q} = abs({n}) // abs({sd})")
        # INT_MIN / -1 gives +2**(width-1), which the reduction turns back into INT_MIN
        ctx.set_r(rd, f"-{q} if ({n} ^ {sd}) < 0 else {q}", sf)
    ctx.emit("else:")
    with ctx.block():
        ctx.set_r(rd, "0", sf, masked=True)


@insn("sf:1 0 0 11010110 rm:5 0010 op2:2 rn:5 rd:5")
def SHIFTV(ctx: Ctx, sf: int, rm: int, op2: int, rn: int, rd: int) -> None:
    """LSLV, LSRV, ASRV, RORV: the shift amount is Rm modulo the register width."""
    if rd == 31:
        return
    width = _width(sf)
    if rm == 31 or rn == 31:  # shift by 0, or any shift of 0
        ctx.set_r(rd, ctx.x(rn), sf, masked=bool(sf) or rn == 31)
        return
    s = ctx.local(f"{ctx.x(rm)} & {width - 1}", "s")
    if op2 == 0:
        ctx.set_r(rd, f"{ctx.x(rn)} << {s}", sf)
    elif op2 == 1:
        ctx.set_r(rd, f"{ctx.r(rn, sf)} >> {s}", sf, masked=True)
    elif op2 == 2:
        ctx.set_r(rd, f"{_signed(ctx, ctx.r(rn, sf), width)} >> {s}", sf)
    else:
        v = ctx.local(ctx.r(rn, sf), "v")
        ctx.set_r(rd, f"{v} >> {s} | {v} << ({width} - {s})", sf)


def _crc_table(poly: int) -> tuple[int, ...]:
    """Byte table of the bit-reflected CRC-32 with reflected polynomial `poly`."""
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


def _crc_function(table: tuple[int, ...], nbytes: int) -> Callable[[int, int], int]:
    # The instruction is the plain reflected CRC step over the low bytes of Rm, without the
    # initial and final inversion that zlib's crc32 adds.
    def crc(acc: int, value: int) -> int:
        for _ in range(nbytes):
            acc = table[(acc ^ value) & 0xFF] ^ (acc >> 8)
            value >>= 8
        return acc

    return crc


# (C, sz) -> CRC32B/H/W/X (polynomial 0x04C11DB7), CRC32CB/CH/CW/CX (0x1EDC6F41)
_CRC = {
    (c, sz): _crc_function(_crc_table(poly), 1 << sz)
    for c, poly in ((0, 0xEDB88320), (1, 0x82F63B78))
    for sz in range(4)
}


@insn("sf:1 0 0 11010110 rm:5 010 C:1 sz:2 rn:5 rd:5", feature="crc32")
def CRC32(ctx: Ctx, sf: int, rm: int, C: int, sz: int, rn: int, rd: int) -> None:
    if (sz == 3) != bool(sf):
        return ctx.undef()
    if rd == 31:
        return None
    fn = ctx.helper(_CRC[(C, sz)])
    ctx.set_r(rd, f"{fn}({ctx.w(rn)}, {ctx.x(rm)})", 0, masked=True)
    return None


# ---- data processing, 3 sources -----------------------------------------------------------------------


def _accumulate(ctx: Ctx, rd: int, ra: int, sub: int, prod: str, sf: int) -> None:
    """Rd = Ra + prod or Ra - prod (MADD/MSUB and the long forms; MUL/MNEG when Ra is XZR)."""
    acc = ctx.x(ra)
    if prod == "0":
        ctx.set_r(rd, acc, sf, masked=bool(sf) or ra == 31)
    elif acc == "0":
        ctx.set_r(rd, f"-({prod})" if sub else prod, sf)
    else:
        ctx.set_r(rd, f"{acc} {'-' if sub else '+'} {prod}", sf)


@insn("sf:1 00 11011 000 rm:5 o0:1 ra:5 rn:5 rd:5")
def MADD_MSUB(ctx: Ctx, sf: int, rm: int, o0: int, ra: int, rn: int, rd: int) -> None:
    if rd == 31:
        return
    prod = "0" if 31 in (rn, rm) else f"{ctx.r(rn, sf)} * {ctx.r(rm, sf)}"
    _accumulate(ctx, rd, ra, o0, prod, sf)


def _w_operand(ctx: Ctx, n: int, unsigned: int) -> str:
    return ctx.w(n) if unsigned else _signed(ctx, ctx.w(n), 32)


@insn("1 00 11011 U:1 01 rm:5 o0:1 ra:5 rn:5 rd:5")
def MADDL(ctx: Ctx, U: int, rm: int, o0: int, ra: int, rn: int, rd: int) -> None:
    """SMADDL/SMSUBL (U=0), UMADDL/UMSUBL (U=1): 32 x 32 -> 64-bit products (SMULL, UMULL…)."""
    if rd == 31:
        return
    prod = "0" if 31 in (rn, rm) else f"{_w_operand(ctx, rn, U)} * {_w_operand(ctx, rm, U)}"
    _accumulate(ctx, rd, ra, o0, prod, 1)


@insn("1 00 11011 U:1 10 rm:5 0 ra:5 rn:5 rd:5")
def MULH(ctx: Ctx, U: int, rm: int, ra: int, rn: int, rd: int) -> None:
    """SMULH (U=0), UMULH (U=1): bits [127:64] of the 128-bit product. Ra is should-be-one, ignored."""
    if rd == 31:
        return
    if 31 in (rn, rm):
        ctx.set_r(rd, "0", 1, masked=True)
    elif U:
        ctx.set_r(rd, f"({ctx.x(rn)} * {ctx.x(rm)}) >> 64", 1, masked=True)
    else:
        a, b = _signed(ctx, ctx.x(rn), 64), _signed(ctx, ctx.x(rm), 64)
        ctx.set_r(rd, f"({a} * {b}) >> 64", 1)
