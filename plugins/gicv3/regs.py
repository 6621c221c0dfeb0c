"""The GICv3 system registers: ICC_* (with their ICV_* views at EL1) and ICH_*_EL2.

Every ICC_*_EL1 row is one declarative definition with its trap group
(GIC-02). Its ``check`` applies the ICH_HCR_EL2 traps of EL1 accesses (GIC-04)
and the SGI registers' trap under HCR_EL2.IMO/FMO; its read and write functions
perform the access on the physical interface, or at EL1 with the group's
routing bit set on the virtual one (GIC-03). The ICH_* rows are plain EL2
registers (op1 = 4), so FEAT_NV traps them at EL1 and FEAT_NV2 redirects the
ones with a VNCR slot, neither knowing this plugin.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from framework.api import SysReg, Trap, reg
from framework.arch import (
    HCR_FMO,
    HCR_IMO,
    ICC_BPR_BINARYPOINT,
    ICC_CTLR_A3V,
    ICC_CTLR_CBPR,
    ICC_CTLR_EOIMODE,
    ICC_CTLR_IDBITS,
    ICC_CTLR_PMHE,
    ICC_CTLR_PRIBITS,
    ICC_IGRPEN_ENABLE,
    ICC_INTID,
    ICC_SRE_DFB,
    ICC_SRE_DIB,
    ICC_SRE_ENABLE,
    ICC_SRE_SRE,
    ICH_AP1R_NMI,
    ICH_APR_PRIORITIES,
    ICH_HCR_EN,
    ICH_HCR_EOICOUNT,
    ICH_HCR_LRENPIE,
    ICH_HCR_NPIE,
    ICH_HCR_TALL0,
    ICH_HCR_TALL1,
    ICH_HCR_TC,
    ICH_HCR_TDIR,
    ICH_HCR_TSEI,
    ICH_HCR_UIE,
    ICH_HCR_VGRP0DIE,
    ICH_HCR_VGRP0EIE,
    ICH_HCR_VGRP1DIE,
    ICH_HCR_VGRP1EIE,
    ICH_VMCR_VBPR0,
    ICH_VMCR_VBPR1,
    ICH_VMCR_VCBPR,
    ICH_VMCR_VENG0,
    ICH_VMCR_VENG1,
    ICH_VMCR_VEOIM,
    ICH_VMCR_VPMR,
    ICH_VTR_A3V,
    ICH_VTR_IDBITS,
    ICH_VTR_PRIBITS,
    hcr_eff,
)
from plugins.gicv3.gic import GIC, PRI_BITS
from plugins.gicv3.virt import VMCR_RES1, VirtualInterface, ich_parameters, lr_write_mask, model_vtr

if TYPE_CHECKING:
    from framework.api import CPUState, Decision, Machine

FEATURE = "gicv3"
PMR_MASK = (0xFF << (8 - PRI_BITS)) & 0xFF
MIN_BPR0 = 7 - PRI_BITS
ICC_CTLR_RESET = ICC_CTLR_A3V | ICC_CTLR_IDBITS.put(1) | ICC_CTLR_PRIBITS.put(PRI_BITS - 1)
ICC_CTLR_WMASK = ICC_CTLR_CBPR | ICC_CTLR_EOIMODE | ICC_CTLR_PMHE
ICH_HCR_WMASK = (
    ICH_HCR_EN | ICH_HCR_UIE | ICH_HCR_LRENPIE | ICH_HCR_NPIE | ICH_HCR_VGRP0EIE | ICH_HCR_VGRP0DIE
    | ICH_HCR_VGRP1EIE | ICH_HCR_VGRP1DIE | ICH_HCR_TC | ICH_HCR_TALL0 | ICH_HCR_TALL1 | ICH_HCR_TSEI
    | ICH_HCR_TDIR | ICH_HCR_EOICOUNT.mask
)  # fmt: skip


# routing bit that sends a register group to the virtual interface (GIC-03)
ROUTE = {0: HCR_FMO, 1: HCR_IMO, "common": HCR_IMO | HCR_FMO}
# GIC-04: the ICH_HCR_EL2 bits that trap a register group's EL1 accesses
GROUP_TRAP = {0: ICH_HCR_TALL0, 1: ICH_HCR_TALL1, "common": ICH_HCR_TC, "dir": ICH_HCR_TC | ICH_HCR_TDIR}
TRAPS = {
    "GIC-04": Trap(2, rule="GIC-04", why="ICH_HCR_EL2 trap bit"),
    "GIC-03": Trap(2, rule="GIC-03", why="HCR_EL2.{IMO,FMO} (SGI generation)"),
}

Read = Callable[["CPUState"], int]
Write = Callable[["CPUState", int], None]


def gic_of(cpu: CPUState) -> GIC:
    return cpu.machine.devices["gic"]


def vif_of(cpu: CPUState) -> VirtualInterface:
    return cpu.machine.devices["gic_virtual"]


def _check(trap_group: str | int) -> Callable[[CPUState, bool], Decision | None]:
    trap_bits = GROUP_TRAP.get(trap_group, 0)

    def check(cpu: CPUState, is_read: bool) -> Decision | None:
        if cpu.el != 1:
            return None
        if trap_group == "sgi":
            return TRAPS["GIC-03"] if hcr_eff(cpu) & (HCR_IMO | HCR_FMO) else None
        return TRAPS["GIC-04"] if cpu.sr["ICH_HCR_EL2"] & trap_bits else None

    return check


def _is_virtual(cpu: CPUState, route: int) -> bool:
    return cpu.el == 1 and bool(hcr_eff(cpu) & route)


def _icc(
    name: str, crm: int, op2: int, group: str | int, *, access: str = "RW", reset: int = 0,
    pread: Read | None = None, pwrite: Write | None = None, vread: Read | None = None, vwrite: Write | None = None,
) -> SysReg:  # fmt: skip
    """An ICC_*_EL1 row (op0 3, op1 0, CRn 12 unless PMR) whose ICV view is (vread, vwrite)."""
    route = ROUTE.get("common" if group == "dir" else group, 0)
    crn = 4 if name == "ICC_PMR_EL1" else 12

    def read(cpu: CPUState) -> int:
        if vread is not None and _is_virtual(cpu, route):
            return vread(cpu)
        return pread(cpu) if pread is not None else cpu.sr[name]

    def write(cpu: CPUState, value: int) -> None:
        if vwrite is not None and _is_virtual(cpu, route):
            vwrite(cpu, value)
        elif pwrite is not None:
            pwrite(cpu, value)
        gic_of(cpu).update()

    return reg(name, 3, 0, crn, crm, op2, access=access, reset=reset, storage=name, feature=FEATURE,
               check=_check(group), read=read, write=write)  # fmt: skip


def _stored(name: str, mask: int, res1: int = 0) -> Write:
    def write(cpu: CPUState, value: int) -> None:
        cpu.sr[name] = (value & mask) | res1

    return write


def _bpr_write(name: str, minimum: int) -> Write:
    def write(cpu: CPUState, value: int) -> None:
        cpu.sr[name] = max(ICC_BPR_BINARYPOINT.get(value), minimum)

    return write


def _bpr1_read(cpu: CPUState) -> int:
    if cpu.sr["ICC_CTLR_EL1"] & ICC_CTLR_CBPR:
        return min(cpu.sr["ICC_BPR0_EL1"] + 1, 7)
    return cpu.sr["ICC_BPR1_EL1"]


def _bpr1_write(cpu: CPUState, value: int) -> None:
    if not cpu.sr["ICC_CTLR_EL1"] & ICC_CTLR_CBPR:
        _bpr_write("ICC_BPR1_EL1", MIN_BPR0 + 1)(cpu, value)


# ---- ICV views -------------------------------------------------------------------------------------


def _vmcr_field(field_mask: int, shift: int) -> tuple[Read, Write]:
    def read(cpu: CPUState) -> int:
        return (cpu.sr["ICH_VMCR_EL2"] & field_mask) >> shift

    def write(cpu: CPUState, value: int) -> None:
        vif_of(cpu).vmcr_field_write(cpu, field_mask, value << shift)

    return read, write


def _vctlr_read(cpu: CPUState) -> int:
    vmcr = cpu.sr["ICH_VMCR_EL2"]
    vtr = vif_of(cpu).vtr
    value = ICC_CTLR_PRIBITS.put(ICH_VTR_PRIBITS.get(vtr)) | ICC_CTLR_IDBITS.put(ICH_VTR_IDBITS.get(vtr))
    value |= ICC_CTLR_A3V if vtr & ICH_VTR_A3V else 0
    value |= ICC_CTLR_CBPR if vmcr & ICH_VMCR_VCBPR else 0
    return value | (ICC_CTLR_EOIMODE if vmcr & ICH_VMCR_VEOIM else 0)


def _vctlr_write(cpu: CPUState, value: int) -> None:
    bits = (ICH_VMCR_VCBPR if value & ICC_CTLR_CBPR else 0) | (ICH_VMCR_VEOIM if value & ICC_CTLR_EOIMODE else 0)
    vif_of(cpu).vmcr_field_write(cpu, ICH_VMCR_VCBPR | ICH_VMCR_VEOIM, bits)


def _vpmr_write(cpu: CPUState, value: int) -> None:
    vif = vif_of(cpu)
    mask = (0xFF << (8 - vif.pri_bits)) & 0xFF
    vif.vmcr_field_write(cpu, ICH_VMCR_VPMR.mask, ICH_VMCR_VPMR.put(value & mask))


def _vbpr1_read(cpu: CPUState) -> int:
    vmcr = cpu.sr["ICH_VMCR_EL2"]
    if vmcr & ICH_VMCR_VCBPR:
        return min(ICH_VMCR_VBPR0.get(vmcr) + 1, 7)
    return ICH_VMCR_VBPR1.get(vmcr)


def _vbpr1_write(cpu: CPUState, value: int) -> None:
    if not cpu.sr["ICH_VMCR_EL2"] & ICH_VMCR_VCBPR:
        vif_of(cpu).vmcr_field_write(cpu, ICH_VMCR_VBPR1.mask, ICH_VMCR_VBPR1.put(value))


def _vap_write(name: str, mask: int) -> Write:
    def write(cpu: CPUState, value: int) -> None:
        cpu.sr[name] = value & mask
        gic_of(cpu).update()

    return write


def icc_registers(machine: Machine) -> list[SysReg]:
    """GIC-02 (the table's order), GIC-12 (reset values and write masks)."""
    v_pmr_r, _ = _vmcr_field(ICH_VMCR_VPMR.mask, ICH_VMCR_VPMR.shift)
    v_bpr0_r, v_bpr0_w = _vmcr_field(ICH_VMCR_VBPR0.mask, ICH_VMCR_VBPR0.shift)
    v_en0_r, v_en0_w = _vmcr_field(ICH_VMCR_VENG0, 0)
    v_en1_r, v_en1_w = _vmcr_field(ICH_VMCR_VENG1, 1)
    nmi = "nmi" in machine.features
    ap1_mask = ICH_APR_PRIORITIES.mask | (ICH_AP1R_NMI if nmi else 0)
    regs = [
        _icc("ICC_PMR_EL1", 6, 0, "common", pwrite=_stored("ICC_PMR_EL1", PMR_MASK), vread=v_pmr_r,
             vwrite=_vpmr_write),
        _icc("ICC_IAR0_EL1", 8, 0, 0, access="RO", pread=lambda cpu: gic_of(cpu).acknowledge(cpu, 0),
             vread=lambda cpu: vif_of(cpu).acknowledge(cpu, 0)),
        _icc("ICC_EOIR0_EL1", 8, 1, 0, access="WO",
             pwrite=lambda cpu, v: gic_of(cpu).end_of_interrupt(cpu, 0, ICC_INTID.get(v)),
             vwrite=lambda cpu, v: vif_of(cpu).end_of_interrupt(cpu, 0, ICC_INTID.get(v))),
        _icc("ICC_HPPIR0_EL1", 8, 2, 0, access="RO", pread=lambda cpu: gic_of(cpu).highest_pending(cpu, 0),
             vread=lambda cpu: vif_of(cpu).highest_pending(cpu, 0)),
        _icc("ICC_BPR0_EL1", 8, 3, 0, reset=MIN_BPR0, pwrite=_bpr_write("ICC_BPR0_EL1", MIN_BPR0),
             vread=v_bpr0_r, vwrite=v_bpr0_w),
        _icc("ICC_AP0R0_EL1", 8, 4, 0, pwrite=_stored("ICC_AP0R0_EL1", ICH_APR_PRIORITIES.mask),
             vread=lambda cpu: cpu.sr["ICH_AP0R0_EL2"], vwrite=_vap_write("ICH_AP0R0_EL2", ICH_APR_PRIORITIES.mask)),
        _icc("ICC_AP1R0_EL1", 9, 0, 1, pwrite=_stored("ICC_AP1R0_EL1", ap1_mask),
             vread=lambda cpu: cpu.sr["ICH_AP1R0_EL2"], vwrite=_vap_write("ICH_AP1R0_EL2", ap1_mask)),
        _icc("ICC_DIR_EL1", 11, 1, "dir", access="WO", pwrite=lambda cpu, v: gic_of(cpu).deactivate(ICC_INTID.get(v)),
             vwrite=lambda cpu, v: vif_of(cpu).deactivate(cpu, ICC_INTID.get(v))),
        _icc("ICC_RPR_EL1", 11, 3, "common", access="RO", pread=lambda cpu: gic_of(cpu).running_priority(cpu),
             vread=lambda cpu: vif_of(cpu).running_priority(cpu)),
        _icc("ICC_SGI1R_EL1", 11, 5, "sgi", access="WO", pwrite=lambda cpu, v: gic_of(cpu).generate_sgi(cpu, v, 1)),
        _icc("ICC_ASGI1R_EL1", 11, 6, "sgi", access="WO", pwrite=lambda cpu, v: gic_of(cpu).generate_sgi(cpu, v, None)),
        _icc("ICC_SGI0R_EL1", 11, 7, "sgi", access="WO", pwrite=lambda cpu, v: gic_of(cpu).generate_sgi(cpu, v, 0)),
        _icc("ICC_IAR1_EL1", 12, 0, 1, access="RO", pread=lambda cpu: gic_of(cpu).acknowledge(cpu, 1),
             vread=lambda cpu: vif_of(cpu).acknowledge(cpu, 1)),
        _icc("ICC_EOIR1_EL1", 12, 1, 1, access="WO",
             pwrite=lambda cpu, v: gic_of(cpu).end_of_interrupt(cpu, 1, ICC_INTID.get(v)),
             vwrite=lambda cpu, v: vif_of(cpu).end_of_interrupt(cpu, 1, ICC_INTID.get(v))),
        _icc("ICC_HPPIR1_EL1", 12, 2, 1, access="RO", pread=lambda cpu: gic_of(cpu).highest_pending(cpu, 1),
             vread=lambda cpu: vif_of(cpu).highest_pending(cpu, 1)),
        _icc("ICC_BPR1_EL1", 12, 3, 1, reset=MIN_BPR0 + 1, pread=_bpr1_read, pwrite=_bpr1_write,
             vread=_vbpr1_read, vwrite=_vbpr1_write),
        _icc("ICC_CTLR_EL1", 12, 4, "common", reset=ICC_CTLR_RESET,
             pwrite=lambda cpu, v: _stored("ICC_CTLR_EL1", ICC_CTLR_WMASK, ICC_CTLR_RESET)(cpu, v),
             vread=_vctlr_read, vwrite=_vctlr_write),
        _icc("ICC_IGRPEN0_EL1", 12, 6, 0, pwrite=_stored("ICC_IGRPEN0_EL1", ICC_IGRPEN_ENABLE), vread=v_en0_r,
             vwrite=v_en0_w),
        _icc("ICC_IGRPEN1_EL1", 12, 7, 1, pwrite=_stored("ICC_IGRPEN1_EL1", ICC_IGRPEN_ENABLE), vread=v_en1_r,
             vwrite=v_en1_w),
        # GIC-12: the system-register interface cannot be switched off
        reg("ICC_SRE_EL1", 3, 0, 12, 12, 5, reset=ICC_SRE_SRE | ICC_SRE_DFB | ICC_SRE_DIB, wmask=0,
            feature=FEATURE),
        reg("ICC_SRE_EL2", 3, 4, 12, 9, 5, reset=ICC_SRE_SRE | ICC_SRE_DFB | ICC_SRE_DIB | ICC_SRE_ENABLE, wmask=0,
            feature=FEATURE),
    ]  # fmt: skip
    return regs


# ---- ICH_*_EL2 ----------------------------------------------------------------------------------------


def ich_registers(machine: Machine) -> list[SysReg]:
    """GIC-05 … GIC-12: only the list and active-priority registers ICH_VTR_EL2 implements exist."""

    def stored_then_update(name: str, mask: int) -> Write:
        def write(cpu: CPUState, value: int) -> None:
            cpu.sr[name] = value & mask
            gic_of(cpu).log("ich", register=name, value=cpu.sr[name])
            gic_of(cpu).update()

        return write

    nmi = "nmi" in machine.features
    vtr = model_vtr(machine)
    num_lrs, pri_bits, pre_bits = ich_parameters(vtr)
    # GIC-12: VFIQEn, and the binary points at their minimum
    vmcr_reset = VMCR_RES1 | ICH_VMCR_VBPR0.put(7 - pre_bits) | ICH_VMCR_VBPR1.put(8 - pre_bits)
    ap1_mask = ICH_APR_PRIORITIES.mask | (ICH_AP1R_NMI if nmi else 0)
    regs = [
        # ICH_HCR_EL2 decides EL1 traps (GIC-04): a write drops the cached access decisions
        # (not the TLBs: a guest hypervisor writes it on every world switch)
        reg("ICH_HCR_EL2", 3, 4, 12, 11, 0, storage="ICH_HCR_EL2", feature=FEATURE, decides=True,
            read=lambda cpu: cpu.sr["ICH_HCR_EL2"], write=stored_then_update("ICH_HCR_EL2", ICH_HCR_WMASK)),
        reg("ICH_VTR_EL2", 3, 4, 12, 11, 1, access="RO", feature=FEATURE, read=lambda cpu: vif_of(cpu).vtr),
        reg("ICH_MISR_EL2", 3, 4, 12, 11, 2, access="RO", feature=FEATURE, read=lambda cpu: vif_of(cpu).misr(cpu)),
        reg("ICH_EISR_EL2", 3, 4, 12, 11, 3, access="RO", feature=FEATURE, read=lambda cpu: vif_of(cpu).eisr(cpu)),
        reg("ICH_ELRSR_EL2", 3, 4, 12, 11, 5, access="RO", feature=FEATURE, read=lambda cpu: vif_of(cpu).elrsr(cpu)),
        reg("ICH_VMCR_EL2", 3, 4, 12, 11, 7, storage="ICH_VMCR_EL2", reset=vmcr_reset, feature=FEATURE,
            read=lambda cpu: cpu.sr["ICH_VMCR_EL2"], write=lambda cpu, v: vif_of(cpu).vmcr_write(cpu, v)),
    ]  # fmt: skip
    for n in range(1 << (pre_bits - 5)):
        for g, mask in ((0, ICH_APR_PRIORITIES.mask), (1, ap1_mask if n == 0 else ICH_APR_PRIORITIES.mask)):
            name = f"ICH_AP{g}R{n}_EL2"
            regs.append(
                reg(name, 3, 4, 12, 8 + g, n, storage=name, feature=FEATURE,
                    read=lambda cpu, name=name: cpu.sr[name], write=stored_then_update(name, mask))
            )  # fmt: skip
    lr_mask = lr_write_mask(pri_bits, nmi)
    for n in range(num_lrs):
        name = f"ICH_LR{n}_EL2"
        regs.append(
            reg(name, 3, 4, 12, 12 + (n >> 3), n & 7, storage=name, feature=FEATURE,
                read=lambda cpu, name=name: cpu.sr[name], write=stored_then_update(name, lr_mask))
        )  # fmt: skip
    return regs


__all__ = ["FEATURE", "icc_registers", "ich_registers"]
