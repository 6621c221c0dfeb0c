"""EL0/EL1 access control of the generic timer in every {E2H, TGE} configuration (Arm ARM D24.10,
the access pseudocode of CNTFRQ_EL0, CNTPCT_EL0, CNTVCT_EL0, CNTP_*_EL0 and CNTV_*_EL0).

CNTHCTL_EL2 has two layouts. With E2H = 0: EL1PCTEN bit 0 (physical counter) and EL1PCEN bit 1
(EL1 physical timer) control EL1 *and* EL0, whatever TGE. With E2H = 1: EL0PCTEN bit 0, EL0VCTEN
bit 1, EL0VTEN bit 8 and EL0PTEN bit 9 replace CNTKCTL_EL1 for a host EL0 ({E2H,TGE} = {1,1}),
and EL1PCTEN bit 10 / EL1PTEN bit 11 control EL1 and a guest EL0 (TGE = 0). CNTKCTL_EL1 (EL0PCTEN
bit 0, EL0VCTEN bit 1, EL0VTEN bit 8, EL0PTEN bit 9) controls EL0 outside a host and is checked
first; its trap goes to EL1, or to EL2 when TGE routes EL0 exceptions there. Nothing controls the
virtual counter and timer from EL1 (without FEAT_ECV). All traps are EC 0x18.
"""

from __future__ import annotations

import pytest

from .conftest import EL0T, EL1H, ESR_UNDEF, HCR_E2H, HCR_TGE, eret_to, install, read_log, set_hcr, sysreg_esr, vectors

NVHE, E2H, TGE, HOST = 0, HCR_E2H, HCR_TGE, HCR_E2H | HCR_TGE
ESR_DONE = 0x560007FF  # the SVC after the access: no trap

ENC = {
    "cntfrq_el0": (3, 3, 14, 0, 0),
    "cntpct_el0": (3, 3, 14, 0, 1),
    "cntvct_el0": (3, 3, 14, 0, 2),
    "cntp_tval_el0": (3, 3, 14, 2, 0),
    "cntp_ctl_el0": (3, 3, 14, 2, 1),
    "cntp_cval_el0": (3, 3, 14, 2, 2),
    "cntv_tval_el0": (3, 3, 14, 3, 0),
    "cntv_ctl_el0": (3, 3, 14, 3, 1),
    "cntv_cval_el0": (3, 3, 14, 3, 2),
}


def access(run_asm, insn: str, *, el: int, hcr: int, cntkctl: int, cnthctl: int) -> tuple[int, int]:
    """Run `insn` at EL0/EL1 under HCR_EL2 = hcr; (EL taken to, ESR) of the first exception.

    CNTKCTL_EL1 and CNTHCTL_EL2 are written before HCR_EL2, while E2H = 0 still gives both
    names their own register.
    """
    m = run_asm(
        install(2, "vec2")
        + install(1, "vec1")
        + f"    ldr x19, ={cntkctl:#x}\n    msr cntkctl_el1, x19\n"
        + f"    ldr x19, ={cnthctl:#x}\n    msr cnthctl_el2, x19\n"
        + set_hcr(hcr)
        + eret_to("lower", EL0T if el == 0 else EL1H)
        + f"lower:\n    {insn}\n    svc #0x7ff\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1")
    )
    (e,) = read_log(m)
    return m.cpu.el, e.esr


def expected(insn: str, outcome: str | int, *, el: int, hcr: int) -> tuple[int, int]:
    """(EL, ESR) for `outcome`: "ok" (the access completes, then the SVC) or the trap's EL."""
    if outcome == "ok":
        return (2 if el == 0 and hcr & HCR_TGE else 1), ESR_DONE
    mnemonic, operands = insn.split(None, 1)
    is_read = mnemonic == "mrs"
    name = operands.split(",")[1 if is_read else 0].strip()
    return outcome, sysreg_esr(*ENC[name], 1, is_read)


def case(insn, el, hcr, cntkctl, cnthctl, outcome, rule):
    return pytest.param(insn, el, hcr, cntkctl, cnthctl, outcome, id=rule)


CASES = [
    # ---- E2H = 0, TGE = 0: EL1 -------------------------------------------------------------
    case("mrs x1, cntpct_el0", 1, NVHE, 0, 0x1, "ok", "el1-pct-el1pcten-bit0-set"),
    case("mrs x1, cntpct_el0", 1, NVHE, 0, 0xC02, 2, "el1-pct-bit0-clear-e2h-bits-ignored"),
    case("msr cntp_cval_el0, x1", 1, NVHE, 0, 0x2, "ok", "el1-ptimer-el1pcen-bit1-set"),
    case("msr cntp_tval_el0, x1", 1, NVHE, 0, 0xC01, 2, "el1-ptimer-bit1-clear-e2h-bits-ignored"),
    case("mrs x1, cntv_tval_el0", 1, NVHE, 0, 0, "ok", "el1-vtimer-never-trapped"),
    case("mrs x1, cntvct_el0", 1, NVHE, 0, 0, "ok", "el1-vct-never-trapped"),
    # ---- E2H = 0, TGE = 0: EL0 --------------------------------------------------------------
    case("mrs x1, cntpct_el0", 0, NVHE, 0x0, 0x3, 1, "el0-pct-needs-el0pcten"),
    case("mrs x1, cntpct_el0", 0, NVHE, 0x0, 0x0, 1, "el0-pct-cntkctl-checked-before-cnthctl"),
    case("mrs x1, cntpct_el0", 0, NVHE, 0x1, 0x2, 2, "el0-pct-also-needs-el1pcten"),
    case("mrs x1, cntpct_el0", 0, NVHE, 0x1, 0x1, "ok", "el0-pct-both-enables"),
    case("mrs x1, cntvct_el0", 0, NVHE, 0x1, 0x3, 1, "el0-vct-needs-el0vcten-not-el0pcten"),
    case("mrs x1, cntvct_el0", 0, NVHE, 0x2, 0x0, "ok", "el0-vct-not-controlled-by-cnthctl"),
    case("mrs x1, cntvct_el0", 0, NVHE, 0x0, 0x303, 1, "el0-vct-cnthctl-el0-bits-ignored"),
    case("mrs x1, cntp_ctl_el0", 0, NVHE, 0x100, 0x3, 1, "el0-ptimer-needs-el0pten-not-el0vten"),
    case("mrs x1, cntp_ctl_el0", 0, NVHE, 0x200, 0x1, 2, "el0-ptimer-also-needs-el1pcen"),
    case("msr cntp_ctl_el0, x1", 0, NVHE, 0x200, 0x2, "ok", "el0-ptimer-both-enables"),
    case("mrs x1, cntv_ctl_el0", 0, NVHE, 0x200, 0x3, 1, "el0-vtimer-needs-el0vten-not-el0pten"),
    case("msr cntv_cval_el0, x1", 0, NVHE, 0x100, 0x0, "ok", "el0-vtimer-not-controlled-by-cnthctl"),
    case("mrs x1, cntfrq_el0", 0, NVHE, 0x1, 0x0, "ok", "el0-cntfrq-with-el0pcten-alone"),
    case("mrs x1, cntfrq_el0", 0, NVHE, 0x2, 0x0, "ok", "el0-cntfrq-with-el0vcten-alone"),
    case("mrs x1, cntfrq_el0", 0, NVHE, 0x300, 0x3, 1, "el0-cntfrq-timer-enables-do-not-count"),
    # ---- E2H = 1, TGE = 0: EL1 (CNTHCTL_EL2 in its E2H layout) ----------------------------
    case("mrs x1, cntpct_el0", 1, E2H, 0, 0x400, "ok", "e2h-el1-pct-el1pcten-bit10"),
    case("mrs x1, cntpct_el0", 1, E2H, 0, 0x803, 2, "e2h-el1-pct-bit10-clear"),
    case("mrs x1, cntp_ctl_el0", 1, E2H, 0, 0x800, "ok", "e2h-el1-ptimer-el1pten-bit11"),
    case("msr cntp_cval_el0, x1", 1, E2H, 0, 0x403, 2, "e2h-el1-ptimer-bit11-clear"),
    case("mrs x1, cntvct_el0", 1, E2H, 0, 0, "ok", "e2h-el1-vct-never-trapped"),
    case("mrs x1, cntv_ctl_el0", 1, E2H, 0, 0, "ok", "e2h-el1-vtimer-never-trapped"),
    # ---- E2H = 1, TGE = 0: EL0 (a guest EL0: CNTKCTL_EL1, then EL1PCTEN/EL1PTEN) ---------------
    case("mrs x1, cntpct_el0", 0, E2H, 0x0, 0x403, 1, "e2h-el0-pct-needs-cntkctl"),
    case("mrs x1, cntpct_el0", 0, E2H, 0x1, 0x3, 2, "e2h-el0-pct-needs-bit10"),
    case("mrs x1, cntpct_el0", 0, E2H, 0x1, 0x400, "ok", "e2h-el0-pct-allowed"),
    case("mrs x1, cntvct_el0", 0, E2H, 0x0, 0x3, 1, "e2h-el0-vct-cnthctl-el0vcten-ignored"),
    case("mrs x1, cntvct_el0", 0, E2H, 0x2, 0x0, "ok", "e2h-el0-vct-allowed-by-cntkctl"),
    case("mrs x1, cntp_cval_el0", 0, E2H, 0x200, 0x703, 2, "e2h-el0-ptimer-needs-bit11"),
    case("mrs x1, cntp_cval_el0", 0, E2H, 0x200, 0x800, "ok", "e2h-el0-ptimer-allowed"),
    case("mrs x1, cntv_ctl_el0", 0, E2H, 0x0, 0x300, 1, "e2h-el0-vtimer-cnthctl-el0vten-ignored"),
    # ---- E2H = 0, TGE = 1: EL0 (CNTKCTL_EL1 still, traps to EL2; E2H = 0 layout) ---------------
    case("mrs x1, cntvct_el0", 0, TGE, 0x0, 0x3, 2, "tge-el0-vct-cntkctl-trap-goes-to-el2"),
    case("mrs x1, cntvct_el0", 0, TGE, 0x2, 0x0, "ok", "tge-el0-vct-allowed-by-cntkctl"),
    case("mrs x1, cntpct_el0", 0, TGE, 0x1, 0x2, 2, "tge-el0-pct-needs-el1pcten-bit0"),
    case("mrs x1, cntpct_el0", 0, TGE, 0x1, 0x1, "ok", "tge-el0-pct-allowed"),
    case("mrs x1, cntp_tval_el0", 0, TGE, 0x200, 0x1, 2, "tge-el0-ptimer-needs-el1pcen-bit1"),
    case("mrs x1, cntp_tval_el0", 0, TGE, 0x200, 0x2, "ok", "tge-el0-ptimer-allowed"),
    case("mrs x1, cntfrq_el0", 0, TGE, 0x0, 0x3, 2, "tge-el0-cntfrq-trap-goes-to-el2"),
    # ---- E2H = 1, TGE = 1: host EL0 (CNTHCTL_EL2 EL0 bits only) ---------------------------------
    case("mrs x1, cntpct_el0", 0, HOST, 0x3, 0x2, 2, "host-el0-pct-needs-el0pcten"),
    case("mrs x1, cntpct_el0", 0, HOST, 0x0, 0x1, "ok", "host-el0-pct-cntkctl-and-el1pcten-ignored"),
    case("mrs x1, cntvct_el0", 0, HOST, 0x3, 0x1, 2, "host-el0-vct-needs-el0vcten"),
    case("mrs x1, cntvct_el0", 0, HOST, 0x0, 0x2, "ok", "host-el0-vct-allowed"),
    case("mrs x1, cntp_ctl_el0", 0, HOST, 0x300, 0x100, 2, "host-el0-ptimer-needs-el0pten"),
    case("mrs x1, cntp_ctl_el0", 0, HOST, 0x0, 0x200, "ok", "host-el0-ptimer-allowed"),
    case("msr cntv_tval_el0, x1", 0, HOST, 0x300, 0x200, 2, "host-el0-vtimer-needs-el0vten"),
    case("msr cntv_tval_el0, x1", 0, HOST, 0x0, 0x100, "ok", "host-el0-vtimer-allowed"),
    case("mrs x1, cntfrq_el0", 0, HOST, 0x3, 0x300, 2, "host-el0-cntfrq-needs-a-counter-enable"),
    case("mrs x1, cntfrq_el0", 0, HOST, 0x0, 0x2, "ok", "host-el0-cntfrq-allowed"),
]


@pytest.mark.parametrize(("insn", "el", "hcr", "cntkctl", "cnthctl", "outcome"), CASES)
def test_timer_access_control(run_asm, insn, el, hcr, cntkctl, cnthctl, outcome):
    got = access(run_asm, insn, el=el, hcr=hcr, cntkctl=cntkctl, cnthctl=cnthctl)
    assert got == expected(insn, outcome, el=el, hcr=hcr)


@pytest.mark.parametrize("hcr", [NVHE, E2H], ids=["e2h0", "e2h1"])
def test_cntfrq_write_at_el1_is_undefined(run_asm, hcr):
    # MSR CNTFRQ_EL0 is allowed only at the highest implemented EL, EL2 on the virt board
    assert access(run_asm, "msr cntfrq_el0, x1", el=1, hcr=hcr, cntkctl=3, cnthctl=0xC03) == (1, ESR_UNDEF)


def test_cntfrq_write_at_el2_the_highest_el(run_asm):
    m = run_asm("    ldr x1, =12345678\n    msr cntfrq_el0, x1\n    mrs x10, cntfrq_el0\n")
    assert m.cpu.x[10] == 12345678


@pytest.mark.parametrize(
    "insn", ["mrs x1, cnthp_ctl_el2", "msr cnthv_cval_el2, x1", "mrs x1, cntvoff_el2", "msr cnthctl_el2, x1"]
)
@pytest.mark.parametrize("el", [0, 1])
def test_el2_timer_registers_undefined_below_el2(run_asm, insn, el):
    # op1 = 4: EL2 registers (HCR_EL2.NV = 0, so EL1 gets no trap either)
    assert access(run_asm, insn, el=el, hcr=E2H, cntkctl=0x303, cnthctl=0xF03) == (1, ESR_UNDEF)
