"""System instructions: exception generation, hints, barriers, MSR (immediate), MRS/MSR, SYS/SYSL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.cpu import syndrome as syn
from framework.cpu.exceptions import HCR_TGE, sync_exception, sync_target, undefined
from framework.cpu.sysaccess import access
from framework.isa.codegen import Ctx
from framework.isa.table import insn

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

HCR_TSC = 1 << 19
HCR_HCD = 1 << 29
HCR_TWI = 1 << 13
HCR_TWE = 1 << 14
SCTLR_NTWI = 1 << 16
SEMIHOSTING_HLT = 0xF000


# ---- exception generation --------------------------------------------------------------------


def _svc(cpu: CPUState, imm: int, pc: int) -> int:
    return sync_exception(cpu, syn.imm16_call(syn.EC_SVC, imm), pc + 4)


def _hvc(cpu: CPUState, imm: int, pc: int) -> int:
    if cpu.el == 0 or cpu.sr["HCR_EL2"] & HCR_HCD:
        return undefined(cpu, pc)
    return sync_exception(cpu, syn.imm16_call(syn.EC_HVC, imm), pc + 4, 2)


def _smc(cpu: CPUState, imm: int, pc: int) -> int:
    if cpu.el == 0:
        return undefined(cpu, pc)
    if cpu.el == 1 and cpu.sr["HCR_EL2"] & HCR_TSC:
        # NV-16: trapped to EL2 whatever HCR_EL2.NV is; preferred return is the SMC itself
        cpu.machine.stats.trap(2)
        return sync_exception(cpu, syn.imm16_call(syn.EC_SMC, imm), pc, 2)
    cpu.pc = pc
    cpu.machine.devices["psci"].call(cpu)
    return pc + 4


def _brk(cpu: CPUState, imm: int, pc: int) -> int:
    return sync_exception(cpu, syn.imm16_call(syn.EC_BRK, imm), pc)


def _hlt(cpu: CPUState, imm: int, pc: int) -> int:
    if imm != SEMIHOSTING_HLT:
        return undefined(cpu, pc)
    cpu.pc = pc
    cpu.machine.devices["semihosting"].call(cpu, pc)
    return pc + 4


@insn("11010100 000 imm16:16 000 01")
def SVC(ctx: Ctx, imm16: int) -> None:
    ctx.call_exit(_svc, hex(imm16), hex(ctx.pc))


@insn("11010100 000 imm16:16 000 10")
def HVC(ctx: Ctx, imm16: int) -> None:
    ctx.call_exit(_hvc, hex(imm16), hex(ctx.pc))


@insn("11010100 000 imm16:16 000 11")
def SMC(ctx: Ctx, imm16: int) -> None:
    ctx.call_exit(_smc, hex(imm16), hex(ctx.pc))


@insn("11010100 001 imm16:16 000 00")
def BRK(ctx: Ctx, imm16: int) -> None:
    ctx.call_exit(_brk, hex(imm16), hex(ctx.pc))


@insn("11010100 010 imm16:16 000 00")
def HLT(ctx: Ctx, imm16: int) -> None:
    ctx.call_exit(_hlt, hex(imm16), hex(ctx.pc))


# ---- hints ------------------------------------------------------------------------------------


def _wfi(cpu: CPUState, pc: int) -> int:
    el = cpu.el
    hcr = cpu.sr["HCR_EL2"]
    if el == 0 and not cpu.sr["SCTLR_EL1"] & SCTLR_NTWI and not hcr & HCR_TGE:
        return sync_exception(cpu, syn.wfx_trap(False), pc, 1)
    if el < 2 and hcr & HCR_TWI and not hcr & HCR_TGE:
        cpu.machine.stats.trap(2)
        return sync_exception(cpu, syn.wfx_trap(False), pc, 2)
    if el == 0 and hcr & HCR_TGE and hcr & HCR_TWI:
        cpu.machine.stats.trap(2)
        return sync_exception(cpu, syn.wfx_trap(False), pc, 2)
    cpu.halted = True
    cpu.machine.engine.kick()
    return pc + 4


def _wfe(cpu: CPUState, pc: int) -> int:
    # syndromes.md §3a: WFE is never trapped (the reference runs it as a hint); it consumes
    # the event register if set, otherwise it completes at once.
    cpu.event = 0
    return pc + 4


def _sev(cpu: CPUState, pc: int) -> int:
    cpu.event = 1
    return pc + 4


@insn("11010101 00000011 0010 crm:4 op2:3 11111")
def HINT(ctx: Ctx, crm: int, op2: int) -> None:
    imm = (crm << 3) | op2
    if imm == 3:  # WFI
        ctx.call_exit(_wfi, hex(ctx.pc))
    elif imm == 2:  # WFE
        ctx.call_exit(_wfe, hex(ctx.pc))
    elif imm in (4, 5):  # SEV, SEVL (one PE: both just set the local event register)
        ctx.emit("cpu.event = 1")
    # everything else in the hint space (NOP, YIELD, BTI, PACIASP…, ESB, CSDB, DGH…) is a NOP


# ---- barriers and CLREX ------------------------------------------------------------------------


@insn("11010101 00000011 0011 crm:4 op2:3 11111")
def BARRIER(ctx: Ctx, crm: int, op2: int) -> None:
    if op2 == 2:  # CLREX
        ctx.emit("cpu.excl = None")
    elif op2 in (4, 5):  # DSB, DMB (and SSBB/PSSBB, DSB nXS): ordering only
        pass
    elif op2 == 6:  # ISB: later instructions are fetched anew
        ctx.goto(ctx.pc + 4)
    elif op2 == 7 and crm == 0:  # SB
        pass
    else:
        ctx.undef()


# ---- MSR (immediate): PSTATE fields --------------------------------------------------------------


def _msr_imm(cpu: CPUState, op1: int, op2: int, crm: int, pc: int) -> int:
    field = (op1, op2)
    el = cpu.el
    machine = cpu.machine
    if field == (0, 5):  # SPSel
        if el == 0:
            return undefined(cpu, pc)
        cpu.select_sp(el, crm & 1)
    elif field in ((3, 6), (3, 7)):  # DAIFSet, DAIFClr
        if el == 0 and not cpu.sr["SCTLR_EL1"] & (1 << 9):  # SCTLR_EL1.UMA
            return sync_exception(cpu, syn.sysreg_trap(0, op1, 4, crm, op2, 31, False), pc, sync_target(cpu))
        bits = (crm & 0xF) << 6
        cpu.daif = (cpu.daif | bits) if op2 == 6 else (cpu.daif & ~bits)
        machine.engine.kick()
    elif field == (0, 3):  # UAO
        if el == 0:
            return undefined(cpu, pc)
        cpu.uao = crm & 1
        machine.pstate_changed()
    elif field == (3, 2):  # DIT
        cpu.dit = crm & 1
    elif field == (3, 1):  # SSBS
        cpu.ssbs = crm & 1
    else:
        handled = machine.msr_immediate(cpu, op1, op2, crm)
        if not handled:
            return undefined(cpu, pc)
    return pc + 4


@insn("11010101 00000 op1:3 0100 crm:4 op2:3 11111")
def MSR_imm(ctx: Ctx, op1: int, crm: int, op2: int) -> None:
    ctx.call_exit(_msr_imm, str(op1), str(op2), str(crm), hex(ctx.pc))


# ---- MRS / MSR (register) and SYS / SYSL ---------------------------------------------------------


@insn("1101010100 L:1 1 o0:1 op1:3 crn:4 crm:4 op2:3 rt:5")
def MRS_MSR(ctx: Ctx, L: int, o0: int, op1: int, crn: int, crm: int, op2: int, rt: int) -> None:
    key = (ctx.word >> 5) & 0xFFFF
    ctx.call_exit(access, hex(key), str(rt), str(bool(L)), hex(ctx.pc))


@insn("1101010100 L:1 01 op1:3 crn:4 crm:4 op2:3 rt:5")
def SYS(ctx: Ctx, L: int, op1: int, crn: int, crm: int, op2: int, rt: int) -> None:
    key = (ctx.word >> 5) & 0xFFFF
    ctx.call_exit(access, hex(key), str(rt), str(bool(L)), hex(ctx.pc))
