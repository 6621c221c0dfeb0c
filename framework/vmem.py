"""The memory system seen by the CPU: contexts, software TLBs, translation and faults.

A *context* is everything a virtual address means at the moment: it is keyed
by (EL, PSTATE.PAN, the translation-relevant HCR_EL2/SCTLR bits). Each
context owns a read TLB, a write TLB and a cache of translated blocks by
virtual PC; switching context (exception entry, ERET, MSR PAN) is a dict
lookup. Writes to translation-control registers and TLBI drop the TLBs.

Translation itself is the MMU plugin's (`armnv_translate`); without it, or
when it declines (stage 1 and stage 2 off), the address is used as the
physical address, with the PA-size check of syndromes.md §6.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from framework.cpu import syndrome as syn
from framework.cpu.exceptions import HCR_TGE, hcr, take_exception
from framework.errors import BusError, ExceptionTaken
from framework.memory import ACC_ALIGNED, ACC_UNPRIV, ISS_MASK, PAGE

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.machine import Machine


@attrs.define(slots=True)
class Access:
    """What the translation is for (passed to the MMU plugin's hook)."""

    write: bool = False
    fetch: bool = False
    el: int = 1  # the EL whose permissions apply (0 for LDTR/STTR and EL0)
    at: bool = False  # an AT instruction
    pan: bool = True  # PSTATE.PAN may apply


@attrs.define(slots=True)
class Translation:
    """A successful translation."""

    pa: int
    device: bool = False
    # the whole page may be cached in the TLB for this access kind
    cacheable: bool = True
    attrs: int = 0  # MAIR attribute byte (for PAR_EL1)
    sh: int = 0


class TranslationFault(Exception):  # noqa: N818 - architectural fault, not a Python error
    """A fault found by translation; the kernel turns it into an abort syndrome."""

    def __init__(self, fsc: int, *, stage2: bool = False, s1ptw: bool = False, ipa: int | None = None) -> None:
        super().__init__(hex(fsc))
        self.fsc = fsc
        self.stage2 = stage2
        self.s1ptw = s1ptw
        self.ipa = ipa


@attrs.define(slots=True, eq=False)
class Context:
    tlb_r: dict[int, int] = attrs.field(factory=dict)
    tlb_w: dict[int, int] = attrs.field(factory=dict)
    vcache: dict[int, Any] = attrs.field(factory=dict)
    vcache1: dict[int, Any] = attrs.field(factory=dict)


class MemorySystem:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.bus = machine.bus
        ram = machine.bus.ram
        self.ram_buf = ram.buf
        self.ram_base = ram.base
        self.ram_end = ram.base + ram.size
        self.contexts: dict[tuple, Context] = {}
        self.pa_bits = 48
        self.has_translate_hook = False

    # ---- contexts ---------------------------------------------------------------------
    def context_key(self, cpu: CPUState) -> tuple:
        sr = cpu.sr
        return (cpu.el, cpu.pan, sr["HCR_EL2"], sr["SCTLR_EL1"] & 1, sr["SCTLR_EL2"] & 1)

    def switch(self, cpu: CPUState) -> None:
        """Select the context of the CPU's current state."""
        key = self.context_key(cpu)
        ctx = self.contexts.get(key)
        if ctx is None:
            ctx = self.contexts[key] = Context()
        cpu.tlb_r = ctx.tlb_r
        cpu.tlb_w = ctx.tlb_w
        cpu.vcache = ctx.vcache
        cpu.vcache1 = ctx.vcache1

    def flush_tlbs(self) -> None:
        """Drop every cached translation (and, with them, the VA → block caches)."""
        for ctx in self.contexts.values():
            ctx.tlb_r.clear()
            ctx.tlb_w.clear()
            ctx.vcache.clear()
            ctx.vcache1.clear()

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
            unpriv_el = self.machine.unprivileged_el(cpu)
            return Access(write=write, el=unpriv_el)
        return Access(write=write, el=el)

    def translate_access(
        self, cpu: CPUState, va: int, size: int, write: bool, pc: int, acc_flags: int
    ) -> tuple[int, int | None]:
        """Translate a data access; return (pa, RAM offset or None). Faults become aborts."""
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
            if tr.cacheable and not acc_flags & ACC_UNPRIV:
                page_off = ram_off & ~(PAGE - 1)
                vpage = va >> 12
                if write:
                    if page_off >> 12 not in self.machine.engine.code_pages:
                        cpu.tlb_w[vpage] = page_off - (vpage << 12)
                else:
                    cpu.tlb_r[vpage] = page_off - (vpage << 12)
            return pa, ram_off
        return pa, None

    def translate_fetch(self, cpu: CPUState, va: int) -> int:
        """Translate an instruction fetch; return the PA. Faults become instruction aborts."""
        try:
            tr = self.translate(cpu, va, Access(fetch=True, el=cpu.el))
        except TranslationFault as fault:
            self.instruction_abort(cpu, va, fault)
        return tr.pa

    # ---- faults ------------------------------------------------------------------------
    def check_alignment(self, cpu: CPUState, va: int, size: int, write: bool, pc: int, acc_flags: int) -> None:
        """Unaligned access: fault for exclusives/atomics, or when SCTLR_ELx.A is set."""
        if acc_flags & ACC_ALIGNED or self.machine.sctlr_a(cpu):
            self.data_abort(cpu, va, TranslationFault(syn.FSC_ALIGNMENT), write, pc, acc_flags)

    def abort_target(self, cpu: CPUState, fault: TranslationFault) -> int:
        if fault.stage2 or (cpu.el == 0 and hcr(cpu) & HCR_TGE) or cpu.el == 2:
            return 2
        return max(cpu.el, 1)

    def data_abort(self, cpu: CPUState, va: int, fault: TranslationFault, write: bool, pc: int, acc_flags: int):
        target = self.abort_target(cpu, fault)
        ec = syn.EC_DABT_SAME if target == cpu.el else syn.EC_DABT_LOWER
        isv = acc_flags & ISS_MASK if fault.stage2 and not fault.s1ptw else 0
        esr = syn.abort(ec, fault.fsc, wnr=write, s1ptw=fault.s1ptw, isv_bits=isv)
        self._abort(cpu, target, esr, va, pc, fault)

    def instruction_abort(self, cpu: CPUState, va: int, fault: TranslationFault):
        target = self.abort_target(cpu, fault)
        ec = syn.EC_IABT_SAME if target == cpu.el else syn.EC_IABT_LOWER
        esr = syn.abort(ec, fault.fsc, s1ptw=fault.s1ptw)
        self._abort(cpu, target, esr, va, va, fault)

    def _abort(self, cpu: CPUState, target: int, esr: int, va: int, pc: int, fault: TranslationFault):
        if target == 2 and fault.ipa is not None:
            cpu.sr["HPFAR_EL2"] = (fault.ipa >> 12) << 4
        self.machine.log_mmu_fault(va, esr, target)
        take_exception(cpu, target, esr, pc, far=va)
        raise ExceptionTaken(pc)

    def fetch_external_abort(self, cpu: CPUState, va: int):
        """An instruction fetch from a PA that is not RAM (instruction abort, IFSC 0x10)."""
        self.instruction_abort(cpu, va, TranslationFault(syn.FSC_EXTERNAL))

    def external_abort(self, cpu: CPUState, va: int, pa: int, write: bool, pc: int, acc_flags: int):
        self.data_abort(cpu, va, TranslationFault(syn.FSC_EXTERNAL), write, pc, acc_flags)

    # ---- EL2-regime accesses (FEAT_NV2 VNCR page) ----------------------------------------
    def el2_load64(self, cpu: CPUState, va: int, pc: int) -> int:
        pa = self.machine.el2_data_translate(cpu, va, False, pc)
        try:
            return self.bus.read(pa, 8)
        except BusError:
            self.machine.el2_data_fault(cpu, va, TranslationFault(syn.FSC_EXTERNAL), False, pc)
            raise

    def el2_store64(self, cpu: CPUState, va: int, value: int, pc: int) -> None:
        pa = self.machine.el2_data_translate(cpu, va, True, pc)
        try:
            self.bus.write(pa, 8, value)
        except BusError:
            self.machine.el2_data_fault(cpu, va, TranslationFault(syn.FSC_EXTERNAL), True, pc)
            raise
        self.code_written(pa - self.ram_base, 8)
