"""ESR_ELx syndrome builders (spec: syndromes.md).

Every function returns the full 64-bit ESR value, IL included: all A64
instructions are 32 bits, so IL is always 1 here (syndromes.md §2).
"""

from __future__ import annotations

from framework.arch import ESR_EC, ESR_IL, ESR_ISS, ESR_ISS2

EC_UNKNOWN = 0x00
EC_WFX = 0x01
EC_FP_ACCESS = 0x07
EC_ILLEGAL_STATE = 0x0E
EC_SVC = 0x15
EC_HVC = 0x16
EC_SMC = 0x17
EC_SYSREG = 0x18
EC_SVE = 0x19
EC_ERET = 0x1A
EC_IABT_LOWER = 0x20
EC_IABT_SAME = 0x21
EC_PC_ALIGN = 0x22
EC_DABT_LOWER = 0x24
EC_DABT_SAME = 0x25
EC_SP_ALIGN = 0x26
EC_SERROR = 0x2F
EC_BRK = 0x3C

EC_NAMES = {
    EC_UNKNOWN: "UNDEFINED",
    EC_WFX: "WFx trap",
    EC_FP_ACCESS: "FP access trap",
    EC_ILLEGAL_STATE: "Illegal execution state",
    EC_SVC: "SVC",
    EC_HVC: "HVC",
    EC_SMC: "SMC",
    EC_SYSREG: "system register trap",
    EC_SVE: "SVE access trap",
    EC_ERET: "ERET trap",
    EC_IABT_LOWER: "Instruction abort (lower EL)",
    EC_IABT_SAME: "Instruction abort (same EL)",
    EC_PC_ALIGN: "PC alignment fault",
    EC_DABT_LOWER: "Data abort (lower EL)",
    EC_DABT_SAME: "Data abort (same EL)",
    EC_SP_ALIGN: "SP alignment fault",
    EC_SERROR: "SError",
    EC_BRK: "BRK",
}

# Fault status codes (syndromes.md §8)
FSC_ADDR_SIZE = 0x00  # + level
FSC_TRANSLATION = 0x04  # + level
FSC_ACCESS_FLAG = 0x08  # + level
FSC_PERMISSION = 0x0C  # + level
FSC_EXTERNAL = 0x10
FSC_EXTERNAL_WALK = 0x14  # + level
FSC_ALIGNMENT = 0x21

# Data abort ISS bits (syndromes.md §6)
ISS_ISV = 1 << 24
ISS_VNCR = 1 << 13
ISS_CM = 1 << 8
ISS_S1PTW = 1 << 7
ISS_WNR = 1 << 6


# module-level ints: esr() runs on every synchronous exception
_EC_SHIFT, _ISS2_SHIFT, _ISS_MASK = ESR_EC.shift, ESR_ISS2.shift, ESR_ISS.mask


def esr(ec: int, iss: int = 0, iss2: int = 0) -> int:
    return (iss2 << _ISS2_SHIFT) | (ec << _EC_SHIFT) | ESR_IL | (iss & _ISS_MASK)


def uncategorized() -> int:
    """EC 0x00: ESR 0x02000000."""
    return esr(EC_UNKNOWN)


def imm16_call(ec: int, imm16: int) -> int:
    """SVC, HVC, SMC and BRK: ISS[15:0] = imm16."""
    return esr(ec, imm16 & 0xFFFF)


def sysreg_trap(op0: int, op1: int, crn: int, crm: int, op2: int, rt: int, is_read: bool) -> int:
    """EC 0x18 (syndromes.md §4)."""
    iss = (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | int(is_read)
    return esr(EC_SYSREG, iss)


def sysreg_trap_key(key: int, rt: int, is_read: bool) -> int:
    """EC 0x18 from a system-register key (the 16-bit op0:op1:CRn:CRm:op2 field)."""
    op0, op1, crn, crm, op2 = split_key(key)
    return sysreg_trap(op0, op1, crn, crm, op2, rt, is_read)


def wfx_trap(is_wfe: bool) -> int:
    """EC 0x01: CV = 1, COND = 0xE (syndromes.md §3a)."""
    return esr(EC_WFX, (1 << 24) | (0xE << 20) | int(is_wfe))


def eret_trap(eret_auth: bool = False, key_b: bool = False) -> int:
    """EC 0x1A (syndromes.md §5)."""
    return esr(EC_ERET, (int(eret_auth) << 1) | int(key_b))


def abort(
    ec: int,
    fsc: int,
    *,
    wnr: bool = False,
    s1ptw: bool = False,
    cm: bool = False,
    vncr: bool = False,
    isv_bits: int = 0,
) -> int:
    """Data or instruction abort syndrome (syndromes.md §6, §7)."""
    iss = fsc | isv_bits
    if wnr:
        iss |= ISS_WNR
    if s1ptw:
        iss |= ISS_S1PTW
    if cm:
        iss |= ISS_CM
    if vncr:
        iss |= ISS_VNCR
    return esr(ec, iss)


def ls_isv(size: int, rt: int, *, sign: bool = False, sf: bool = False, acqrel: bool = False) -> int:
    """ISV=1 load/store syndrome bits for a single-register access without writeback."""
    sas = {1: 0, 2: 1, 4: 2, 8: 3}[size]
    return ISS_ISV | (sas << 22) | (int(sign) << 21) | (rt << 16) | (int(sf) << 15) | (int(acqrel) << 14)


def split_key(key: int) -> tuple[int, int, int, int, int]:
    """(op0, op1, CRn, CRm, op2) of a 16-bit system-register key."""
    return (key >> 14) & 3, (key >> 11) & 7, (key >> 7) & 15, (key >> 3) & 15, key & 7


def make_key(op0: int, op1: int, crn: int, crm: int, op2: int) -> int:
    return (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2
