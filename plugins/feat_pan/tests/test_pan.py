"""FEAT_PAN, PAN2 and PAN3 (pan.md §1-§7): assembled guests on a real machine.

Unless a test says otherwise the guest runs at EL1 (EL2 drops to it with
`program(el=1)`); every exception vector stops the machine, so a test reads
PSTATE.PAN, SPSR and the syndrome registers afterwards. With the MMU on, the
code block is mapped EL1-only so that literal loads still work while PAN is
in effect; the data page is EL0-accessible unless a test says otherwise.
"""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import MAIR, SCTLR_EL1_M, SCTLR_EL2_M, TCR_EL1, el1_regs, program, run
from plugins.mmu.tests.tables import (
    AF,
    AP_RO_ALL,
    AP_RO_EL1,
    AP_RW_ALL,
    AP_RW_EL1,
    DATA,
    NORMAL,
    SH_INNER,
    TABLES,
    UXN,
    Tables,
    attr_index,
)

HCR_RW = 1 << 31
HCR_TGE = 1 << 27
HCR_E2H = 1 << 34
EL1 = {"hcr_el2": HCR_RW}
SPAN = 1 << 23
EPAN = 1 << 57
PSR_PAN = 1 << 22
ESR_UNDEF = 0x0200_0000
# Permission fault, level 3, stage 1, same EL (EC 0x25): load and store (WnR) — PAN §4
ESR_PERM_LOAD = 0x9600_000F
ESR_PERM_STORE = 0x9600_004F

CODE_EL1_ONLY = attr_index(0) | SH_INNER | AF | AP_RO_EL1


def tables(data_attrs: int | None = NORMAL | AP_RW_ALL, *, level: int = 3):
    """Setup: EL1-only executable code block, and DATA mapped with `data_attrs` at `level`."""

    def setup(m):
        t = Tables(m, TABLES)
        t.map(0x4000_0000, 0x4000_0000, level=2, attrs=CODE_EL1_ONLY)
        if data_attrs is not None:
            t.map(DATA, DATA, level=level, attrs=data_attrs)  # DATA is 2 MiB aligned

    return setup


def no_tables(m):
    pass


def mmu_el1(**extra):
    regs = el1_regs(TABLES)
    regs.update(extra)  # sctlr_el1 stays last: it turns the MMU on
    return regs


def mrs_id(reg: str) -> str:
    return f"    mrs x2, {reg}\n"


# ---- §1: the ID field ----------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "level"), [("max", 3), ("neoverse-n2", 2), ("neoverse-v1", 2)])
def test_pan_s1_id_aa64mmfr1_pan_is_the_model_level(run_asm, model, level):
    m = run(run_asm, mrs_id("id_aa64mmfr1_el1"), no_tables, cpu=model, el=1, el2=EL1)
    assert (m.cpu.x[2] >> 20) & 0xF == level
    assert "pan" in m.features


@pytest.mark.parametrize("model", ["max", "neoverse-n2", "neoverse-v1"])
def test_pan_s1_pan_off_lowers_the_field_to_zero(run_asm, model):
    m = run(run_asm, mrs_id("id_aa64mmfr1_el1"), no_tables, cpu=f"{model},pan=off", el=1, el2=EL1)
    assert (m.cpu.x[2] >> 20) & 0xF == 0
    assert "pan" not in m.features


# ---- §2: the PAN register and MSR PAN, #imm ------------------------------------------------------


@pytest.mark.parametrize("el", [1, 2])
def test_pan_s2_msr_mrs_pan_register_uses_bit22_only(run_asm, el):
    body = """
    mov x0, #-1
    msr pan, x0
    mrs x2, pan
    mov x0, #0
    msr pan, x0
    mrs x3, pan
    mov x0, #0x400000
    msr pan, x0
    mrs x4, pan
    """
    m = run(run_asm, body, no_tables, el=el, el2=EL1)
    assert (m.cpu.x[2], m.cpu.x[3], m.cpu.x[4]) == (PSR_PAN, 0, PSR_PAN)
    assert m.cpu.el == el and m.cpu.pan == 1


@pytest.mark.parametrize("el", [1, 2])
def test_pan_s2_msr_pan_immediate_sets_and_clears(run_asm, el):
    body = "    msr pan, #1\n    mrs x2, pan\n    msr pan, #0\n    mrs x3, pan\n    msr pan, #1\n"
    m = run(run_asm, body, no_tables, el=el, el2=EL1)
    assert (m.cpu.x[2], m.cpu.x[3]) == (PSR_PAN, 0)
    assert m.cpu.pan == 1


@pytest.mark.parametrize("insn", ["mrs x2, pan", "msr pan, x2", "msr pan, #1"])
def test_pan_s2_pan_accesses_are_undefined_at_el0(run_asm, insn):
    m = run(run_asm, f"    mov x9, #1\n    {insn}\n    mov x9, #2\n", no_tables, el=0, el2=EL1)
    assert m.cpu.sr["ESR_EL1"] == ESR_UNDEF
    assert m.cpu.x[9] == 1 and m.cpu.pan == 0


def test_pan_s2_spsr_saves_pan_and_eret_restores_it(run_asm):
    # EL2 enters EL1 with SPSR.PAN = 1; the EL1 HVC saves it in SPSR_EL2 bit 22
    body = "    mrs x2, pan\n    hvc #0\n"
    m = run(run_asm, body, no_tables, el=1, el2=EL1, spsr=0x3C5 | PSR_PAN)
    assert m.cpu.x[2] == PSR_PAN
    assert m.cpu.sr["SPSR_EL2"] & PSR_PAN


@pytest.mark.parametrize("insn", ["mrs x2, pan", "msr pan, x2", "msr pan, #1"])
def test_pan_s2_pan_off_makes_the_encodings_undefined(run_asm, insn):
    m = run(run_asm, f"    {insn}\n", no_tables, cpu="max,pan=off")
    assert m.cpu.sr["ESR_EL2"] == ESR_UNDEF
    m = run(run_asm, f"    {insn}\n", no_tables, cpu="max,pan=off", el=1, el2=EL1)
    assert m.cpu.sr["ESR_EL1"] == ESR_UNDEF


def test_pan_s2_pan_off_keeps_pstate_pan_zero_through_eret(run_asm):
    m = run(run_asm, "    hvc #0\n", no_tables, cpu="max,pan=off", el=1, el2=EL1, spsr=0x3C5 | PSR_PAN)
    assert m.cpu.sr["SPSR_EL2"] & PSR_PAN == 0
    assert m.cpu.pan == 0


# ---- §3: PSTATE.PAN on exception entry -----------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "pan_before", "pan_after"),
    [(0, 0, 1), (0, 1, 1), (1, 0, 0), (1, 1, 1)],
)
def test_pan_s3_entry_to_el1_sets_pan_unless_span(run_asm, span, pan_before, pan_after):
    sctlr = 0x30D0_0800 if span else 0x30D0_0800 & ~SPAN
    m = run(
        run_asm,
        f"    msr pan, #{pan_before}\n    svc #0\n",
        no_tables,
        el=1,
        el2=EL1,
        el1={"sctlr_el1": sctlr},
    )
    assert m.cpu.sr["ESR_EL1"] >> 26 == 0x15
    assert (m.cpu.sr["SPSR_EL1"] >> 22) & 1 == pan_before
    assert m.cpu.el == 1 and m.cpu.pan == pan_after


def test_pan_s3_pan_stays_set_when_the_handler_does_not_eret(run_asm):
    # the handler branches on (no ERET): PAN keeps the value the entry gave it
    src = """
    adr x0, vectors
    msr vbar_el1, x0
    ldr x0, =0x80000000
    msr hcr_el2, x0
    ldr x0, =0x30500800
    msr sctlr_el1, x0
    mov x0, #0x3c5
    msr spsr_el2, x0
    adr x0, 1f
    msr elr_el2, x0
    eret
1:  svc #0
    .balign 2048
vectors:
    .skip 0x200
    mrs x2, pan
    b _armnv_exit
    """
    m = run_asm(src)
    assert m.stop.kind == "exit"
    assert m.cpu.x[2] == PSR_PAN


@pytest.mark.parametrize(("span", "pan_after"), [(0, 1), (1, 0)])
def test_pan_s3_entry_to_el2_in_host_uses_sctlr_el2_span(run_asm, span, pan_after):
    sctlr2 = 0x30C5_0830 if span else 0x30C5_0830 & ~SPAN
    hcr = HCR_RW | HCR_E2H | HCR_TGE
    m = run(run_asm, "    svc #0\n", no_tables, el=0, el2={"hcr_el2": hcr, "sctlr_el2": sctlr2})
    assert m.cpu.sr["ESR_EL2"] >> 26 == 0x15
    assert m.cpu.el == 2 and m.cpu.pan == pan_after


@pytest.mark.parametrize(("hcr", "pan_before"), [(HCR_RW, 0), (HCR_RW, 1), (HCR_RW | HCR_E2H, 0)])
def test_pan_s3_entry_to_el2_outside_the_host_leaves_pan(run_asm, hcr, pan_before):
    # SCTLR_EL2.SPAN = 0 would set PAN under {E2H, TGE} = {1, 1}; here it must not
    sctlr2 = 0x30C5_0830 & ~SPAN
    m = run(
        run_asm,
        f"    msr pan, #{pan_before}\n    hvc #0\n",
        no_tables,
        el=1,
        el2={"hcr_el2": hcr, "sctlr_el2": sctlr2},
    )
    assert m.cpu.sr["ESR_EL2"] >> 26 == 0x16
    assert m.cpu.el == 2 and m.cpu.pan == pan_before


# ---- §4: which accesses PAN affects --------------------------------------------------------------

ADDR = f"    mov x1, #{DATA & 0xFFFF:#x}\n    movk x1, #{DATA >> 16:#x}, lsl #16\n"


def pan_access(insn: str) -> str:
    return ADDR + f"    msr pan, #1\n    mov x9, #1\n    {insn}\n    mov x9, #2\n"


@pytest.mark.parametrize(
    ("insn", "esr"),
    [
        ("ldr x2, [x1]", ESR_PERM_LOAD),
        ("ldrb w2, [x1, #5]", None),
        ("str x2, [x1]", ESR_PERM_STORE),
        ("ldp x2, x3, [x1]", ESR_PERM_LOAD),
        ("stp x2, x3, [x1]", ESR_PERM_STORE),
        ("ldxr x2, [x1]", ESR_PERM_LOAD),
        ("ldadd x2, x3, [x1]", None),
        ("cas x2, x3, [x1]", None),
        ("dc zva, x1", ESR_PERM_STORE),
    ],
)
def test_pan_s4_privileged_data_access_to_el0_page_is_permission_fault(run_asm, insn, esr):
    m = run(run_asm, pan_access(insn), tables(), el=1, el2=EL1, el1=mmu_el1())
    got = m.cpu.sr["ESR_EL1"]
    assert got >> 26 == 0x25  # data abort, same EL
    assert got & 0x3F == 0x0F  # permission fault, level 3
    if esr is not None:
        assert got == esr
    assert m.cpu.sr["FAR_EL1"] & ~0xF == DATA
    assert m.cpu.x[9] == 1
    assert (m.cpu.sr["SPSR_EL1"] >> 22) & 1 == 1


@pytest.mark.parametrize("attrs", [NORMAL | AP_RW_ALL, NORMAL | AP_RO_ALL])
def test_pan_s4_both_el0_access_kinds_count(run_asm, attrs):
    m = run(run_asm, pan_access("ldr x2, [x1]"), tables(attrs), el=1, el2=EL1, el1=mmu_el1())
    assert m.cpu.sr["ESR_EL1"] == ESR_PERM_LOAD


def test_pan_s4_fault_level_is_the_block_level(run_asm):
    m = run(run_asm, pan_access("ldr x2, [x1]"), tables(NORMAL | AP_RW_ALL, level=2), el=1, el2=EL1, el1=mmu_el1())
    assert m.cpu.sr["ESR_EL1"] == 0x9600_000E


@pytest.mark.parametrize("attrs", [NORMAL | AP_RW_EL1, NORMAL | AP_RO_EL1 | UXN])
def test_pan_s4_el1_only_page_is_accessible_with_pan(run_asm, attrs):
    m = run(run_asm, pan_access("ldr x2, [x1]"), tables(attrs), el=1, el2=EL1, el1=mmu_el1())
    assert m.cpu.x[9] == 2
    assert m.cpu.sr["ESR_EL1"] == 0


def test_pan_s4_pan_clear_allows_the_access(run_asm):
    body = ADDR + "    msr pan, #0\n    ldr x2, [x1]\n    str x2, [x1]\n    mov x9, #2\n"
    m = run(run_asm, body, tables(), el=1, el2=EL1, el1=mmu_el1())
    assert m.cpu.x[9] == 2


@pytest.mark.parametrize("insn", ["ldtr x2, [x1]", "sttr x2, [x1]", "ldtrb w2, [x1]"])
def test_pan_s4_unprivileged_loads_and_stores_are_unaffected(run_asm, insn):
    m = run(run_asm, pan_access(insn), tables(), el=1, el2=EL1, el1=mmu_el1())
    assert m.cpu.x[9] == 2
    assert m.cpu.sr["ESR_EL1"] == 0


def test_pan_s4_instruction_fetch_is_unaffected(run_asm):
    # a function on an EL0-readable (RO, so not implicitly PXN) page runs at EL1 with PAN = 1
    def setup(m):
        tables(NORMAL | AP_RO_ALL)(m)
        m.bus.write(DATA, 4, 0xD28000E9)  # mov x9, #7
        m.bus.write(DATA + 4, 4, 0xD65F03C0)  # ret

    body = ADDR + "    msr pan, #1\n    blr x1\n    mov x10, #3\n"
    m = run(run_asm, body, setup, el=1, el2=EL1, el1=mmu_el1())
    assert (m.cpu.x[9], m.cpu.x[10]) == (7, 3)
    assert m.cpu.sr["ESR_EL1"] == 0


@pytest.mark.parametrize(("model", "epan", "faults"), [("max", 1, True), ("max", 0, False), ("neoverse-n2", 1, False)])
def test_pan_s4_pan3_epan_makes_el0_executable_pages_count(run_asm, model, epan, faults):
    # EL1-only data access, but EL0 may execute (UXN = 0): PAN3 with SCTLR_EL1.EPAN faults;
    # neoverse-n2 has PAN = 2, so EPAN is not implemented there
    sctlr = SCTLR_EL1_M | (EPAN if epan else 0)
    m = run(
        run_asm,
        pan_access("ldr x2, [x1]"),
        tables(NORMAL | AP_RW_EL1),
        cpu=model,
        el=1,
        el2=EL1,
        el1=mmu_el1(sctlr_el1=sctlr),
    )
    if faults:
        assert m.cpu.sr["ESR_EL1"] == ESR_PERM_LOAD
        assert m.cpu.x[9] == 1
    else:
        assert m.cpu.sr["ESR_EL1"] == 0
        assert m.cpu.x[9] == 2


def test_pan_s4_pan3_epan_ignores_el0_execute_never_pages(run_asm):
    sctlr = SCTLR_EL1_M | EPAN
    m = run(
        run_asm,
        pan_access("ldr x2, [x1]"),
        tables(NORMAL | AP_RW_EL1 | UXN),
        el=1,
        el2=EL1,
        el1=mmu_el1(sctlr_el1=sctlr),
    )
    assert m.cpu.x[9] == 2


# AT S1E1R/W ignore PAN; AT S1E1RP/WP check with it (FEAT_PAN2)
@pytest.mark.parametrize(
    ("op", "pan", "fault"),
    [
        ("s1e1rp", 1, True),
        ("s1e1wp", 1, True),
        ("s1e1rp", 0, False),
        ("s1e1wp", 0, False),
        ("s1e1r", 1, False),
        ("s1e1w", 1, False),
    ],
)
def test_pan_s4_at_s1e1rp_wp_check_pan_and_s1e1r_w_do_not(run_asm, op, pan, fault):
    body = ADDR + f"    msr pan, #{pan}\n    at {op}, x1\n    isb\n    mrs x2, par_el1\n"
    m = run(run_asm, body, tables(), el=1, el2=EL1, el1=mmu_el1())
    par = m.cpu.x[2]
    if fault:
        assert par & 1 == 1
        assert (par >> 1) & 0x3F == 0x0F  # FST: permission fault, level 3
    else:
        assert par & 1 == 0
        assert par & 0xFFFF_FFFF_F000 == DATA


def test_pan_s4_at_s1e1rp_on_neoverse_v1_pan2(run_asm):
    body = ADDR + "    msr pan, #1\n    at s1e1rp, x1\n    isb\n    mrs x2, par_el1\n"
    m = run(run_asm, body, tables(), cpu="neoverse-v1", el=1, el2=EL1, el1=mmu_el1())
    assert m.cpu.x[2] & 1 == 1


# ---- §5: unprivileged instructions and UAO -------------------------------------------------------


def test_pan_s5_ldtr_with_uao_is_privileged_and_faults_with_pan(run_asm):
    body = ADDR + "    msr pan, #1\n    msr uao, #1\n    mov x9, #1\n    ldtr x2, [x1]\n    mov x9, #2\n"
    m = run(run_asm, body, tables(), el=1, el2=EL1, el1=mmu_el1())
    assert m.cpu.sr["ESR_EL1"] == ESR_PERM_LOAD
    assert m.cpu.x[9] == 1
    assert m.cpu.sr["SPSR_EL1"] & (PSR_PAN | 1 << 23) == PSR_PAN | 1 << 23


def test_pan_s5_ldtr_to_el1_only_page_faults_whatever_pan(run_asm):
    for pan in (0, 1):
        body = ADDR + f"    msr pan, #{pan}\n    mov x9, #1\n    ldtr x2, [x1]\n    mov x9, #2\n"
        m = run(run_asm, body, tables(NORMAL | AP_RW_EL1), el=1, el2=EL1, el1=mmu_el1())
        assert m.cpu.sr["ESR_EL1"] == ESR_PERM_LOAD
        assert m.cpu.x[9] == 1


# ---- §7: EL2 with E2H ----------------------------------------------------------------------------


def el2_host_regs(hcr: int) -> dict[str, int]:
    # the EL2&0 regime (E2H = 1) uses the EL1 formats: TCR_EL2 as TCR_EL1, AP[1] = EL0 access
    return {
        "hcr_el2": hcr,
        "mair_el2": MAIR,
        "tcr_el2": TCR_EL1,
        "ttbr0_el2": TABLES,
        "sctlr_el2": SCTLR_EL2_M,
    }


@pytest.mark.parametrize("hcr", [HCR_RW | HCR_E2H, HCR_RW | HCR_E2H | HCR_TGE])
def test_pan_s7_el2_with_e2h_applies_pan(run_asm, hcr):
    m = run(run_asm, pan_access("ldr x2, [x1]"), tables(), el2=el2_host_regs(hcr))
    assert m.cpu.sr["ESR_EL2"] == ESR_PERM_LOAD
    assert m.cpu.x[9] == 1


def test_pan_s7_el2_without_e2h_has_no_pan(run_asm):
    # the EL2 regime has no EL0: AP[1] is RES1 there and PAN restricts nothing
    regs = {"hcr_el2": HCR_RW, "mair_el2": MAIR, "tcr_el2": 0x8082_3519, "ttbr0_el2": TABLES}
    regs["sctlr_el2"] = SCTLR_EL2_M
    m = run(run_asm, pan_access("ldr x2, [x1]"), tables(NORMAL | AP_RW_ALL), el2=regs)
    assert m.cpu.x[9] == 2
    assert m.cpu.sr["ESR_EL2"] == 0


# ---- the hook is asked per memory context, not per access -----------------------------------------


def test_pan_s4_pan_answer_is_asked_per_memory_context_not_per_access(run_asm):
    calls = []

    class Count:
        from framework import hookimpl

        @hookimpl(hookwrapper=True)
        def armnv_pan_active(self, cpu):
            calls.append(cpu.el)
            yield

    def setup(m):
        tables(NORMAL | AP_RW_EL1)(m)
        m.pm.register(Count())

    body = ADDR + "    msr pan, #1\n    mov x3, #1000\n1:  ldr x2, [x1]\n    str x2, [x1, #8]\n"
    body += "    subs x3, x3, #1\n    b.ne 1b\n"
    m = run(run_asm, body, setup, el=1, el2=EL1, el1=mmu_el1())
    assert m.cpu.x[3] == 0
    assert len(calls) < 10


# ---- -d cpu ----------------------------------------------------------------------------------------


def test_pan_dash_d_cpu_shows_pan_in_the_pstate_line(run_asm, tmp_path):
    log = tmp_path / "cpu.log"
    src = program("    msr pan, #1\n    svc #0\n", el=1, el2=EL1)
    m = run_asm(src, debug=frozenset({"cpu"}), log_file=str(log))
    m.close()
    lines = [line for line in log.read_text().splitlines() if line.startswith("PSTATE=")]
    assert lines and lines[-1].split()[-1] == "PAN"
    assert "PAN" not in log.read_text().split("PSTATE=")[0]


def test_pan_s4_at_s1e1rp_at_el2_uses_pstate_pan(run_asm):
    # EL2 (E2H = 0) asks about the EL1&0 regime: the AT checks with EL2's PSTATE.PAN
    el1 = mmu_el1()
    body = ADDR + "    msr pan, #1\n    at s1e1rp, x1\n    isb\n    mrs x2, par_el1\n"
    body += "    msr pan, #0\n    at s1e1rp, x1\n    isb\n    mrs x3, par_el1\n"
    m = run(run_asm, body, tables(), el2=EL1, el1=el1)
    assert m.cpu.x[2] & 1 == 1 and (m.cpu.x[2] >> 1) & 0x3F == 0x0F
    assert m.cpu.x[3] & 1 == 0
