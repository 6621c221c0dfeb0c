"""TLBI instructions: which cached translations each one drops (MMU-04).

Every row names a scope; the write function turns the scope and Xt into a
`MemorySystem.invalidate` call. The IS and OS (and nXS) forms act locally:
there is one PE. Invalidation may be wider than the instruction names (a VA
is dropped in every ASID, IPA-based and range operations drop the whole
VMID), never narrower, so a stale translation is never used after the TLBI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.api import REGIME_EL2, REGIME_EL10, REGIME_EL20, Decision, SysReg, Trap, current_vmid, reg, ttlb_check
from framework.arch import HCR_E2H, HCR_TGE, HCR_TTLBIS, HCR_TTLBOS, TCR_AS, hcr_eff

if TYPE_CHECKING:
    from framework.api import CPUState, Machine

EL2_REGIMES = (REGIME_EL2, REGIME_EL20)

# (operation, op1, CRm, op2, scope). CRm: 3 = IS, 1 = OS, 7 = local; 2/5/6 = range (IS/OS/local);
# for op1 = 4 also 0/4 for the IPA forms. Scopes:
#   vmall1  everything of the EL1&0 regime for the current VMID (EL2&0 when {E2H,TGE} = {1,1})
#   va1     the VA in Xt, any ASID, in that regime;  asid1: the ASID in Xt[63:48]
#   s12     all EL1&0 entries of the current VMID;   all1: all EL1&0 entries, every VMID
#   all2    every EL2 and EL2&0 entry;               va2: the VA in Xt in the EL2 / EL2&0 regime
TLBI_OPS: tuple[tuple[str, int, int, int, str], ...] = (
    *(
        (f"{name}{sfx}", 0, crm, op2, scope)
        for sfx, crm in (("IS", 3), ("OS", 1), ("", 7))
        for name, op2, scope in (
            ("VMALLE1", 0, "vmall1"),
            ("VAE1", 1, "va1"),
            ("ASIDE1", 2, "asid1"),
            ("VAAE1", 3, "va1"),
            ("VALE1", 5, "va1"),
            ("VAALE1", 7, "va1"),
        )
    ),
    *(
        (f"{name}{sfx}", 0, crm, op2, "vmall1")
        for sfx, crm in (("IS", 2), ("OS", 5), ("", 6))
        for name, op2 in (("RVAE1", 1), ("RVAAE1", 3), ("RVALE1", 5), ("RVAALE1", 7))
    ),
    *(
        (f"{name}{sfx}", 4, crm, op2, scope)
        for sfx, crm in (("IS", 3), ("OS", 1), ("", 7))
        for name, op2, scope in (
            ("ALLE2", 0, "all2"),
            ("VAE2", 1, "va2"),
            ("ALLE1", 4, "all1"),
            ("VALE2", 5, "va2"),
            ("VMALLS12E1", 6, "s12"),
        )
    ),
    *(
        (f"{name}{sfx}", 4, crm, op2, "all2")
        for sfx, crm in (("IS", 2), ("OS", 5), ("", 6))
        for name, op2 in (("RVAE2", 1), ("RVALE2", 5))
    ),
    *(
        (name, 4, crm, op2, "s12")
        for name, crm, op2 in (
            ("IPAS2E1IS", 0, 1),
            ("RIPAS2E1IS", 0, 2),
            ("IPAS2LE1IS", 0, 5),
            ("RIPAS2LE1IS", 0, 6),
            ("IPAS2E1OS", 4, 0),
            ("IPAS2E1", 4, 1),
            ("RIPAS2E1", 4, 2),
            ("RIPAS2E1OS", 4, 3),
            ("IPAS2LE1OS", 4, 4),
            ("IPAS2LE1", 4, 5),
            ("RIPAS2LE1", 4, 6),
            ("RIPAS2LE1OS", 4, 7),
        )
    ),
)


def _form(name: str) -> str:
    """'R' range, 'OS', 'IS' or '' (local): which ID field must advertise the instruction."""
    if name.startswith(("RVA", "RIPA")):
        return "R"
    return "OS" if name.endswith("OS") else ("IS" if name.endswith("IS") else "")


def tlbi_va(xt: int) -> int:
    """The VA of a TLBI by VA: Xt[43:0] = VA[55:12], sign-extended from bit 55."""
    va = (xt & ((1 << 44) - 1)) << 12
    return va | (0xFF << 56) if va >> 55 & 1 else va


def _asid(cpu: CPUState, xt: int, regime: str) -> int:
    tcr = cpu.sr["TCR_EL1" if regime == REGIME_EL10 else "TCR_EL2"]
    asid = xt >> 48
    return asid if tcr & TCR_AS else asid & 0xFF


def perform(cpu: CPUState, scope: str, xt: int) -> None:
    mem = cpu.machine.mem
    hcr = cpu.sr["HCR_EL2"]
    if scope in ("vmall1", "va1", "asid1"):
        if cpu.el == 2 and hcr & (HCR_E2H | HCR_TGE) == HCR_E2H | HCR_TGE:
            regimes, vmid = (REGIME_EL20,), None
        else:
            regimes, vmid = (REGIME_EL10,), current_vmid(cpu)
        if scope == "vmall1":
            mem.invalidate(regimes, vmid=vmid)
        elif scope == "va1":
            mem.invalidate(regimes, vmid=vmid, va=tlbi_va(xt))
        else:
            mem.invalidate(regimes, vmid=vmid, asid=_asid(cpu, xt, regimes[0]))
    elif scope == "s12":
        mem.invalidate((REGIME_EL10,), vmid=current_vmid(cpu))
    elif scope == "all1":
        mem.invalidate((REGIME_EL10,))
    elif scope == "all2":
        mem.invalidate(EL2_REGIMES)
    else:  # va2
        mem.invalidate(EL2_REGIMES, va=tlbi_va(xt))


def el1_tlbi_trap(bit: int):
    """The kernel's HCR_EL2.TTLB trap of EL1 TLBI, plus TTLBIS/TTLBOS for the IS/OS forms."""
    if not bit:
        return ttlb_check

    def check(cpu: CPUState, is_read: bool) -> Decision | None:
        decision = ttlb_check(cpu, is_read)
        if decision is None and cpu.el == 1 and hcr_eff(cpu) & bit:
            return Trap(2)
        return decision

    return check


_FORM_TRAP = {"IS": HCR_TTLBIS, "OS": HCR_TTLBOS, "": 0, "R": 0}


def tlbi_registers(machine: Machine) -> list[SysReg]:
    """The TLBI rows the CPU model implements (OS/range: ID_AA64ISAR0_EL1.TLB; nXS: FEAT_XS)."""
    tlb = (machine.id_value("ID_AA64ISAR0_EL1") >> 56) & 0xF
    xs = (machine.id_value("ID_AA64ISAR1_EL1") >> 56) & 0xF
    regs = []
    for name, op1, crm, op2, scope in TLBI_OPS:
        form = _form(name)
        if (form == "OS" and tlb < 1) or (form == "R" and tlb < 2):
            continue

        def write(cpu: CPUState, value: int, scope: str = scope) -> None:
            perform(cpu, scope, value)

        # the IS/OS forms of range operations trap with TTLBIS/TTLBOS like the others
        trap_bit = _FORM_TRAP[form] if form != "R" else (HCR_TTLBIS if crm == 2 else HCR_TTLBOS if crm == 5 else 0)
        check = el1_tlbi_trap(trap_bit) if op1 == 0 else None
        for crn, suffix in ((8, ""), (9, "NXS")):
            if crn == 9 and not xs:
                continue
            regs.append(
                reg(
                    f"TLBI {name}{suffix}",
                    1,
                    op1,
                    crn,
                    crm,
                    op2,
                    min_el=2 if op1 == 4 else 1,
                    access="WO",
                    write=write,
                    check=check,
                )
            )
    return regs
