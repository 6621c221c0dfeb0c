"""NV-06/NV-07/NV-08/NV-09/NV-33: every op1 = 4/5 encoding at EL1, trap vs UNDEF.

One guest per configuration executes every encoding of the rules reference's
table (MRS and MSR for registers, SYS for instructions) at EL1. The EL2
handler records each trap's ESR_EL2 (tagged with bit 63) and steps over the
instruction; the EL1 handler records ESR_EL1 of an UNDEF and asks EL2 (HVC #1)
to step over it. The expected outcome comes from the table and from the ID
registers the guest sees: an encoding traps with its exact EC 0x18 syndrome
when NV = 1 and the register exists on the model, and UNDEFs otherwise.
"""

from __future__ import annotations

import pytest

from framework.testing import make_machine
from plugins.feat_nv.tests.guest import (
    ESR_UNDEF,
    HCR_E2H,
    HCR_NV,
    HCR_NV1,
    HCR_RW,
    encodings,
    sysreg_esr,
    table_guest_start,
)

RESULTS = 0x4060_0000
TRAP_TAG = 1 << 63
RT_READ, RT_WRITE = 5, 3


def field(value: int, lsb: int, signed: bool = False) -> int:
    f = (value >> lsb) & 0xF
    return f - 16 if signed and f >= 8 else f


def feature_present(m, cond: str, name: str) -> bool:
    """Whether the table's "exists when" condition holds, judged from the guest's ID registers."""
    idv = m.id_value
    tests = {
        "": True,
        "only when EL2 is the highest EL (no EL3)": True,  # the virt board has no EL3
        "IMPDEF; a64fx model only": False,
        "EL1 supports AArch32": field(idv("ID_AA64PFR0_EL1"), 4) >= 2,
        "FEAT_VHE": field(idv("ID_AA64MMFR1_EL1"), 8) >= 1,
        "FEAT_FGT": field(idv("ID_AA64MMFR0_EL1"), 56) >= 1,
        "FEAT_HCX": field(idv("ID_AA64MMFR1_EL1"), 40) >= 1,
        "FEAT_SVE": field(idv("ID_AA64PFR0_EL1"), 32) >= 1,
        "FEAT_SME": field(idv("ID_AA64PFR1_EL1"), 24) >= 1,
        "FEAT_NV2": field(idv("ID_AA64MMFR2_EL1"), 24) >= 2,
        "FEAT_GCS": field(idv("ID_AA64PFR1_EL1"), 44) >= 1,
        "FEAT_RAS": field(idv("ID_AA64PFR0_EL1"), 28) >= 1,
        "FEAT_MTE2": field(idv("ID_AA64PFR1_EL1"), 8) >= 2,
        "FEAT_AIE": field(idv("ID_AA64MMFR3_EL1"), 24) >= 1,
        "FEAT_S1PIE": field(idv("ID_AA64MMFR3_EL1"), 8) >= 1,
        "FEAT_S2PIE": field(idv("ID_AA64MMFR3_EL1"), 12) >= 1,
        "FEAT_SCTLR2": field(idv("ID_AA64MMFR3_EL1"), 4) >= 1,
        "FEAT_TCR2": field(idv("ID_AA64MMFR3_EL1"), 0) >= 1,
        "FEAT_CSV2_2": field(idv("ID_AA64PFR0_EL1"), 56) >= 2,
        "FEAT_ECV (ECV==2)": field(idv("ID_AA64MMFR0_EL1"), 60) >= 2,
        "FEAT_ATS1A": field(idv("ID_AA64ISAR2_EL1"), 60) >= 1,
        "FEAT_XS": field(idv("ID_AA64ISAR1_EL1"), 56) >= 1,
        "GICv3 CPU interface": field(idv("ID_AA64PFR0_EL1"), 24) >= 1,
    }
    if cond.startswith("FEAT_SEL2"):
        return False  # NV-09: UNDEFINED in Non-secure state, the only state of the virt board
    ok = all(tests[part.strip()] for part in cond.split("+"))
    if name.startswith("TLBI"):
        # the TLBI forms beyond Armv8.0 exist with their features: ID_AA64ISAR0_EL1.TLB is 1 for the
        # outer-shareable forms (FEAT_TLBIOS) and 2 for the range forms too (FEAT_TLBIRANGE)
        op = name.split()[1].removesuffix("NXS")
        tlb = field(idv("ID_AA64ISAR0_EL1"), 56)
        ok = ok and (tlb >= 2 if op.startswith("R") else True) and (tlb >= 1 if op.endswith("OS") else True)
    if ok and name.startswith("ICH_"):
        ok = tests["GICv3 CPU interface"] and _ich_index_ok(m, name)
    return ok


def _ich_index_ok(m, name: str) -> bool:
    vtr = m.model.extra.get("ICH_VTR_EL2", 0)
    if name.startswith("ICH_LR"):
        return int(name[6:].split("_")[0]) <= (vtr & 0x1F)
    if name.startswith(("ICH_AP0R", "ICH_AP1R")):
        prebits = ((vtr >> 26) & 7) + 1
        return int(name[8]) < 1 << (prebits - 5)
    return True


def accesses(rows):
    """(row, is_read, instruction word) for every access the guest makes, in order."""
    out = []
    for row in rows:
        op0, op1, crn, crm, op2 = (int(row[k]) for k in ("op0", "op1", "crn", "crm", "op2"))
        enc = op0 << 19 | op1 << 16 | crn << 12 | crm << 8 | op2 << 5
        if op0 == 1:
            out.append((row, False, 0xD5000000 | enc | RT_WRITE))  # SYS
        else:
            out.append((row, True, 0xD5200000 | enc | RT_READ))  # MRS
            out.append((row, False, 0xD5000000 | enc | RT_WRITE))  # MSR
    return out


def guest_source(words: list[int]) -> str:
    insns = "\n".join(f"    .inst {w:#010x}" for w in words)
    return (
        table_guest_start(RESULTS)
        + f"""
el1_code:
{insns}
    hvc #2
    .ltorg

    .balign 2048
vec1:
    .skip 0x200
    mrs x10, esr_el1
    str x10, [x20], #8
    hvc #1

    .balign 2048
vec2:
    .skip 0x400
    mrs x10, esr_el2
    lsr x11, x10, #26
    cmp x11, #0x16
    b.eq hvc_call
    orr x10, x10, #{TRAP_TAG:#x}
    str x10, [x20], #8
    mrs x10, elr_el2
    add x10, x10, #4
    msr elr_el2, x10
    eret
hvc_call:
    and x11, x10, #0xffff
    cmp x11, #2
    b.eq _armnv_exit
    tbnz x21, #34, 1f
    mrs x10, elr_el1
    b 2f
1:  mrs x10, elr_el12
2:  add x10, x10, #4
    msr elr_el2, x10
    mov x10, #0x3c5
    msr spsr_el2, x10
    eret
"""
    )


def run_table(run_asm, cpu: str, hcr: int):
    rows = encodings()
    acc = accesses(rows)

    def setup(m):
        m.cpu.x[21] = HCR_RW | hcr

    m = run_asm(guest_source([w for _, _, w in acc]), cpu=cpu, setup=setup, max_insns=100_000)
    assert m.stop.kind == "exit", m.stop
    got = [m.bus.read(RESULTS + 8 * i, 8) for i in range(len(acc))]
    assert m.bus.read(RESULTS + 8 * len(acc), 8) == 0  # exactly one outcome per access
    return m, acc, got


CONFIGS = [0, HCR_NV, HCR_NV | HCR_NV1, HCR_NV | HCR_E2H, HCR_NV | HCR_NV1 | HCR_E2H, HCR_NV1 | HCR_E2H]


@pytest.mark.parametrize("cpu", ["max", "neoverse-n2", "neoverse-v1", "max,nv=off"])
@pytest.mark.parametrize("hcr", CONFIGS, ids=lambda h: f"hcr{h:#x}")
def test_nv06_every_el2_level_encoding_traps_or_undefs(run_asm, cpu, hcr):
    probe = make_machine(cpu)
    if "nv" not in probe.features and hcr & HCR_NV:
        hcr &= ~(HCR_NV | HCR_NV1)  # RES0 without the feature: the guest's write is ignored anyway
    m, acc, got = run_table(run_asm, cpu, hcr)
    wrong = []
    for (row, is_read, _), value in zip(acc, got, strict=True):
        exists = feature_present(m, row["exists_when"], row["name"])
        traps = bool(hcr & HCR_NV) and "nv" in m.features and exists and row["with_nv2"] != "never"
        if traps:
            regs = (int(row[k]) for k in ("op0", "op1", "crn", "crm", "op2"))
            want = TRAP_TAG | sysreg_esr(*regs, RT_READ if is_read else RT_WRITE, is_read)
        else:
            want = ESR_UNDEF
        if value != want:
            wrong.append(f"{row['name']} {'MRS' if is_read else 'MSR/SYS'}: got {value:#x}, want {want:#x}")
    assert not wrong, "\n".join(wrong)


def test_nv06_the_syndrome_builder_matches_the_worked_values():
    # NV-17 worked values (AT with Rt = X1) and NV-21's MRS VBAR_EL1 (Rt = 5)
    assert sysreg_esr(1, 4, 7, 8, 4, 1, False) == 0x62191C30  # AT S12E1R X1
    assert sysreg_esr(1, 4, 7, 8, 7, 1, False) == 0x621F1C30  # AT S12E0W X1
    assert sysreg_esr(1, 4, 7, 8, 0, 1, False) == 0x62111C30  # AT S1E2R X1
    assert sysreg_esr(3, 0, 12, 0, 0, 5, True) == 0x623030A1  # MRS X5, VBAR_EL1
    assert sysreg_esr(3, 4, 1, 1, 4, 3, True) == 0x62390463  # MRS X3, HFGRTR_EL2
