"""The layout of the models' ID fields, the fields the kernel features claim, and why the rest is honest.

`LAYOUT` is Arm ARM data: where each field of the models' ID registers is,
and how far it drops while no enabled feature claims it — "not implemented"
for most, or the level armnv has without any feature (AArch64-only EL0/EL1,
FP without half precision, a 48-bit PARange, the minimum debug resources).
The models carry it as `CpuModel.id_fields`.

A field keeps the model's value (cpu-models.csv) only while a feature that
claims it is enabled (`Feature.id_fields`). This plugin claims fields only
for the features it declares, the kernel's (`KERNEL_CLAIMS`); every other
plugin claims its own, so a plugin declaring FEAT_PAN with a claim on
ID_AA64MMFR1_EL1.PAN makes the model's PAN level visible with no change here.
Multi-level fields say how far each feature goes (``top``): FEAT_LSE's claim
on ID_AA64ISAR0_EL1.Atomic stops at 2, since level 3 is FEAT_LSE128.

`BASE` lists the non-zero fields kept as they are (or at a non-zero layout
level), each with the reason it is true of armnv; a test checks that every
non-zero field of every model is in `LAYOUT` or `BASE`, so a new model
cannot advertise an unreviewed field.
"""

from __future__ import annotations

from framework.api import IdField


def _field(reg: str, name: str, lsb: int, absent: int = 0) -> IdField:
    return IdField(reg, lsb, 4, name, absent=absent)


def _rows(reg: str, *rows: tuple) -> tuple[IdField, ...]:
    """Layout rows of `reg`: (field, lsb[, level while unclaimed])."""
    return tuple(_field(reg, *row) for row in rows)


def _whole(reg: str) -> IdField:
    return IdField(reg, 0, 64, "*")


# AArch32 ID registers describe AArch32 state, which armnv does not execute at any EL
AARCH32_REGISTERS = (
    "ID_PFR0_EL1",
    "ID_PFR1_EL1",
    "ID_PFR2_EL1",
    "ID_DFR0_EL1",
    "ID_DFR1_EL1",
    "ID_AFR0_EL1",
    "ID_MMFR0_EL1",
    "ID_MMFR1_EL1",
    "ID_MMFR2_EL1",
    "ID_MMFR3_EL1",
    "ID_MMFR4_EL1",
    "ID_MMFR5_EL1",
    "ID_ISAR0_EL1",
    "ID_ISAR1_EL1",
    "ID_ISAR2_EL1",
    "ID_ISAR3_EL1",
    "ID_ISAR4_EL1",
    "ID_ISAR5_EL1",
    "ID_ISAR6_EL1",
    "MVFR0_EL1",
    "MVFR1_EL1",
    "MVFR2_EL1",
)

LAYOUT: tuple[IdField, ...] = (
    *_rows(
        "ID_AA64PFR0_EL1",
        # armnv executes A64 only: 2 ("AArch64 and AArch32") becomes 1
        ("EL0", 0, 1),
        ("EL1", 4, 1),
        ("EL2", 8),
        ("GIC", 24),
        ("RAS", 28),
        ("SVE", 32),
        ("SEL2", 36),
        ("DIT", 48),
        # CSV2 = 1 is true of a PE that does not speculate; 2 and 3 add SCXTNUM_ELx
        ("CSV2", 56, 1),
    ),
    # FP/AdvSIMD = 1 adds half-precision arithmetic; FP itself stays (docs/architecture.md)
    IdField("ID_AA64PFR0_EL1", 16, 4, "FP", signed=True),
    IdField("ID_AA64PFR0_EL1", 20, 4, "AdvSIMD", signed=True),
    *_rows(
        "ID_AA64PFR1_EL1",
        ("BT", 0),
        ("SSBS", 4),
        ("MTE", 8),
        ("SME", 24),
        ("NMI", 36),
        ("GCS", 44),
    ),
    _whole("ID_AA64ZFR0_EL1"),
    _whole("ID_AA64SMFR0_EL1"),
    *_rows(
        "ID_AA64DFR0_EL1",
        # self-hosted debug beyond MDSCR_EL1 is not emulated: report the architectural minimum
        # (Armv8.0 debug, 2 breakpoints, 2 watchpoints, 1 context-aware breakpoint)
        ("DebugVer", 0, 6),
        ("PMUVer", 8),
        ("BRPs", 12, 1),
        ("WRPs", 20, 1),
        ("CTX_CMPs", 28),
        ("HPMN0", 60),
    ),
    IdField("ID_AA64DFR0_EL1", 36, 4, "DoubleLock", absent=-1, signed=True),
    *_rows(
        "ID_AA64ISAR0_EL1",
        ("AES", 4),
        ("SHA1", 8),
        ("SHA2", 12),
        ("CRC32", 16),
        ("Atomic", 20),
        ("RDM", 28),
        ("SHA3", 32),
        ("SM3", 36),
        ("SM4", 40),
        ("DP", 44),
        ("FHM", 48),
        ("TS", 52),
        ("TLB", 56),
        ("RNDR", 60),
    ),
    *_rows(
        "ID_AA64ISAR1_EL1",
        ("DPB", 0),
        ("API", 8),
        ("JSCVT", 12),
        ("FCMA", 16),
        ("LRCPC", 20),
        ("GPI", 28),
        ("FRINTTS", 32),
        ("SB", 36),
        ("SPECRES", 40),
        ("BF16", 44),
        ("DGH", 48),
        ("I8MM", 52),
        ("XS", 56),
    ),
    *_rows(
        "ID_AA64ISAR2_EL1",
        ("WFxT", 0),
        ("RPRES", 4),
        ("MOPS", 16),
        ("BC", 20),
        ("CSSC", 52),
        ("ATS1A", 60),
    ),
    *_rows(
        "ID_AA64MMFR0_EL1",
        ("PARange", 0, 5),  # 52-bit PA needs FEAT_LPA; 5 = 48 bits
        ("ASIDBits", 4),
        ("BigEnd", 8),
        ("SNSMem", 12),  # Secure memory needs Secure state, i.e. EL3
        ("TGran16", 20),
        # stage-2 granule fields: 0 = "as stage 1", 1 = not supported, 2 = supported, 3 = with 52-bit
        ("TGran16_2", 32, 1),
        ("TGran4_2", 40, 2),
        ("FGT", 56),
        ("ECV", 60),
    ),
    # 0 = 4 KB granule, 1 = with 52-bit addresses (FEAT_LPA2)
    IdField("ID_AA64MMFR0_EL1", 28, 4, "TGran4", signed=True),
    *_rows(
        "ID_AA64MMFR1_EL1",
        ("HAFDBS", 0),
        ("VMIDBits", 4),
        ("VH", 8),
        ("HPDS", 12),
        ("LO", 16),
        ("PAN", 20),
        ("XNX", 28),
        ("HCX", 40),
        ("AFP", 44),
        ("TIDCP1", 52),
        ("CMOW", 56),
    ),
    *_rows(
        "ID_AA64MMFR2_EL1",
        ("CnP", 0),
        ("UAO", 4),
        ("IESB", 12),
        ("VARange", 16),
        ("NV", 24),  # nv.md NV-01: 1 = FEAT_NV, 2 = FEAT_NV2
        ("ST", 28),
        ("AT", 32),
        ("IDS", 36),
        ("FWB", 40),
        ("TTL", 48),
        ("BBM", 52),
        ("EVT", 56),
        ("E0PD", 60),
    ),
    *_rows(
        "ID_AA64MMFR3_EL1",
        ("TCRX", 0),
        ("SCTLRX", 4),
        ("S1PIE", 8),
        ("S2PIE", 12),
        ("AIE", 24),
        ("MEC", 28),
        ("Spec_FPACC", 60),
    ),
    *_rows("ID_AA64MMFR4_EL1", ("ASID2", 8)),
    *(_whole(r) for r in AARCH32_REGISTERS),
)

_BY_NAME = {(row.reg, row.name): row for row in LAYOUT}


def claim(reg: str, name: str, absent: int | None = None, top: int | None = None) -> IdField:
    """A claim on the layout field `reg.name`: the levels above `absent` (default: the layout's), up to `top`."""
    row = _BY_NAME[(reg, name)]
    return IdField(
        row.reg,
        row.shift,
        row.width,
        row.name,
        absent=row.absent if absent is None else absent,
        top=top,
        signed=row.signed,
    )


# The fields the kernel features claim (features.py), by feature name
KERNEL_CLAIMS: dict[str, tuple[IdField, ...]] = {
    "el2": (claim("ID_AA64PFR0_EL1", "EL2", top=1),),  # 2 would be AArch32 at EL2
    "vhe": (claim("ID_AA64MMFR1_EL1", "VH"),),
    "idst": (claim("ID_AA64MMFR2_EL1", "IDS"),),
    "uao": (claim("ID_AA64MMFR2_EL1", "UAO"),),
    "dit": (claim("ID_AA64PFR0_EL1", "DIT"),),
    "ssbs": (claim("ID_AA64PFR1_EL1", "SSBS"),),
    "bti": (claim("ID_AA64PFR1_EL1", "BT"),),
    "nmi": (claim("ID_AA64PFR1_EL1", "NMI"),),
    "dpb": (claim("ID_AA64ISAR1_EL1", "DPB", top=1),),
    "dpb2": (claim("ID_AA64ISAR1_EL1", "DPB", absent=1),),
    "crc32": (claim("ID_AA64ISAR0_EL1", "CRC32"),),
    "lse": (claim("ID_AA64ISAR0_EL1", "Atomic", top=2),),  # 3 is FEAT_LSE128
    "lrcpc": (claim("ID_AA64ISAR1_EL1", "LRCPC", top=1),),
    "lrcpc2": (claim("ID_AA64ISAR1_EL1", "LRCPC", absent=1),),
    "sb": (claim("ID_AA64ISAR1_EL1", "SB"),),
    "dgh": (claim("ID_AA64ISAR1_EL1", "DGH"),),
    "hbc": (claim("ID_AA64ISAR2_EL1", "BC"),),
    "dotprod": (claim("ID_AA64ISAR0_EL1", "DP"),),
    "aes": (claim("ID_AA64ISAR0_EL1", "AES"),),  # 2: AES and PMULL of doublewords
}

# Non-zero fields kept at the model's value, or at a non-zero layout level: (register, lsb, width, why)
BASE: tuple[tuple[str, int, int, str], ...] = (
    ("ID_AA64PFR0_EL1", 16, 4, "FP: FP/SIMD registers, loads and stores exist (docs/architecture.md)"),
    ("ID_AA64PFR0_EL1", 20, 4, "AdvSIMD: as FP"),
    ("ID_AA64PFR0_EL1", 56, 4, "CSV2 = 1: no speculation, so no branch-target leaks"),
    ("ID_AA64PFR0_EL1", 60, 4, "CSV3: no speculation past faults"),
    ("ID_AA64MMFR0_EL1", 0, 4, "PARange up to 48 bits: the MMU checks output size"),
    ("ID_AA64MMFR0_EL1", 36, 4, "TGran64_2: 64 KB granule at stage 2 (mmu.md)"),
    ("ID_AA64MMFR0_EL1", 40, 4, "TGran4_2 = 2: 4 KB granule at stage 2 (mmu.md)"),
    ("ID_AA64MMFR1_EL1", 36, 4, "ETS: translation-table walks complete in program order"),
    ("ID_AA64MMFR2_EL1", 20, 4, "CCIDX: the CCSIDR format the model's CCSIDR_EL1 rows use"),
    ("ID_AA64DFR0_EL1", 0, 4, "DebugVer: Armv8.0 debug is the AArch64 minimum"),
    ("ID_AA64DFR0_EL1", 12, 4, "BRPs: architectural minimum"),
    ("ID_AA64DFR0_EL1", 20, 4, "WRPs: architectural minimum"),
    ("ID_AA64DFR0_EL1", 28, 4, "CTX_CMPs: architectural minimum"),
    ("ID_AA64DFR0_EL1", 36, 4, "DoubleLock = 0xF means not implemented"),
    ("ID_AA64PFR0_EL1", 0, 4, "EL0: AArch64"),
    ("ID_AA64PFR0_EL1", 4, 4, "EL1: AArch64"),
    ("MIDR_EL1", 0, 32, "identity"),
    ("MPIDR_EL1", 0, 64, "identity: CPU 0, RES1 bit 31"),
    ("CTR_EL0", 0, 64, "cache geometry; IDC/DIC: emulated caches need no maintenance (cpu-models.md §3)"),
    ("DCZID_EL0", 0, 64, "DC ZVA block size (DZP is computed at run time)"),
    ("CLIDR_EL1", 0, 64, "cache hierarchy the CCSIDR rows describe"),
)
