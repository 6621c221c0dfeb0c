"""The names of the architectural register fields armnv uses: one vocabulary for kernel and plugins.

Every bit position of an architectural register that the kernel or a plugin
needs is named here and nowhere else (``tests/test_vocabulary.py`` checks
it), so a feature plugin reads ``cpu.sr["HCR_EL2"] & HCR_NV`` instead of
declaring bit 42 once more. The module is part of the plugin API
(``framework.api`` documents the rest of it).

Naming: ``<REGISTER>_<FIELD>`` in the Arm ARM's words, upper case.

* A one-bit field is an int mask: ``HCR_NV = 1 << 42``. Module-level ints are
  what hot code wants: ``value & HCR_NV`` costs one global lookup, and code
  generators can fold it into the source they emit.
* A wider field is a `Field` (lowest bit and width): ``TCR_TG0.get(tcr)``
  reads it, ``TCR_TG0.put(2)`` builds it in position, ``TCR_TG0.mask`` is its
  bits in place.
* Registers with two layouts: the ``E2H`` names are the layout a register has
  while HCR_EL2.E2H = 1. CPTR_EL2 then has the CPACR_EL1 layout (``CPACR_*``,
  plus ``CPTR_TAM``/``CPTR_TCPAC``, which sit at the same place in both),
  CNTHCTL_EL2 the CNTKCTL_EL1 layout in its low bits (``CNTKCTL_*``) plus
  ``CNTHCTL_E2H_EL1PCTEN``/``EL1PCEN``, and TCR_EL2 the TCR_EL1 layout
  (``TCR_*``); ``TCR_EL2_*`` names TCR_EL2's own one-range layout (E2H = 0).

Identification-register fields are data of the CPU-model tables
(`framework.plugins.IdField`), and the syndrome builders with their EC/FSC/ISS
constants are `framework.cpu.syndrome`; ``ESR_*`` here names only the
fields every ESR has.

`hcr_eff` is the effective HCR_EL2 value (what TGE and E2H force); the raw
value is ``cpu.sr["HCR_EL2"]``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.cpu.state import CPUState


class Field:
    """A field of ``width`` bits starting at bit ``shift``."""

    __slots__ = ("mask", "ones", "shift", "width")

    def __init__(self, shift: int, width: int) -> None:
        self.shift = shift
        self.width = width
        self.ones = (1 << width) - 1
        self.mask = self.ones << shift

    def get(self, value: int) -> int:
        """The field's value in a register value."""
        return (value >> self.shift) & self.ones

    def put(self, field_value: int) -> int:
        """``field_value`` moved into the field's position (other bits 0)."""
        return (field_value & self.ones) << self.shift

    def __repr__(self) -> str:
        return f"Field(shift={self.shift}, width={self.width})"


# ---- HCR_EL2 ------------------------------------------------------------------------------------

HCR_VM = 1 << 0
HCR_SWIO = 1 << 1
HCR_PTW = 1 << 2
HCR_FMO = 1 << 3
HCR_IMO = 1 << 4
HCR_AMO = 1 << 5
HCR_VF = 1 << 6
HCR_VI = 1 << 7
HCR_VSE = 1 << 8
HCR_FB = 1 << 9
HCR_BSU = Field(10, 2)
HCR_DC = 1 << 12
HCR_TWI = 1 << 13
HCR_TWE = 1 << 14
HCR_TID0 = 1 << 15
HCR_TID1 = 1 << 16
HCR_TID2 = 1 << 17
HCR_TID3 = 1 << 18
HCR_TSC = 1 << 19
HCR_TIDCP = 1 << 20
HCR_TACR = 1 << 21
HCR_TSW = 1 << 22
HCR_TPCP = 1 << 23
HCR_TPU = 1 << 24
HCR_TTLB = 1 << 25
HCR_TVM = 1 << 26
HCR_TGE = 1 << 27
HCR_TDZ = 1 << 28
HCR_HCD = 1 << 29
HCR_TRVM = 1 << 30
HCR_RW = 1 << 31
HCR_CD = 1 << 32
HCR_ID = 1 << 33
HCR_E2H = 1 << 34
HCR_TLOR = 1 << 35
HCR_TERR = 1 << 36
HCR_TEA = 1 << 37
HCR_MIOCNCE = 1 << 38
HCR_TME = 1 << 39
HCR_APK = 1 << 40
HCR_API = 1 << 41
HCR_NV = 1 << 42
HCR_NV1 = 1 << 43
HCR_AT = 1 << 44
HCR_NV2 = 1 << 45
HCR_FWB = 1 << 46
HCR_FIEN = 1 << 47
HCR_GPF = 1 << 48
HCR_TID4 = 1 << 49
HCR_TICAB = 1 << 50
HCR_AMVOFFEN = 1 << 51
HCR_TOCU = 1 << 52
HCR_ENSCXT = 1 << 53
HCR_TTLBIS = 1 << 54
HCR_TTLBOS = 1 << 55
HCR_ATA = 1 << 56
HCR_DCT = 1 << 57
HCR_TID5 = 1 << 58
HCR_TWEDEN = 1 << 59
HCR_TWEDEL = Field(60, 4)
# the fields Armv8.0 defines: everything below E2H
HCR_ARMV80_BITS = HCR_E2H - 1

# ---- SCTLR_ELx ----------------------------------------------------------------------------------

SCTLR_M = 1 << 0
SCTLR_A = 1 << 1
SCTLR_C = 1 << 2
SCTLR_SA = 1 << 3
SCTLR_SA0 = 1 << 4
SCTLR_NAA = 1 << 6
SCTLR_UMA = 1 << 9
SCTLR_I = 1 << 12
SCTLR_ENDB = 1 << 13
SCTLR_DZE = 1 << 14
SCTLR_UCT = 1 << 15
SCTLR_NTWI = 1 << 16
SCTLR_NTWE = 1 << 18
SCTLR_WXN = 1 << 19
SCTLR_IESB = 1 << 21
SCTLR_EIS = 1 << 22
SCTLR_SPAN = 1 << 23
SCTLR_E0E = 1 << 24
SCTLR_EE = 1 << 25
SCTLR_UCI = 1 << 26
SCTLR_ENDA = 1 << 27
SCTLR_ENIB = 1 << 30
SCTLR_ENIA = 1 << 31
SCTLR_BT0 = 1 << 35
SCTLR_BT1 = 1 << 36
SCTLR_TCF0 = Field(38, 2)
SCTLR_TCF = Field(40, 2)
SCTLR_ATA0 = 1 << 42
SCTLR_ATA = 1 << 43
SCTLR_DSSBS = 1 << 44
SCTLR_EPAN = 1 << 57
SCTLR_NMI = 1 << 61
SCTLR_SPINTMASK = 1 << 62

# ---- PSTATE, in the SPSR_ELx layout ---------------------------------------------------------------

PSTATE_SP = 1 << 0  # M[0]: SP_ELx (1) or SP_EL0 (0)
PSTATE_M1 = 1 << 1  # M[1]: 0 in every AArch64 mode
PSTATE_EL = Field(2, 2)  # M[3:2]
PSTATE_M = Field(0, 4)  # M[3:0]
PSTATE_NRW = 1 << 4  # M[4]: 1 is AArch32 (not implemented)
PSTATE_F = 1 << 6
PSTATE_I = 1 << 7
PSTATE_A = 1 << 8
PSTATE_D = 1 << 9
PSTATE_DAIF = Field(6, 4)
PSTATE_BTYPE = Field(10, 2)
PSTATE_SSBS = 1 << 12
PSTATE_ALLINT = 1 << 13
PSTATE_IL = 1 << 20
PSTATE_SS = 1 << 21
PSTATE_PAN = 1 << 22
PSTATE_UAO = 1 << 23
PSTATE_DIT = 1 << 24
PSTATE_TCO = 1 << 25
PSTATE_V = 1 << 28
PSTATE_C = 1 << 29
PSTATE_Z = 1 << 30
PSTATE_N = 1 << 31
PSTATE_NZCV = Field(28, 4)

# CurrentEL
CURRENTEL_EL = Field(2, 2)

# ---- ESR_ELx (the syndrome layouts are framework.cpu.syndrome's) ---------------------------------

ESR_ISS = Field(0, 25)
ESR_IL = 1 << 25
ESR_EC = Field(26, 6)
ESR_ISS2 = Field(32, 24)

# ---- translation control --------------------------------------------------------------------------

# TCR_EL1, and TCR_EL2 while HCR_EL2.E2H = 1: two VA ranges
TCR_T0SZ = Field(0, 6)
TCR_EPD0 = 1 << 7
TCR_IRGN0 = Field(8, 2)
TCR_ORGN0 = Field(10, 2)
TCR_SH0 = Field(12, 2)
TCR_TG0 = Field(14, 2)
TCR_T1SZ = Field(16, 6)
TCR_A1 = 1 << 22
TCR_EPD1 = 1 << 23
TCR_IRGN1 = Field(24, 2)
TCR_ORGN1 = Field(26, 2)
TCR_SH1 = Field(28, 2)
TCR_TG1 = Field(30, 2)
TCR_IPS = Field(32, 3)
TCR_AS = 1 << 36
TCR_TBI0 = 1 << 37
TCR_TBI1 = 1 << 38
TCR_HA = 1 << 39
TCR_HD = 1 << 40
TCR_HPD0 = 1 << 41
TCR_HPD1 = 1 << 42
TCR_TBID0 = 1 << 51
TCR_TBID1 = 1 << 52
TCR_E0PD0 = 1 << 55
TCR_E0PD1 = 1 << 56
TCR_DS = 1 << 59

# TCR_EL2 while HCR_EL2.E2H = 0: one VA range
TCR_EL2_T0SZ = Field(0, 6)
TCR_EL2_IRGN0 = Field(8, 2)
TCR_EL2_ORGN0 = Field(10, 2)
TCR_EL2_SH0 = Field(12, 2)
TCR_EL2_TG0 = Field(14, 2)
TCR_EL2_PS = Field(16, 3)
TCR_EL2_TBI = 1 << 20
TCR_EL2_HA = 1 << 21
TCR_EL2_HD = 1 << 22
TCR_EL2_HPD = 1 << 24
TCR_EL2_TBID = 1 << 29
TCR_EL2_DS = 1 << 32

VTCR_T0SZ = Field(0, 6)
VTCR_SL0 = Field(6, 2)
VTCR_IRGN0 = Field(8, 2)
VTCR_ORGN0 = Field(10, 2)
VTCR_SH0 = Field(12, 2)
VTCR_TG0 = Field(14, 2)
VTCR_PS = Field(16, 3)
VTCR_VS = 1 << 19
VTCR_HA = 1 << 21
VTCR_HD = 1 << 22
VTCR_NSW = 1 << 29
VTCR_NSA = 1 << 30
VTCR_DS = 1 << 32

# TTBR0_ELx / TTBR1_ELx and VTTBR_EL2
TTBR_CNP = 1 << 0
TTBR_BADDR = Field(1, 47)
TTBR_ASID = Field(48, 16)
VTTBR_VMID = Field(48, 16)
VTTBR_VMID8 = Field(48, 8)  # the VMID with 8-bit VMIDs (VTCR_EL2.VS = 0): VMID[15:8] is ignored

# HPFAR_EL2: IPA[51:12] of a stage-2 fault
HPFAR_FIPA = Field(4, 40)

# PAR_EL1 after an AT instruction: F selects the layout
PAR_F = 1 << 0
PAR_FST = Field(1, 6)  # F = 1: the fault status code
PAR_SH = Field(7, 2)  # F = 0
PAR_PTW = 1 << 8  # F = 1: stage-2 fault on the stage-1 walk
PAR_S = 1 << 9  # F = 1: stage-2 fault
PAR_NS = 1 << 9  # F = 0: Non-secure output address
PAR_RES1 = 1 << 11
PAR_PA = Field(12, 40)  # F = 0: PA[51:12]
PAR_ATTR = Field(56, 8)  # F = 0: MAIR-format attributes

# ---- VMSAv8-64 translation-table descriptors ----------------------------------------------------

DESC_VALID = 1 << 0
DESC_TABLE = 1 << 1  # at levels 0-2; a page at level 3
DESC_ATTRINDX = Field(2, 3)  # stage 1
DESC_MEMATTR = Field(2, 4)  # stage 2
DESC_AP = Field(6, 2)  # stage 1 AP[2:1]; stage 2 S2AP[1:0]
DESC_AP1 = 1 << 6  # stage 1 AP[1] (EL0 access); stage 2 S2AP[0] (read)
DESC_AP2 = 1 << 7  # stage 1 AP[2] (read-only); stage 2 S2AP[1] (write)
DESC_SH = Field(8, 2)
DESC_AF = 1 << 10
DESC_OA = Field(12, 36)  # OA[47:12] of a page, block or next table (bits below the granule size are not part of it)
DESC_DBM = 1 << 51
DESC_PXN = 1 << 53
DESC_UXN = 1 << 54
DESC_XN = DESC_UXN  # the same bit: XN at stage 2 and in a regime with one privilege level
DESC_S2XN = Field(53, 2)  # stage 2 XN[1:0] (FEAT_XNX)
DESC_PXNTABLE = 1 << 59
DESC_XNTABLE = 1 << 60  # UXNTable, or XNTable in a regime with one privilege level
DESC_APTABLE = Field(61, 2)

# ---- MDSCR_EL1 ----------------------------------------------------------------------------------------

MDSCR_SS = 1 << 0  # software step enable

# ---- EL2 trap controls ------------------------------------------------------------------------------

# CPACR_EL1, and CPTR_EL2 while HCR_EL2.E2H = 1
CPACR_ZEN = Field(16, 2)
CPACR_FPEN = Field(20, 2)
CPACR_SMEN = Field(24, 2)
CPACR_TTA = 1 << 28

# CPTR_EL2 while HCR_EL2.E2H = 0 (TAM and TCPAC are at the same place in both layouts)
CPTR_TZ = 1 << 8
CPTR_TFP = 1 << 10
CPTR_TSM = 1 << 12
CPTR_TTA = 1 << 20
CPTR_TAM = 1 << 30
CPTR_TCPAC = 1 << 31

# ---- FPCR and FPSR ----------------------------------------------------------------------------------

FPCR_AHP = 1 << 26  # alternative half precision
FPCR_DN = 1 << 25  # default NaN
FPCR_FZ = 1 << 24  # flush denormals to zero
FPCR_RMODE = Field(22, 2)  # RN, RP, RM, RZ
# what armnv keeps of an FPCR write: no FEAT_FP16 (FZ16), no trapped exceptions (IOE-IDE RAZ/WI)
FPCR_WRITABLE = FPCR_AHP | FPCR_DN | FPCR_FZ | FPCR_RMODE.mask

# FPSR cumulative exception flags
FPSR_IOC = 1 << 0  # invalid operation
FPSR_DZC = 1 << 1  # division by zero
FPSR_OFC = 1 << 2  # overflow
FPSR_UFC = 1 << 3  # underflow
FPSR_IXC = 1 << 4  # inexact
FPSR_IDC = 1 << 7  # input denormal

MDCR_HPMN = Field(0, 5)
MDCR_TPMCR = 1 << 5
MDCR_TPM = 1 << 6
MDCR_HPME = 1 << 7
MDCR_TDE = 1 << 8
MDCR_TDA = 1 << 9
MDCR_TDOSA = 1 << 10
MDCR_TDRA = 1 << 11
MDCR_E2PB = Field(12, 2)
MDCR_TPMS = 1 << 14
MDCR_HPMD = 1 << 17
MDCR_TTRF = 1 << 19
MDCR_HCCD = 1 << 23
MDCR_E2TB = Field(24, 2)
MDCR_HLP = 1 << 26
MDCR_TDCC = 1 << 27
MDCR_MTPME = 1 << 28

# ---- generic timer ----------------------------------------------------------------------------------

# CNTKCTL_EL1, and the low bits of CNTHCTL_EL2 while HCR_EL2.E2H = 1: EL0 access
CNTKCTL_EL0PCTEN = 1 << 0
CNTKCTL_EL0VCTEN = 1 << 1
CNTKCTL_EVNTEN = 1 << 2
CNTKCTL_EVNTDIR = 1 << 3
CNTKCTL_EVNTI = Field(4, 4)
CNTKCTL_EL0VTEN = 1 << 8
CNTKCTL_EL0PTEN = 1 << 9

# CNTHCTL_EL2 while HCR_EL2.E2H = 0: EL1 access to the physical counter and timer
CNTHCTL_EL1PCTEN = 1 << 0
CNTHCTL_EL1PCEN = 1 << 1
CNTHCTL_EVNTEN = 1 << 2
CNTHCTL_EVNTDIR = 1 << 3
CNTHCTL_EVNTI = Field(4, 4)
# ... and while E2H = 1
CNTHCTL_E2H_EL1PCTEN = 1 << 10
CNTHCTL_E2H_EL1PCEN = 1 << 11
# FEAT_ECV, in both layouts
CNTHCTL_ECV = 1 << 12
CNTHCTL_EL1TVT = 1 << 13
CNTHCTL_EL1TVCT = 1 << 14
CNTHCTL_EL1NVPCT = 1 << 15
CNTHCTL_EL1NVVCT = 1 << 16
CNTHCTL_EVNTIS = 1 << 17

# CNTP_CTL_EL0, CNTV_CTL_EL0, CNTHP_CTL_EL2, CNTHV_CTL_EL2
CNT_CTL_ENABLE = 1 << 0
CNT_CTL_IMASK = 1 << 1
CNT_CTL_ISTATUS = 1 << 2

# ---- other registers -------------------------------------------------------------------------------

# VBAR_ELx: the vector base, 2 KiB aligned
VBAR_VBA = Field(11, 53)

# VSESR_EL2: the syndrome of a virtual SError (FEAT_RAS)
VSESR_ISS = Field(0, 24)
VSESR_IDS = 1 << 24

# VNCR_EL2 (FEAT_NV2): BADDR is a VA in the EL2 regime, 4 KiB aligned; RESS repeats bit 56
VNCR_BADDR = Field(12, 45)
VNCR_RESS = Field(57, 7)

# DCZID_EL0, CSSELR_EL1
DCZID_BS = Field(0, 4)
DCZID_DZP = 1 << 4
CSSELR_IND = 1 << 0
CSSELR_LEVEL = Field(1, 3)

# the OS lock: OSLAR_EL1 (write-only) sets OSLSR_EL1.OSLK
OSLAR_OSLK = 1 << 0
OSLSR_OSLM0 = 1 << 0
OSLSR_OSLK = 1 << 1
OSLSR_OSLM1 = 1 << 3


# ---- GICv3 (gicv3-virt.md) ------------------------------------------------------------------------

# ICC_SRE_ELx: the system-register interface is always on (SRE, DFB, DIB; Enable at EL2)
ICC_SRE_SRE = 1 << 0
ICC_SRE_DFB = 1 << 1
ICC_SRE_DIB = 1 << 2
ICC_SRE_ENABLE = 1 << 3

# ICC_CTLR_EL1 (and ICV_CTLR_EL1)
ICC_CTLR_CBPR = 1 << 0
ICC_CTLR_EOIMODE = 1 << 1
ICC_CTLR_PMHE = 1 << 6
ICC_CTLR_PRIBITS = Field(8, 3)
ICC_CTLR_IDBITS = Field(11, 3)
ICC_CTLR_A3V = 1 << 15

ICC_PMR_PRIORITY = Field(0, 8)
ICC_BPR_BINARYPOINT = Field(0, 3)
ICC_IGRPEN_ENABLE = 1 << 0
ICC_INTID = Field(0, 24)  # IAR, EOIR, DIR, HPPIR

# ICC_SGI0R_EL1, ICC_SGI1R_EL1, ICC_ASGI1R_EL1
ICC_SGIR_TARGETLIST = Field(0, 16)
ICC_SGIR_AFF1 = Field(16, 8)
ICC_SGIR_INTID = Field(24, 4)
ICC_SGIR_AFF2 = Field(32, 8)
ICC_SGIR_IRM = 1 << 40
ICC_SGIR_RS = Field(44, 4)
ICC_SGIR_AFF3 = Field(48, 8)

ICH_HCR_EN = 1 << 0
ICH_HCR_UIE = 1 << 1
ICH_HCR_LRENPIE = 1 << 2
ICH_HCR_NPIE = 1 << 3
ICH_HCR_VGRP0EIE = 1 << 4
ICH_HCR_VGRP0DIE = 1 << 5
ICH_HCR_VGRP1EIE = 1 << 6
ICH_HCR_VGRP1DIE = 1 << 7
ICH_HCR_TC = 1 << 10
ICH_HCR_TALL0 = 1 << 11
ICH_HCR_TALL1 = 1 << 12
ICH_HCR_TSEI = 1 << 13
ICH_HCR_TDIR = 1 << 14
ICH_HCR_EOICOUNT = Field(27, 5)

ICH_VTR_LISTREGS = Field(0, 5)
ICH_VTR_TDS = 1 << 19
ICH_VTR_NV4 = 1 << 20
ICH_VTR_A3V = 1 << 21
ICH_VTR_SEIS = 1 << 22
ICH_VTR_IDBITS = Field(23, 3)
ICH_VTR_PREBITS = Field(26, 3)
ICH_VTR_PRIBITS = Field(29, 3)

ICH_VMCR_VENG0 = 1 << 0
ICH_VMCR_VENG1 = 1 << 1
ICH_VMCR_VACKCTL = 1 << 2
ICH_VMCR_VFIQEN = 1 << 3
ICH_VMCR_VCBPR = 1 << 4
ICH_VMCR_VEOIM = 1 << 9
ICH_VMCR_VBPR1 = Field(18, 3)
ICH_VMCR_VBPR0 = Field(21, 3)
ICH_VMCR_VPMR = Field(24, 8)

ICH_LR_VINTID = Field(0, 32)
ICH_LR_PINTID = Field(32, 13)
ICH_LR_EOI = 1 << 41
ICH_LR_PRIORITY = Field(48, 8)
ICH_LR_NMI = 1 << 59
ICH_LR_GROUP = 1 << 60
ICH_LR_HW = 1 << 61
ICH_LR_STATE = Field(62, 2)

ICH_MISR_EOI = 1 << 0
ICH_MISR_U = 1 << 1
ICH_MISR_LRENP = 1 << 2
ICH_MISR_NP = 1 << 3
ICH_MISR_VGRP0E = 1 << 4
ICH_MISR_VGRP0D = 1 << 5
ICH_MISR_VGRP1E = 1 << 6
ICH_MISR_VGRP1D = 1 << 7

# ICH_AP<g>R<n>_EL2 / ICC_AP<g>R<n>_EL1: one bit per group priority; in AP1R0, an NMI is active
# (FEAT_GICv3_NMI)
ICH_APR_PRIORITIES = Field(0, 32)
ICH_AP1R_NMI = 1 << 63

# distributor and redistributor registers (MMIO)
GICD_CTLR_ENABLEGRP0 = 1 << 0
GICD_CTLR_ENABLEGRP1 = 1 << 1
GICD_CTLR_ARE = 1 << 4
GICD_CTLR_DS = 1 << 6
GICD_CTLR_RWP = 1 << 31
GICD_TYPER_ITLINESNUMBER = Field(0, 5)
GICD_TYPER_NMI = 1 << 9
GICD_TYPER_SECURITYEXTN = 1 << 10
GICD_TYPER_LPIS = 1 << 17
GICD_TYPER_IDBITS = Field(19, 5)
GICD_TYPER_A3V = 1 << 24
GICD_TYPER_NO1N = 1 << 25
GICD_IROUTER_IRM = 1 << 31
GICD_PIDR2_ARCHREV = Field(4, 4)
GICR_TYPER_PLPIS = 1 << 0
GICR_TYPER_LAST = 1 << 4
GICR_TYPER_PROCESSOR_NUMBER = Field(8, 16)
GICR_TYPER_COMMONLPIAFF = Field(24, 2)
GICR_TYPER_AFFINITY = Field(32, 32)
GICR_WAKER_PROCESSORSLEEP = 1 << 1
GICR_WAKER_CHILDRENASLEEP = 1 << 2

# ---- effective values -------------------------------------------------------------------------------

# Behave as 0 while TGE = 1, whatever E2H (Arm ARM HCR_EL2.TGE)
_TGE_CLEARS = (
    HCR_SWIO | HCR_PTW | HCR_VF | HCR_VI | HCR_VSE | HCR_FB | HCR_TID1 | HCR_TID3 | HCR_TSC | HCR_TACR | HCR_TSW
    | HCR_TTLB | HCR_TVM | HCR_TRVM | HCR_TLOR | HCR_TTLBIS | HCR_TTLBOS | HCR_TICAB | HCR_TOCU | HCR_TID4
)  # fmt: skip
# ... and these too when E2H = 1 as well (the host's EL0 is not a guest)
_HOST_CLEARS = (
    HCR_VM | HCR_FMO | HCR_IMO | HCR_AMO | HCR_DC | HCR_TWI | HCR_TWE | HCR_TID0 | HCR_TID2 | HCR_TPCP | HCR_TPU
    | HCR_TDZ | HCR_BSU.mask
)  # fmt: skip
# ... while with E2H = 0 the routing bits behave as 1
_TGE_SETS = HCR_FMO | HCR_IMO | HCR_AMO


def hcr_eff(cpu: CPUState) -> int:
    """HCR_EL2 as the trap and routing rules see it: TGE (with or without E2H) forces bits.

    The raw register, as MRS reads it, is ``cpu.sr["HCR_EL2"]``; E2H and TGE
    themselves are never forced.
    """
    value = cpu.sr["HCR_EL2"]
    if not value & HCR_TGE:
        return value
    value &= ~_TGE_CLEARS
    if value & HCR_E2H:
        return value & ~_HOST_CLEARS
    return value | _TGE_SETS


# ---- naming values ----------------------------------------------------------------------------------

_SPELLING = {"ENSCXT": "EnSCXT", "TWEDEN": "TWEDEn"}


def _layout(prefix: str) -> tuple[tuple[str, int | Field], ...]:
    """The fields this module names ``<prefix><NAME>``, lowest bit first."""
    rows = [
        (_SPELLING.get(name[len(prefix) :], name[len(prefix) :]), value)
        for name, value in globals().items()
        if name.startswith(prefix) and (isinstance(value, Field) or (isinstance(value, int) and value.bit_count() == 1))
    ]
    return tuple(sorted(rows, key=lambda row: row[1].shift if isinstance(row[1], Field) else row[1].bit_length() - 1))


HCR_EL2_FIELDS = _layout("HCR_")


def describe_hcr(value: int) -> str:
    """The set fields of an HCR_EL2 value by name, multi-bit ones with their value (``IMO TGE E2H BSU=1``)."""
    words = []
    for name, field in HCR_EL2_FIELDS:
        if isinstance(field, Field):
            if value & field.mask:
                words.append(f"{name}={field.get(value)}")
        elif value & field:
            words.append(name)
    return " ".join(words)
