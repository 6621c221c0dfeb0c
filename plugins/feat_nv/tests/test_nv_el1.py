"""FEAT_NV at EL1 beyond system registers: NV1's memory rules, exception entry, diagnostics.

NV-24 … NV-26 need the EL1&0 stage 1 on: the code block is mapped EL1-only
(so literal loads work whatever PAN is) and the data page as each test says.
"""

from __future__ import annotations

import pytest

from plugins.feat_nv.tests.guest import HCR_E2H, HCR_NV, HCR_NV1, HCR_NV2, HCR_RW, nv_run, program, sysreg_esr
from plugins.mmu.tests.guest import SCTLR_EL1_M, el1_regs, run
from plugins.mmu.tests.tables import (
    AF,
    AP_RO_ALL,
    AP_RO_EL1,
    AP_RW_ALL,
    AP_RW_EL1,
    DATA,
    NORMAL,
    PXN,
    SH_INNER,
    TABLES,
    UXN,
    Tables,
    attr_index,
)

NV_NV1 = HCR_NV | HCR_NV1
CODE_EL1_ONLY = attr_index(0) | SH_INNER | AF | AP_RO_EL1
ADDR = f"    mov x1, #{DATA & 0xFFFF:#x}\n    movk x1, #{DATA >> 16:#x}, lsl #16\n"


def tables(data_attrs: int, *, code: bytes | None = None, table_bits: int = 0):
    def setup(m):
        t = Tables(m, TABLES)
        t.map(0x4000_0000, 0x4000_0000, level=2, attrs=CODE_EL1_ONLY)
        t.map(DATA, DATA, attrs=data_attrs)
        if table_bits:
            addr = t.entry(DATA, 2)
            t.set(addr, t.get(addr) | table_bits)
        if code is not None:
            m.bus.write_bytes(DATA, code)

    return setup


def mmu_run(run_asm, body: str, hcr: int, setup, *, sctlr: int = SCTLR_EL1_M, **kw):
    el1 = el1_regs(TABLES)
    el1["sctlr_el1"] = sctlr
    return run(run_asm, body, setup, el=1, el2={"hcr_el2": HCR_RW | hcr}, el1=el1, **kw)


RET_7 = (0xD28000E9).to_bytes(4, "little") + (0xD65F03C0).to_bytes(4, "little")  # mov x9, #7; ret
CALL = ADDR + "    blr x1\n    mov x10, #3\n"


# ---- NV-24: PAN ignored with {NV, NV1} = {1, 1} ---------------------------------------------------


@pytest.mark.parametrize(("hcr", "faults"), [(NV_NV1, False), (HCR_NV, True), (0, True), (HCR_NV1, True)])
def test_nv24_pan_is_ignored_with_nv_and_nv1(run_asm, hcr, faults):
    # AP[1] must give EL0 access to see PAN; with NV1 the format hides AP[1] (NV-26), so the page is
    # EL0-accessible only in the ordinary format — the NV/NV1 case reads PAN back but does not fault
    body = ADDR + "    msr pan, #1\n    mov x9, #1\n    ldr x2, [x1]\n    mov x9, #2\n    mrs x3, pan\n"
    m = mmu_run(run_asm, body, hcr, tables(NORMAL | AP_RW_ALL))
    if faults:
        assert m.cpu.sr["ESR_EL1"] == 0x9600_000F and m.cpu.x[9] == 1
    else:
        assert m.cpu.x[9] == 2 and m.cpu.x[3] == 1 << 22  # PSTATE.PAN keeps its value


def test_nv24_at_s1e1rp_ignores_pan_with_nv_nv1(run_asm):
    body = ADDR + "    msr pan, #1\n    at s1e1rp, x1\n    isb\n    mrs x2, par_el1\n"
    m = mmu_run(run_asm, body, NV_NV1, tables(NORMAL | AP_RW_ALL))
    assert m.cpu.x[2] & 1 == 0
    m = mmu_run(run_asm, body, HCR_NV, tables(NORMAL | AP_RW_ALL))
    assert m.cpu.x[2] & 1 == 1  # NV1 = 0: PAN applies to the VHE guest hypervisor


# ---- NV-25: LDTR/STTR privileged --------------------------------------------------------------------


@pytest.mark.parametrize("insn", ["ldtr x2, [x1]", "sttr x2, [x1]", "ldtrb w2, [x1]", "ldtrsw x2, [x1]"])
def test_nv25_unprivileged_accesses_are_privileged_with_nv_nv1(run_asm, insn):
    body = ADDR + f"    mov x9, #1\n    {insn}\n    mov x9, #2\n"
    m = mmu_run(run_asm, body, NV_NV1, tables(NORMAL | AP_RW_EL1))
    assert m.cpu.x[9] == 2
    for hcr in (HCR_NV, 0):
        m = mmu_run(run_asm, body, hcr, tables(NORMAL | AP_RW_EL1))
        assert m.cpu.x[9] == 1 and m.cpu.sr["ESR_EL1"] >> 26 == 0x25


# ---- NV-26: the EL2 descriptor format -----------------------------------------------------------------


def test_nv26_bit54_is_pxn_with_nv_nv1(run_asm):
    m = mmu_run(run_asm, CALL, NV_NV1, tables(NORMAL | AP_RO_EL1 | UXN, code=RET_7))
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F
    assert m.cpu.sr["ELR_EL1"] == DATA and m.cpu.sr["FAR_EL1"] == DATA
    # the ordinary format: bit 54 is UXN, EL1 may execute
    m = mmu_run(run_asm, CALL, HCR_NV, tables(NORMAL | AP_RO_EL1 | UXN, code=RET_7))
    assert m.cpu.x[9] == 7 and m.cpu.x[10] == 3


def test_nv26_bit53_is_ignored_with_nv_nv1(run_asm):
    m = mmu_run(run_asm, CALL, NV_NV1, tables(NORMAL | AP_RO_EL1 | PXN, code=RET_7))
    assert m.cpu.x[9] == 7 and m.cpu.x[10] == 3
    m = mmu_run(run_asm, CALL, HCR_NV, tables(NORMAL | AP_RO_EL1 | PXN, code=RET_7))
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F


def test_nv26_el0_has_no_data_access(run_asm):
    body = ADDR + "    at s1e0r, x1\n    isb\n    mrs x2, par_el1\n"
    m = mmu_run(run_asm, body, NV_NV1, tables(NORMAL | AP_RW_ALL))
    assert m.cpu.x[2] == 0x81F  # permission fault, level 3, for EL0
    m = mmu_run(run_asm, body, HCR_NV, tables(NORMAL | AP_RW_ALL))
    assert m.cpu.x[2] & 1 == 0


def test_nv26_ap2_still_makes_pages_read_only(run_asm):
    body = ADDR + "    mov x9, #1\n    ldr x2, [x1]\n    str x2, [x1]\n    mov x9, #2\n"
    m = mmu_run(run_asm, body, NV_NV1, tables(NORMAL | AP_RO_ALL))
    assert m.cpu.sr["ESR_EL1"] == 0x9600_004F and m.cpu.x[9] == 1


def test_nv26_table_bit60_is_pxntable(run_asm):
    m = mmu_run(run_asm, CALL, NV_NV1, tables(NORMAL | AP_RO_EL1, code=RET_7, table_bits=1 << 60))
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F
    # bit 59 (PXNTable in the ordinary format) is ignored
    m = mmu_run(run_asm, CALL, NV_NV1, tables(NORMAL | AP_RO_EL1, code=RET_7, table_bits=1 << 59))
    assert m.cpu.x[9] == 7


def test_nv26_nv1_without_nv_keeps_the_ordinary_format(run_asm):
    m = mmu_run(run_asm, CALL, HCR_NV1, tables(NORMAL | AP_RO_EL1 | UXN, code=RET_7))
    assert m.cpu.x[9] == 7


# ---- D. exception entry ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hcr", "spsr_m"),
    [(HCR_NV, 0b1001), (NV_NV1, 0b0101), (0, 0b0101), (HCR_NV1, 0b0101), (HCR_NV | HCR_E2H, 0b1001)],
)
def test_nv27_el1_to_el1_exceptions_report_el2_in_spsr(run_asm, hcr, spsr_m):
    m = nv_run(run_asm, "    msr daifclr, #4\n    svc #0\n", hcr)
    assert m.cpu.el == 1
    assert m.cpu.sr["SPSR_EL1"] == 0x2C0 | spsr_m  # A unmasked, the rest of PSTATE unchanged


def first_entry(run_asm, tmp_path, body: str, hcr: int) -> tuple[object, list[str]]:
    """Run at EL1 with `-d int`; the machine and the log lines of its first exception entry."""
    log = tmp_path / "int.log"
    m = run_asm(program(body, el=1, el2={"hcr_el2": HCR_RW | hcr}), debug=frozenset({"int"}), log_file=str(log))
    m.close()
    text = log.read_text()
    start = text.index("Taking exception")
    end = text.find("Taking exception", start + 1)
    return m, text[start : end if end > 0 else None].splitlines()


def vector_offset(entry: list[str]) -> int:
    line = next(x for x in entry if x.startswith("...to EL"))
    return int(line.split()[3], 16) & 0x7FF


def test_nv27_el1t_reports_el2t(run_asm, tmp_path):
    m, entry = first_entry(run_asm, tmp_path, "    msr spsel, #0\n    svc #0\n", HCR_NV)
    assert m.cpu.sr["SPSR_EL1"] & 0xF == 0b1000
    assert vector_offset(entry) == 0x000  # EL1t: the current-EL SP0 vector, as for a real EL1t


def test_nv27_exceptions_from_el0_are_not_rewritten(run_asm):
    m = nv_run(run_asm, "    svc #0\n", HCR_NV, el=0)
    assert m.cpu.el == 1 and m.cpu.sr["SPSR_EL1"] & 0xF == 0


def test_nv27_data_abort_el1_to_el1_is_rewritten(run_asm):
    m = nv_run(run_asm, "    mov x1, #0x60000000\n    ldr x2, [x1]\n", HCR_NV)
    assert m.cpu.sr["ESR_EL1"] >> 26 == 0x25
    assert m.cpu.sr["SPSR_EL1"] & 0xF == 0b1001


def test_nv28_the_fake_el2_mode_is_never_interpreted(run_asm):
    # the EL1 handler's ERET (with SPSR_EL1.M = EL2h) traps to EL2 instead of returning
    src = f"""
    adr x0, vec1
    msr vbar_el1, x0
    adr x0, vec2
    msr vbar_el2, x0
    ldr x0, ={HCR_RW | HCR_NV:#x}
    msr hcr_el2, x0
    mov x0, #0x3c5
    msr spsr_el2, x0
    adr x0, 1f
    msr elr_el2, x0
    eret
1:  svc #0
    .balign 2048
vec1:
    .skip 0x200
    mrs x3, spsr_el1
    eret
    .balign 2048
vec2:
    .skip 0x400
    b _armnv_exit
"""
    m = run_asm(src)
    assert m.cpu.x[3] & 0xF == 0b1001
    assert m.cpu.el == 2 and m.cpu.sr["ESR_EL2"] >> 26 == 0x1A
    assert m.cpu.sr["SPSR_EL2"] & 0xF == 0b0101


@pytest.mark.parametrize("hcr", [HCR_NV, NV_NV1])
def test_nv29_exceptions_to_el2_record_the_real_el1(run_asm, tmp_path, hcr):
    m, entry = first_entry(run_asm, tmp_path, "    hvc #0\n", hcr)
    assert m.cpu.el == 2
    assert m.cpu.sr["SPSR_EL2"] & 0xF == 0b0101
    assert vector_offset(entry) == 0x400  # lower EL, AArch64


# ---- E. other rules ----------------------------------------------------------------------------------


def test_nv30_el12_traps_report_op1_5(run_asm):
    m = nv_run(run_asm, "    mov x9, #1\n    msr far_el12, x3\n", HCR_NV)
    assert m.cpu.sr["ESR_EL2"] == sysreg_esr(3, 5, 6, 0, 0, 3, False)
    assert (m.cpu.sr["ESR_EL2"] >> 14) & 7 == 5


@pytest.mark.parametrize(("reg", "enc"), [("cntp_tval_el02", (3, 5, 14, 2, 0)), ("cntv_tval_el02", (3, 5, 14, 3, 0))])
def test_nv31_tval_el02_always_trap(run_asm, reg, enc):
    m = nv_run(run_asm, f"    mov x9, #1\n    mrs x5, {reg}\n", HCR_NV)
    assert m.cpu.sr["ESR_EL2"] == sysreg_esr(*enc, 5, True)


def test_nv32_vhe_guest_hypervisor_uses_el1_registers_directly(run_asm):
    body = "    mov x2, #0x1000\n    msr vbar_el1, x2\n    mrs x3, vbar_el1\n    mov x9, #2\n"
    m = nv_run(run_asm, body, HCR_NV | HCR_E2H)
    assert m.cpu.x[3] == 0x1000 and m.cpu.x[9] == 2 and m.cpu.sr["VBAR_EL1"] == 0x1000


@pytest.mark.parametrize("reg", ["s3_4_c3_c0_0", "s3_4_c5_c0_1", "s3_4_c5_c3_0", "s2_4_c0_c7_0"])
def test_nv33_aarch32_el2_registers_are_absent(run_asm, reg):
    # DACR32_EL2, IFSR32_EL2, FPEXC32_EL2, DBGVCR32_EL2: EL1 is AArch64-only (ID_AA64PFR0_EL1.EL1 = 1)
    m = nv_run(run_asm, f"    mrs x2, id_aa64pfr0_el1\n    mov x9, #1\n    mrs x5, {reg}\n", HCR_NV)
    assert (m.cpu.x[2] >> 4) & 0xF == 1
    assert m.cpu.el == 1 and m.cpu.sr["ESR_EL1"] == 1 << 25


def test_nv34_mdscr_el1_keeps_its_el1_traps(run_asm):
    m = nv_run(run_asm, "    mrs x2, mdscr_el1\n    mov x9, #2\n", HCR_NV)
    assert m.cpu.x[9] == 2
    m = run_asm(
        program("    mov x9, #1\n    mrs x5, mdscr_el1\n", el=1, el2={"hcr_el2": HCR_RW | HCR_NV, "mdcr_el2": 1 << 9})
    )
    assert m.cpu.el == 2 and m.cpu.sr["ESR_EL2"] == sysreg_esr(2, 0, 0, 2, 2, 5, True)


@pytest.mark.parametrize(("reg", "enc"), [("rvbar_el2", (3, 4, 12, 0, 1)), ("s3_4_c12_c0_2", (3, 4, 12, 0, 2))])
def test_nv35_rvbar_and_rmr_el2_exist_and_trap(run_asm, reg, enc):
    m = nv_run(run_asm, f"    mov x9, #1\n    mrs x5, {reg}\n", HCR_NV)
    assert m.cpu.el == 2 and m.cpu.sr["ESR_EL2"] == sysreg_esr(*enc, 5, True)
    m = run_asm(program(f"    mrs x5, {reg}\n", el=2))
    assert m.cpu.sr["ESR_EL2"] == 0


def test_nv36_el1_is_aarch64_only_so_hcr_rw_0_cannot_enter_el1(run_asm):
    # NV applies to AArch64 EL1 only; armnv's EL1 has no AArch32, so an ERET to EL1 with RW = 0 is illegal
    src = program("    nop\n", el=1, el2={"hcr_el2": HCR_NV})
    m = run_asm(src)
    assert m.cpu.el == 2 and m.cpu.sr["ESR_EL2"] >> 26 == 0x0E


# ---- F. diagnostics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("hcr", "words"), [(HCR_NV, ["NV"]), (NV_NV1, ["NV", "NV1"]), (0, [])])
def test_nv37_cpu_dump_ends_the_pstate_line_with_nv_bits(run_asm, tmp_path, hcr, words):
    log = tmp_path / "cpu.log"
    m = run_asm(
        program("    svc #0\n", el=1, el2={"hcr_el2": HCR_RW | hcr}), debug=frozenset({"cpu"}), log_file=str(log)
    )
    m.close()
    line = [x for x in log.read_text().splitlines() if x.startswith("PSTATE=")][-1]
    tail = line.split()[-len(words) :] if words else []
    assert tail == words
    if not words:
        assert not {"NV", "NV1", "NV2"} & set(line.split())


def test_nv37_nv2_word_appears_with_the_nv2_bit(run_asm, tmp_path):
    log = tmp_path / "cpu.log"
    hcr = HCR_NV | HCR_NV2
    m = run_asm(
        program("    svc #0\n", el=1, el2={"hcr_el2": HCR_RW | hcr}), debug=frozenset({"cpu"}), log_file=str(log)
    )
    m.close()
    line = [x for x in log.read_text().splitlines() if x.startswith("PSTATE=")][-1]
    assert ("NV2" in line.split()) == ("nv2" in m.features)


def test_nv38_int_log_shows_the_adjusted_spsr(run_asm, tmp_path):
    m, entry = first_entry(run_asm, tmp_path, "    svc #0\n", HCR_NV)
    assert "[SVC]" in entry[0]
    spsr = next(x for x in entry if x.startswith("...with SPSR"))
    assert spsr == f"...with SPSR {m.cpu.sr['SPSR_EL1']:#x}"
    assert m.cpu.sr["SPSR_EL1"] & 0xF == 0b1001
    order = [x.split()[1] for x in entry if x.startswith("...with")]
    assert order == ["ESR", "SPSR", "ELR"]
