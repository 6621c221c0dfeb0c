"""Features the kernel implements, declared here so that ``--cpu`` can name them.

The kernel specialises on these names (``"bti" in machine.features`` makes
branches set PSTATE.BTYPE, ``"ssbs"``/``"nmi"`` change exception entry,
``"vhe"`` makes HCR_EL2.E2H writable). A feature that adds instructions is
declared only when its instructions are in the decode table (`probes`): the
ISA grows group by group, and an ID field must never promise an instruction
that would UNDEF. The kernel registers a feature adds (`registers`) are
refined to UNDEF while it is switched off (`registers.feature_gated`).

Each is on by default wherever the model's ID values advertise it, through
the fields it claims (`fields.KERNEL_CLAIMS`), like any plugin's feature.
"""

from __future__ import annotations

import attrs

from framework.api import ADVERTISED, Feature, decoder
from plugins.cpu_models.fields import KERNEL_CLAIMS


@attrs.define(frozen=True, slots=True)
class KernelFeature:
    name: str
    description: str
    requires: tuple[str, ...] = ()
    fixed: bool = False
    # instruction words that must decode for the feature to exist
    probes: tuple[int, ...] = ()
    # kernel system registers/instructions it adds: UNDEF while the feature is off
    registers: tuple[str, ...] = ()


KERNEL_FEATURES: tuple[KernelFeature, ...] = (
    KernelFeature("el2", "EL2: the virt board boots at EL2 (off: at EL1, as -M virt,virtualization=off)"),
    KernelFeature("vhe", "FEAT_VHE: HCR_EL2.E2H, the EL2&0 regime, *_EL12/*_EL02 accessors", ("el2",)),
    KernelFeature("idst", "FEAT_IDST: ID-space reads that UNDEF report EC 0x18", fixed=True),
    KernelFeature("uao", "FEAT_UAO: PSTATE.UAO", registers=("UAO",)),
    KernelFeature("dit", "FEAT_DIT: PSTATE.DIT", registers=("DIT",)),
    KernelFeature("ssbs", "FEAT_SSBS2: PSTATE.SSBS, set from SCTLR_ELx.DSSBS on exception entry", registers=("SSBS",)),
    KernelFeature("bti", "FEAT_BTI: PSTATE.BTYPE, saved in SPSR on exception entry"),
    KernelFeature("nmi", "FEAT_NMI: PSTATE.ALLINT, set on exception entry", registers=("ALLINT",)),
    KernelFeature("dpb", "FEAT_DPB: DC CVAP", registers=("DC CVAP",)),
    KernelFeature("dpb2", "FEAT_DPB2: DC CVADP", ("dpb",), registers=("DC CVADP",)),
    # CRC32B W0, W1, W2; CRC32CX W0, W1, X2
    KernelFeature("crc32", "FEAT_CRC32: CRC32* and CRC32C*", probes=(0x1AC24020, 0x9AC25C20)),
    # LDADD X0, X1, [X2]; CAS X0, X1, [X2]; SWP X0, X1, [X2]
    KernelFeature("lse", "FEAT_LSE: atomic memory operations", probes=(0xF8200041, 0xC8A07C41, 0xF8208041)),
    KernelFeature("lrcpc", "FEAT_LRCPC: LDAPR", probes=(0xF8BFC020,)),  # LDAPR X0, [X1]
    # LDAPUR X0, [X1]; STLUR X0, [X1]
    KernelFeature("lrcpc2", "FEAT_LRCPC2: LDAPUR/STLUR", ("lrcpc",), probes=(0xD9400020, 0xD9000020)),
    KernelFeature("sb", "FEAT_SB: the SB barrier", probes=(0xD50330FF,)),
    KernelFeature("dgh", "FEAT_DGH: the DGH hint", probes=(0xD50320DF,)),
    KernelFeature("hbc", "FEAT_HBC: BC.cond", probes=(0x54000010,)),  # BC.EQ .
    # SDOT V0.4S, V1.16B, V2.16B; UDOT V3.2S, V4.8B, V5.4B[3]
    KernelFeature("dotprod", "FEAT_DotProd: SDOT/UDOT", probes=(0x4E829420, 0x2FA5E883)),
    # AESE V0.16B, V1.16B; AESIMC V2.16B, V3.16B; PMULL2 V0.1Q, V1.2D, V2.2D
    KernelFeature(
        "aes",
        "FEAT_AES and FEAT_PMULL: AESE/AESD/AESMC/AESIMC, PMULL of doublewords",
        probes=(0x4E284820, 0x4E287862, 0x4EE2E020),
    ),
)


def implemented(feature: KernelFeature) -> bool:
    dec = decoder()
    return all(dec.decode(word) is not None for word in feature.probes)


def declared_features() -> list[Feature]:
    features = []
    for kf in KERNEL_FEATURES:
        if not implemented(kf):
            continue
        fields = KERNEL_CLAIMS.get(kf.name, ())
        features.append(Feature(kf.name, kf.description, kf.requires, fields, fixed=kf.fixed, default_on=(ADVERTISED,)))
    return features
