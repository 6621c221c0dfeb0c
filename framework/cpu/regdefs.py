"""The base system registers every AArch64 CPU with EL2 has (kernel-owned).

Features and CPU models add theirs through the ``armnv_sysregs`` hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.arch import (
    CNTHCTL_EL1PCEN,
    CNTHCTL_EL1PCTEN,
    CURRENTEL_EL,
    FPCR_WRITABLE,
    OSLAR_OSLK,
    OSLSR_OSLK,
    OSLSR_OSLM1,
    PSTATE_ALLINT,
    PSTATE_DAIF,
    PSTATE_DIT,
    PSTATE_NZCV,
    PSTATE_SSBS,
    PSTATE_UAO,
)
from framework.cpu.cacheops import cache_instructions
from framework.cpu.decisions import current_el
from framework.cpu.fpaccess import fp_sysreg_check
from framework.cpu.interrupts import read_isr
from framework.cpu.sysregs import UNDEF, Decision, SysReg, reg
from framework.devices.timer import timer_registers

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.machine import Machine


# ---- PSTATE access registers ----------------------------------------------------------------


def _read_nzcv(cpu: CPUState) -> int:
    return cpu.nzcv


def _write_nzcv(cpu: CPUState, v: int) -> None:
    cpu.nzcv = v & PSTATE_NZCV.mask


def _read_daif(cpu: CPUState) -> int:
    return cpu.daif


def _write_daif(cpu: CPUState, v: int) -> None:
    cpu.daif = v & PSTATE_DAIF.mask
    cpu.machine.engine.kick()


def _read_spsel(cpu: CPUState) -> int:
    return cpu.spsel


def _write_spsel(cpu: CPUState, v: int) -> None:
    cpu.select_sp(cpu.el, v & 1)


def _sp_el0_check(cpu: CPUState, is_read: bool) -> Decision | None:
    # SP_EL0 is not accessible as a register while it is the current stack pointer
    return UNDEF if cpu.spsel == 0 else None


def _read_current_el(cpu: CPUState) -> int:
    return CURRENTEL_EL.put(current_el(cpu))


def _read_fpcr(cpu: CPUState) -> int:
    return cpu.fpcr


def _write_fpcr(cpu: CPUState, v: int) -> None:
    cpu.fpcr = v & FPCR_WRITABLE


def _read_fpsr(cpu: CPUState) -> int:
    return cpu.fpsr


def _write_fpsr(cpu: CPUState, v: int) -> None:
    cpu.fpsr = v & 0xF800009F


def _sp_el(n: int):
    def read(cpu: CPUState) -> int:
        return cpu.read_sp_el(n)

    def write(cpu: CPUState, v: int) -> None:
        cpu.write_sp_el(n, v)

    return read, write


def _write_oslar(cpu: CPUState, v: int) -> None:
    cpu.sr["OSLSR_EL1"] = (cpu.sr["OSLSR_EL1"] & ~OSLSR_OSLK) | (OSLSR_OSLK if v & OSLAR_OSLK else 0)


OSLSR_RESET = OSLSR_OSLM1 | OSLSR_OSLK  # OSLM = 0b10: the OS lock is implemented; locked at reset


def _read_oslsr(cpu: CPUState) -> int:
    return cpu.sr["OSLSR_EL1"]


def _read_midr(cpu: CPUState) -> int:
    # MIDR_EL1 / MPIDR_EL1 read at EL1 return VPIDR_EL2 / VMPIDR_EL2 (cpu-models.md §7)
    return cpu.sr["VPIDR_EL2" if cpu.el == 1 else "MIDR_EL1"]


def _read_mpidr(cpu: CPUState) -> int:
    return cpu.sr["VMPIDR_EL2" if cpu.el == 1 else "MPIDR_EL1"]


# Plain storage registers: (name, op0, op1, CRn, CRm, op2, options); the lowest EL is the one op1 encodes
# e2h: the EL2 register this EL1 encoding names at EL2 with HCR_EL2.E2H == 1 (NV-13)
# el12: the *_EL12 accessor of this EL1 register (op1 = 5, same CRn/CRm/op2)
# config: writes change translation or mode, so caches are dropped
# decides: writes change access decisions (trap and enable controls): the decision caches are dropped
# Reset values are the reference's (cpu-models.md §7); everything else resets to 0.
STORAGE_REGS: tuple[tuple, ...] = (
    # EL1 (and their EL2 counterparts under VHE)
    ("SCTLR_EL1", 3, 0, 1, 0, 0, dict(reset=0x30D00800, config=True, e2h="SCTLR_EL2", el12="SCTLR_EL12")),
    ("ACTLR_EL1", 3, 0, 1, 0, 1, {}),
    ("CPACR_EL1", 3, 0, 1, 0, 2, dict(decides=True, e2h="CPTR_EL2", el12="CPACR_EL12")),
    ("TTBR0_EL1", 3, 0, 2, 0, 0, dict(config=True, e2h="TTBR0_EL2", el12="TTBR0_EL12")),
    ("TTBR1_EL1", 3, 0, 2, 0, 1, dict(config=True, e2h="TTBR1_EL2", el12="TTBR1_EL12")),
    ("TCR_EL1", 3, 0, 2, 0, 2, dict(config=True, e2h="TCR_EL2", el12="TCR_EL12")),
    ("SPSR_EL1", 3, 0, 4, 0, 0, dict(e2h="SPSR_EL2", el12="SPSR_EL12")),
    ("ELR_EL1", 3, 0, 4, 0, 1, dict(e2h="ELR_EL2", el12="ELR_EL12")),
    ("AFSR0_EL1", 3, 0, 5, 1, 0, dict(e2h="AFSR0_EL2", el12="AFSR0_EL12")),
    ("AFSR1_EL1", 3, 0, 5, 1, 1, dict(e2h="AFSR1_EL2", el12="AFSR1_EL12")),
    ("ESR_EL1", 3, 0, 5, 2, 0, dict(e2h="ESR_EL2", el12="ESR_EL12")),
    ("FAR_EL1", 3, 0, 6, 0, 0, dict(e2h="FAR_EL2", el12="FAR_EL12")),
    ("PAR_EL1", 3, 0, 7, 4, 0, {}),
    ("MAIR_EL1", 3, 0, 10, 2, 0, dict(config=True, e2h="MAIR_EL2", el12="MAIR_EL12")),
    ("AMAIR_EL1", 3, 0, 10, 3, 0, dict(e2h="AMAIR_EL2", el12="AMAIR_EL12")),
    ("VBAR_EL1", 3, 0, 12, 0, 0, dict(e2h="VBAR_EL2", el12="VBAR_EL12")),
    ("CONTEXTIDR_EL1", 3, 0, 13, 0, 1, dict(e2h="CONTEXTIDR_EL2", el12="CONTEXTIDR_EL12")),
    ("TPIDR_EL1", 3, 0, 13, 0, 4, {}),
    ("CNTKCTL_EL1", 3, 0, 14, 1, 0, dict(decides=True, e2h="CNTHCTL_EL2", el12="CNTKCTL_EL12")),
    ("CSSELR_EL1", 3, 2, 0, 0, 0, {}),
    # debug registers the kernel keeps as plain storage (no debug events are implemented)
    ("MDCCINT_EL1", 2, 0, 0, 2, 0, {}),
    ("MDSCR_EL1", 2, 0, 0, 2, 2, {}),
    ("OSDLR_EL1", 2, 0, 1, 3, 4, {}),
    ("DBGPRCR_EL1", 2, 0, 1, 4, 4, {}),
    # EL0
    ("TPIDR_EL0", 3, 3, 13, 0, 2, {}),
    ("TPIDRRO_EL0", 3, 3, 13, 0, 3, {}),
    # EL2
    ("VPIDR_EL2", 3, 4, 0, 0, 0, {}),
    ("VMPIDR_EL2", 3, 4, 0, 0, 5, {}),
    ("SCTLR_EL2", 3, 4, 1, 0, 0, dict(reset=0x30C50830, config=True)),
    ("ACTLR_EL2", 3, 4, 1, 0, 1, {}),
    ("MDCR_EL2", 3, 4, 1, 1, 1, dict(decides=True)),
    ("CPTR_EL2", 3, 4, 1, 1, 2, dict(decides=True)),
    ("HSTR_EL2", 3, 4, 1, 1, 3, dict(decides=True)),
    ("HACR_EL2", 3, 4, 1, 1, 7, {}),
    ("TTBR0_EL2", 3, 4, 2, 0, 0, dict(config=True)),
    ("TTBR1_EL2", 3, 4, 2, 0, 1, dict(config=True)),
    ("TCR_EL2", 3, 4, 2, 0, 2, dict(config=True)),
    ("VTTBR_EL2", 3, 4, 2, 1, 0, dict(config=True)),
    ("VTCR_EL2", 3, 4, 2, 1, 2, dict(config=True)),
    ("SPSR_EL2", 3, 4, 4, 0, 0, {}),
    ("ELR_EL2", 3, 4, 4, 0, 1, {}),
    ("SPSR_irq", 3, 4, 4, 3, 0, {}),
    ("SPSR_abt", 3, 4, 4, 3, 1, {}),
    ("SPSR_und", 3, 4, 4, 3, 2, {}),
    ("SPSR_fiq", 3, 4, 4, 3, 3, {}),
    ("AFSR0_EL2", 3, 4, 5, 1, 0, {}),
    ("AFSR1_EL2", 3, 4, 5, 1, 1, {}),
    ("ESR_EL2", 3, 4, 5, 2, 0, {}),
    # the syndrome of a virtual SError exists with FEAT_RAS only (NV-08: absent, it UNDEFs)
    ("VSESR_EL2", 3, 4, 5, 2, 3, dict(feature="ras")),
    ("FAR_EL2", 3, 4, 6, 0, 0, {}),
    ("HPFAR_EL2", 3, 4, 6, 0, 4, {}),
    ("MAIR_EL2", 3, 4, 10, 2, 0, dict(config=True)),
    ("AMAIR_EL2", 3, 4, 10, 3, 0, {}),
    ("VBAR_EL2", 3, 4, 12, 0, 0, {}),
    ("RVBAR_EL2", 3, 4, 12, 0, 1, dict(access="RO")),
    # EL2 is the highest EL of the board (NV-35): RMR_EL2.AA64 reads 1, a reset request is ignored
    ("RMR_EL2", 3, 4, 12, 0, 2, dict(reset=1, wmask=0)),
    ("CONTEXTIDR_EL2", 3, 4, 13, 0, 1, {}),
    ("TPIDR_EL2", 3, 4, 13, 0, 2, {}),
    ("CNTHCTL_EL2", 3, 4, 14, 1, 0, dict(reset=CNTHCTL_EL1PCTEN | CNTHCTL_EL1PCEN, decides=True)),
)


def storage_registers() -> list[SysReg]:
    regs = []
    for name, op0, op1, crn, crm, op2, opts in STORAGE_REGS:
        opts = dict(opts)
        el12 = opts.pop("el12", None)
        e2h = opts.pop("e2h", None)
        regs.append(reg(name, op0, op1, crn, crm, op2, e2h_target=e2h, **opts))
        if el12 is not None:
            regs.append(reg(el12, op0, 5, crn, crm, op2, el12_of=name))
    return regs


def _pstate_field(attr: str, bit: int, *, mode_change: bool = False):
    """Read/write functions of a one-bit PSTATE field seen as a register (at its SPSR position `bit`)."""

    def read(cpu: CPUState) -> int:
        return bit if getattr(cpu, attr) else 0

    def write(cpu: CPUState, v: int) -> None:
        setattr(cpu, attr, 1 if v & bit else 0)
        if mode_change:
            cpu.machine.pstate_changed()

    return read, write


# DBGBCR<n>_EL1: E, PMC, BAS, HMC, SSC, LBN, BT; DBGWCR<n>_EL1: E, PAC, LSC, BAS, HMC, SSC, LBN,
# WT, MASK; the value registers hold an address (or context ID) whose bits [1:0] are RES0
DBGBCR_WMASK = 0x00FF_E1E7
DBGWCR_WMASK = 0x1F1F_FFFF
DBGXVR_WMASK = ~0b11 & ((1 << 64) - 1)


def debug_registers(machine: Machine) -> list[SysReg]:
    """The breakpoint and watchpoint registers, as many as ID_AA64DFR0_EL1.BRPs/WRPs (+ 1) say.

    They keep what is written (to their fields): no debug event is implemented, but an
    OS programs and saves them (Linux's hw_breakpoint resets every pair at boot). Those
    beyond the advertised number are unallocated, so UNDEF.
    """
    dfr0 = machine.id_value("ID_AA64DFR0_EL1")
    brps, wrps = ((dfr0 >> 12) & 0xF) + 1, ((dfr0 >> 20) & 0xF) + 1
    regs = []
    for n in range(brps):
        regs.append(reg(f"DBGBVR{n}_EL1", 2, 0, 0, n, 4, wmask=DBGXVR_WMASK))
        regs.append(reg(f"DBGBCR{n}_EL1", 2, 0, 0, n, 5, wmask=DBGBCR_WMASK))
    for n in range(wrps):
        regs.append(reg(f"DBGWVR{n}_EL1", 2, 0, 0, n, 6, wmask=DBGXVR_WMASK))
        regs.append(reg(f"DBGWCR{n}_EL1", 2, 0, 0, n, 7, wmask=DBGWCR_WMASK))
    return regs


def base_registers(machine: Machine) -> list[SysReg]:
    sp0_r, sp0_w = _sp_el(0)
    sp1_r, sp1_w = _sp_el(1)
    uao_r, uao_w = _pstate_field("uao", PSTATE_UAO, mode_change=True)
    dit_r, dit_w = _pstate_field("dit", PSTATE_DIT)
    ssbs_r, ssbs_w = _pstate_field("ssbs", PSTATE_SSBS)
    allint_r, allint_w = _pstate_field("allint", PSTATE_ALLINT)
    regs = storage_registers()
    regs += [
        # PSTATE fields as registers; DAIF at EL0 needs SCTLR_ELx.UMA (framework.cpu.traps)
        reg("NZCV", 3, 3, 4, 2, 0, read=_read_nzcv, write=_write_nzcv),
        reg("DAIF", 3, 3, 4, 2, 1, read=_read_daif, write=_write_daif),
        reg("SPSel", 3, 0, 4, 2, 0, read=_read_spsel, write=_write_spsel),
        reg("CurrentEL", 3, 0, 4, 2, 2, access="RO", read=_read_current_el),
        reg("UAO", 3, 0, 4, 2, 4, read=uao_r, write=uao_w),
        reg("DIT", 3, 3, 4, 2, 5, read=dit_r, write=dit_w),
        reg("SSBS", 3, 3, 4, 2, 6, read=ssbs_r, write=ssbs_w),
        reg("ALLINT", 3, 0, 4, 3, 0, feature="nmi", read=allint_r, write=allint_w),
        reg("FPCR", 3, 3, 4, 4, 0, read=_read_fpcr, write=_write_fpcr, check=fp_sysreg_check),
        reg("FPSR", 3, 3, 4, 4, 1, read=_read_fpsr, write=_write_fpsr, check=fp_sysreg_check),
        reg("SP_EL0", 3, 0, 4, 1, 0, read=sp0_r, write=sp0_w, check=_sp_el0_check, uncached=True),
        reg("SP_EL1", 3, 4, 4, 1, 0, read=sp1_r, write=sp1_w),
        # identification (values come from the CPU model)
        reg("MIDR_EL1", 3, 0, 0, 0, 0, access="RO", read=_read_midr),
        reg("MPIDR_EL1", 3, 0, 0, 0, 5, access="RO", read=_read_mpidr),
        reg("HCR_EL2", 3, 4, 1, 1, 0, config=True, wmask=machine.hcr_wmask, res1=machine.hcr_res1),
        reg("ISR_EL1", 3, 0, 12, 1, 0, access="RO", read=read_isr),
        # the OS lock: OSLAR_EL1.OSLK is read back in OSLSR_EL1 bit 1 (OSLM = 0b10: lock implemented)
        reg("OSLAR_EL1", 2, 0, 1, 0, 4, access="WO", write=_write_oslar),
        reg("OSLSR_EL1", 2, 0, 1, 1, 4, access="RO", storage="OSLSR_EL1", reset=OSLSR_RESET, read=_read_oslsr),
    ]
    regs += debug_registers(machine)
    regs += timer_registers(machine)
    regs += cache_instructions()
    return regs
