"""The base system registers every AArch64 CPU with EL2 has (kernel-owned).

Features and CPU models add theirs through the ``armnv_sysregs`` hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.cpu.sysregs import SysReg, reg

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.machine import Machine


# ---- PSTATE access registers ----------------------------------------------------------------


def _read_nzcv(cpu: CPUState) -> int:
    return cpu.nzcv


def _write_nzcv(cpu: CPUState, v: int) -> None:
    cpu.nzcv = v & 0xF0000000


def _read_daif(cpu: CPUState) -> int:
    return cpu.daif


def _write_daif(cpu: CPUState, v: int) -> None:
    cpu.daif = v & 0x3C0
    cpu.machine.engine.kick()


def _read_spsel(cpu: CPUState) -> int:
    return cpu.spsel


def _write_spsel(cpu: CPUState, v: int) -> None:
    cpu.select_sp(cpu.el, v & 1)


def _read_current_el(cpu: CPUState) -> int:
    return cpu.machine.current_el(cpu) << 2


def _read_uao(cpu: CPUState) -> int:
    return cpu.uao << 23


def _write_uao(cpu: CPUState, v: int) -> None:
    cpu.uao = (v >> 23) & 1


def _read_dit(cpu: CPUState) -> int:
    return cpu.dit << 24


def _write_dit(cpu: CPUState, v: int) -> None:
    cpu.dit = (v >> 24) & 1


def _read_ssbs(cpu: CPUState) -> int:
    return cpu.ssbs << 12


def _write_ssbs(cpu: CPUState, v: int) -> None:
    cpu.ssbs = (v >> 12) & 1


def _read_fpcr(cpu: CPUState) -> int:
    return cpu.fpcr


def _write_fpcr(cpu: CPUState, v: int) -> None:
    cpu.fpcr = v & 0x07FF9F00


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


def _read_midr(cpu: CPUState) -> int:
    # MIDR_EL1 / MPIDR_EL1 read at EL1 return VPIDR_EL2 / VMPIDR_EL2 (cpu-models.md §7)
    return cpu.sr["VPIDR_EL2" if cpu.el == 1 else "MIDR_EL1"]


def _read_mpidr(cpu: CPUState) -> int:
    return cpu.sr["VMPIDR_EL2" if cpu.el == 1 else "MPIDR_EL1"]


# Plain storage registers: (name, op0, op1, CRn, CRm, op2, lowest EL, options)
# e2h: the EL2 register this EL1 encoding names at EL2 with HCR_EL2.E2H == 1 (NV-13)
# el12: the *_EL12/*_EL02 accessor of this EL1/EL0 register
# config: writes change translation or mode, so caches are dropped
STORAGE_REGS: tuple[tuple, ...] = (
    # EL1 (and their EL2 counterparts under VHE)
    ("SCTLR_EL1", 3, 0, 1, 0, 0, 1, dict(reset=0x30D00800, config=True, e2h="SCTLR_EL2", el12="SCTLR_EL12")),
    ("ACTLR_EL1", 3, 0, 1, 0, 1, 1, {}),
    ("CPACR_EL1", 3, 0, 1, 0, 2, 1, dict(e2h="CPTR_EL2", el12="CPACR_EL12")),
    ("TTBR0_EL1", 3, 0, 2, 0, 0, 1, dict(config=True, e2h="TTBR0_EL2", el12="TTBR0_EL12")),
    ("TTBR1_EL1", 3, 0, 2, 0, 1, 1, dict(config=True, e2h="TTBR1_EL2", el12="TTBR1_EL12")),
    ("TCR_EL1", 3, 0, 2, 0, 2, 1, dict(config=True, e2h="TCR_EL2", el12="TCR_EL12")),
    ("SPSR_EL1", 3, 0, 4, 0, 0, 1, dict(e2h="SPSR_EL2", el12="SPSR_EL12")),
    ("ELR_EL1", 3, 0, 4, 0, 1, 1, dict(e2h="ELR_EL2", el12="ELR_EL12")),
    ("AFSR0_EL1", 3, 0, 5, 1, 0, 1, dict(e2h="AFSR0_EL2", el12="AFSR0_EL12")),
    ("AFSR1_EL1", 3, 0, 5, 1, 1, 1, dict(e2h="AFSR1_EL2", el12="AFSR1_EL12")),
    ("ESR_EL1", 3, 0, 5, 2, 0, 1, dict(e2h="ESR_EL2", el12="ESR_EL12")),
    ("FAR_EL1", 3, 0, 6, 0, 0, 1, dict(e2h="FAR_EL2", el12="FAR_EL12")),
    ("PAR_EL1", 3, 0, 7, 4, 0, 1, {}),
    ("MAIR_EL1", 3, 0, 10, 2, 0, 1, dict(config=True, e2h="MAIR_EL2", el12="MAIR_EL12")),
    ("AMAIR_EL1", 3, 0, 10, 3, 0, 1, dict(e2h="AMAIR_EL2", el12="AMAIR_EL12")),
    ("VBAR_EL1", 3, 0, 12, 0, 0, 1, dict(e2h="VBAR_EL2", el12="VBAR_EL12")),
    ("CONTEXTIDR_EL1", 3, 0, 13, 0, 1, 1, dict(e2h="CONTEXTIDR_EL2", el12="CONTEXTIDR_EL12")),
    ("TPIDR_EL1", 3, 0, 13, 0, 4, 1, {}),
    ("CNTKCTL_EL1", 3, 0, 14, 1, 0, 1, dict(e2h="CNTHCTL_EL2", el12="CNTKCTL_EL12")),
    ("CSSELR_EL1", 3, 2, 0, 0, 0, 1, {}),
    ("MDSCR_EL1", 2, 0, 0, 2, 2, 1, {}),
    # EL0
    ("TPIDR_EL0", 3, 3, 13, 0, 2, 0, {}),
    ("TPIDRRO_EL0", 3, 3, 13, 0, 3, 0, {}),
    # EL2
    ("VPIDR_EL2", 3, 4, 0, 0, 0, 2, {}),
    ("VMPIDR_EL2", 3, 4, 0, 0, 5, 2, {}),
    ("SCTLR_EL2", 3, 4, 1, 0, 0, 2, dict(reset=0x30C50830, config=True)),
    ("ACTLR_EL2", 3, 4, 1, 0, 1, 2, {}),
    ("MDCR_EL2", 3, 4, 1, 1, 1, 2, {}),
    ("CPTR_EL2", 3, 4, 1, 1, 2, 2, {}),
    ("HSTR_EL2", 3, 4, 1, 1, 3, 2, {}),
    ("HACR_EL2", 3, 4, 1, 1, 7, 2, {}),
    ("TTBR0_EL2", 3, 4, 2, 0, 0, 2, dict(config=True)),
    ("TTBR1_EL2", 3, 4, 2, 0, 1, 2, dict(config=True)),
    ("TCR_EL2", 3, 4, 2, 0, 2, 2, dict(config=True)),
    ("VTTBR_EL2", 3, 4, 2, 1, 0, 2, dict(config=True)),
    ("VTCR_EL2", 3, 4, 2, 1, 2, 2, dict(config=True)),
    ("SPSR_EL2", 3, 4, 4, 0, 0, 2, {}),
    ("ELR_EL2", 3, 4, 4, 0, 1, 2, {}),
    ("SPSR_irq", 3, 4, 4, 3, 0, 2, {}),
    ("SPSR_abt", 3, 4, 4, 3, 1, 2, {}),
    ("SPSR_und", 3, 4, 4, 3, 2, 2, {}),
    ("SPSR_fiq", 3, 4, 4, 3, 3, 2, {}),
    ("AFSR0_EL2", 3, 4, 5, 1, 0, 2, {}),
    ("AFSR1_EL2", 3, 4, 5, 1, 1, 2, {}),
    ("ESR_EL2", 3, 4, 5, 2, 0, 2, {}),
    ("FAR_EL2", 3, 4, 6, 0, 0, 2, {}),
    ("HPFAR_EL2", 3, 4, 6, 0, 4, 2, {}),
    ("MAIR_EL2", 3, 4, 10, 2, 0, 2, dict(config=True)),
    ("AMAIR_EL2", 3, 4, 10, 3, 0, 2, {}),
    ("VBAR_EL2", 3, 4, 12, 0, 0, 2, {}),
    ("CONTEXTIDR_EL2", 3, 4, 13, 0, 1, 2, {}),
    ("TPIDR_EL2", 3, 4, 13, 0, 2, 2, {}),
    ("CNTHCTL_EL2", 3, 4, 14, 1, 0, 2, dict(reset=0x3)),
    ("CNTVOFF_EL2", 3, 4, 14, 0, 3, 2, {}),
)

# The *_EL12 accessors of STORAGE_REGS rows with el12=… (op1 = 5, same CRn/CRm/op2)
# and the RES0-ignoring special cases live with their owners (timer, GIC, MMU plugins).


def storage_registers() -> list[SysReg]:
    regs = []
    for name, op0, op1, crn, crm, op2, min_el, opts in STORAGE_REGS:
        opts = dict(opts)
        el12 = opts.pop("el12", None)
        e2h = opts.pop("e2h", None)
        regs.append(reg(name, op0, op1, crn, crm, op2, min_el=min_el, e2h_target=e2h, **opts))
        if el12 is not None:
            regs.append(reg(el12, op0, 5, crn, crm, op2, min_el=2, el12_of=name))
    return regs


def base_registers(machine: Machine) -> list[SysReg]:
    sp0_r, sp0_w = _sp_el(0)
    sp1_r, sp1_w = _sp_el(1)
    regs = storage_registers()
    regs += [
        # PSTATE fields as registers
        reg("NZCV", 3, 3, 4, 2, 0, min_el=0, read=_read_nzcv, write=_write_nzcv),
        reg("DAIF", 3, 3, 4, 2, 1, min_el=0, read=_read_daif, write=_write_daif),
        reg("SPSel", 3, 0, 4, 2, 0, read=_read_spsel, write=_write_spsel),
        reg("CurrentEL", 3, 0, 4, 2, 2, access="RO", read=_read_current_el),
        reg("UAO", 3, 0, 4, 2, 4, read=_read_uao, write=_write_uao),
        reg("DIT", 3, 3, 4, 2, 5, min_el=0, read=_read_dit, write=_write_dit),
        reg("SSBS", 3, 3, 4, 2, 6, min_el=0, read=_read_ssbs, write=_write_ssbs),
        reg("FPCR", 3, 3, 4, 4, 0, min_el=0, read=_read_fpcr, write=_write_fpcr),
        reg("FPSR", 3, 3, 4, 4, 1, min_el=0, read=_read_fpsr, write=_write_fpsr),
        reg("SP_EL0", 3, 0, 4, 1, 0, read=sp0_r, write=sp0_w),
        reg("SP_EL1", 3, 4, 4, 1, 0, min_el=2, read=sp1_r, write=sp1_w),
        # identification (values come from the CPU model)
        reg("MIDR_EL1", 3, 0, 0, 0, 0, access="RO", read=_read_midr),
        reg("MPIDR_EL1", 3, 0, 0, 0, 5, access="RO", read=_read_mpidr),
        reg("HCR_EL2", 3, 4, 1, 1, 0, min_el=2, config=True, wmask=machine.hcr_wmask, res1=machine.hcr_res1),
    ]
    return regs
