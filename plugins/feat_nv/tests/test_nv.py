"""FEAT_NV, item by item (NV-01 … NV-38 of the rules reference).

Each guest runs at EL1h with HCR_EL2 as the test gives it; every exception
vector stops the machine, so a test reads which EL took the exception and its
ESR, ELR and SPSR. Syndromes are computed with `sysreg_esr` from the ESR
layout, and checked against the spec's worked values where it gives them.
"""

from __future__ import annotations

import pytest

from plugins.feat_nv.tests.guest import (
    ESR_UNDEF,
    HCR_AT,
    HCR_E2H,
    HCR_NV,
    HCR_NV1,
    HCR_NV2,
    HCR_RW,
    HCR_TIDCP,
    HCR_TSC,
    nv_run,
    program,
    sysreg_esr,
)

NV_NV1 = HCR_NV | HCR_NV1


def mrs(reg: str, rt: int = 5) -> str:
    return f"    mov x9, #1\n    mrs x{rt}, {reg}\n    mov x9, #2\n"


def msr(reg: str, rt: int = 3) -> str:
    return f"    mov x9, #1\n    msr {reg}, x{rt}\n    mov x9, #2\n"


def assert_trap(m, esr: int, label: str = "") -> None:
    """Trapped to EL2 with `esr`, ELR at the instruction, SPSR the real EL1h (NV-06, NV-29)."""
    assert m.cpu.el == 2, label
    assert m.cpu.sr["ESR_EL2"] == esr, f"{label}: {m.cpu.sr['ESR_EL2']:#x} != {esr:#x}"
    assert m.cpu.x[9] == 1
    assert m.cpu.sr["SPSR_EL2"] & 0xF == 0b0101  # EL1h, never the pretend EL2


def assert_undef(m) -> None:
    assert m.cpu.el == 1
    assert m.cpu.sr["ESR_EL1"] == ESR_UNDEF
    assert m.cpu.x[9] == 1


# ---- A. discovery and HCR_EL2 ------------------------------------------------------------------


@pytest.mark.parametrize("model", ["max", "neoverse-n2", "neoverse-v1"])
def test_nv01_id_field_reports_nv_and_e2h0(run_asm, model):
    m = nv_run(run_asm, "    mrs x2, id_aa64mmfr2_el1\n    mrs x3, s3_0_c0_c7_4\n", 0, cpu=model)
    level = (m.cpu.x[2] >> 24) & 0xF
    assert level == (2 if "nv2" in m.features else 1)
    assert (m.cpu.x[3] >> 24) & 0xF == 0  # E2H0 = 0: E2H writable, NV1 available
    m = nv_run(run_asm, "    mrs x2, id_aa64mmfr2_el1\n", 0, cpu=f"{model},nv=off")
    assert (m.cpu.x[2] >> 24) & 0xF == 0


@pytest.mark.parametrize("cpu", ["max", "max,nv=off"])
def test_nv02_nv_nv1_at_are_writable_only_with_feat_nv(run_asm, cpu):
    body = "    mov x0, #0\n    movk x0, #0x3c00, lsl #32\n    msr hcr_el2, x0\n    mrs x2, hcr_el2\n"
    m = run_asm(program(body, el=2), cpu=cpu)
    bits = m.cpu.x[2] & (HCR_NV | HCR_NV1 | HCR_AT)
    assert bits == (HCR_NV | HCR_NV1 | HCR_AT if "nv" in m.features else 0)


def test_nv03_nv2_is_writable_only_with_feat_nv2(run_asm):
    body = "    mov x0, #0\n    movk x0, #0x2000, lsl #32\n    msr hcr_el2, x0\n    mrs x2, hcr_el2\n"
    for cpu in ("max", "max,nv2=off", "max,nv=off"):
        try:
            m = run_asm(program(body, el=2), cpu=cpu)
        except Exception as exc:  # nv2 unknown to this installation: the feature is not there
            assert "nv2" in str(exc)
            continue
        assert bool(m.cpu.x[2] & HCR_NV2) == ("nv2" in m.features)


@pytest.mark.parametrize("hcr", [HCR_NV1, HCR_NV1 | HCR_E2H])
def test_nv04_nv1_without_nv_has_no_effect(run_asm, hcr):
    m = nv_run(run_asm, "    mrs x2, currentel\n    mrs x3, vbar_el1\n" + mrs("hcr_el2"), hcr)
    assert m.cpu.x[2] == 0x4
    assert_undef(m)
    m = nv_run(run_asm, "    svc #0\n", hcr)
    assert m.cpu.sr["SPSR_EL1"] & 0xF == 0b0101


def test_nv05_changing_nv1_invalidates_cached_translations_and_code(run_asm):
    # a page with bit 54 set: UXN in the ordinary format (executable at EL1), PXN with NV1 (NV-26);
    # EL1 runs it, asks EL2 to set NV1 (HVC), and runs it again: now it must fault
    from plugins.mmu.tests.guest import code_block, el1_regs
    from plugins.mmu.tests.tables import DATA, NORMAL, TABLES, UXN, Tables

    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        t.map(DATA, DATA, attrs=NORMAL | UXN)
        m.bus.write(DATA, 4, 0x91000529)  # add x9, x9, #1
        m.bus.write(DATA + 4, 4, 0xD65F03C0)  # ret

    body = f"    mov x9, #0\n    ldr x1, ={DATA:#x}\n    blr x1\n    hvc #0\n    blr x1\n    mov x10, #5\n"
    hvc = f"    ldr x0, ={HCR_RW | NV_NV1:#x}\n    msr hcr_el2, x0\n    isb\n"
    from plugins.mmu.tests.guest import run

    m = run(run_asm, body, setup, el=1, el2={"hcr_el2": HCR_RW | HCR_NV}, el1=el1_regs(TABLES), hvc=hvc)
    assert m.cpu.x[9] == 1  # ran once before NV1
    assert m.cpu.x[10] == 0
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F  # instruction abort, permission, level 3
    assert m.cpu.sr["FAR_EL1"] == DATA


# ---- NV-06 … NV-14: system registers and instructions -----------------------------------------


@pytest.mark.parametrize(
    ("insn", "enc", "rt", "read"),
    [
        ("mrs x5, hcr_el2", (3, 4, 1, 1, 0), 5, True),
        ("msr vbar_el2, x3", (3, 4, 12, 0, 0), 3, False),
        ("msr vttbr_el2, x3", (3, 4, 2, 1, 0), 3, False),
        ("mrs x5, sp_el1", (3, 4, 4, 1, 0), 5, True),
        ("tlbi alle2", (1, 4, 8, 7, 0), 31, False),
        ("tlbi ipas2e1, x3", (1, 4, 8, 4, 1), 3, False),
        ("at s1e2r, x1", (1, 4, 7, 8, 0), 1, False),
        ("at s12e1r, x1", (1, 4, 7, 8, 4), 1, False),
    ],
)
def test_nv06_el2_level_access_traps_with_its_encoding(run_asm, insn, enc, rt, read):
    body = f"    mov x9, #1\n    {insn}\n    mov x9, #2\n"
    for hcr in (HCR_NV, NV_NV1, HCR_NV | HCR_E2H):
        m = nv_run(run_asm, body, hcr)
        assert_trap(m, sysreg_esr(*enc, rt, read), insn)
    m = nv_run(run_asm, body, 0)
    assert_undef(m)


def test_nv06_elr_el2_is_the_trapped_instruction(run_asm):
    m = nv_run(run_asm, "    nop\ntrapped:\n    mrs x5, vbar_el2\n", HCR_NV)
    assert m.cpu.sr["ELR_EL2"] == next(a for a, n in m.symbols.items() if n == "trapped")


def test_nv07_mec_registers_are_not_trapped(run_asm):
    # FEAT_MEC registers UNDEF at EL1 even with NV (MECIDR_EL2, an op1 = 4 encoding)
    m = nv_run(run_asm, "    mov x9, #1\n    mrs x5, s3_4_c10_c8_7\n", HCR_NV)
    assert_undef(m)


@pytest.mark.parametrize("reg", ["s3_4_c12_c12_4", "s3_4_c1_c1_4", "s3_4_c1_c2_2", "s3_4_c3_c0_0"])
def test_nv08_absent_el2_encodings_undef_with_nv27_spsr(run_asm, reg):
    # ICH_LR4_EL2, HFGRTR_EL2 (no FEAT_FGT), HCRX_EL2 (no FEAT_HCX), DACR32_EL2 (EL1 is AArch64-only)
    m = nv_run(run_asm, mrs(reg), HCR_NV)
    assert_undef(m)
    # the UNDEF is an EL1 -> EL1 exception: SPSR_EL1.M reports EL2h (NV-27)
    assert m.cpu.sr["SPSR_EL1"] & 0xF == 0b1001


@pytest.mark.parametrize("reg", ["s3_4_c2_c6_0", "s3_4_c2_c6_2", "s3_4_c14_c5_1", "s3_4_c14_c4_1"])
def test_nv09_secure_only_el2_registers_undef(run_asm, reg):
    # VSTTBR_EL2, VSTCR_EL2, CNTHPS_CTL_EL2, CNTHVS_CTL_EL2: UNDEFINED in Non-secure state
    m = nv_run(run_asm, mrs(reg), HCR_NV)
    assert_undef(m)


def test_nv10_el2_register_checks_of_el3_do_not_apply(run_asm):
    # CPTR_EL2 from EL1 under NV goes to EL2 (there is no EL3 to route to)
    m = nv_run(run_asm, msr("cptr_el2"), HCR_NV)
    assert_trap(m, sysreg_esr(3, 4, 1, 1, 2, 3, False))


def test_nv11_no_fp_access_check_for_el2_level_registers(run_asm):
    # with FP trapped by CPACR_EL1.FPEN = 0 and CPTR_EL2.TFP = 1 the NV trap still happens (EC 0x18)
    body = "    msr cpacr_el1, xzr\n    isb\n" + mrs("cptr_el2")
    m = run_asm(program(body, el=1, el2={"hcr_el2": HCR_RW | HCR_NV, "cptr_el2": 1 << 10}))
    assert_trap(m, sysreg_esr(3, 4, 1, 1, 2, 5, True))
    # an EL1 register with an FP check keeps it at EL1: FPCR takes EC 0x07 to EL1
    m = run_asm(program("    msr cpacr_el1, xzr\n    isb\n" + mrs("fpcr"), el=1, el2={"hcr_el2": HCR_RW | HCR_NV}))
    assert m.cpu.el == 1 and m.cpu.sr["ESR_EL1"] >> 26 == 0x07


def test_nv12_tidcp_comes_before_the_undef_of_an_absent_encoding(run_asm):
    # an IMPLEMENTATION DEFINED op1 = 4 encoding (CRn = 15) that does not exist: TIDCP traps it first
    m = nv_run(run_asm, mrs("s3_4_c15_c7_0"), HCR_NV | HCR_TIDCP)
    assert_trap(m, sysreg_esr(3, 4, 15, 7, 0, 5, True))
    m = nv_run(run_asm, mrs("s3_4_c15_c7_0"), HCR_NV)
    assert_undef(m)


@pytest.mark.parametrize("hcr", [HCR_NV, HCR_NV | HCR_E2H, NV_NV1])
def test_nv13_el12_accessors_at_el1_trap_whatever_e2h(run_asm, hcr):
    m = nv_run(run_asm, mrs("sctlr_el12"), hcr)
    assert_trap(m, sysreg_esr(3, 5, 1, 0, 0, 5, True))


def test_nv13_el12_accessors_at_el1_undef_without_nv(run_asm):
    m = nv_run(run_asm, mrs("sctlr_el12"), HCR_E2H)
    assert_undef(m)


def test_nv14_ecv_absent_so_el02_timer_accessors_always_trap(run_asm):
    # without FEAT_ECV, CNTHCTL_EL2.EL1NVPCT/EL1NVVCT do not exist; CNTP_CTL_EL02 traps (NV-06)
    m = nv_run(run_asm, "    mrs x2, id_aa64mmfr0_el1\n", 0)
    assert (m.cpu.x[2] >> 60) & 0xF == 0
    body = mrs("cntp_ctl_el02")
    m = run_asm(program(body, el=1, el2={"hcr_el2": HCR_RW | HCR_NV, "cnthctl_el2": 3 << 15}))
    assert_trap(m, sysreg_esr(3, 5, 14, 2, 1, 5, True))


# ---- B. instructions -----------------------------------------------------------------------------


@pytest.mark.parametrize("hcr", [HCR_NV, NV_NV1, HCR_NV | HCR_E2H])
def test_nv15_eret_traps_with_ec_0x1a(run_asm, hcr):
    m = nv_run(run_asm, "    mov x9, #1\neret_here:\n    eret\n", hcr)
    assert m.cpu.el == 2
    assert m.cpu.sr["ESR_EL2"] == 0x1A << 26 | 1 << 25
    assert m.cpu.sr["ELR_EL2"] == next(a for a, n in m.symbols.items() if n == "eret_here")
    assert m.cpu.sr["SPSR_EL2"] & 0xF == 0b0101


def test_nv15_eret_at_el1_without_nv_returns(run_asm):
    body = "    adr x0, 1f\n    msr elr_el1, x0\n    mov x0, #0x3c5\n    msr spsr_el1, x0\n    eret\n1:  mov x9, #7\n"
    m = nv_run(run_asm, body, 0)
    assert m.cpu.x[9] == 7 and m.cpu.el == 1


def test_nv15_eretaa_is_undefined_without_pointer_authentication(run_asm):
    m = nv_run(run_asm, "    mov x9, #1\n    .inst 0xd69f0bff\n", HCR_NV)  # ERETAA
    assert_undef(m)


@pytest.mark.parametrize("hcr", [HCR_TSC, HCR_TSC | HCR_NV, HCR_TSC | NV_NV1])
def test_nv16_smc_traps_with_tsc_whatever_nv(run_asm, hcr):
    m = nv_run(run_asm, "    mov x9, #1\n    smc #0x1234\n", hcr)
    assert m.cpu.el == 2 and m.cpu.sr["ESR_EL2"] == 0x5E00_1234


def test_nv16_smc_without_tsc_is_a_firmware_call(run_asm):
    m = nv_run(run_asm, "    mov x0, #0x84000000\n    smc #0\n    mov x10, x0\n    mov x9, #2\n", HCR_NV)
    assert m.cpu.x[10] == 0x0001_0001 and m.cpu.x[9] == 2


@pytest.mark.parametrize(
    ("op", "esr"),
    [
        ("s1e1r", 0x62101C30),
        ("s1e1w", 0x62121C30),
        ("s1e0r", 0x62141C30),
        ("s1e0w", 0x62161C30),
        ("s1e1rp", 0x62101C32),
        ("s1e1wp", 0x62121C32),
    ],
)
@pytest.mark.parametrize("nv", [0, HCR_NV])
def test_nv17_hcr_at_traps_el1_address_translation(run_asm, op, esr, nv):
    m = nv_run(run_asm, f"    mov x9, #1\n    at {op}, x1\n    mov x9, #2\n", HCR_AT | nv)
    assert_trap(m, esr, op)


def test_nv17_without_hcr_at_the_at_executes(run_asm):
    m = nv_run(run_asm, "    mov x1, #0\n    at s1e1r, x1\n    mov x9, #2\n", HCR_NV)
    assert m.cpu.x[9] == 2 and m.cpu.el == 1


def test_nv17_s1e1rp_undefs_before_the_at_trap_without_pan(run_asm):
    m = nv_run(run_asm, "    mov x9, #1\n    at s1e1rp, x1\n", HCR_AT, cpu="max,pan=off")
    assert_undef(m)


def test_nv18_tlbi_op1_0_is_not_affected(run_asm):
    m = nv_run(run_asm, "    tlbi vmalle1\n    mov x9, #2\n", NV_NV1)
    assert m.cpu.x[9] == 2 and m.cpu.el == 1


@pytest.mark.parametrize("insn", ["cfp rctx, x1", "dvp rctx, x1", "cpp rctx, x1"])
def test_nv19_prediction_restriction_instructions_follow_the_model(run_asm, insn):
    m = nv_run(run_asm, "    mrs x2, id_aa64isar1_el1\n    mov x9, #1\n" + f"    {insn}\n", HCR_NV)
    if (m.cpu.x[2] >> 40) & 0xF:  # FEAT_SPECRES advertised: NV traps them
        assert m.cpu.el == 2 and m.cpu.sr["ESR_EL2"] >> 26 == 0x18
    else:
        assert_undef(m)


@pytest.mark.parametrize(
    ("hcr", "current_el"),
    [(0, 4), (HCR_NV, 8), (NV_NV1, 8), (HCR_NV | HCR_E2H, 8), (HCR_NV1, 4), (HCR_NV1 | HCR_E2H, 4)],
)
def test_nv20_currentel_reads_el2_under_nv(run_asm, hcr, current_el):
    m = nv_run(run_asm, "    mrs x2, currentel\n", hcr)
    assert m.cpu.x[2] == current_el
    assert m.cpu.el == 1


def test_nv20_currentel_at_el0_is_undefined(run_asm):
    m = nv_run(run_asm, "    mov x9, #1\n    mrs x2, currentel\n", HCR_NV, el=0)
    assert m.cpu.el == 1 and m.cpu.sr["ESR_EL1"] == ESR_UNDEF


# ---- C. NV1 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("insn", "esr"),
    [
        ("mrs x5, vbar_el1", 0x623030A1),
        ("msr vbar_el1, x3", 0x62303060),
        ("mrs x5, elr_el1", 0x623210A1),
        ("msr spsr_el1, xzr", 0x623013E0),
    ],
)
def test_nv21_nv1_traps_vbar_elr_spsr_el1(run_asm, insn, esr):
    body = f"    mov x9, #1\n    {insn}\n    mov x9, #2\n"
    m = nv_run(run_asm, body, NV_NV1)
    assert_trap(m, esr, insn)
    for hcr in (HCR_NV, HCR_NV1):
        m = nv_run(run_asm, body, hcr)
        assert m.cpu.x[9] == 2 and m.cpu.el == 1


@pytest.mark.parametrize("reg", ["s3_0_c13_c0_7", "s3_0_c5_c6_0"])
def test_nv21_absent_scxtnum_and_tfsr_undef(run_asm, reg):
    # SCXTNUM_EL1 needs FEAT_CSV2_2 and TFSR_EL1 FEAT_MTE2, which the guest does not see
    m = nv_run(run_asm, mrs(reg), NV_NV1)
    assert_undef(m)


def test_nv22_no_gcs_so_spsr_el2_writes_trap(run_asm):
    m = nv_run(run_asm, "    mrs x2, id_aa64pfr1_el1\n" + msr("spsr_el2"), HCR_NV)
    assert (m.cpu.x[2] >> 44) & 0xF == 0
    assert_trap(m, sysreg_esr(3, 4, 4, 0, 0, 3, False))


@pytest.mark.parametrize("reg", ["sctlr_el1", "ttbr0_el1", "tcr_el1", "esr_el1", "far_el1", "mair_el1"])
def test_nv23_nv1_leaves_other_el1_registers_alone(run_asm, reg):
    m = nv_run(run_asm, f"    mrs x2, {reg}\n    msr {reg}, x2\n    mov x9, #2\n", NV_NV1)
    assert m.cpu.x[9] == 2 and m.cpu.el == 1
