"""One translation context: its TLBs and its translated-block caches.

`framework.vmem.MemorySystem` keeps one `Context` per combination of what
changes the meaning of a virtual address (EL, PSTATE.PAN, translation
controls, ASID, VMID) and switches between them; this module is what one of
them holds and how a TLBI by address finds its entries.
"""

from __future__ import annotations

from typing import Any

import attrs

# Translation regimes (the names the hooks receive)
REGIME_EL10 = "EL1&0"
REGIME_EL2 = "EL2"
REGIME_EL20 = "EL2&0"

_VA_PAGE_LOW = (1 << 44) - 1  # VA[55:12]: a page number without the top byte (TBI tags)


@attrs.define(slots=True, eq=False)
class Context:
    regime: str = REGIME_EL10
    asid: int = 0
    vmid: int = 0
    # PSTATE.PAN restricts privileged data accesses (armnv_pan_active, asked once per context)
    pan_active: bool = False
    tlb_r: dict[int, int] = attrs.field(factory=dict)
    tlb_w: dict[int, int] = attrs.field(factory=dict)
    # instruction TLB: virtual page -> physical page address
    tlb_x: dict[int, int] = attrs.field(factory=dict)
    vcache: dict[int, Any] = attrs.field(factory=dict)
    vcache1: dict[int, Any] = attrs.field(factory=dict)
    # pages cached from mappings larger than a 4 KiB page: size shift -> mapping number (the
    # VA, tag dropped, shifted by the size) -> the TLB keys of its pages, so that a TLBI by VA
    # finds them without a scan of the TLBs (the kernel's flush_tlb_kernel_range issues up to
    # 512 of them in a row over a TLB of thousands of pages); and whether a TBI-tagged VA is there
    big: dict[int, dict[int, set[int]]] = attrs.field(factory=dict)
    tagged: bool = False

    def clear(self) -> None:
        self.tlb_r.clear()
        self.tlb_w.clear()
        self.tlb_x.clear()
        self.vcache.clear()
        self.vcache1.clear()
        self.big.clear()
        self.tagged = False

    def note(self, va: int, size_shift: int) -> None:
        """Remember what a TLBI by VA must look for (pages of big mappings, tagged addresses)."""
        if size_shift > 12:
            vpage = va >> 12
            mappings = self.big.get(size_shift)
            if mappings is None:
                mappings = self.big[size_shift] = {}
            number = (vpage & _VA_PAGE_LOW) >> (size_shift - 12)
            pages = mappings.get(number)
            if pages is None:
                mappings[number] = {vpage}
            else:
                pages.add(vpage)
        if (va >> 56) not in (0, 0xFF):
            self.tagged = True

    def drop_va(self, va: int) -> None:
        """Drop every cached page of the mapping(s) that may contain `va`, and the block cache."""
        tlbs = (self.tlb_r, self.tlb_w, self.tlb_x)
        if self.tagged:
            # a page may be cached under any tag: look at every entry
            vpage = (va >> 12) & _VA_PAGE_LOW
            spans = [(vpage, vpage + 1)]
            for shift in self.big:
                lo = vpage >> (shift - 12) << (shift - 12)
                spans.append((lo, lo + (1 << (shift - 12))))
            for tlb in tlbs:
                stale = [vp for vp in tlb if any(lo <= vp & _VA_PAGE_LOW < hi for lo, hi in spans)]
                for vp in stale:
                    del tlb[vp]
        else:
            vpage = va >> 12
            for tlb in tlbs:
                tlb.pop(vpage, None)
            for shift, mappings in self.big.items():
                pages = mappings.pop((vpage & _VA_PAGE_LOW) >> (shift - 12), None)
                if pages:
                    for vp in pages:
                        for tlb in tlbs:
                            tlb.pop(vp, None)
        self.vcache.clear()
        self.vcache1.clear()


__all__ = ["REGIME_EL2", "REGIME_EL10", "REGIME_EL20", "Context"]
