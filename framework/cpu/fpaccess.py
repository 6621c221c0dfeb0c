"""The FP/SIMD access traps: CPACR_EL1.FPEN and CPTR_EL2 (TFP, or FPEN when HCR_EL2.E2H = 1).

Every instruction that touches the FP/SIMD registers (V0-V31 and their B/H/S/D/Q
views, FPCR, FPSR) asks `fp_trap` first. The answer depends only on the EL,
HCR_EL2, CPACR_EL1 and CPTR_EL2, none of which can change in the middle of a
translated block, so generated code checks once per block (`Ctx.fp_checked`).

Rules (Arm ARM CheckFPAdvSIMDEnabled; syndromes.md §3, EC 0x07):
  - at EL0/EL1 outside the EL2&0 regime, CPACR_EL1.FPEN: 0b00/0b10 trap EL0 and
    EL1, 0b01 traps EL0 only, 0b11 traps nothing; the trap goes to EL1, or to EL2
    with EC 0x00 (not 0x07) when HCR_EL2.TGE = 1;
  - then CPTR_EL2, to EL2 with EC 0x07: with E2H = 0, TFP (bit 10) traps EL0-EL2;
    with E2H = 1 it has the CPACR layout: FPEN 0b00/0b10 trap EL0-EL2, 0b01 traps
    EL0 only when TGE = 1, 0b11 traps nothing.
The preferred return address is the trapping instruction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.arch import CPACR_FPEN, CPTR_TFP, HCR_E2H, HCR_TGE
from framework.cpu import syndrome as syn
from framework.cpu.exceptions import raise_sync
from framework.cpu.sysregs import Decision, Trap

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

FPEN_ALL = 3  # 0b11: no trap
FPEN_EL0 = 1  # 0b01: trap EL0 only
E2H_TGE = HCR_E2H | HCR_TGE
# module-level ints: generated code runs fp_trap once per block that touches FP/SIMD state
_FPEN_MASK, _FPEN_SHIFT = CPACR_FPEN.mask, CPACR_FPEN.shift

# EC 0x07 from AArch64: ISS = 0 (syndromes.md §3)
FP_ACCESS_ESR = syn.esr(syn.EC_FP_ACCESS)


def fp_trap(cpu: CPUState) -> tuple[int, int] | None:
    """(target EL, ESR) of the trap an FP/SIMD access at the current EL takes, or None."""
    sr = cpu.sr
    el = cpu.el
    hcr = sr["HCR_EL2"]
    if el < 2 and hcr & E2H_TGE != E2H_TGE:
        fpen = (sr["CPACR_EL1"] & _FPEN_MASK) >> _FPEN_SHIFT
        if fpen != FPEN_ALL and (fpen != FPEN_EL0 or el == 0):
            if hcr & HCR_TGE:
                return 2, syn.uncategorized()
            return 1, FP_ACCESS_ESR
    cptr = sr["CPTR_EL2"]
    if hcr & HCR_E2H:
        fpen = (cptr & _FPEN_MASK) >> _FPEN_SHIFT  # the CPACR_EL1 layout
        if fpen != FPEN_ALL and (fpen != FPEN_EL0 or (el == 0 and hcr & HCR_TGE)):
            return 2, FP_ACCESS_ESR
    elif cptr & CPTR_TFP:
        return 2, FP_ACCESS_ESR
    return None


def check_fp_access(cpu: CPUState, pc: int) -> None:
    """Generated code's check before an FP/SIMD instruction at `pc`: take the trap if there is one."""
    trap = fp_trap(cpu)
    if trap is not None:
        target, esr = trap
        if target == 2:
            cpu.machine.stats.trap(2)
        raise_sync(cpu, esr, pc, target)


def fp_sysreg_check(cpu: CPUState, is_read: bool) -> Decision | None:
    """A `SysReg.check` for FPCR and FPSR: MRS/MSR of them trap like any FP/SIMD access."""
    trap = fp_trap(cpu)
    return None if trap is None else Trap(trap[0], trap[1])
