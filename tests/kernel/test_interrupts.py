"""IRQ, FIQ and SError: routing by HCR_EL2.{IMO,FMO,AMO,TGE,E2H}, masking by PSTATE, virtual
interrupts from HCR_EL2.{VI,VF,VSE}, ISR_EL1, WFI wake-up and FEAT_NMI's ALLINT.

Physical lines are raised from the host side (`Interrupts.set_line`), as an interrupt
controller plugin would."""

from __future__ import annotations

import pytest

from framework.devices.semihosting import SemihostingConfig
from framework.testing import with_stop_vectors

from .conftest import (
    EL0T,
    EL1H,
    HCR_AMO,
    HCR_E2H,
    HCR_FMO,
    HCR_IMO,
    HCR_TGE,
    HCR_VF,
    HCR_VI,
    HCR_VSE,
    eret_to,
    install,
    read_log,
    set_hcr,
    symbol,
    vectors,
)

DAIF_I, DAIF_F = 0x80, 0x40


def lines(*kinds: str):
    def setup(m):
        for kind in kinds:
            m.interrupts.set_line(kind, True)

    return setup


# a guest that ends at EL0 makes its semihosting exit there
EL0_EXIT = SemihostingConfig(userspace=True)


def program(el2_body: str, lower: str = "", *, hcr: int = 0, mode: int = EL1H, daif: int = 0) -> str:
    """EL2 runs `el2_body`, then (if `lower` is given) ERETs to it in `mode` with `daif`."""
    src = install(2, "vec2") + install(1, "vec1") + set_hcr(hcr) + el2_body
    if lower:
        src += eret_to("lower", mode, daif=daif) + f"lower:\n{lower}\n"
    return src + "    mov x18, #1\n    b _armnv_exit\n" + vectors(2, "vec2") + vectors(1, "vec1")


def only(m):
    (e,) = read_log(m)
    return e


# ---- physical interrupts ---------------------------------------------------------------------


def test_irq_routed_to_el1_is_not_taken_at_el2_but_after_eret(run_asm):
    m = run_asm(program("    msr daifclr, #0xf\n    mov x10, #1\n", "    mov x9, #1"), setup=lines("irq"))
    e = only(m)
    assert m.cpu.x[10] == 1  # EL2 ran on: the IRQ targets EL1, below EL2
    assert m.cpu.x[9] == 0  # taken before the first EL1 instruction
    assert m.cpu.el == 1
    assert (e.offset, e.elr, e.spsr) == (0x280, symbol(m, "lower"), EL1H)


def test_irq_routed_to_el1_is_masked_by_pstate_i_at_el1(run_asm):
    m = run_asm(
        program("", "    mov x9, #1\n    msr daifclr, #2\nunmasked:\n    mov x9, #2", daif=0x80), setup=lines("irq")
    )
    e = only(m)
    assert m.cpu.x[9] == 1
    assert (m.cpu.el, e.offset, e.elr) == (1, 0x280, symbol(m, "unmasked"))


@pytest.mark.parametrize(
    ("kind", "route", "offset"),
    [("irq", HCR_IMO, 0x480), ("fiq", HCR_FMO, 0x500), ("serror", HCR_AMO, 0x580)],
)
def test_routed_to_el2_is_taken_from_el1_whatever_pstate(run_asm, kind, route, offset):
    m = run_asm(program("", "    mov x9, #1", hcr=route, daif=0x3C0), setup=lines(kind))
    e = only(m)
    assert m.cpu.el == 2
    assert (e.offset, e.elr, e.spsr) == (offset, symbol(m, "lower"), 0x3C0 | EL1H)
    if kind == "serror":
        assert e.esr == 0xBE000000  # EC 0x2F
    assert m.cpu.x[9] == 0


def test_irq_does_not_write_esr(run_asm):
    m = run_asm(program("    ldr x1, =0x1234\n    msr esr_el2, x1\n", "    nop", hcr=HCR_IMO), setup=lines("irq"))
    assert only(m).offset == 0x480
    assert m.cpu.sr["ESR_EL2"] == 0x1234


def test_irq_routed_to_el2_masked_at_el2_until_daifclr(run_asm):
    m = run_asm(
        program("    mov x9, #1\n    msr daifclr, #2\nafter:\n    mov x9, #2\n", hcr=HCR_IMO),
        setup=lines("irq"),
    )
    e = only(m)
    assert m.cpu.x[9] == 1
    assert (e.offset, e.elr, e.spsr) == (0x280, symbol(m, "after"), 0x349)  # D, A, F still set


def test_fiq_is_taken_before_irq(run_asm):
    m = run_asm(program("    msr daifclr, #3\n", hcr=HCR_IMO | HCR_FMO), setup=lines("irq", "fiq"))
    assert only(m).offset == 0x300


def test_tge_routes_el0_irq_to_el2_unmasked(run_asm):
    # TGE = 1, E2H = 0: IMO behaves as 1, so PSTATE.I at EL0 does not mask
    m = run_asm(program("", "    mov x9, #1", hcr=HCR_TGE, mode=EL0T, daif=0x80), setup=lines("irq"))
    e = only(m)
    assert m.cpu.el == 2 and e.offset == 0x480 and m.cpu.x[9] == 0


@pytest.mark.parametrize(("daif", "taken"), [(0x80, False), (0, True)])
def test_host_el0_irq_goes_to_el2_and_is_masked_by_pstate(run_asm, daif, taken):
    source = program("", "    mov x9, #1", hcr=HCR_TGE | HCR_E2H, mode=EL0T, daif=daif)
    m = run_asm(source, setup=lines("irq"), semihosting=EL0_EXIT)
    if taken:
        e = only(m)
        assert m.cpu.el == 2 and e.offset == 0x480 and m.cpu.x[9] == 0
    else:
        assert read_log(m) == [] and m.cpu.x[9] == 1


# ---- virtual interrupts --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hcr", "mode", "offset"),
    [
        (HCR_VI | HCR_IMO, EL1H, 0x280),
        (HCR_VI | HCR_IMO, EL0T, 0x480),
        (HCR_VF | HCR_FMO, EL1H, 0x300),
        (HCR_VSE | HCR_AMO, EL1H, 0x380),
    ],
    ids=["virq_el1", "virq_el0", "vfiq_el1", "vserror_el1"],
)
def test_virtual_interrupt_taken_to_el1(run_asm, hcr, mode, offset):
    m = run_asm(program("", "    mov x9, #1", hcr=hcr, mode=mode))
    e = only(m)
    assert m.cpu.el == 1
    assert (e.offset, e.elr) == (offset, symbol(m, "lower"))
    assert m.cpu.x[9] == 0


def test_virtual_serror_is_taken_and_vse_cleared(run_asm):
    # VSESR_EL2 belongs to FEAT_RAS, which the models do not advertise (ID_AA64PFR0_EL1.RAS = 0):
    # the syndrome of a virtual SError then has ISS 0
    m = run_asm(program("", "    nop", hcr=HCR_VSE | HCR_AMO))
    assert (m.id_value("ID_AA64PFR0_EL1") >> 28) & 0xF == 0
    assert only(m).esr == 0xBE000000
    assert m.cpu.sr["HCR_EL2"] & HCR_VSE == 0  # taking the virtual SError consumed it


def test_vsesr_el2_is_undefined_without_feat_ras(run_asm):
    m = run_asm(with_stop_vectors("    mov x1, #0x1234\n    msr vsesr_el2, x1\n"))
    assert m.cpu.sr["ESR_EL2"] == 0x0200_0000


@pytest.mark.parametrize(
    "hcr",
    [HCR_VI, HCR_VI | HCR_IMO | HCR_TGE],
    ids=["without_imo", "with_tge"],
)
def test_virtual_irq_needs_imo_and_no_tge(run_asm, hcr):
    mode = EL0T if hcr & HCR_TGE else EL1H
    m = run_asm(program("", "    mov x9, #1", hcr=hcr, mode=mode), semihosting=EL0_EXIT)
    assert read_log(m) == [] and m.cpu.x[9] == 1


def test_virtual_irq_masked_at_el1_shows_in_isr(run_asm):
    m = run_asm(
        program(
            "", "    mrs x10, isr_el1\n    msr daifclr, #2\nafter:\n    mov x9, #1", hcr=HCR_VI | HCR_IMO, daif=0x80
        )
    )
    e = only(m)
    assert m.cpu.x[10] == 0x80  # ISR_EL1.I: the virtual IRQ is pending
    assert (e.offset, e.elr) == (0x280, symbol(m, "after"))


def test_virtual_irq_is_not_taken_at_el2(run_asm):
    m = run_asm(program("    msr daifclr, #0xf\n    mrs x10, isr_el1\n    mov x9, #1\n", hcr=HCR_VI | HCR_IMO))
    assert read_log(m) == [] and m.cpu.x[9] == 1
    assert m.cpu.x[10] == 0  # at EL2, ISR_EL1 reports physical interrupts only


def test_isr_el1_reports_physical_lines(run_asm):
    m = run_asm(program("    mrs x10, isr_el1\n"), setup=lines("irq", "serror"))
    assert m.cpu.x[10] == 0x180


# ---- WFI -----------------------------------------------------------------------------------------


def test_wfi_wakes_on_a_masked_pending_interrupt(run_asm):
    m = run_asm(program("    wfi\n    mov x9, #1\n", hcr=HCR_IMO), setup=lines("irq"))
    assert read_log(m) == [] and m.cpu.x[9] == 1
    assert m.stop.kind == "exit"


def test_wfi_with_nothing_to_wait_for_stops_the_machine(run_asm):
    m = run_asm(program("    wfi\n    mov x9, #1\n"))
    assert m.stop.kind == "wfi"
    assert m.cpu.x[9] == 0


def test_wfi_at_el1_wakes_on_masked_virtual_irq(run_asm):
    body = "    wfi\n    mov x9, #1\n    msr daifclr, #2\nafter:\n    mov x9, #2"
    m = run_asm(program("", body, hcr=HCR_VI | HCR_IMO, daif=0x80))
    e = only(m)
    assert m.cpu.x[9] == 1
    assert (e.offset, e.elr) == (0x280, symbol(m, "after"))


# ---- FEAT_NMI ----------------------------------------------------------------------------------


def test_allint_masks_irq_when_sctlr_nmi_is_set(run_asm):
    m = run_asm(
        program(
            """
    mrs x1, sctlr_el2
    orr x1, x1, #(1 << 61)
    msr sctlr_el2, x1
    .inst 0xd501411f  // msr allint, #1
    msr daifclr, #2
    mov x9, #1
    .inst 0xd501401f  // msr allint, #0
after:
    mov x9, #2
""",
            hcr=HCR_IMO,
        ),
        setup=lines("irq"),
    )
    e = only(m)
    assert m.cpu.x[9] == 1
    assert (e.offset, e.elr) == (0x280, symbol(m, "after"))
