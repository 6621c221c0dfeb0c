"""Exception entry: target EL, vector offset, ESR, ELR, SPSR, FAR and the new PSTATE (syndromes.md §3, §9, §10)."""

from __future__ import annotations

import pytest

from .conftest import (
    EL0T,
    EL1H,
    EL1T,
    EL2H,
    ESR_UNDEF,
    HCR_E2H,
    HCR_TGE,
    eret_to,
    install,
    read_log,
    set_hcr,
    symbol,
    vectors,
)

EL1_SETUP = install(2, "vec2") + install(1, "vec1") + set_hcr(0)


def two_tables(body: str, el1_action: str = "exit", el2_action: str = "exit") -> str:
    """`body` runs at EL2 with an EL2 and an EL1 vector table installed."""
    return EL1_SETUP + body + "    b _armnv_exit\n" + vectors(2, "vec2", el2_action) + vectors(1, "vec1", el1_action)


# ---- same-EL entries: current EL with SP_ELx / SP0 ------------------------------------------------


def test_svc_at_el2h_uses_current_el_spx_vector(run_asm):
    m = run_asm(
        install(2, "vec2")
        + """
    nop
here:
    svc #0x1234
after:
    b _armnv_exit
"""
        + vectors(2, "vec2")
    )
    (e,) = read_log(m)
    assert e.offset == 0x200
    assert e.esr == 0x56001234  # EC 0x15, IL, imm16
    assert e.elr == symbol(m, "after")  # SVC: the next instruction
    assert e.spsr == 0x3C9  # boot state: EL2h, DAIF masked
    assert m.cpu.el == 2 and m.cpu.spsel == 1


def test_svc_at_el2t_uses_current_el_sp0_vector(run_asm):
    m = run_asm(
        install(2, "vec2")
        + """
    msr spsel, #0
    svc #1
"""
        + vectors(2, "vec2")
    )
    (e,) = read_log(m)
    assert e.offset == 0x000
    assert e.spsr == 0x3C8  # EL2t
    assert m.cpu.spsel == 1  # SPSel = 1 on entry


def test_svc_at_el1h_spsr_with_only_a_clear(run_asm):
    # syndromes.md §10: "an EL1h SVC with only A clear -> SPSR 0x2C5"
    m = run_asm(
        two_tables(
            eret_to("el1", EL1H)
            + """
el1:
    msr daifclr, #4
    svc #7
el1_after:
"""
        )
    )
    (e,) = read_log(m)
    assert e.offset == 0x200
    assert e.esr == 0x56000007
    assert e.elr == symbol(m, "el1_after")
    assert e.spsr == 0x2C5
    assert m.cpu.sr["ESR_EL1"] == 0x56000007
    assert m.cpu.el == 1


def test_svc_at_el1t_uses_sp0_vector(run_asm):
    m = run_asm(two_tables(eret_to("el1", EL1T) + "el1:\n    svc #0\n"))
    (e,) = read_log(m)
    assert e.offset == 0x000
    assert e.spsr == 0x3C4


def test_el1_exception_uses_sp_el1_and_keeps_sp_el0(run_asm):
    m = run_asm(
        two_tables(
            """
    ldr x0, =0x40170000
    msr sp_el1, x0
"""
            + eret_to("el1", EL1T)
            + """
el1:
    mov x1, #0x1000
    mov sp, x1
    svc #0
"""
        )
    )
    assert m.cpu.x[31] == 0x40170000  # the handler runs on SP_EL1
    assert m.cpu.sp_el[0] == 0x1000


# ---- lower EL to higher EL -------------------------------------------------------------------


def test_svc_from_el0_to_el1_spsr_zero(run_asm):
    # syndromes.md §10: "an EL0 SVC from a context with all flags and masks clear -> SPSR 0x0"
    m = run_asm(two_tables(eret_to("el0", EL0T, daif=0) + "el0:\n    svc #0x42\nel0_after:\n"))
    (e,) = read_log(m)
    assert e.offset == 0x400
    assert e.esr == 0x56000042
    assert e.elr == symbol(m, "el0_after")
    assert e.spsr == 0x0
    assert m.cpu.el == 1
    assert m.cpu.daif == 0x3C0  # D, A, I, F set on entry


@pytest.mark.parametrize("e2h", [0, HCR_E2H], ids=["tge", "e2h_tge"])
def test_svc_from_el0_with_tge_goes_to_el2(run_asm, e2h):
    m = run_asm(two_tables(set_hcr(HCR_TGE | e2h) + eret_to("el0", EL0T, daif=0) + "el0:\n    svc #3\n"))
    (e,) = read_log(m)
    assert e.offset == 0x400
    assert e.esr == 0x56000003
    assert e.spsr == EL0T
    assert m.cpu.el == 2
    assert m.cpu.sr["ESR_EL1"] == 0


def test_hvc_from_el1_goes_to_el2_lower_el_vector(run_asm):
    m = run_asm(two_tables(eret_to("el1", EL1H) + "el1:\n    hvc #0x55\nel1_after:\n"))
    (e,) = read_log(m)
    assert e.offset == 0x400
    assert e.esr == 0x5A000055  # EC 0x16
    assert e.elr == symbol(m, "el1_after")
    assert e.spsr == 0x3C5


def test_hvc_at_el2_is_taken_to_el2(run_asm):
    m = run_asm(install(2, "vec2") + "    hvc #9\nafter:\n" + vectors(2, "vec2"))
    (e,) = read_log(m)
    assert (e.offset, e.esr, e.elr, e.spsr) == (0x200, 0x5A000009, symbol(m, "after"), 0x3C9)


def test_hvc_at_el0_is_undefined(run_asm):
    m = run_asm(two_tables(eret_to("el0", EL0T) + "el0:\n    hvc #1\n"))
    (e,) = read_log(m)
    assert m.cpu.el == 1
    assert (e.offset, e.esr) == (0x400, ESR_UNDEF)
    assert e.elr == symbol(m, "el0")


def test_hvc_with_hcd_is_undefined_at_el1(run_asm):
    m = run_asm(two_tables(set_hcr(1 << 29) + eret_to("el1", EL1H) + "el1:\n    hvc #1\n"))
    (e,) = read_log(m)
    assert m.cpu.el == 1
    assert (e.offset, e.esr, e.elr) == (0x200, ESR_UNDEF, symbol(m, "el1"))


def test_smc_at_el0_is_undefined(run_asm):
    m = run_asm(two_tables(eret_to("el0", EL0T) + "el0:\n    smc #0\n"))
    (e,) = read_log(m)
    assert m.cpu.el == 1 and e.esr == ESR_UNDEF and e.elr == symbol(m, "el0")


def test_smc_at_el1_without_tsc_is_a_psci_call(run_asm):
    m = run_asm(
        two_tables(
            eret_to("el1", EL1H)
            + """
el1:
    ldr x0, =0x84000000
    smc #0
    mov x9, x0
    brk #1
"""
        )
    )
    (e,) = read_log(m)
    assert m.cpu.x[9] == 0x10001  # PSCI 1.1
    assert e.esr == 0xF2000001  # the BRK after it: no exception was taken for the SMC


def test_brk_reports_imm16_and_its_own_address(run_asm):
    m = run_asm(two_tables(eret_to("el1", EL1H) + "el1:\n    nop\nthe_brk:\n    brk #0xbeef\n"))
    (e,) = read_log(m)
    assert e.esr == 0xF200BEEF  # EC 0x3C
    assert e.elr == symbol(m, "the_brk")


@pytest.mark.parametrize("el", [1, 2])
def test_undefined_instruction(run_asm, el):
    body = "    udf #0\n" if el == 2 else eret_to("el1", EL1H) + "el1:\n    udf #0\n"
    m = run_asm(two_tables(body))
    (e,) = read_log(m)
    assert m.cpu.el == el
    assert e.esr == ESR_UNDEF and e.offset == 0x200


def test_eret_at_el0_is_undefined(run_asm):
    m = run_asm(two_tables(eret_to("el0", EL0T) + "el0:\n    eret\n"))
    (e,) = read_log(m)
    assert m.cpu.el == 1 and e.esr == ESR_UNDEF and e.elr == symbol(m, "el0")


# ---- aborts write FAR ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "el", "esr"),
    [(EL2H, 2, 0x96000010), (EL1H, 1, 0x96000010), (EL0T, 1, 0x92000010)],
    ids=["el2", "el1", "el0"],
)
def test_external_abort_writes_far(run_asm, mode, el, esr):
    # README "Board facts": an unbacked PA is a synchronous external abort (DFSC 0x10)
    m = run_asm(
        two_tables(
            eret_to("lower", mode)
            + """
lower:
    ldr x5, =0x60000008
    ldr x6, [x5]
"""
        )
    )
    (e,) = read_log(m)
    assert m.cpu.el == el
    assert e.esr == esr  # EC 0x25 same EL, 0x24 from EL0
    assert e.far == 0x60000008
    assert m.cpu.sr[f"FAR_EL{el}"] == 0x60000008


def test_svc_does_not_write_far(run_asm):
    m = run_asm(install(2, "vec2") + "    ldr x0, =0x1234\n    msr far_el2, x0\n    svc #0\n" + vectors(2, "vec2"))
    assert m.cpu.sr["FAR_EL2"] == 0x1234


# ---- PSTATE on entry (syndromes.md §10) ------------------------------------------------------------


def test_entry_sets_daif_and_clears_il_ss_uao(run_asm):
    m = run_asm(two_tables(eret_to("el1", EL1H, daif=0) + "el1:\n    svc #0\n"))
    cpu = m.cpu
    assert (cpu.daif, cpu.il, cpu.ss, cpu.uao, cpu.btype) == (0x3C0, 0, 0, 0, 0)
    assert read_log(m)[0].spsr == EL1H


@pytest.mark.parametrize(("resume", "second_spsr"), [("eret", 0x3C9), ("branch", 0x27C9)])
def test_allint_set_on_entry_on_max(run_asm, resume, second_spsr):
    # syndromes.md §10 (FEAT_NMI, max): ALLINT = NOT SCTLR_EL2.SPINTMASK after entry; a handler that
    # returns by a branch keeps ALLINT = 1 and DAIF, so the next exception's SPSR shows 0x2000 | 0x3C0.
    # The branch is BR X19 (BTYPE 0b01, FEAT_BTI on max) and the SVC is the first instruction at its
    # target, so SPSR also records BTYPE = 0b01 (0x400)
    action = "eret" if resume == "eret" else "by_branch"
    m = run_asm(
        install(2, "vec2")
        + """
    svc #0
    svc #1
    b _armnv_exit
by_branch:
    mrs x19, elr_el2
    br x19
"""
        + vectors(2, "vec2", action=action)
    )
    first, second = read_log(m)
    assert first.spsr == 0x3C9
    assert second.spsr == second_spsr


@pytest.mark.parametrize(("cpu", "allint"), [("max", 1), ("neoverse-v1", 0)])
def test_allint_after_entry_depends_on_feat_nmi(run_asm, cpu, allint):
    m = run_asm(install(2, "vec2") + "    svc #0\n" + vectors(2, "vec2"), cpu=cpu)
    assert m.cpu.allint == allint


def test_spintmask_keeps_allint_clear(run_asm):
    m = run_asm(
        install(2, "vec2")
        + """
    mrs x0, sctlr_el2
    orr x0, x0, #(1 << 62)
    msr sctlr_el2, x0
    svc #0
"""
        + vectors(2, "vec2")
    )
    assert m.cpu.allint == 0


def test_ssbs_on_entry_is_sctlr_dssbs(run_asm):
    m = run_asm(
        two_tables(
            """
    mrs x0, sctlr_el1
    orr x0, x0, #(1 << 44)
    msr sctlr_el1, x0
"""
            + eret_to("el1", EL1H)
            + "el1:\n    svc #0\n"
        )
    )
    assert m.cpu.ssbs == 1
    m = run_asm(two_tables(eret_to("el1", EL1H, spsr_extra=1 << 12) + "el1:\n    svc #0\n"))
    assert read_log(m)[0].spsr & (1 << 12)  # SSBS saved
    assert m.cpu.ssbs == 0  # SCTLR_EL1.DSSBS = 0 after reset (0x30D00800)


@pytest.mark.parametrize(("cpu", "btype"), [("max", 2), ("neoverse-n2", 2), ("neoverse-v1", 0)])
def test_btype_recorded_in_spsr_for_fault_at_branch_target(run_asm, cpu, btype):
    # syndromes.md §10: BLR sets BTYPE = 0b10 (FEAT_BTI: max, n2), and an abort on the first
    # instruction at the target saves it in SPSR; PSTATE.BTYPE is 0 in the handler
    m = run_asm(
        install(2, "vec2")
        + """
    ldr x5, =0x60000000
    adr x1, target
    blr x1
target:
    ldr x6, [x5]
"""
        + vectors(2, "vec2"),
        cpu=cpu,
    )
    (e,) = read_log(m)
    assert e.esr == 0x96000010
    assert (e.spsr >> 10) & 3 == btype
    assert m.cpu.btype == 0


@pytest.mark.parametrize(
    ("first", "btype"),
    [("ldr x6, [x5]", 2), ("add x6, x6, #1\n    ldr x8, [x5]", 0), ("add x6, x6, #1\n    hvc #0", 0)],
    ids=["fault-first", "fault-second", "hvc-second"],
)
def test_btype_at_a_loop_reached_by_blr(run_asm, first, btype):
    # the BLR's target starts a loop: BTYPE (0b10 after BLR on max) is cleared once the loop's
    # first instruction completes, so an exception of that instruction on the first pass
    # records it (syndromes.md §10), and one of a later instruction does not
    m = run_asm(
        install(2, "vec2")
        + f"""
    ldr x5, =0x60000000
    mov x7, #3
    adr x1, target
    blr x1
target:
    {first}
    subs x7, x7, #1
    b.ne target
    mov x5, #0
    b target
"""
        + vectors(2, "vec2"),
    )
    e = read_log(m)[0]
    assert (e.spsr >> 10) & 3 == btype
    assert m.cpu.x[7] == 3  # the first pass took the exception


# ---- -d int / -d cpu ---------------------------------------------------------------------------


def _events(path) -> list[dict]:
    import json

    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def test_nv38_int_log_records_entry_and_return(run_asm, tmp_path):
    log = tmp_path / "int.log"
    m = run_asm(
        two_tables(
            eret_to("el1", EL1H)
            + """
el1:
    ldr x5, =0x60000000
    ldr x6, [x5]
"""
        ),
        debug=frozenset({"int"}),
        log_format="json",
        log_file=str(log),
    )
    m.close()
    events = _events(log)
    ret = next(e for e in events if e["event"] == "exception.return")
    assert (ret["from_el"], ret["to_el"], ret["pc"]) == (2, 1, symbol(m, "el1"))
    entry = next(e for e in events if e["event"] == "exception.entry")
    assert (entry["kind"], entry["from_el"], entry["to_el"]) == ("sync", 1, 1)
    assert entry["esr"] == 0x96000010
    assert entry["far"] == 0x60000000
    assert entry["spsr"] == 0x3C5
    assert entry["elr"] == symbol(m, "el1") + 4  # the faulting load
    assert entry["pc"] == symbol(m, "vec1") + 0x200


def test_cpu_log_dumps_hcr_el2_with_decoded_bits(run_asm, tmp_path):
    log = tmp_path / "cpu.log"
    m = run_asm(
        two_tables(set_hcr(HCR_TGE | (1 << 4)) + "    svc #0\n"),
        debug=frozenset({"cpu"}),
        log_format="json",
        log_file=str(log),
    )
    m.close()
    (dump,) = [e["text"] for e in _events(log) if e["event"] == "cpu.dump"]
    assert "HCR_EL2=0000000088000010 IMO TGE RW" in dump
    assert "ESR_EL2=56000000" in dump
