"""PSTATE across exception entry and exception return (syndromes.md §10; Arm ARM
AArch64.TakeException, AArch64.ExceptionReturn, SetPSTATEFromPSR).

Entry saves the whole PSTATE in SPSR_ELx and leaves NZCV and DIT alone; it sets D, A, I, F, clears
UAO, BTYPE, SS and IL, sets SSBS from SCTLR_ELx.DSSBS and ALLINT to NOT SCTLR_ELx.SPINTMASK, both
of the *target* EL. A legal ERET restores every bit the PE implements from SPSR_ELx; a bit whose
feature is absent is RES0 in SPSR and is not restored. SS is restored only while software step is
enabled (MDSCR_EL1.SS = 1). ERET also clears the local exclusive monitor. PSTATE.PAN belongs to
the `pan` plugin and is not looked at here.
"""

from __future__ import annotations

import pytest

from .conftest import EL1H, EL2H, eret_to, install, read_log, set_hcr, symbol, vectors

NZCV = 0xF0000000
DIT, UAO, SS, IL = 1 << 24, 1 << 23, 1 << 21, 1 << 20
ALLINT, SSBS, BTYPE = 1 << 13, 1 << 12, 3 << 10
DAIF = 0x3C0
DSSBS, SPINTMASK = 1 << 44, 1 << 62
ABORT_PA = 0x60000000  # not RAM, not a device: a load from it is a synchronous external abort
ESR_EL1_ABORT = 0x96000010  # EC 0x25 (same EL), DFSC 0x10

# PSTATE read in a handler: x10 NZCV, x11 DAIF, x12 DIT, x13 UAO, x14 SSBS, x15 ALLINT (0 without
# FEAT_NMI), x16 SPSel, x17 CurrentEL
PROBE = """
probe:
    mrs x10, nzcv
    mrs x11, daif
    mrs x12, dit
    mrs x13, uao
    mrs x14, ssbs
    {allint}
    mrs x16, spsel
    mrs x17, currentel
    b _armnv_exit
"""


def probe(cpu: str) -> str:
    # ALLINT is S3_0_C4_C3_0 (FEAT_NMI, max only; the assembler's -march does not name it)
    return PROBE.format(allint="mrs x15, s3_0_c4_c3_0" if cpu == "max" else "mov x15, #0")


def to_el1(lower: str, *, spsr_extra: int, daif: int = 0, setup: str = "", cpu: str = "max") -> str:
    """ERET from EL2 to EL1h with SPSR = spsr_extra | daif | EL1h; both vector tables run PROBE."""
    return (
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(0)
        + setup
        + eret_to("lower", EL1H, daif=daif, spsr_extra=spsr_extra)
        + f"lower:\n{lower}\n    b _armnv_exit\n"
        + vectors(2, "vec2", "probe")
        + vectors(1, "vec1", "probe")
        + probe(cpu)
    )


@pytest.mark.parametrize("cpu", ["max", "neoverse-n2", "neoverse-v1"])
def test_syndromes_s10_eret_restores_and_entry_saves_every_pstate_bit(run_asm, cpu):
    nmi = ALLINT if cpu == "max" else 0
    allint_read = "mrs x7, s3_0_c4_c3_0" if cpu == "max" else "mov x7, #0"
    m = run_asm(
        to_el1(
            f"""
    mrs x2, nzcv
    mrs x3, daif
    mrs x4, dit
    mrs x5, uao
    mrs x6, ssbs
    {allint_read}
    hvc #0
""",
            spsr_extra=NZCV | DIT | UAO | SSBS | ALLINT,
            daif=0x280,
            cpu=cpu,
        ),
        cpu=cpu,
    )
    x = m.cpu.x
    # at EL1, after the ERET: every bit came from SPSR_EL2 (ALLINT only with FEAT_NMI)
    assert (x[2], x[3], x[4], x[5], x[6], x[7]) == (NZCV, 0x280, DIT, UAO, SSBS, nmi)
    (e,) = read_log(m)
    assert e.esr == 0x5A000000 and m.cpu.el == 2
    assert e.spsr == NZCV | DIT | UAO | SSBS | nmi | 0x280 | EL1H
    # in the EL2 handler: NZCV and DIT kept, DAIF set, UAO cleared, SSBS = SCTLR_EL2.DSSBS = 0,
    # ALLINT = NOT SCTLR_EL2.SPINTMASK (FEAT_NMI), EL2h
    assert (x[10], x[11], x[12], x[13], x[14], x[15]) == (NZCV, DAIF, DIT, 0, 0, nmi)
    assert (x[16], x[17]) == (1, 8)


def _set_sctlr_bits(el: int, bits: int) -> str:
    return f"    mrs x0, sctlr_el{el}\n    ldr x1, ={bits:#x}\n    orr x0, x0, x1\n    msr sctlr_el{el}, x0\n"


@pytest.mark.parametrize("before", [0, SSBS | ALLINT], ids=["pstate0", "pstate1"])
@pytest.mark.parametrize(
    ("insn", "sctlr_el", "expected"),
    [
        ("svc #0", 1, SSBS),  # to EL1: SCTLR_EL1.DSSBS = 1, SPINTMASK = 1
        ("svc #0", 2, ALLINT),  # to EL1: SCTLR_EL1 has neither (reset value)
        ("hvc #0", 1, ALLINT),  # to EL2: SCTLR_EL2 has neither
        ("hvc #0", 2, SSBS),
    ],
    ids=["svc-sctlr_el1", "svc-sctlr_el2", "hvc-sctlr_el1", "hvc-sctlr_el2"],
)
def test_syndromes_s10_ssbs_and_allint_come_from_the_target_els_sctlr(run_asm, before, insn, sctlr_el, expected):
    m = run_asm(to_el1(f"    {insn}", spsr_extra=before, setup=_set_sctlr_bits(sctlr_el, DSSBS | SPINTMASK)))
    (e,) = read_log(m)
    assert e.spsr & (SSBS | ALLINT) == before  # saved as they were
    assert m.cpu.x[14] | m.cpu.x[15] == expected


@pytest.mark.parametrize("cpu", ["max", "neoverse-n2", "neoverse-v1"])
@pytest.mark.parametrize("first", ["fault", "after-another"])
def test_syndromes_s10_eret_restores_btype_for_the_first_instruction(run_asm, cpu, first):
    # FEAT_BTI (max, n2): BTYPE from SPSR is PSTATE.BTYPE for the first instruction at ELR, so an
    # abort on it records it; any instruction that completes clears it
    lower = f"    ldr x5, ={ABORT_PA:#x}\n" if first == "after-another" else ""
    m = run_asm(
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(0)
        + f"    ldr x5, ={ABORT_PA:#x}\n"
        + eret_to("lower", EL1H, spsr_extra=BTYPE)
        + f"lower:\n{lower}    ldr x6, [x5]\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1"),
        cpu=cpu,
    )
    (e,) = read_log(m)
    assert (e.esr, e.elr) == (ESR_EL1_ABORT, symbol(m, "lower") + (4 if lower else 0))
    has_bti = cpu != "neoverse-v1"
    assert e.spsr & BTYPE == (BTYPE if has_bti and first == "fault" else 0)


@pytest.mark.parametrize(
    ("feature", "bit"),
    [("dit", DIT), ("uao", UAO), ("ssbs", SSBS), ("bti", BTYPE), ("nmi", ALLINT)],
)
@pytest.mark.parametrize("enabled", [True, False], ids=["on", "off"])
def test_syndromes_s10_eret_restores_a_bit_only_with_its_feature(run_asm, feature, bit, enabled):
    # without the feature the SPSR bit is RES0: it does not reach PSTATE, so the SPSR of the
    # abort on the first instruction at ELR does not show it
    cpu = "max" if enabled else f"max,{feature}=off"
    m = run_asm(
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(0)
        + f"    ldr x5, ={ABORT_PA:#x}\n"
        + eret_to("lower", EL1H, spsr_extra=bit)
        + "lower:\n    ldr x6, [x5]\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1"),
        cpu=cpu,
    )
    (e,) = read_log(m)
    assert e.esr == ESR_EL1_ABORT
    assert e.spsr & bit == (bit if enabled else 0)


def test_eret_does_not_restore_ss_while_software_step_is_disabled(run_asm):
    # DebugExceptionReturnSS: with MDSCR_EL1.SS = 0 (its reset value) PSTATE.SS becomes 0
    m = run_asm(
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(0)
        + f"    ldr x5, ={ABORT_PA:#x}\n"
        + eret_to("lower", EL1H, spsr_extra=SS)
        + "lower:\n    ldr x6, [x5]\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1")
    )
    (e,) = read_log(m)
    assert e.esr == ESR_EL1_ABORT
    assert e.spsr & SS == 0


# ---- an illegal exception return keeps EL and SP and restores only some bits --------------------

# SetPSTATEFromPSR on an illegal return: NZCV, DAIF, ALLINT (and PAN) come from SPSR; EL, SP stay;
# IL = 1; DIT, UAO, SSBS and BTYPE are UNKNOWN, so they are left out of the comparison
DEFINED_AFTER_ILLEGAL = NZCV | ALLINT | IL | DAIF | 0x1F


@pytest.mark.parametrize("cpu", ["max", "neoverse-n2"])
def test_illegal_return_restores_flags_masks_and_allint_only(run_asm, cpu):
    m = run_asm(
        install(2, "vec2")
        + set_hcr(0)
        + eret_to("target", 0xD, daif=0x140, spsr_extra=0xA0000000 | ALLINT | DIT | UAO | SSBS | BTYPE)
        + "target:\n    mov x9, #1\n"
        + vectors(2, "vec2"),
        cpu=cpu,
    )
    (e,) = read_log(m)
    assert m.cpu.x[9] == 0
    assert (e.offset, e.esr, e.elr) == (0x200, 0x3A000000, symbol(m, "target"))
    nmi = ALLINT if cpu == "max" else 0
    assert e.spsr & DEFINED_AFTER_ILLEGAL == 0xA0000000 | nmi | IL | 0x140 | EL2H


# ---- the exclusive monitor -----------------------------------------------------------------------


def test_eret_clears_the_local_exclusive_monitor(run_asm):
    # AArch64.ExceptionReturn: ClearExclusiveLocal, so the STXR after it must fail
    m = run_asm(
        """
    ldr x5, =0x40200000
    mov x3, #7
    str xzr, [x5]
    ldxr x1, [x5]
"""
        + eret_to("next", EL2H)
        + """
next:
    stxr w2, x3, [x5]
    ldr x4, [x5]
"""
    )
    assert (m.cpu.x[2], m.cpu.x[4]) == (1, 0)


@pytest.mark.parametrize(("cpu", "btype"), [("max", 2), ("neoverse-v1", 0)])
def test_syndromes_s10_entry_clears_btype_for_the_vectors_first_instruction(run_asm, cpu, btype):
    # BLR (BTYPE = 0b10 with FEAT_BTI) to a load that aborts: SPSR_EL1 keeps that BTYPE, but the
    # first instruction of the EL1 vector (an HVC) runs with BTYPE = 0, as SPSR_EL2 shows
    el1_vectors = "".join(f"    .balign 128\n    hvc #{i}\n" for i in range(16))
    m = run_asm(
        install(2, "vec2")
        + set_hcr(0)
        + f"    adr x0, vec1\n    msr vbar_el1, x0\n    ldr x5, ={ABORT_PA:#x}\n    adr x1, target\n"
        + eret_to("lower", EL1H)
        + "lower:\n    blr x1\ntarget:\n    ldr x6, [x5]\n"
        + vectors(2, "vec2")
        + f"    .balign 2048\nvec1:\n{el1_vectors}",
        cpu=cpu,
    )
    (e,) = read_log(m)
    assert m.cpu.sr["ESR_EL1"] == ESR_EL1_ABORT
    assert m.cpu.sr["SPSR_EL1"] & BTYPE == btype << 10
    assert (e.esr, e.elr) == (0x5A000004, symbol(m, "vec1") + 0x204)  # the HVC #4 of entry 0x200
    assert e.spsr & BTYPE == 0
