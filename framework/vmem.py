"""The memory system seen by the CPU: contexts, software TLBs, translation and faults.

A *context* is everything a virtual address means at the moment: it is keyed
by (EL, PSTATE.PAN, the translation-relevant HCR_EL2 bits, SCTLR_ELx.M, ASID,
VMID). Each context (`framework.vcontext.Context`) owns a read TLB, a write
TLB, an instruction TLB and a cache of translated blocks by virtual PC;
switching context (exception entry,
ERET, MSR PAN, a TTBR write with another ASID) is a dict lookup, and entries
of other ASIDs and VMIDs stay cached, as on hardware with tagged TLBs.

What drops entries: TLBI (`invalidate`, by regime, VMID, ASID and page), and
writes to translation-control registers other than the ASID/VMID-tagged base
registers (SCTLR, TCR, MAIR, VTCR, and HCR_EL2 when a translation bit changes),
which flush everything, as the reference does (mmu.md MMU-04).

Translation itself is the MMU plugin's (`armnv_translate`); without it, or
when it declines (stage 1 and stage 2 off), the address is used as the
physical address, with the PA-size check of syndromes.md §6.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from framework.arch import (
    HCR_DC,
    HCR_DCT,
    HCR_E2H,
    HCR_FWB,
    HCR_NV,
    HCR_NV1,
    HCR_PTW,
    HCR_TGE,
    HCR_VM,
    HPFAR_FIPA,
    SCTLR_EE,
    SCTLR_M,
    TCR_A1,
    TCR_AS,
    TTBR_ASID,
    VTCR_VS,
    VTTBR_VMID,
)
from framework.cpu import syndrome as syn
from framework.cpu.decisions import sctlr_a, unprivileged_el
from framework.cpu.exceptions import take_exception
from framework.errors import BusError, ExceptionTaken
from framework.memory import ACC_ALIGNED, ACC_UNPRIV, ISS_MASK, PAGE
from framework.vcontext import REGIME_EL2, REGIME_EL10, REGIME_EL20, Context

if TYPE_CHECKING:
    from collections.abc import Callable

    from framework.cpu.state import CPUState
    from framework.cpu.sysregs import SysReg
    from framework.machine import Machine

# HCR_EL2 bits that change how addresses translate: VM, PTW, DC, TGE, E2H, NV, NV1, FWB, DCT.
# A change of one of them flushes every TLB (the reference does, NV-05, MMU-04); the
# other bits (traps, virtual interrupt lines) leave translations alone.
HCR_TRANSLATION = HCR_VM | HCR_PTW | HCR_DC | HCR_TGE | HCR_E2H | HCR_NV | HCR_NV1 | HCR_FWB | HCR_DCT

# Base registers whose entries are tagged by ASID or VMID: writing them switches to the
# context of the new ASID/VMID instead of dropping everything. Entries of the same
# ASID/VMID may stay cached until a TLBI, which the architecture allows.
TAGGED_BASE_REGS = frozenset({"TTBR0_EL1", "TTBR1_EL1", "TTBR0_EL2", "TTBR1_EL2", "VTTBR_EL2"})

# More contexts than this are dropped wholesale (a TLB of bounded size)
MAX_CONTEXTS = 64

M64 = (1 << 64) - 1


def regime_of(el: int, hcr_el2: int) -> str:
    """The translation regime of an access made at `el` (VHE: E2H, TGE)."""
    if el == 2:
        return REGIME_EL20 if hcr_el2 & HCR_E2H else REGIME_EL2
    if el == 0 and hcr_el2 & (HCR_E2H | HCR_TGE) == HCR_E2H | HCR_TGE:
        return REGIME_EL20
    return REGIME_EL10


def current_asid(cpu: CPUState, regime: str) -> int:
    """The ASID of the current context: TCR.A1 picks TTBR1 or TTBR0, TCR.AS picks 16 or 8 bits."""
    sr = cpu.sr
    if regime == REGIME_EL10:
        tcr, ttbr0, ttbr1 = sr["TCR_EL1"], "TTBR0_EL1", "TTBR1_EL1"
    elif regime == REGIME_EL20:
        tcr, ttbr0, ttbr1 = sr["TCR_EL2"], "TTBR0_EL2", "TTBR1_EL2"
    else:
        return 0
    asid = TTBR_ASID.get(sr[ttbr1 if tcr & TCR_A1 else ttbr0])
    return asid if tcr & TCR_AS else asid & 0xFF


def current_vmid(cpu: CPUState) -> int:
    """VTTBR_EL2.VMID, 16 bits when VTCR_EL2.VS is set, else 8."""
    vmid = VTTBR_VMID.get(cpu.sr["VTTBR_EL2"])
    return vmid if cpu.sr["VTCR_EL2"] & VTCR_VS else vmid & 0xFF


@attrs.define(slots=True)
class Access:
    """What the translation is for (passed to the MMU plugin's hook)."""

    write: bool = False
    fetch: bool = False
    el: int = 1  # the EL whose permissions apply (0 for LDTR/STTR and EL0)
    at: bool = False  # an AT instruction: no Access flag fault, nothing cached
    pan: bool = True  # PSTATE.PAN may apply (False for AT S1E1R/W)
    # the regime to translate in (REGIME_*), when it is not the current EL's (AT, VNCR_EL2)
    regime: str | None = None
    # stage 1 only (AT S1E0*/S1E1*): the result is the IPA; the table walk still uses stage 2
    stage1_only: bool = False


@attrs.define(slots=True)
class Translation:
    """A successful translation."""

    pa: int
    device: bool = False
    # the whole page may be cached in the TLB for this access kind
    cacheable: bool = True
    attrs: int = 0  # MAIR attribute byte (for PAR_EL1), stage 2 combined in
    sh: int = 0  # shareability (PAR_EL1.SH encoding)
    # log2 of the size the stage-1 mapping covers (12 for a 4 KiB page, 21 for a 2 MiB block):
    # a TLBI by VA drops every cached page of that mapping
    size_shift: int = 12


class TranslationFault(Exception):  # noqa: N818 - architectural fault, not a Python error
    """A fault found by translation; the kernel turns it into an abort syndrome.

    `fsc` is the DFSC/IFSC (syndromes.md §8, level included); `stage2` marks a
    stage-2 fault, `s1ptw` a stage-2 fault on the stage-1 table walk; `ipa` is the
    IPA for HPFAR_EL2 (of the faulting access, or of the table entry for S1PTW).
    """

    def __init__(self, fsc: int, *, stage2: bool = False, s1ptw: bool = False, ipa: int | None = None) -> None:
        super().__init__(hex(fsc))
        self.fsc = fsc
        self.stage2 = stage2
        self.s1ptw = s1ptw
        self.ipa = ipa


class MemorySystem:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.bus = machine.bus
        ram = machine.bus.ram
        self.ram_buf = ram.buf
        self.ram_base = ram.base
        self.ram_end = ram.base + ram.size
        self.contexts: dict[tuple, Context] = {}
        self.current = Context()
        self.pa_bits = 48
        self.has_translate_hook = False
        self.has_pan_hook = False
        # per-machine state of the translation plugin (set by it; the kernel never looks inside)
        self.mmu: Any = None
        # a debugger's watchpoints: called with (cpu, va, size, write, pc) on every data access
        # (nothing is cached in the TLBs while it is set, so every access comes through here)
        self.watch: Callable[[CPUState, int, int, bool, int], None] | None = None
        self._hcr_seen = 0
        # EL << 1 | PAN -> the context and the dictionaries the CPU reads for it (see switch),
        # valid until the next configuration write
        self._recent: dict[int, tuple] = {}
        # access decisions by EL (they depend on nothing else but configuration registers):
        # every context of an EL shares them, dropped together by `drop_decisions`
        self.decisions: tuple[dict[int, Any], ...] = tuple({} for _ in range(4))
        self.fast: tuple[dict[int, Any], ...] = tuple({} for _ in range(4))
        # the accesses those decisions trap, as `framework.cpu.sysaccess.TrapPlan`s
        self.traps: tuple[dict[int, Any], ...] = tuple({} for _ in range(4))
        # redirected accesses made on RAM by generated code (`keep_el2_access`): they hold a
        # translation, so TLB maintenance drops them as well as a decision change
        self.vfast: tuple[dict[int, Any], ...] = tuple({} for _ in range(4))

    # ---- contexts ---------------------------------------------------------------------
    def context_key(self, cpu: CPUState) -> tuple:
        sr = cpu.sr
        el = cpu.el
        hcr_el2 = sr["HCR_EL2"]
        regime = regime_of(el, hcr_el2)
        asid = current_asid(cpu, regime)
        vmid = current_vmid(cpu) if regime == REGIME_EL10 else 0
        return (
            el,
            cpu.pan,
            hcr_el2 & HCR_TRANSLATION,
            sr["SCTLR_EL1"] & SCTLR_M,
            sr["SCTLR_EL2"] & SCTLR_M,
            regime,
            asid,
            vmid,
        )

    def switch(self, cpu: CPUState) -> None:
        """Select the context of the CPU's current state.

        Between two writes of configuration registers the context depends only on
        PSTATE.EL and PSTATE.PAN, so exception entry and return find it in `_recent`,
        with the dictionaries the CPU reads for it (`_selection`).
        """
        chosen = self._recent.get((cpu.el << 1) | cpu.pan)
        if chosen is None:
            chosen = self._select(cpu)
        (
            self.current,
            cpu.tlb_r,
            cpu.tlb_w,
            cpu.vcache,
            cpu.vcache1,
            cpu.dcache,
            cpu.dfast,
            cpu.dtrap,
            cpu.vfast,
        ) = chosen

    def _select(self, cpu: CPUState) -> tuple:
        el = cpu.el
        key = self.context_key(cpu)
        ctx = self.contexts.get(key)
        if ctx is None:
            if len(self.contexts) >= MAX_CONTEXTS:
                self.contexts.clear()
                self._recent.clear()
            ctx = self.contexts[key] = Context(regime=key[5], asid=key[6], vmid=key[7])
            if self.has_pan_hook:
                ctx.pan_active = bool(self.machine.hook.armnv_pan_active(cpu=cpu))
        chosen = self._recent[(el << 1) | cpu.pan] = (
            ctx,
            ctx.tlb_r,
            ctx.tlb_w,
            ctx.vcache,
            ctx.vcache1,
            self.decisions[el],
            self.fast[el],
            self.traps[el],
            self.vfast[el],
        )
        return chosen

    def drop_decisions(self, cpu: CPUState) -> None:
        """Forget every cached access decision (a control they read was written)."""
        for d in self.decisions:
            d.clear()
        for d in self.fast:
            d.clear()
        for d in self.traps:
            d.clear()
        self.drop_el2_accesses()
        cpu.dcache.clear()
        cpu.dfast.clear()
        cpu.dtrap.clear()
        cpu.vfast.clear()
        cpu.entry_hooks = None
        cpu.eret_plans.clear()
        cpu.entry_plans.clear()

    def drop_el2_accesses(self) -> None:
        """Forget every redirected access generated code makes on RAM (a translation may change)."""
        for d in self.vfast:
            d.clear()

    def config_written(self, cpu: CPUState, reg: SysReg) -> None:
        """A configuration register was written: drop what it may change (MMU-04)."""
        self._recent.clear()
        self.drop_decisions(cpu)
        if reg.slot in TAGGED_BASE_REGS:
            return  # the caller switches context: a new ASID/VMID gets its own TLB
        if reg.slot == "HCR_EL2":
            bits = cpu.sr["HCR_EL2"] & HCR_TRANSLATION
            if bits == self._hcr_seen:
                return
            self._hcr_seen = bits
        self.flush_tlbs()

    def drop_contexts(self, cpu: CPUState) -> None:
        """Forget every context, and the translations and permissions cached in them.

        For a new set of plugins: what `armnv_translate` and `armnv_pan_active` answered
        before may no longer be the answer.
        """
        self.contexts.clear()
        self._recent.clear()
        self.drop_decisions(cpu)
        self.switch(cpu)

    def flush_tlbs(self) -> None:
        """Drop every cached translation (and, with them, the VA → block caches)."""
        for ctx in self.contexts.values():
            ctx.clear()
        self.drop_el2_accesses()

    def invalidate(
        self,
        regimes: tuple[str, ...],
        *,
        vmid: int | None = None,
        asid: int | None = None,
        va: int | None = None,
    ) -> None:
        """TLB maintenance: drop the entries of `regimes` for one VMID/ASID (all when None).

        With `va`, only the pages of the mapping(s) containing that address go (in
        every ASID: global entries are cached per ASID here); the decoded-code
        caches of the contexts touched are dropped with them, and every redirected
        access made on RAM (whichever TLBI: they are few and cheap to make again).
        """
        self.drop_el2_accesses()
        for ctx in self.contexts.values():
            if ctx.regime not in regimes:
                continue
            if (vmid is not None and ctx.vmid != vmid) or (asid is not None and ctx.asid != asid):
                continue
            if va is None:
                ctx.clear()
            else:
                ctx.drop_va(va)

    def flush_code_caches(self) -> None:
        for ctx in self.contexts.values():
            ctx.vcache.clear()
            ctx.vcache1.clear()

    def drop_write_entries(self, ram_page_off: int) -> None:
        """Make stores to a RAM page take the slow path (the page now holds translated code)."""
        for ctx in self.contexts.values():
            tw = ctx.tlb_w
            stale = [vp for vp, base in tw.items() if base + (vp << 12) == ram_page_off]
            for vp in stale:
                del tw[vp]
        page = ram_page_off >> 12
        for d in self.vfast:
            stale = [ck for ck, entry in d.items() if not ck & 1 and entry[0] >> 9 == page]
            for ck in stale:
                del d[ck]

    def code_written(self, ram_off: int, size: int) -> None:
        engine = self.machine.engine
        if engine.code_pages:
            engine.code_written(ram_off, size)

    # ---- translation --------------------------------------------------------------------
    def translate(self, cpu: CPUState, va: int, acc: Access) -> Translation:
        """Translate or raise TranslationFault."""
        if self.has_translate_hook:
            result = self.machine.hook.armnv_translate(cpu=cpu, va=va, access=acc)
            if result is not None:
                return result
        if va >> self.pa_bits:
            raise TranslationFault(syn.FSC_ADDR_SIZE)
        device = not (self.ram_base <= va < self.ram_end)
        return Translation(va, device=device)

    def access_for(self, cpu: CPUState, write: bool, acc_flags: int) -> Access:
        el = cpu.el
        if acc_flags & ACC_UNPRIV:
            return Access(write=write, el=unprivileged_el(cpu))
        return Access(write=write, el=el)

    def translate_access(
        self, cpu: CPUState, va: int, size: int, write: bool, pc: int, acc_flags: int
    ) -> tuple[int, int | None]:
        """Translate a data access; return (pa, RAM offset or None). Faults become aborts."""
        if self.watch is not None:
            self.watch(cpu, va, size, write, pc)
        acc = self.access_for(cpu, write, acc_flags)
        try:
            tr = self.translate(cpu, va, acc)
        except TranslationFault as fault:
            self.data_abort(cpu, va, fault, write, pc, acc_flags)
        pa = tr.pa
        if tr.device and va & (size - 1):
            # unaligned access to Device memory: alignment fault whatever SCTLR.A says
            self.data_abort(cpu, va, TranslationFault(syn.FSC_ALIGNMENT), write, pc, acc_flags)
        ram_off = pa - self.ram_base
        if ram_off >= 0 and pa + size <= self.ram_end:
            if tr.cacheable and not acc_flags & ACC_UNPRIV and self.watch is None:
                # only the permission just checked, for the current context, is cached
                page_off = ram_off & ~(PAGE - 1)
                vpage = va >> 12
                if write:
                    if page_off >> 12 not in self.machine.engine.code_pages:
                        cpu.tlb_w[vpage] = page_off - (vpage << 12)
                        self.current.note(va, tr.size_shift)
                else:
                    cpu.tlb_r[vpage] = page_off - (vpage << 12)
                    self.current.note(va, tr.size_shift)
            return pa, ram_off
        return pa, None

    def translate_fetch(self, cpu: CPUState, va: int) -> int:
        """Translate an instruction fetch; return the PA. Faults become instruction aborts."""
        ctx = self.current
        vpage = va >> 12
        page = ctx.tlb_x.get(vpage)
        if page is not None:
            return page | (va & (PAGE - 1))
        try:
            tr = self.translate(cpu, va, Access(fetch=True, el=cpu.el))
        except TranslationFault as fault:
            self.instruction_abort(cpu, va, fault)
        pa = tr.pa
        if tr.cacheable and self.ram_base <= pa < self.ram_end:
            ctx.tlb_x[vpage] = pa & ~(PAGE - 1)
            ctx.note(va, tr.size_shift)
        return pa

    # ---- faults ------------------------------------------------------------------------
    def check_alignment(self, cpu: CPUState, va: int, size: int, write: bool, pc: int, acc_flags: int) -> None:
        """Unaligned access: fault for exclusives/atomics, or when SCTLR_ELx.A is set."""
        if acc_flags & ACC_ALIGNED or sctlr_a(cpu):
            self.data_abort(cpu, va, TranslationFault(syn.FSC_ALIGNMENT), write, pc, acc_flags)

    def abort_target(self, cpu: CPUState, fault: TranslationFault) -> int:
        if fault.stage2 or (cpu.el == 0 and cpu.sr["HCR_EL2"] & HCR_TGE) or cpu.el == 2:
            return 2
        return max(cpu.el, 1)

    def data_abort(
        self,
        cpu: CPUState,
        va: int,
        fault: TranslationFault,
        write: bool,
        pc: int,
        acc_flags: int,
        *,
        cm: bool = False,
        target: int | None = None,
    ):
        """Take a Data Abort for `fault` at the instruction `pc` (CM: an AT/cache maintenance walk)."""
        if target is None:
            target = self.abort_target(cpu, fault)
        ec = syn.EC_DABT_SAME if target == cpu.el else syn.EC_DABT_LOWER
        isv = acc_flags & ISS_MASK if fault.stage2 and not fault.s1ptw else 0
        esr = syn.abort(ec, fault.fsc, wnr=write, s1ptw=fault.s1ptw, cm=cm, isv_bits=isv)
        self._abort(cpu, target, esr, va, pc, fault)

    def instruction_abort(self, cpu: CPUState, va: int, fault: TranslationFault):
        target = self.abort_target(cpu, fault)
        ec = syn.EC_IABT_SAME if target == cpu.el else syn.EC_IABT_LOWER
        esr = syn.abort(ec, fault.fsc, s1ptw=fault.s1ptw)
        self._abort(cpu, target, esr, va, va, fault)

    def _abort(self, cpu: CPUState, target: int, esr: int, va: int, pc: int, fault: TranslationFault):
        if target == 2 and fault.ipa is not None:
            # HPFAR_EL2.FIPA = IPA[51:12] (MMU-06)
            cpu.sr["HPFAR_EL2"] = HPFAR_FIPA.put(fault.ipa >> 12)
        self.machine.log_mmu_fault(va, esr, target)
        take_exception(cpu, target, esr, pc, far=va)
        raise ExceptionTaken(pc)

    def fetch_external_abort(self, cpu: CPUState, va: int):
        """An instruction fetch from a PA that is not RAM (instruction abort, IFSC 0x10)."""
        self.instruction_abort(cpu, va, TranslationFault(syn.FSC_EXTERNAL))

    def external_abort(self, cpu: CPUState, va: int, pa: int, write: bool, pc: int, acc_flags: int):
        self.data_abort(cpu, va, TranslationFault(syn.FSC_EXTERNAL), write, pc, acc_flags)

    # ---- EL2-regime accesses (a ToMemory access decision, FEAT_NV2's VNCR page) ------------
    def el2_translate(self, cpu: CPUState, va: int, write: bool, pc: int) -> int:
        """Translate a 64-bit access made in the EL2 (E2H = 0) or EL2&0 (E2H = 1) regime.

        Privileged EL2 permissions, PAN never applies, stage 1 only (NV2-06). A fault is a
        Data Abort to EL2 with EC 0x25 and ISS.VNCR set, even from EL1 (NV2-14, U-2).
        """
        return self._el2_translation(cpu, va, write, pc).pa

    def _el2_translation(self, cpu: CPUState, va: int, write: bool, pc: int) -> Translation:
        regime = REGIME_EL20 if cpu.sr["HCR_EL2"] & HCR_E2H else REGIME_EL2
        try:
            return self.translate(cpu, va, Access(write=write, el=2, pan=False, regime=regime))
        except TranslationFault as fault:
            self.vncr_abort(cpu, va, fault, write, pc)

    def vncr_abort(self, cpu: CPUState, va: int, fault: TranslationFault, write: bool, pc: int):
        esr = syn.abort(syn.EC_DABT_SAME, fault.fsc, wnr=write, vncr=True)
        self._abort(cpu, 2, esr, va, pc, fault)

    def _el2_big_endian(self, cpu: CPUState) -> bool:
        return bool(cpu.sr["SCTLR_EL2"] & SCTLR_EE)  # SCTLR_EL2.EE gives the byte order (NV2-07)

    def el2_load64(self, cpu: CPUState, va: int, pc: int, keep: tuple[int, str] | None = None) -> int:
        """The doubleword at `va` in the EL2 regime; `keep`: see `keep_el2_access`."""
        tr = self._el2_translation(cpu, va, False, pc)
        pa = tr.pa
        try:
            value = self.bus.read(pa, 8)
        except BusError:
            self.vncr_abort(cpu, va, TranslationFault(syn.FSC_EXTERNAL), False, pc)
        if self._el2_big_endian(cpu):
            value = int.from_bytes(value.to_bytes(8, "little"), "big")
        if keep is not None:
            self.keep_el2_access(cpu, keep, tr)
        return value

    def el2_store64(self, cpu: CPUState, va: int, value: int, pc: int, keep: tuple[int, str] | None = None) -> None:
        """Store the doubleword `value` at `va` in the EL2 regime; `keep`: see `keep_el2_access`."""
        tr = self._el2_translation(cpu, va, True, pc)
        pa = tr.pa
        if self._el2_big_endian(cpu):
            value = int.from_bytes(value.to_bytes(8, "little"), "big")
        try:
            self.bus.write(pa, 8, value)
        except BusError:
            self.vncr_abort(cpu, va, TranslationFault(syn.FSC_EXTERNAL), True, pc)
        if self.ram_base <= pa < self.ram_end:
            self.code_written(pa - self.ram_base, 8)
            if keep is not None:
                self.keep_el2_access(cpu, keep, tr)

    def keep_el2_access(self, cpu: CPUState, keep: tuple[int, str], tr: Translation) -> None:
        """Let generated code make a redirected access, just made through `tr`, on RAM itself.

        `keep` is (the access's decision-cache key, the register's name for ``--stats``).
        Only what the fast path can do exactly: a cacheable little-endian doubleword in
        RAM, and for a store a page that holds no translated code (that page's entries
        go when code appears there, see `drop_write_entries`, as a store's TLB entries do).
        """
        pa = tr.pa
        ram_off = pa - self.ram_base
        if not tr.cacheable or tr.device or pa & 7 or ram_off < 0 or pa + 8 > self.ram_end:
            return
        if self.watch is not None or self._el2_big_endian(cpu):
            return
        ck, name = keep
        if not ck & 1 and ram_off >> 12 in self.machine.engine.code_pages:
            return
        self.vfast[cpu.el][ck] = (ram_off >> 3, self.machine.stats.to_memory_regs, name)
