"""VMSAv8-64 table walks: stage 1, stage 2, permissions and memory attributes.

`Walker.translate` answers the kernel's `armnv_translate` hook on a software
TLB miss and serves the AT instructions. It returns a `Translation` (PA,
memory attributes for PAR_EL1, the size of the stage-1 mapping) or raises a
`TranslationFault` carrying the DFSC with its level, the stage, S1PTW and the
IPA for HPFAR_EL2 (MMU-02, MMU-06, syndromes.md §6-8).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from framework.api import REGIME_EL2, REGIME_EL10, Access, Translation, TranslationFault, regime_of
from framework.api import syndrome as syn
from framework.arch import (
    DESC_AF,
    DESC_AP,
    DESC_AP1,
    DESC_AP2,
    DESC_APTABLE,
    DESC_ATTRINDX,
    DESC_DBM,
    DESC_MEMATTR,
    DESC_OA,
    DESC_PXN,
    DESC_PXNTABLE,
    DESC_S2XN,
    DESC_SH,
    DESC_TABLE,
    DESC_UXN,
    DESC_VALID,
    DESC_XN,
    DESC_XNTABLE,
    HCR_DC,
    HCR_PTW,
    HCR_TGE,
    HCR_VM,
    SCTLR_EPAN,
    SCTLR_M,
    SCTLR_WXN,
)
from plugins.mmu.attrs import combine_s2, is_device, par_shareability, s2_to_mair
from plugins.mmu.regime import ModelLimits, stage1_params, stage2_params

if TYPE_CHECKING:
    from framework.api import CPUState, Machine

NORMAL_WB = 0xFF  # MAIR byte used when stage 1 is off and HCR_EL2.DC is set
OA_MASK = DESC_OA.mask


@attrs.define(slots=True)
class S1Result:
    """The final stage-1 descriptor of a walk and what the tables above it imposed."""

    oa: int
    level: int
    desc: int
    desc_pa: int
    size_shift: int
    ap_table: int = 0  # APTable[1:0]
    xn_table: int = 0  # UXNTable (XNTable for EL2)
    pxn_table: int = 0
    ha: bool = False  # hardware Access flag update (TCR.HA)
    hd: bool = False  # hardware dirty state (TCR.HD)


class Walker:
    """Per-machine MMU state: what the model implements and which hooks exist."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        ram = machine.bus.ram
        self.ram = ram.buf
        self.ram_base = ram.base
        self.ram_end = ram.base + ram.size
        ids = [machine.id_value(f"ID_AA64MMFR{i}_EL1") for i in range(3)]
        self.limits = ModelLimits.from_ids(*ids)
        self.kernel_pa_bits = machine.mem.pa_bits
        self.hook = machine.hook
        self.hooks_changed()
        self.log = "mmu" in machine.debug
        self.path: list[str] = []

    def hooks_changed(self) -> None:
        """Look again for the hooks a walk asks (a plugin was added to the machine)."""
        self.desc_hook = bool(self.hook.armnv_descriptor.get_hookimpls())

    # ---- the whole translation ------------------------------------------------------------
    def translate(self, cpu: CPUState, va: int, acc: Access) -> Translation | None:
        """Stage 1 then stage 2; None when neither is enabled (the kernel's flat map applies)."""
        sr = cpu.sr
        hcr = sr["HCR_EL2"]
        regime = acc.regime or regime_of(cpu.el, hcr)
        if regime == REGIME_EL10:
            sctlr = sr["SCTLR_EL1"]
            # TGE and DC make the EL1&0 stage 1 behave as disabled; DC enables stage 2
            s1_on = sctlr & SCTLR_M and not hcr & (HCR_TGE | HCR_DC)
            s2_on = bool(hcr & (HCR_VM | HCR_DC))
        else:
            sctlr = sr["SCTLR_EL2"]
            s1_on = sctlr & SCTLR_M
            s2_on = False
        if not s1_on and not s2_on:
            return None
        if self.log:
            self.path = []
        try:
            tr = self._translate(cpu, va, acc, regime, sctlr, hcr, bool(s1_on), s2_on)
        except TranslationFault as fault:
            if self.log:
                self._log(
                    regime,
                    va,
                    acc,
                    f"fault fsc={fault.fsc:#x} stage={2 if fault.stage2 else 1}" + (" s1ptw" if fault.s1ptw else ""),
                )
            raise
        if self.log:
            self._log(regime, va, acc, f"pa={tr.pa:#x} attrs={tr.attrs:#04x}")
        return tr

    def _translate(
        self, cpu: CPUState, va: int, acc: Access, regime: str, sctlr: int, hcr: int, s1_on: bool, s2_on: bool
    ) -> Translation:
        if s1_on:
            s1 = self.walk_stage1(cpu, va, acc, regime, s2_on)
            s1.desc = self.check_af(s1.desc, s1.desc_pa, s1.level, acc, s1.ha, False)
            if self.check_stage1_permissions(cpu, s1, acc, regime, sctlr):
                s1.desc = self._write_back(s1.desc_pa, s1.desc & ~DESC_AP2)  # DBM: the page is now dirty
            ipa = s1.oa | (va & ((1 << s1.size_shift) - 1))
            mair = cpu.sr["MAIR_EL1" if regime == REGIME_EL10 else "MAIR_EL2"]
            attr = (mair >> (8 * DESC_ATTRINDX.get(s1.desc))) & 0xFF
            sh = DESC_SH.get(s1.desc)
            size_shift = s1.size_shift
        else:
            if va >> self.kernel_pa_bits:
                raise TranslationFault(syn.FSC_ADDR_SIZE)  # syndromes.md §6: MMU off, beyond PARange
            ipa = va
            # stage 1 off: Device-nGnRnE for data (Normal with HCR_EL2.DC), Normal for fetches
            attr = NORMAL_WB if hcr & HCR_DC or acc.fetch else 0x00
            sh = 0 if attr else 2
            size_shift = 12
        # the alignment check of a stage-1-off access follows the flat map: RAM is Normal
        align_device = is_device(attr) if s1_on else not self.ram_base <= ipa < self.ram_end
        if s2_on and not acc.stage1_only:
            pa, s2attr, s2sh = self.stage2(cpu, ipa, acc, s1ptw=False)
            attr, sh = combine_s2(attr, sh, s2attr, s2sh)
            align_device = align_device or is_device(s2_to_mair(s2attr))
        else:
            pa = ipa
        return Translation(
            pa,
            device=align_device,
            cacheable=not acc.at,
            attrs=attr,
            sh=par_shareability(attr, sh),
            size_shift=size_shift,
        )

    # ---- stage 1 --------------------------------------------------------------------------------
    def walk_stage1(self, cpu: CPUState, va: int, acc: Access, regime: str, s2_on: bool) -> S1Result:
        p = stage1_params(cpu, regime, va, acc.fetch, self.limits)
        g = p.granule
        table = p.base
        level = p.start_level
        ap_table = xn_table = pxn_table = 0
        while True:
            shift = g.level_shift(level)
            bits = p.inputsize - shift if level == p.start_level else g.stride
            desc_ipa = table | (((va >> shift) & ((1 << bits) - 1)) << 3)
            desc_pa = self.stage2(cpu, desc_ipa, acc, s1ptw=True)[0] if s2_on else desc_ipa
            desc = self.read_desc(desc_pa, level)
            if self.log:
                self.path.append(f"s1 L{level} [{desc_pa:#x}]={desc:#x}")
            if not desc & DESC_VALID:
                raise TranslationFault(syn.FSC_TRANSLATION + level)
            is_table = level < 3 and bool(desc & DESC_TABLE)
            if self.desc_hook:
                desc = self._reinterpret(cpu, regime, 1, desc, level, is_table)
            if is_table:
                nxt = desc & OA_MASK & ~((1 << g.shift) - 1)
                if nxt >> p.oa_bits:
                    raise TranslationFault(syn.FSC_ADDR_SIZE + level)
                if not p.hpd:
                    ap_table |= DESC_APTABLE.get(desc)
                    xn_table |= 1 if desc & DESC_XNTABLE else 0
                    pxn_table |= 1 if desc & DESC_PXNTABLE else 0
                table = nxt
                level += 1
                continue
            if level == 3 and not desc & DESC_TABLE:
                raise TranslationFault(syn.FSC_TRANSLATION + level)  # reserved encoding
            if level < 3 and level not in g.block_levels:
                raise TranslationFault(syn.FSC_TRANSLATION + level)  # no block at this level
            oa = desc & OA_MASK & ~((1 << shift) - 1)
            if oa >> p.oa_bits:
                raise TranslationFault(syn.FSC_ADDR_SIZE + level)
            return S1Result(oa, level, desc, desc_pa, shift, ap_table, xn_table, pxn_table, p.ha, p.hd)

    def check_stage1_permissions(self, cpu: CPUState, s1: S1Result, acc: Access, regime: str, sctlr: int) -> bool:
        """AP[2:1], UXN/PXN, hierarchical limits, WXN and PAN (MMU-02, MMU-03, pan.md §4).

        Returns True when a write is allowed only by the dirty-bit modifier (DBM with
        TCR.HD): the caller then records the page as dirty.
        """
        desc = s1.desc
        ap = DESC_AP.get(desc)  # AP[2:1]
        dirty = False
        if acc.write and ap & 2 and desc & DESC_DBM and s1.hd and not s1.ap_table & 2:
            ap &= 1  # writable through DBM; the update happens only for a real store
            dirty = not acc.at
        if s1.ap_table & 2:
            ap |= 2  # APTable[1]: no write at any EL
        wxn = sctlr & SCTLR_WXN
        if regime == REGIME_EL2:
            # one privilege level: AP[1] and PXN are RES1/RES0, bit 54 is XN
            writable = not ap & 2
            if acc.fetch:
                ok = not (desc & DESC_XN or s1.xn_table or (wxn and writable))
            else:
                ok = writable or not acc.write
        else:
            if s1.ap_table & 1:
                ap &= 2  # APTable[0]: no EL0 access
            uxn = desc & DESC_UXN or s1.xn_table
            pxn = desc & DESC_PXN or s1.pxn_table
            el0_rw = ap == 1
            if acc.el == 0:
                if acc.fetch:
                    ok = not (uxn or (wxn and el0_rw))
                else:
                    ok = bool(ap & 1) and (el0_rw or not acc.write)
            elif acc.fetch:
                # a page EL0 can write is never executable at EL1
                ok = not (pxn or el0_rw or (wxn and not ap & 2))
            else:
                ok = not (acc.write and ap & 2)
                # pan.md §4: PAN in effect is a property of the memory context (armnv_pan_active)
                if ok and acc.pan and self.machine.mem.current.pan_active:
                    epan = self.limits.pan3 and sctlr & SCTLR_EPAN
                    if ap & 1 or (epan and not uxn):
                        ok = False  # pan.md §4: privileged access to an EL0-accessible page
        if not ok:
            raise TranslationFault(syn.FSC_PERMISSION + s1.level)
        return dirty

    def _reinterpret(self, cpu: CPUState, regime: str, stage: int, desc: int, level: int, is_table: bool) -> int:
        new = self.hook.armnv_descriptor(cpu=cpu, regime=regime, stage=stage, desc=desc, level=level, is_table=is_table)
        return desc if new is None else new

    # ---- stage 2 --------------------------------------------------------------------------------
    def stage2(self, cpu: CPUState, ipa: int, acc: Access, *, s1ptw: bool) -> tuple[int, int, int]:
        """Translate an IPA: (PA, MemAttr[3:0], SH), or a stage-2 fault (MMU-06).

        With `s1ptw` the access is a read of a stage-1 table entry made for `acc`.
        """
        try:
            return self._stage2(cpu, ipa, acc, s1ptw)
        except TranslationFault as fault:
            fault.stage2 = True
            fault.s1ptw = s1ptw
            fault.ipa = ipa
            raise

    def _stage2(self, cpu: CPUState, ipa: int, acc: Access, s1ptw: bool) -> tuple[int, int, int]:
        p = stage2_params(cpu, self.limits)
        if ipa >> p.inputsize:
            raise TranslationFault(syn.FSC_TRANSLATION)
        g = p.granule
        table = p.base
        level = p.start_level
        while True:
            shift = g.level_shift(level)
            bits = p.inputsize - shift if level == p.start_level else g.stride
            desc_pa = table | (((ipa >> shift) & ((1 << bits) - 1)) << 3)
            desc = self.read_desc(desc_pa, level)
            if self.log:
                self.path.append(f"s2 L{level} [{desc_pa:#x}]={desc:#x}")
            if not desc & DESC_VALID:
                raise TranslationFault(syn.FSC_TRANSLATION + level)
            is_table = level < 3 and bool(desc & DESC_TABLE)
            if self.desc_hook:
                desc = self._reinterpret(cpu, REGIME_EL10, 2, desc, level, is_table)
            if is_table:
                nxt = desc & OA_MASK & ~((1 << g.shift) - 1)
                if nxt >> p.oa_bits:
                    raise TranslationFault(syn.FSC_ADDR_SIZE + level)
                table = nxt
                level += 1
                continue
            if (level == 3 and not desc & DESC_TABLE) or (level < 3 and level not in g.block_levels):
                raise TranslationFault(syn.FSC_TRANSLATION + level)
            pa = desc & OA_MASK & ~((1 << shift) - 1)
            if pa >> p.oa_bits:
                raise TranslationFault(syn.FSC_ADDR_SIZE + level)
            break
        # the table walk's own reads are real accesses: they check AF even for AT
        desc = self.check_af(desc, desc_pa, level, acc, p.ha, s1ptw)
        memattr = DESC_MEMATTR.get(desc)
        if s1ptw:
            ok = bool(desc & DESC_AP1)  # S2AP[0]: the walk reads
            if ok and cpu.sr["HCR_EL2"] & HCR_PTW and is_device(s2_to_mair(memattr)):
                ok = False  # HCR_EL2.PTW: stage-1 tables in Device memory
        elif acc.fetch:
            ok = self._s2_executable(desc, acc.el)
        else:
            ok = bool(desc & (DESC_AP2 if acc.write else DESC_AP1))
            if not ok and acc.write and desc & DESC_DBM and p.hd and not acc.at:
                desc = self._write_back(desc_pa, desc | DESC_AP2)
                ok = True
        if not ok:
            raise TranslationFault(syn.FSC_PERMISSION + level)
        return pa | (ipa & ((1 << shift) - 1)), memattr, DESC_SH.get(desc)

    def _s2_executable(self, desc: int, el: int) -> bool:
        if not self.limits.xnx:
            return not desc & DESC_XN
        xn = DESC_S2XN.get(desc)  # FEAT_XNX: 0 all, 1 EL0 only, 2 none, 3 EL1 only
        return xn in ((0, 3) if el else (0, 1))

    # ---- descriptors ------------------------------------------------------------------------------
    def read_desc(self, pa: int, level: int) -> int:
        """A table entry (little-endian); not RAM is a synchronous external abort on the walk."""
        off = pa - self.ram_base
        if off < 0 or pa + 8 > self.ram_end:
            raise TranslationFault(syn.FSC_EXTERNAL_WALK + level)
        return int.from_bytes(self.ram[off : off + 8], "little")

    def _write_back(self, pa: int, desc: int) -> int:
        off = pa - self.ram_base
        self.ram[off : off + 8] = desc.to_bytes(8, "little")
        self.machine.mem.code_written(off, 8)
        return desc

    def check_af(self, desc: int, desc_pa: int, level: int, acc: Access, ha: bool, s1ptw: bool) -> int:
        """Access flag: set by hardware when managed (TCR.HA/VTCR.HA), else a fault.

        An AT instruction reports a translation whose final descriptor has AF == 0 as
        successful (board facts); reads of stage-1 tables through stage 2 still check it.
        """
        if desc & DESC_AF:
            return desc
        if acc.at and not s1ptw:
            return desc
        if ha:
            return self._write_back(desc_pa, desc | DESC_AF)
        raise TranslationFault(syn.FSC_ACCESS_FLAG + level)

    def _log(self, regime: str, va: int, acc: Access, result: str) -> None:
        kind = "fetch" if acc.fetch else ("write" if acc.write else "read")
        walk = "; ".join(self.path)
        self.machine.logger.msg(
            "mmu.walk", regime=regime, va=va, access=kind, el=acc.el, at=acc.at, walk=walk, result=result
        )
