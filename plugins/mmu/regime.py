"""Translation-regime configuration: granule, VA ranges, start level, output size.

Decodes TCR_EL1 / TCR_EL2 (both layouts) and VTCR_EL2 into the parameters
of one table walk (MMU-01, MMU-05). 52-bit addresses are not implemented: a
TnSZ below 16 is rejected with a level-0 Translation fault (as the reference
does for an out-of-range TnSZ), TCR.DS is ignored and output sizes are capped
at 48 bits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from framework.api import REGIME_EL2, REGIME_EL10, TranslationFault
from framework.api import syndrome as syn
from framework.arch import (
    TCR_EL2_HA,
    TCR_EL2_HD,
    TCR_EL2_HPD,
    TCR_EL2_PS,
    TCR_EL2_T0SZ,
    TCR_EL2_TBI,
    TCR_EL2_TBID,
    TCR_EL2_TG0,
    TCR_EPD0,
    TCR_EPD1,
    TCR_HA,
    TCR_HD,
    TCR_HPD0,
    TCR_HPD1,
    TCR_IPS,
    TCR_T0SZ,
    TCR_T1SZ,
    TCR_TBI0,
    TCR_TBI1,
    TCR_TBID0,
    TCR_TBID1,
    TCR_TG0,
    TCR_TG1,
    TTBR_BADDR,
    VTCR_HA,
    VTCR_HD,
    VTCR_PS,
    VTCR_SL0,
    VTCR_T0SZ,
    VTCR_TG0,
)

if TYPE_CHECKING:
    from framework.api import CPUState

MAX_OA_BITS = 48
MIN_TSZ = 16  # 48-bit input addresses (no FEAT_LVA / FEAT_LPA2)


@attrs.define(frozen=True, slots=True)
class Granule:
    """A translation granule: page size and the levels that may hold block descriptors."""

    name: str
    shift: int
    block_levels: tuple[int, ...]

    @property
    def stride(self) -> int:
        return self.shift - 3

    def level_shift(self, level: int) -> int:
        """log2 of the size one entry at `level` maps."""
        return self.shift + (3 - level) * (self.shift - 3)


G4K = Granule("4K", 12, (1, 2))
G16K = Granule("16K", 14, (2,))
G64K = Granule("64K", 16, (2,))

# TCR.TG0 / VTCR.TG0 and TCR.TG1 encodings; reserved values act as 4 KiB (IMPLEMENTATION DEFINED)
TG0 = {0: G4K, 1: G64K, 2: G16K, 3: G4K}
TG1 = {0: G4K, 1: G16K, 2: G4K, 3: G64K}

# TCR.IPS / TCR_EL2.PS / VTCR_EL2.PS and ID_AA64MMFR0_EL1.PARange -> address bits
PS_BITS = {0: 32, 1: 36, 2: 40, 3: 42, 4: 44, 5: 48, 6: 52}


@attrs.define(frozen=True, slots=True)
class WalkParams:
    """Everything one walk needs: stage 1 for one VA range, or stage 2."""

    granule: Granule
    inputsize: int
    start_level: int
    base: int  # table address (an IPA for stage 1 under stage 2)
    oa_bits: int  # output address size
    hpd: bool = False  # hierarchical permissions disabled
    ha: bool = False  # hardware Access flag update
    hd: bool = False  # hardware dirty state (DBM)


@attrs.define(frozen=True, slots=True)
class ModelLimits:
    """What the CPU model implements (from its ID registers)."""

    pa_bits: int
    ttst: bool  # FEAT_TTST: TnSZ up to 48 (47 for 64 KiB)
    hafdbs: int  # 0 none, 1 Access flag, 2 Access flag and dirty state
    hpds: bool
    xnx: bool  # stage-2 XN[1:0]
    pan3: bool  # SCTLR_ELx.EPAN

    @classmethod
    def from_ids(cls, mmfr0: int, mmfr1: int, mmfr2: int) -> ModelLimits:
        return cls(
            pa_bits=min(PS_BITS.get(mmfr0 & 0xF, MAX_OA_BITS), MAX_OA_BITS),
            ttst=(mmfr2 >> 28) & 0xF >= 1,
            hafdbs=mmfr1 & 0xF,
            hpds=(mmfr1 >> 12) & 0xF >= 1,
            xnx=(mmfr1 >> 28) & 0xF >= 1,
            pan3=(mmfr1 >> 20) & 0xF >= 3,
        )

    def max_tsz(self, granule: Granule) -> int:
        if not self.ttst:
            return 39
        return 47 if granule is G64K else 48

    def oa_bits(self, ps: int) -> int:
        return min(PS_BITS.get(ps, MAX_OA_BITS), self.pa_bits)


def _fault0() -> TranslationFault:
    return TranslationFault(syn.FSC_TRANSLATION)


def start_level(granule: Granule, inputsize: int) -> int:
    """Stage-1 start level: as many levels as the input size needs (MMU-01)."""
    return 3 - (inputsize - granule.shift - 1) // granule.stride


def _table_base(ttbr: int, granule: Granule, inputsize: int, level: int) -> int:
    """BADDR aligned to the size of the start-level table (low bits are RES0 or CnP)."""
    top_bits = inputsize - granule.level_shift(level)
    return ttbr & TTBR_BADDR.mask & ~((8 << top_bits) - 1)


def stage1_params(cpu: CPUState, regime: str, va: int, fetch: bool, limits: ModelLimits) -> WalkParams:
    """The stage-1 walk parameters for `va`, or a level-0 Translation fault (MMU-02)."""
    sr = cpu.sr
    if regime == REGIME_EL2:
        # TCR_EL2 with E2H == 0: one VA range, its own layout
        tcr = sr["TCR_EL2"]
        upper = 0
        tsz, granule = TCR_EL2_T0SZ.get(tcr), TG0[TCR_EL2_TG0.get(tcr)]
        tbi, tbid, hpd = tcr & TCR_EL2_TBI, tcr & TCR_EL2_TBID, tcr & TCR_EL2_HPD
        ps, ha, hd = TCR_EL2_PS.get(tcr), tcr & TCR_EL2_HA, tcr & TCR_EL2_HD
        epd = 0
        ttbr = sr["TTBR0_EL2"]
    else:
        tcr = sr["TCR_EL1" if regime == REGIME_EL10 else "TCR_EL2"]
        suffix = "EL1" if regime == REGIME_EL10 else "EL2"
        upper = va >> 55 & 1
        if upper:
            tsz, granule, epd = TCR_T1SZ.get(tcr), TG1[TCR_TG1.get(tcr)], tcr & TCR_EPD1
            tbi, tbid, hpd = tcr & TCR_TBI1, tcr & TCR_TBID1, tcr & TCR_HPD1
        else:
            tsz, granule, epd = TCR_T0SZ.get(tcr), TG0[TCR_TG0.get(tcr)], tcr & TCR_EPD0
            tbi, tbid, hpd = tcr & TCR_TBI0, tcr & TCR_TBID0, tcr & TCR_HPD0
        ps, ha, hd = TCR_IPS.get(tcr), tcr & TCR_HA, tcr & TCR_HD
        ttbr = sr[f"TTBR{upper}_{suffix}"]
    if tsz < MIN_TSZ or tsz > limits.max_tsz(granule):
        raise _fault0()
    inputsize = 64 - tsz
    # top-byte-ignore: bits [63:56] take no part, unless TBID excludes instruction fetches
    top = 55 if tbi and not (fetch and tbid) else 63
    width = top + 1 - inputsize
    if (va >> inputsize) & ((1 << width) - 1) != (((1 << width) - 1) if upper else 0):
        raise _fault0()  # outside the range TnSZ selects: level 0 whatever the start level
    if epd:
        raise _fault0()
    level = start_level(granule, inputsize)
    oa_bits = limits.oa_bits(ps)
    base = _table_base(ttbr, granule, inputsize, level)
    if base >> oa_bits:
        raise TranslationFault(syn.FSC_ADDR_SIZE)
    return WalkParams(
        granule,
        inputsize,
        level,
        base,
        oa_bits,
        hpd=bool(hpd) and limits.hpds,
        ha=bool(ha) and limits.hafdbs >= 1,
        hd=bool(hd) and limits.hafdbs >= 2,
    )


# VTCR_EL2.SL0 -> start level, by granule (SL0 = 3 with 4 KiB is level 3 under FEAT_TTST)
_SL0_LEVEL = {12: {0: 2, 1: 1, 2: 0, 3: 3}, 14: {0: 3, 1: 2, 2: 1}, 16: {0: 3, 1: 2, 2: 1}}


def _s2_start_ok(granule: Granule, level: int, inputsize: int, oa_bits: int, limits: ModelLimits) -> bool:
    """VTCR_EL2.SL0 names a start level that exists for the granule and PA size, and whose
    table resolves between 1 and stride + 4 bits (up to 16 concatenated tables)."""
    if level == 3 and granule is G4K and not limits.ttst:
        return False
    if level == 0 and (granule is not G4K or oa_bits <= 42):
        return False
    if level == 1 and ((granule is G64K and oa_bits <= 42) or (granule is G16K and oa_bits <= 40)):
        return False
    if inputsize > oa_bits:
        return False  # CONSTRAINED UNPREDICTABLE: the reference faults
    resolved = inputsize - granule.level_shift(level)
    return 1 <= resolved <= granule.stride + 4


def stage2_params(cpu: CPUState, limits: ModelLimits) -> WalkParams:
    """Stage-2 walk parameters from VTCR_EL2/VTTBR_EL2; an inconsistent setup faults at level 0."""
    sr = cpu.sr
    vtcr = sr["VTCR_EL2"]
    tsz, granule, sl0 = VTCR_T0SZ.get(vtcr), TG0[VTCR_TG0.get(vtcr)], VTCR_SL0.get(vtcr)
    oa_bits = limits.oa_bits(VTCR_PS.get(vtcr))
    if tsz < MIN_TSZ or tsz > limits.max_tsz(granule):
        raise TranslationFault(syn.FSC_TRANSLATION, stage2=True)
    inputsize = 64 - tsz
    level = _SL0_LEVEL[granule.shift].get(sl0)
    if level is None or not _s2_start_ok(granule, level, inputsize, oa_bits, limits):
        raise TranslationFault(syn.FSC_TRANSLATION, stage2=True)
    base = _table_base(sr["VTTBR_EL2"], granule, inputsize, level)
    if base >> oa_bits:
        raise TranslationFault(syn.FSC_ADDR_SIZE, stage2=True)
    return WalkParams(
        granule,
        inputsize,
        level,
        base,
        oa_bits,
        ha=bool(vtcr & VTCR_HA) and limits.hafdbs >= 1,
        hd=bool(vtcr & VTCR_HD) and limits.hafdbs >= 2,
    )
