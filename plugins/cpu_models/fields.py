"""Which feature owns which ID-register field: the data behind "a guest never sees a lie".

A field keeps the model's value (cpu-models.csv) only while its owning
feature is enabled — declared by some plugin and selected with ``--cpu``.
Otherwise it is lowered to ``absent``. Most owners below are features no
plugin declares yet (SVE, crypto, PAuth…): their fields read as "not
implemented" until a plugin implements them, with no change here. Some
fields have several owners for several levels (``lse`` / ``lse128`` on
ID_AA64ISAR0_EL1.ATOMIC); the lowest applicable ``absent`` wins.

`BASE` lists the non-zero fields kept as they are, each with the reason it
is honest; a test checks that every non-zero field of every model appears in
one of the two tables, so a new model cannot advertise an unreviewed field.
"""

from __future__ import annotations

from framework.api import IdField


def _f(
    reg: str, name: str, lsb: int, feature: str, absent: int = 0, *, width: int = 4, signed: bool = False
) -> IdField:
    return IdField(reg, lsb, width, name, feature, absent, signed)


def _rows(reg: str, *rows: tuple) -> tuple[IdField, ...]:
    return tuple(_f(reg, *row) for row in rows)


# (field, lsb, owning feature[, absent])
OWNED: tuple[IdField, ...] = (
    *_rows(
        "ID_AA64PFR0_EL1",
        # armnv executes A64 only: 2 ("AArch64 and AArch32") becomes 1
        ("EL0", 0, "aarch32", 1),
        ("EL1", 4, "aarch32", 1),
        ("EL2", 8, "el2", 0),
        ("EL2", 8, "aarch32", 1),
        # FP/AdvSIMD = 1 adds half-precision arithmetic; FP itself stays (docs/architecture.md)
        ("FP", 16, "fp16", 0),
        ("AdvSIMD", 20, "fp16", 0),
        ("GIC", 24, "gicv3", 0),
        ("RAS", 28, "ras", 0),
        ("SVE", 32, "sve", 0),
        ("SEL2", 36, "sel2", 0),
        ("DIT", 48, "dit", 0),
        # CSV2 = 1 is true of a PE that does not speculate; 2 and 3 add SCXTNUM_ELx
        ("CSV2", 56, "csv2_2", 1),
    ),
    *_rows(
        "ID_AA64PFR1_EL1",
        ("BT", 0, "bti"),
        ("SSBS", 4, "ssbs"),
        ("MTE", 8, "mte"),
        ("SME", 24, "sme"),
        ("NMI", 36, "nmi"),
        ("GCS", 44, "gcs"),
    ),
    _f("ID_AA64ZFR0_EL1", "*", 0, "sve", width=64),
    _f("ID_AA64SMFR0_EL1", "*", 0, "sme", width=64),
    *_rows(
        "ID_AA64DFR0_EL1",
        # self-hosted debug beyond MDSCR_EL1 is not emulated: report the architectural minimum
        # (Armv8.0 debug, 2 breakpoints, 2 watchpoints, 1 context-aware breakpoint)
        ("DebugVer", 0, "debug", 6),
        ("PMUVer", 8, "pmu"),
        ("BRPs", 12, "debug", 1),
        ("WRPs", 20, "debug", 1),
        ("CTX_CMPs", 28, "debug", 0),
        ("HPMN0", 60, "pmu"),
    ),
    _f("ID_AA64DFR0_EL1", "DoubleLock", 36, "doublelock", -1, signed=True),
    *_rows(
        "ID_AA64ISAR0_EL1",
        ("AES", 4, "aes"),
        ("SHA1", 8, "sha1"),
        ("SHA2", 12, "sha2"),
        ("CRC32", 16, "crc32"),
        ("Atomic", 20, "lse", 0),
        ("Atomic", 20, "lse128", 2),
        ("RDM", 28, "rdm"),
        ("SHA3", 32, "sha3"),
        ("SM3", 36, "sm3"),
        ("SM4", 40, "sm4"),
        ("DP", 44, "dotprod"),
        ("FHM", 48, "fhm"),
        ("TS", 52, "flagm", 0),
        ("TS", 52, "flagm2", 1),
        ("TLB", 56, "tlbios", 0),
        ("TLB", 56, "tlbirange", 1),
        ("RNDR", 60, "rng"),
    ),
    *_rows(
        "ID_AA64ISAR1_EL1",
        ("DPB", 0, "dpb", 0),
        ("DPB", 0, "dpb2", 1),
        ("API", 8, "pauth"),
        ("JSCVT", 12, "jscvt"),
        ("FCMA", 16, "fcma"),
        ("LRCPC", 20, "lrcpc", 0),
        ("LRCPC", 20, "lrcpc2", 1),
        ("GPI", 28, "pauth"),
        ("FRINTTS", 32, "frintts"),
        ("SB", 36, "sb"),
        ("SPECRES", 40, "specres"),
        ("BF16", 44, "bf16", 0),
        ("BF16", 44, "ebf16", 1),
        ("DGH", 48, "dgh"),
        ("I8MM", 52, "i8mm"),
        ("XS", 56, "xs"),
    ),
    *_rows(
        "ID_AA64ISAR2_EL1",
        ("WFxT", 0, "wfxt"),
        ("RPRES", 4, "rpres"),
        ("MOPS", 16, "mops"),
        ("BC", 20, "hbc"),
        ("CSSC", 52, "cssc"),
        ("ATS1A", 60, "ats1a"),
    ),
    *_rows(
        "ID_AA64MMFR0_EL1",
        ("PARange", 0, "lpa", 5),  # 52-bit PA needs FEAT_LPA; 5 = 48 bits
        ("ASIDBits", 4, "asid16"),
        ("BigEnd", 8, "bigend"),
        ("SNSMem", 12, "el3"),  # Secure memory needs Secure state, i.e. EL3
        ("TGran16", 20, "tgran16", 0),
        ("TGran16", 20, "lpa2", 1),
        # stage-2 granule fields: 0 = "as stage 1", 1 = not supported, 2 = supported, 3 = with 52-bit
        ("TGran16_2", 32, "tgran16", 1),
        ("TGran16_2", 32, "lpa2", 2),
        ("TGran4_2", 40, "lpa2", 2),
        ("FGT", 56, "fgt"),
        ("ECV", 60, "ecv"),
    ),
    _f("ID_AA64MMFR0_EL1", "TGran4", 28, "lpa2", 0, signed=True),
    *_rows(
        "ID_AA64MMFR1_EL1",
        ("HAFDBS", 0, "hafdbs"),
        ("VMIDBits", 4, "vmid16"),
        ("VH", 8, "vhe"),
        ("HPDS", 12, "hpds", 0),
        ("HPDS", 12, "hpds2", 1),
        ("LO", 16, "lor"),
        ("PAN", 20, "pan"),
        ("XNX", 28, "xnx"),
        ("HCX", 40, "hcx"),
        ("AFP", 44, "afp"),
        ("TIDCP1", 52, "tidcp1"),
        ("CMOW", 56, "cmow"),
    ),
    *_rows(
        "ID_AA64MMFR2_EL1",
        ("CnP", 0, "cnp"),
        ("UAO", 4, "uao"),
        ("IESB", 12, "ras"),  # an implicit error synchronization barrier needs RAS errors
        ("VARange", 16, "lva"),
        ("NV", 24, "nv", 0),  # nv.md NV-01: 1 = FEAT_NV, 2 = FEAT_NV2
        ("NV", 24, "nv2", 1),
        ("ST", 28, "ttst"),
        ("AT", 32, "lse2"),
        ("IDS", 36, "idst"),
        ("FWB", 40, "s2fwb"),
        ("TTL", 48, "ttl"),
        ("BBM", 52, "bbm"),
        ("EVT", 56, "evt"),
        ("E0PD", 60, "e0pd"),
    ),
    *_rows(
        "ID_AA64MMFR3_EL1",
        ("TCRX", 0, "tcr2"),
        ("SCTLRX", 4, "sctlr2"),
        ("S1PIE", 8, "s1pie"),
        ("S2PIE", 12, "s2pie"),
        ("AIE", 24, "aie"),
        ("MEC", 28, "mec"),
        ("Spec_FPACC", 60, "pauth"),
    ),
    _f("ID_AA64MMFR4_EL1", "ASID2", 8, "asid2"),
)

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

FIELD_OWNERS: tuple[IdField, ...] = OWNED + tuple(_f(r, "*", 0, "aarch32", width=64) for r in AARCH32_REGISTERS)

# Non-zero fields kept at the model's value: (register, lsb, width, why it is true of armnv)
BASE: tuple[tuple[str, int, int, str], ...] = (
    ("ID_AA64PFR0_EL1", 16, 4, "FP: FP/SIMD registers, loads and stores exist (docs/architecture.md)"),
    ("ID_AA64PFR0_EL1", 20, 4, "AdvSIMD: as FP"),
    ("ID_AA64PFR0_EL1", 56, 4, "CSV2 = 1: no speculation, so no branch-target leaks"),
    ("ID_AA64PFR0_EL1", 60, 4, "CSV3: no speculation past faults"),
    ("ID_AA64MMFR0_EL1", 0, 4, "PARange up to 48 bits: the MMU checks output size"),
    ("ID_AA64MMFR0_EL1", 36, 4, "TGran64_2: 64 KB granule at stage 2 (mmu.md)"),
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
