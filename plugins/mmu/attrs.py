"""Memory attributes: MAIR bytes, stage-2 MemAttr, their combination and PAR_EL1.SH (MMU-07)."""

from __future__ import annotations

SH_NON, SH_OUTER, SH_INNER = 0, 2, 3
NC = 0x4  # a Normal Non-cacheable MAIR nibble


def is_device(attr: int) -> bool:
    """A MAIR attribute byte with [7:4] == 0 is Device memory."""
    return attr & 0xF0 == 0


def _s2_nibble(cache: int) -> int:
    # MemAttr cacheability 01 NC, 10 WT, 11 WB; WT/WB read as read/write-allocate (0 is reserved: NC)
    return NC if cache <= 1 else (cache << 2) | 3


def s2_to_mair(memattr: int) -> int:
    """A stage-2 MemAttr[3:0] as a MAIR-format byte (without FEAT_S2FWB)."""
    outer, inner = memattr >> 2, memattr & 3
    if outer == 0:
        return inner << 2  # Device: nGnRnE, nGnRE, nGRE, GRE
    return (_s2_nibble(outer) << 4) | _s2_nibble(inner)


def _combine_nibble(s1: int, s2: int) -> int:
    """Cacheability of one level (inner or outer): Non-cacheable, then write-through, win."""
    if s1 == NC or s2 == NC:
        return NC
    if s1 >> 2 in (0, 2):
        return s1  # stage-1 write-through
    if s2 >> 2 == 2:
        return 0x8 | (s1 & 3)  # stage-2 write-through, with stage 1's allocation hints
    return s1


def combine_s2(s1_attr: int, s1_sh: int, memattr: int, s2_sh: int) -> tuple[int, int]:
    """The attributes of a stage 1 + stage 2 translation: (MAIR byte, shareability)."""
    s2_attr = s2_to_mair(memattr)
    if is_device(s1_attr) or is_device(s2_attr):
        # Device wins over Normal, and the stricter Device type (nGnRnE < nGnRE < nGRE < GRE)
        t1 = s1_attr >> 2 & 3 if is_device(s1_attr) else 3
        t2 = s2_attr >> 2 & 3 if is_device(s2_attr) else 3
        return min(t1, t2) << 2, SH_OUTER
    attr = (_combine_nibble(s1_attr >> 4, s2_attr >> 4) << 4) | _combine_nibble(s1_attr & 0xF, s2_attr & 0xF)
    if SH_OUTER in (s1_sh, s2_sh):
        sh = SH_OUTER
    elif SH_INNER in (s1_sh, s2_sh):
        sh = SH_INNER
    else:
        sh = SH_NON
    return attr, sh


def par_shareability(attr: int, sh: int) -> int:
    """PAR_EL1.SH: 0b10 for Device and Normal Non-cacheable memory whatever the descriptor says."""
    if is_device(attr) or attr in (0x44, 0x40):
        return SH_OUTER
    return sh
