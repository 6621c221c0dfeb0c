"""VHE with HCR_EL2.E2H or TGE alone (nv.md NV-13; Arm ARM HCR_EL2.E2H, HCR_EL2.TGE).

{E2H,TGE} = {1,0}: EL2 has the E2H register view, but EL0 is still a guest EL0 in the EL1&0
regime: its exceptions go to EL1, its controls are SCTLR_EL1's and CNTKCTL_EL1's, its timer names
reach the EL1 timers, and *_EL12 / *_EL02 names are still UNDEFINED below EL2.
{E2H,TGE} = {0,1}: EL0's exceptions all go to EL2, but EL0 still uses the EL1&0 regime with
SCTLR_EL1.M treated as 0 and SCTLR_EL1's EL0 enables; HCR_EL2.{FMO,IMO,AMO} behave as 1, so
physical interrupts from EL0 go to EL2 whatever PSTATE says; the *_EL12 names UNDEF at EL2 and
the trap bits that only a host EL0 ignores (TDZ, TID2…) still apply.
"""

from __future__ import annotations

import pytest

from .conftest import (
    EL0T,
    EL1H,
    ESR_UNDEF,
    HCR_E2H,
    HCR_TGE,
    eret_to,
    install,
    read_log,
    set_hcr,
    symbol,
    sysreg_esr,
    vectors,
)

E2H, TGE, HOST = HCR_E2H, HCR_TGE, HCR_E2H | HCR_TGE
HCR_TID2, HCR_TDZ = 1 << 17, 1 << 28
SCTLR_M, SCTLR_UMA, SCTLR_DZE, SCTLR_UCT = 1 << 0, 1 << 9, 1 << 14, 1 << 15
ABORT_PA = 0x60000000


def guest(lower: str, *, hcr: int, mode: int = EL0T, setup: str = "", daif: int = 0) -> str:
    """`lower` at EL0 (or `mode`) under HCR_EL2 = hcr | RW; both vector tables stop the machine."""
    return (
        install(2, "vec2")
        + install(1, "vec1")
        + setup
        + set_hcr(hcr)
        + eret_to("lower", mode, daif=daif)
        + f"lower:\n{lower}\n    svc #0x7ff\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1")
    )


def sctlr_or(el: int, bits: int) -> str:
    return f"    mrs x0, sctlr_el{el}\n    ldr x1, ={bits:#x}\n    orr x0, x0, x1\n    msr sctlr_el{el}, x0\n"


def first(m):
    return read_log(m)[0]


# ---- routing of EL0's synchronous exceptions --------------------------------------------------


@pytest.mark.parametrize(("hcr", "el"), [(E2H, 1), (TGE, 2), (HOST, 2)], ids=["e2h-alone", "tge-alone", "host"])
@pytest.mark.parametrize(
    ("insn", "esr"),
    [("svc #3", 0x56000003), ("udf #0", ESR_UNDEF), ("mrs x1, sctlr_el1", ESR_UNDEF)],
    ids=["svc", "udf", "el1-register"],
)
def test_nv13_el0_exceptions_follow_tge_not_e2h(run_asm, hcr, el, insn, esr):
    m = run_asm(guest(f"    {insn}", hcr=hcr))
    e = first(m)
    assert (m.cpu.el, e.offset, e.esr, e.spsr) == (el, 0x400, esr, EL0T)
    assert e.elr == symbol(m, "lower") + (4 if insn.startswith("svc") else 0)
    other = 3 - el
    assert m.cpu.sr[f"ESR_EL{other}"] == 0  # the other EL saw nothing


@pytest.mark.parametrize(("hcr", "el"), [(E2H, 1), (TGE, 2)], ids=["e2h-alone", "tge-alone"])
def test_el0_data_abort_goes_where_tge_says_with_far_of_that_el(run_asm, hcr, el):
    m = run_asm(guest(f"    ldr x5, ={ABORT_PA:#x}\n    ldr x6, [x5]", hcr=hcr))
    e = first(m)
    assert (m.cpu.el, e.esr, e.far) == (el, 0x92000010, ABORT_PA)  # EC 0x24: from a lower EL
    assert m.cpu.sr[f"FAR_EL{el}"] == ABORT_PA and m.cpu.sr[f"FAR_EL{3 - el}"] == 0


# ---- EL0's controls: SCTLR_EL1 outside a host, whatever routes the trap -----------------------------


@pytest.mark.parametrize(
    ("hcr", "sctlr_el", "outcome"),
    [
        (E2H, 1, "ok"),  # E2H alone: SCTLR_EL1.UMA
        (E2H, 2, 1),  # ... SCTLR_EL2.UMA does not count; the trap goes to EL1
        (TGE, 1, "ok"),  # TGE alone: still SCTLR_EL1.UMA
        (TGE, 2, 2),  # ... and the trap goes to EL2
        (HOST, 2, "ok"),  # host: SCTLR_EL2.UMA
        (HOST, 1, 2),
    ],
)
def test_el0_daif_access_uses_the_el0_regimes_sctlr_uma(run_asm, hcr, sctlr_el, outcome):
    m = run_asm(guest("    mrs x1, daif", hcr=hcr, setup=sctlr_or(sctlr_el, SCTLR_UMA)))
    e = first(m)
    if outcome == "ok":
        assert e.esr == 0x560007FF
    else:
        assert (m.cpu.el, e.esr, e.elr) == (outcome, sysreg_esr(3, 3, 4, 2, 1, 1, True), symbol(m, "lower"))


@pytest.mark.parametrize(("hcr", "trapped"), [(TGE, True), (HOST, False)], ids=["tge-alone", "host"])
def test_tid2_applies_to_el0_unless_in_a_host(run_asm, hcr, trapped):
    setup = sctlr_or(1, SCTLR_UCT) + sctlr_or(2, SCTLR_UCT)
    m = run_asm(guest("    mrs x1, ctr_el0", hcr=hcr | HCR_TID2, setup=setup))
    e = first(m)
    if trapped:
        assert (m.cpu.el, e.esr) == (2, sysreg_esr(3, 3, 0, 0, 1, 1, True))
    else:
        assert e.esr == 0x560007FF


@pytest.mark.parametrize(("hcr", "trapped"), [(TGE, True), (HOST, False)], ids=["tge-alone", "host"])
def test_tdz_applies_to_el0_unless_in_a_host(run_asm, hcr, trapped):
    setup = sctlr_or(1, SCTLR_DZE) + sctlr_or(2, SCTLR_DZE) + "    ldr x5, =0x40200000\n"
    m = run_asm(guest("    dc zva, x5", hcr=hcr | HCR_TDZ, setup=setup))
    e = first(m)
    if trapped:
        assert (m.cpu.el, e.esr) == (2, sysreg_esr(1, 3, 7, 4, 1, 5, False))
    else:
        assert e.esr == 0x560007FF


# ---- which translation regime EL0 uses ---------------------------------------------------------

# An EL1&0 stage-1 map: one 1 GiB block at 0x4000_0000, identity, Normal memory (MAIR_EL1
# attribute 0 = 0xFF), AP = 0b00 (EL1 only) and UXN = 1: EL1 runs from it, EL0 cannot.
EL1_ONLY_MAP = """
    ldr x0, =0x40300000
    ldr x1, =0x0040000040000701
    str x1, [x0, #8]
    msr ttbr0_el1, x0
    ldr x0, =0x803519
    msr tcr_el1, x0
    mov x0, #0xff
    msr mair_el1, x0
    isb
"""


@pytest.mark.parametrize(
    ("hcr", "fault"),
    [
        (E2H, True),  # E2H alone: EL0 is in the EL1&0 regime, SCTLR_EL1.M = 1 applies
        (TGE, False),  # TGE alone: EL1&0 regime, but SCTLR_EL1.M behaves as 0
        (HOST, False),  # host: the EL2&0 regime, whose SCTLR_EL2.M is 0
    ],
    ids=["e2h-alone", "tge-alone", "host"],
)
def test_el0_translation_regime(run_asm, hcr, fault):
    m = run_asm(guest("    mov x9, #1", hcr=hcr, setup=EL1_ONLY_MAP + sctlr_or(1, SCTLR_M)))
    e = first(m)
    if fault:
        # EC 0x20 (from EL0), permission fault on the level-1 block
        assert (m.cpu.el, e.esr, e.elr) == (1, 0x8200000D, symbol(m, "lower"))
        assert m.cpu.x[9] == 0
    else:
        assert e.esr == 0x560007FF and m.cpu.x[9] == 1


# ---- register views ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sctlr_el12", "vbar_el12", "cntkctl_el12", "cntv_ctl_el02"])
@pytest.mark.parametrize(("hcr", "mode", "el"), [(E2H, EL1H, 1), (E2H, EL0T, 1), (HOST, EL0T, 2)])
def test_nv13_el12_names_undefined_below_el2_whatever_e2h(run_asm, name, hcr, mode, el):
    m = run_asm(guest(f"    mrs x1, {name}", hcr=hcr, mode=mode))
    e = first(m)
    assert (m.cpu.el, e.esr, e.elr) == (el, ESR_UNDEF, symbol(m, "lower"))


@pytest.mark.parametrize("name", ["sctlr_el12", "cntp_cval_el02"])
def test_nv13_el12_names_undefined_at_el2_with_tge_alone(run_asm, name):
    m = run_asm(install(2, "vec2") + set_hcr(TGE) + f"the_access:\n    mrs x1, {name}\n" + vectors(2, "vec2"))
    e = first(m)
    assert (e.offset, e.esr, e.elr) == (0x200, ESR_UNDEF, symbol(m, "the_access"))


def test_nv13_el1_names_at_el1_with_e2h_reach_the_el1_registers(run_asm):
    # the E2H view exists at EL2 only: at EL1, VBAR_EL1 and CNTKCTL_EL1 are themselves
    m = run_asm(
        guest(
            "    mrs x10, vbar_el1\n    mov x0, #0x102\n    msr cntkctl_el1, x0\n    mrs x11, cntkctl_el1",
            hcr=E2H,
            mode=EL1H,
        )
    )
    x = m.cpu.x
    assert first(m).esr == 0x560007FF
    assert (x[10], x[11]) == (symbol(m, "vec1"), 0x102)
    assert (m.cpu.sr["CNTKCTL_EL1"], m.cpu.sr["CNTHCTL_EL2"]) == (0x102, 0x3)


@pytest.mark.parametrize(("hcr", "mode"), [(E2H, EL0T), (TGE, EL0T), (E2H, EL1H)], ids=["el0-e2h", "el0-tge", "el1"])
def test_el0_timer_names_outside_a_host_reach_the_el1_timers(run_asm, hcr, mode):
    setup = "    mov x0, #0x303\n    msr cntkctl_el1, x0\n    mov x0, #0xC03\n    msr cnthctl_el2, x0\n"
    m = run_asm(
        guest(
            "    ldr x2, =0xABC000\n    msr cntp_cval_el0, x2\n    msr cntv_cval_el0, x2",
            hcr=hcr,
            mode=mode,
            setup=setup,
        )
    )
    assert first(m).esr == 0x560007FF
    sr = m.cpu.sr
    assert (sr["CNTP_CVAL_EL0"], sr["CNTV_CVAL_EL0"]) == (0xABC000, 0xABC000)
    assert (sr["CNTHP_CVAL_EL2"], sr["CNTHV_CVAL_EL2"]) == (0, 0)


# ---- physical interrupts: TGE alone forces FMO/IMO/AMO to 1 --------------------------------------


def _raise(kind: str):
    return lambda m: m.interrupts.set_line(kind, True)


@pytest.mark.parametrize(("kind", "offset"), [("irq", 0x480), ("fiq", 0x500), ("serror", 0x580)])
def test_tge_alone_takes_el0_interrupts_to_el2_whatever_pstate(run_asm, kind, offset):
    m = run_asm(guest("    mov x9, #1", hcr=TGE, daif=0x3C0), setup=_raise(kind))
    e = first(m)
    assert (m.cpu.el, e.offset, e.elr) == (2, offset, symbol(m, "lower"))
    assert m.cpu.x[9] == 0


@pytest.mark.parametrize(("hcr", "el", "offset"), [(E2H, 1, 0x480), (HOST, 2, 0x480)], ids=["e2h-alone", "host"])
def test_el0_interrupt_masked_by_pstate_without_routing_bits(run_asm, hcr, el, offset):
    # IMO = 0 and (for the host) TGE routing: PSTATE.I masks, the IRQ comes once EL0 unmasks it
    lower = "    mov x9, #1\n    msr daifclr, #2\nunmasked:\n    mov x9, #2"
    setup = sctlr_or(1, SCTLR_UMA) + sctlr_or(2, SCTLR_UMA)
    m = run_asm(guest(lower, hcr=hcr, daif=0x80, setup=setup), setup=_raise("irq"))
    e = first(m)
    assert m.cpu.x[9] == 1
    assert (m.cpu.el, e.offset, e.elr) == (el, offset, symbol(m, "unmasked"))


@pytest.mark.parametrize("hcr", [TGE, HOST], ids=["tge-alone", "host"])
def test_with_tge_el2_takes_a_physical_irq_once_unmasked(run_asm, hcr):
    # with TGE = 1 physical interrupts target EL2 even with IMO = 0 (without TGE they would
    # target EL1 and never be taken at EL2)
    m = run_asm(
        install(2, "vec2")
        + set_hcr(hcr)
        + "    mov x9, #1\n    msr daifclr, #2\nafter:\n    mov x9, #2\n"
        + vectors(2, "vec2"),
        setup=_raise("irq"),
    )
    e = first(m)
    assert m.cpu.x[9] == 1
    assert (e.offset, e.elr) == (0x280, symbol(m, "after"))
