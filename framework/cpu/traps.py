"""Traps of system-register and system-instruction accesses, as tables keyed by encoding.

The rules apply to an encoding, not to a definition, so they hold for
whatever row implements the register: the kernel's, a CPU model's (ID
registers, CTR_EL0, CLIDR_EL1…) or a feature's. `sysaccess` runs
`CHECKS[key]` after the register's own `SysReg.check`. Two kinds of rule:

* **EL0 enables**: a bit of the EL0 regime's SCTLR lets EL0 use a register
  or instruction (UCT: CTR_EL0; UCI: cache maintenance by VA; DZE: DC ZVA;
  UMA: DAIF). When it is clear the access traps with EC 0x18 to EL1, or to
  EL2 when HCR_EL2.TGE routes EL0 there; with {E2H,TGE} = {1,1} the bit is
  SCTLR_EL2's.
* **EL2 traps**: a bit of HCR_EL2 (or MDCR_EL2, CPTR_EL2) sends EL1 accesses
  — and, for some, EL0 accesses — to EL2 with EC 0x18 and the preferred
  return address of the instruction. They use the *effective* HCR_EL2
  (`hcr_eff`): with TGE = 1 many trap bits behave as 0, so nothing traps out
  of a host EL0.

An EL0 enable is checked before the EL2 traps of the same access: the
architecture's priority. `ttlb_check` is the HCR_EL2.TTLB rule for the MMU
plugin's TLBI rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import attrs

from framework.arch import (
    CPTR_TCPAC,
    HCR_TACR,
    HCR_TDZ,
    HCR_TGE,
    HCR_TICAB,
    HCR_TID1,
    HCR_TID2,
    HCR_TID3,
    HCR_TID4,
    HCR_TIDCP,
    HCR_TOCU,
    HCR_TPCP,
    HCR_TPU,
    HCR_TRVM,
    HCR_TSW,
    HCR_TTLB,
    HCR_TVM,
    MDCR_TDA,
    MDCR_TDE,
    MDCR_TDOSA,
    SCTLR_DZE,
    SCTLR_UCI,
    SCTLR_UCT,
    SCTLR_UMA,
    hcr_eff,
)
from framework.cpu.exceptions import in_host, sync_target
from framework.cpu.syndrome import make_key
from framework.cpu.sysregs import CheckFn, Decision, Trap

if TYPE_CHECKING:
    from framework.cpu.state import CPUState


# ---- effective control values ------------------------------------------------------------------


def mdcr_eff(cpu: CPUState) -> int:
    """MDCR_EL2 as the trap rules see it: TDE (or TGE) makes TDA and TDOSA behave as 1."""
    value = cpu.sr["MDCR_EL2"]
    if value & MDCR_TDE or cpu.sr["HCR_EL2"] & HCR_TGE:
        value |= MDCR_TDA | MDCR_TDOSA
    return value


def _raw(name: str) -> Callable[[CPUState], int]:
    def read(cpu: CPUState) -> int:
        return cpu.sr[name]

    return read


# ---- SCTLR_ELx EL0 enables ------------------------------------------------------------------


def el0_sctlr(cpu: CPUState) -> int:
    """SCTLR of the EL0 regime: SCTLR_EL2 with {E2H,TGE} = {1,1}, else SCTLR_EL1."""
    return cpu.sr["SCTLR_EL2" if in_host(cpu) else "SCTLR_EL1"]


def el0_enabled(cpu: CPUState, bit: int) -> bool:
    return bool(el0_sctlr(cpu) & bit)


# ---- encodings -----------------------------------------------------------------------------------


def K(op0: int, op1: int, crn: int, crm: int, op2: int) -> int:
    return make_key(op0, op1, crn, crm, op2)


ID_GROUP3 = tuple(K(3, 0, 0, crm, op2) for crm in range(1, 8) for op2 in range(8))
REVIDR, AIDR = K(3, 0, 0, 0, 6), K(3, 1, 0, 0, 7)
CTR_EL0 = K(3, 3, 0, 0, 1)
CACHE_ID = (K(3, 1, 0, 0, 0), K(3, 1, 0, 0, 2), K(3, 1, 0, 0, 1), K(3, 2, 0, 0, 0))  # CCSIDR, CCSIDR2, CLIDR, CSSELR
ACTLR_EL1 = K(3, 0, 1, 0, 1)
CPACR_EL1 = K(3, 0, 1, 0, 2)
DAIF = K(3, 3, 4, 2, 1)
# SCTLR, TTBR0, TTBR1, TCR, AFSR0, AFSR1, ESR, FAR, MAIR, AMAIR, CONTEXTIDR (all _EL1)
VM_CONTROLS = (
    K(3, 0, 1, 0, 0), K(3, 0, 2, 0, 0), K(3, 0, 2, 0, 1), K(3, 0, 2, 0, 2), K(3, 0, 5, 1, 0), K(3, 0, 5, 1, 1),
    K(3, 0, 5, 2, 0), K(3, 0, 6, 0, 0), K(3, 0, 10, 2, 0), K(3, 0, 10, 3, 0), K(3, 0, 13, 0, 1),
)  # fmt: skip
# cache maintenance (op0 = 1, CRn = 7)
IC_IALLUIS, IC_IALLU, IC_IVAU = K(1, 0, 7, 1, 0), K(1, 0, 7, 5, 0), K(1, 3, 7, 5, 1)
DC_IVAC, DC_ISW, DC_CSW, DC_CISW = K(1, 0, 7, 6, 1), K(1, 0, 7, 6, 2), K(1, 0, 7, 10, 2), K(1, 0, 7, 14, 2)
DC_ZVA, DC_CVAC, DC_CVAU = K(1, 3, 7, 4, 1), K(1, 3, 7, 10, 1), K(1, 3, 7, 11, 1)
DC_CVAP, DC_CVADP, DC_CIVAC = K(1, 3, 7, 12, 1), K(1, 3, 7, 13, 1), K(1, 3, 7, 14, 1)
DC_BY_SW = (DC_ISW, DC_CSW, DC_CISW)
DC_TO_POC = (DC_IVAC, DC_CVAC, DC_CIVAC, DC_CVAP, DC_CVADP)  # point of coherency / persistence
TO_POU = (IC_IVAU, IC_IALLU, IC_IALLUIS, DC_CVAU)  # point of unification
EL0_CACHE_BY_VA = (DC_CVAC, DC_CVAU, DC_CVAP, DC_CVADP, DC_CIVAC, IC_IVAU)
# debug: MDSCR_EL1, MDCCINT_EL1, the breakpoint and watchpoint registers DBG{B,W}{V,C}R<n>_EL1
# (TDA); OSLAR, OSLSR, OSDLR, DBGPRCR (TDOSA)
DEBUG_REGS = (K(2, 0, 0, 2, 2), K(2, 0, 0, 2, 0), *(K(2, 0, 0, n, op2) for n in range(16) for op2 in (4, 5, 6, 7)))
OS_DEBUG_REGS = (K(2, 0, 1, 0, 4), K(2, 0, 1, 1, 4), K(2, 0, 1, 3, 4), K(2, 0, 1, 4, 4))


# ---- rules -----------------------------------------------------------------------------------


@attrs.define(frozen=True, slots=True)
class El0Enable:
    """EL0 may access `keys` only while the EL0 regime's SCTLR has `bit` set."""

    name: str
    bit: int
    keys: tuple[int, ...]


@attrs.define(frozen=True, slots=True)
class El2Trap:
    """`control(cpu) & mask` traps EL1 accesses to `keys` (and EL0 ones with `el0`) to EL2."""

    name: str
    control: Callable[[CPUState], int]
    mask: int
    keys: tuple[int, ...]
    reads: bool = True
    writes: bool = True
    el0: bool = False


EL0_ENABLES = (
    El0Enable("SCTLR.UCT", SCTLR_UCT, (CTR_EL0,)),
    El0Enable("SCTLR.UCI", SCTLR_UCI, EL0_CACHE_BY_VA),
    El0Enable("SCTLR.DZE", SCTLR_DZE, (DC_ZVA,)),
    El0Enable("SCTLR.UMA", SCTLR_UMA, (DAIF,)),
)

EL2_TRAPS = (
    El2Trap("HCR_EL2.TID1", hcr_eff, HCR_TID1, (REVIDR, AIDR), writes=False),
    El2Trap("HCR_EL2.TID2", hcr_eff, HCR_TID2, (CTR_EL0,), writes=False, el0=True),
    El2Trap("HCR_EL2.TID2", hcr_eff, HCR_TID2, CACHE_ID),
    El2Trap("HCR_EL2.TID3", hcr_eff, HCR_TID3, ID_GROUP3, writes=False),
    El2Trap("HCR_EL2.TID4", hcr_eff, HCR_TID4, CACHE_ID),
    El2Trap("HCR_EL2.TACR", hcr_eff, HCR_TACR, (ACTLR_EL1,)),
    El2Trap("HCR_EL2.TVM", hcr_eff, HCR_TVM, VM_CONTROLS, reads=False),
    El2Trap("HCR_EL2.TRVM", hcr_eff, HCR_TRVM, VM_CONTROLS, writes=False),
    El2Trap("HCR_EL2.TSW", hcr_eff, HCR_TSW, DC_BY_SW),
    El2Trap("HCR_EL2.TPCP", hcr_eff, HCR_TPCP, DC_TO_POC, el0=True),
    El2Trap("HCR_EL2.TPU", hcr_eff, HCR_TPU, TO_POU, el0=True),
    El2Trap("HCR_EL2.TOCU", hcr_eff, HCR_TOCU, (IC_IVAU, IC_IALLU, DC_CVAU), el0=True),
    El2Trap("HCR_EL2.TICAB", hcr_eff, HCR_TICAB, (IC_IALLUIS,)),
    El2Trap("HCR_EL2.TDZ", hcr_eff, HCR_TDZ, (DC_ZVA,), el0=True),
    El2Trap("MDCR_EL2.TDA", mdcr_eff, MDCR_TDA, DEBUG_REGS, el0=True),
    El2Trap("MDCR_EL2.TDOSA", mdcr_eff, MDCR_TDOSA, OS_DEBUG_REGS),
    El2Trap("CPTR_EL2.TCPAC", _raw("CPTR_EL2"), CPTR_TCPAC, (CPACR_EL1,)),
)

TO_EL2 = Trap(2)


def _enable_check(rule: El0Enable) -> CheckFn:
    bit = rule.bit

    def check(cpu: CPUState, is_read: bool) -> Decision | None:
        if cpu.el == 0 and not el0_enabled(cpu, bit):
            return Trap(sync_target(cpu))
        return None

    return check


def _el2_check(rule: El2Trap) -> CheckFn:
    control, mask, reads, writes = rule.control, rule.mask, rule.reads, rule.writes
    lowest = 0 if rule.el0 else 1

    def check(cpu: CPUState, is_read: bool) -> Decision | None:
        if lowest <= cpu.el <= 1 and (reads if is_read else writes) and control(cpu) & mask:
            return TO_EL2
        return None

    return check


def chain(checks: Iterable[CheckFn]) -> CheckFn:
    """One check running `checks` in order; the first decision wins."""
    checks = tuple(checks)
    if len(checks) == 1:
        return checks[0]

    def check(cpu: CPUState, is_read: bool) -> Decision | None:
        for c in checks:
            decision = c(cpu, is_read)
            if decision is not None:
                return decision
        return None

    return check


def _compile() -> dict[int, CheckFn]:
    per_key: dict[int, list[CheckFn]] = {}
    for enable in EL0_ENABLES:
        for key in enable.keys:
            per_key.setdefault(key, []).append(_enable_check(enable))
    for trap in EL2_TRAPS:
        for key in trap.keys:
            per_key.setdefault(key, []).append(_el2_check(trap))
    return {key: chain(checks) for key, checks in per_key.items()}


CHECKS: dict[int, CheckFn] = _compile()


def ttlb_check(cpu: CPUState, is_read: bool) -> Decision | None:
    """HCR_EL2.TTLB: TLB maintenance at EL1 traps to EL2 (a `SysReg.check` for TLBI rows)."""
    if cpu.el == 1 and hcr_eff(cpu) & HCR_TTLB:
        return TO_EL2
    return None


def unallocated_check(cpu: CPUState, key: int) -> Decision | None:
    """An encoding no row defines: HCR_EL2.TIDCP traps the IMPLEMENTATION DEFINED space at EL1.

    That space is op0 = 3 with CRn = 11 or 15; armnv implements no register in it,
    so without the trap the access is UNDEFINED.
    """
    if cpu.el == 1 and key >> 14 == 3 and (key >> 7) & 15 in (11, 15) and hcr_eff(cpu) & HCR_TIDCP:
        return TO_EL2
    return None


__all__ = [
    "CHECKS",
    "EL0_ENABLES",
    "EL2_TRAPS",
    "El0Enable",
    "El2Trap",
    "el0_enabled",
    "mdcr_eff",
    "ttlb_check",
    "unallocated_check",
]
