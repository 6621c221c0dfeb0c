"""System instructions: exception generation, hints, barriers, MSR (immediate), MRS/MSR, SYS/SYSL."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from framework.arch import HCR_HCD, HCR_TSC, HCR_TWI, PSTATE_DAIF, SCTLR_NTWI, SCTLR_UMA, hcr_eff
from framework.cpu import decisions
from framework.cpu import syndrome as syn
from framework.cpu.exceptions import sync_exception, sync_target, take_exception, undefined
from framework.cpu.sysaccess import access, trap_access
from framework.cpu.sysregs import Allow
from framework.cpu.traps import el0_enabled
from framework.isa.codegen import Ctx
from framework.isa.table import insn

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

SEMIHOSTING_HLT = 0xF000


# ---- exception generation --------------------------------------------------------------------


def _svc(cpu: CPUState, esr: int, pc: int) -> int:
    # `esr` is the syndrome, made when the instruction was translated (ISS = imm16)
    return sync_exception(cpu, esr, pc + 4)


def _hvc(cpu: CPUState, esr: int, pc: int) -> int:
    if cpu.el == 0:
        return undefined(cpu, pc)
    machine = cpu.machine
    if machine.hvc_is_psci:
        # no EL2: HVC would be UNDEFINED, and the board's firmware answers it instead (QEMU's virt)
        cpu.pc = pc
        machine.devices["psci"].call(cpu)
        return pc + 4
    if cpu.sr["HCR_EL2"] & HCR_HCD:
        return undefined(cpu, pc)
    return take_exception(cpu, 2, esr, pc + 4)


def _smc(cpu: CPUState, imm: int, pc: int) -> int:
    # no EL3, and without EL2 nothing answers an SMC either
    if cpu.el == 0 or cpu.machine.devices["psci"].conduit != "smc":
        return undefined(cpu, pc)
    if cpu.el == 1 and hcr_eff(cpu) & HCR_TSC:
        # NV-16: trapped to EL2 whatever HCR_EL2.NV is; preferred return is the SMC itself
        cpu.machine.stats.trap(2)
        return sync_exception(cpu, syn.imm16_call(syn.EC_SMC, imm), pc, 2)
    cpu.pc = pc
    cpu.machine.devices["psci"].call(cpu)
    return pc + 4


def _brk(cpu: CPUState, imm: int, pc: int) -> int:
    return sync_exception(cpu, syn.imm16_call(syn.EC_BRK, imm), pc)


def _hlt(cpu: CPUState, imm: int, pc: int) -> int:
    # Without halting debug every HLT is UNDEFINED, except the semihosting call where semihosting
    # serves the EL: EL1 and EL2 always, EL0 only with --semihosting-config userspace=on (as on QEMU)
    semihosting = cpu.machine.devices["semihosting"]
    if imm != SEMIHOSTING_HLT or not semihosting.serves(cpu.el):
        return undefined(cpu, pc)
    cpu.pc = pc
    semihosting.call(cpu, pc)
    return pc + 4


@insn("11010100 000 imm16:16 000 01")
def SVC(ctx: Ctx, imm16: int) -> None:
    ctx.call_exit(_svc, hex(syn.imm16_call(syn.EC_SVC, imm16)), hex(ctx.pc))


@insn("11010100 000 imm16:16 000 10")
def HVC(ctx: Ctx, imm16: int) -> None:
    ctx.call_exit(_hvc, hex(syn.imm16_call(syn.EC_HVC, imm16)), hex(ctx.pc))


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
    """WFI: trap (syndromes.md §3a) or wait for an interrupt (the run loop skips ahead in time)."""
    el = cpu.el
    # EL0: SCTLR_ELx.nTWI of the EL0 regime, to EL1 (EL2 when TGE routes EL0 there, or in a host)
    if el == 0 and not el0_enabled(cpu, SCTLR_NTWI):
        return sync_exception(cpu, syn.wfx_trap(False), pc, sync_target(cpu))
    # HCR_EL2.TWI (effective: a host EL0 is not trapped by it)
    if el < 2 and hcr_eff(cpu) & HCR_TWI:
        cpu.machine.stats.trap(2)
        return sync_exception(cpu, syn.wfx_trap(False), pc, 2)
    cpu.halted = True
    cpu.in_wfe = False
    cpu.machine.engine.kick()
    return pc + 4


def _wfe(cpu: CPUState, pc: int) -> int:
    # syndromes.md §3a: WFE is never trapped (the reference runs it as a hint). It consumes the
    # event register if set; otherwise the CPU waits for the next event (a WFE may end at any
    # time, so ending it at the next timer event is always allowed): the run loop skips ahead
    # in virtual time to it, or ends the wait at once when there is none.
    if cpu.event:
        cpu.event = 0
        return pc + 4
    cpu.halted = True
    cpu.in_wfe = True
    cpu.machine.engine.kick()
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
    else:  # SB without FEAT_SB lands here too
        ctx.undef()


@insn("11010101 00000011 0011 0000 111 11111", feature="sb")
def SB(ctx: Ctx) -> None:
    pass  # no speculation to restrict


# ---- MSR (immediate): PSTATE fields --------------------------------------------------------------


DAIFSET, DAIFCLR = (3, 6), (3, 7)
SPSEL = (0, 5)


def _msr_imm(cpu: CPUState, op1: int, op2: int, crm: int, pc: int) -> int:
    field = (op1, op2)
    machine = cpu.machine
    if field in (DAIFSET, DAIFCLR):
        if cpu.el == 0 and not el0_enabled(cpu, SCTLR_UMA):
            return sync_exception(cpu, syn.sysreg_trap(0, op1, 4, crm, op2, 31, False), pc, sync_target(cpu))
        bits = PSTATE_DAIF.put(crm)
        cpu.daif = (cpu.daif | bits) if field == DAIFSET else (cpu.daif & ~bits)
        machine.engine.kick()  # an interrupt may have become takeable
        return pc + 4
    if field == SPSEL:
        if cpu.el == 0:
            return undefined(cpu, pc)
        cpu.select_sp(cpu.el, crm & 1)
        return pc + 4
    # fields of kernel features have rows of their own (below); a feature that is off leaves
    # its encoding here, where only a plugin may claim it, else it is UNDEFINED
    decision = decisions.msr_immediate(cpu, op1, op2, crm)
    if type(decision) is Allow:
        return pc + 4
    # a trapped MSR (immediate) reports EC 0x18 with op0 = 0, CRn = 4, Rt = 31, a write
    return decisions.take(cpu, decision, pc, syn.sysreg_trap(0, op1, 4, crm, op2, 31, False), "MSR (immediate)")


@insn("11010101 00000 op1:3 0100 crm:4 op2:3 11111")
def MSR_imm(ctx: Ctx, op1: int, crm: int, op2: int) -> None:
    ctx.call_exit(_msr_imm, str(op1), str(op2), str(crm), hex(ctx.pc))


def _pstate_bit(attr: str, *, el1: bool = False, mode: bool = False, kick: bool = False) -> Callable[..., int]:
    """The helper of an MSR (immediate) to the one-bit PSTATE field `attr`: (cpu, imm, pc) -> next pc."""

    def write(cpu: CPUState, imm: int, pc: int) -> int:
        if el1 and cpu.el == 0:
            return undefined(cpu, pc)
        setattr(cpu, attr, imm & 1)
        if mode:
            cpu.machine.pstate_changed()
        if kick:
            cpu.machine.engine.kick()  # an interrupt may have become takeable
        return pc + 4

    write.__name__ = f"_msr_{attr}"
    return write


_MSR_UAO = _pstate_bit("uao", el1=True, mode=True)
_MSR_DIT = _pstate_bit("dit")
_MSR_SSBS = _pstate_bit("ssbs")
_MSR_ALLINT = _pstate_bit("allint", el1=True, kick=True)


@insn("11010101 00000 000 0100 crm:4 011 11111", "MSR_UAO", feature="uao", helper=_MSR_UAO)
@insn("11010101 00000 011 0100 crm:4 010 11111", "MSR_DIT", feature="dit", helper=_MSR_DIT)
@insn("11010101 00000 011 0100 crm:4 001 11111", "MSR_SSBS", feature="ssbs", helper=_MSR_SSBS)
@insn("11010101 00000 001 0100 000 crm:1 000 11111", "MSR_ALLINT", feature="nmi", helper=_MSR_ALLINT)
def MSR_pstate_bit(ctx: Ctx, crm: int, helper: Callable[..., int]) -> None:
    ctx.call_exit(helper, str(crm), hex(ctx.pc))


# ---- MRS / MSR (register) and SYS / SYSL ---------------------------------------------------------


def _emit_access(ctx: Ctx, rt: int, is_read: bool) -> None:
    # SYS/SYSL (TLBI, AT, DC, IC) always end the block; see _access_in_block for MRS/MSR
    key = hex((ctx.word >> 5) & 0xFFFF)
    ctx.call_exit(access, key, str(rt), str(is_read), hex(ctx.pc))


def _access_in_block(cpu: CPUState, key: int, rt: int, is_read: bool, pc: int, off: int) -> int | None:
    """MRS inside a block: None when the block goes on, else the next PC (the block leaves).

    It leaves when the access took an exception, switched the memory context (the block
    holds the TLBs in locals), or asked the run loop to look at interrupts or caches (a
    kick). `off` is the number of block instructions before this one, so time sources
    read the exact count (`cpu.now()`).
    """
    cpu.insn_off = off
    trap = cpu.dtrap.get((key << 6) | (rt << 1) | is_read)
    if trap is not None:
        return trap_access(cpu, trap, pc)
    tlb = cpu.tlb_r
    nxt = access(cpu, key, rt, is_read, pc)
    if nxt != pc + 4 or cpu.tlb_r is not tlb or cpu.deadline <= cpu.icount:
        return nxt
    return None


def _msr_in_block(cpu: CPUState, key: int, rt: int, pc: int, off: int) -> int:
    """An MSR generated code could not make itself: made here; the block leaves after it.

    Only a plain register that the decision cache allows (`cpu.dfast`), or a FEAT_NV2
    redirection to a RAM doubleword (`cpu.vfast`), is written by the block itself; anything
    else may change what the rest of the block relies on (the FP/SIMD check, PSTATE, timers,
    translation), as on the reference, where such writes end the TB. An access trapped
    under the current configuration is taken straight from `cpu.dtrap`.
    """
    cpu.insn_off = off
    trap = cpu.dtrap.get((key << 6) | (rt << 1))
    if trap is not None:
        return trap_access(cpu, trap, pc)
    return access(cpu, key, rt, False, pc)


def _emit_sysreg_access(ctx: Ctx, rt: int, is_read: bool) -> None:
    # The access made by the block itself when the EL's decision cache has it as a plain
    # allowed access (cpu.dfast, keyed like the cache: encoding, Xt, direction) or as a
    # redirection to a RAM doubleword (cpu.vfast: FEAT_NV2), else by the helper, which
    # decides (and caches) it. Flags are synced first: every way goes on.
    key = (ctx.word >> 5) & 0xFFFF
    ck = (key << 6) | (rt << 1) | int(is_read)
    ctx.sync_flags()
    ctx.uses.update(("dfast", "sr", "vfast"))
    d = ctx.tmp("d")
    ctx.emit(f"{d} = dfast.get({ck:#x})")
    ctx.emit(f"if {d} is None:")
    with ctx.block():
        ctx.emit(f"{d} = vfast.get({ck:#x})")
        ctx.emit(f"if {d} is None:")
        with ctx.block():
            t = ctx.tmp("n")
            off = ctx.insn_offset()
            if is_read:
                ctx.emit(f"{t} = " + ctx.call(_access_in_block, hex(key), str(rt), "True", hex(ctx.pc), off))
                ctx.emit(f"if {t} is not None:")
                with ctx.block():
                    ctx.leave(t)
            else:
                ctx.emit(f"{t} = " + ctx.call(_msr_in_block, hex(key), str(rt), hex(ctx.pc), off))
                ctx.leave(t)
        ctx.emit("else:")
        with ctx.block():
            # the RAM doubleword, then the count --stats shows (the helper's stats.to_memory)
            if not is_read:
                ctx.emit(f"m64[{d}[0]] = {ctx.x(rt)}")
            elif rt != 31:
                ctx.emit(f"x[{rt}] = m64[{d}[0]]")
            ctx.emit(f"{d}[1][{d}[2]] += 1")
    if is_read and rt == 31:
        return
    ctx.emit("else:")
    with ctx.block():
        if is_read:
            ctx.emit(f"x[{rt}] = sr[{d}]")
        else:
            s = ctx.tmp("s")
            ctx.emit(f"{s} = {d}[0]")
            ctx.emit(f"sr[{s}] = (sr[{s}] & {d}[1]) | ({ctx.x(rt)} & {d}[2]) | {d}[3]")


@insn("1101010100 L:1 1 o0:1 op1:3 crn:4 crm:4 op2:3 rt:5")
def MRS_MSR(ctx: Ctx, L: int, o0: int, op1: int, crn: int, crm: int, op2: int, rt: int) -> None:
    _emit_sysreg_access(ctx, rt, bool(L))


@insn("1101010100 L:1 01 op1:3 crn:4 crm:4 op2:3 rt:5")
def SYS(ctx: Ctx, L: int, op1: int, crn: int, crm: int, op2: int, rt: int) -> None:
    _emit_access(ctx, rt, bool(L))
