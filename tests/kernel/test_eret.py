"""ERET: PSTATE restored from SPSR_ELx, PC from ELR_ELx, and the illegal exception returns
(Arm ARM IllegalExceptionReturn): PSTATE.IL set, EL and SP kept, then an Illegal Execution state
exception (EC 0x0E, ESR 0x3A000000) on the next instruction, with ELR = that instruction."""

from __future__ import annotations

import pytest

from framework.devices.semihosting import SemihostingConfig

from .conftest import (
    EL0T,
    EL1H,
    EL1T,
    EL2H,
    EL2T,
    HCR_E2H,
    HCR_TGE,
    eret_to,
    install,
    read_log,
    set_hcr,
    symbol,
    vectors,
)

ESR_ILLEGAL = 0x3A000000  # EC 0x0E, IL
PSR_IL = 1 << 20
NZCV_NC = 0xA0000000


def program(body: str) -> str:
    return (
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(0)
        + body
        + "    b _armnv_exit\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1")
    )


# ---- legal returns --------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "current_el"), [(EL1H, 4), (EL1T, 4), (EL2T, 8), (EL2H, 8)])
def test_eret_restores_el_sp_flags_and_masks(run_asm, mode, current_el):
    m = run_asm(
        program(
            """
    ldr x0, =0x40170000
    msr sp_el0, x0
    ldr x0, =0x40160000
    msr sp_el1, x0
"""
            + eret_to("target", mode, daif=0x140, spsr_extra=NZCV_NC)
            + """
target:
    mrs x11, nzcv
    mrs x12, daif
    mrs x13, currentel
    mrs x14, spsel
    mov x15, sp
"""
        )
    )
    x = m.cpu.x
    assert (x[11], x[12], x[13], x[14]) == (NZCV_NC, 0x140, current_el, mode & 1)
    el = mode >> 2
    expected_sp = {0: 0x40170000, 1: 0x40160000, 2: 0x40180000}[el if mode & 1 else 0]
    assert x[15] == expected_sp
    assert m.cpu.pc == symbol(m, "_armnv_exit") + 8  # still running normally at the exit HLT


def test_eret_to_el0_and_back(run_asm):
    m = run_asm(
        program(
            eret_to("el1", EL1H)
            + """
el1:
"""
            + eret_to("el0", EL0T, from_el=1, daif=0, spsr_extra=0x60000000)
            + """
el0:
    mrs x11, nzcv
    svc #5
"""
        )
    )
    (e,) = read_log(m)
    assert m.cpu.x[11] == 0x60000000
    assert (m.cpu.el, e.offset, e.esr, e.spsr) == (1, 0x400, 0x56000005, 0x60000000)


def test_eret_logs_nothing_taken(run_asm):
    m = run_asm(program(eret_to("el1", EL1H) + "el1:\n    mov x9, #1\n"))
    assert read_log(m) == [] and m.cpu.x[9] == 1 and m.cpu.el == 1


# ---- illegal returns -----------------------------------------------------------------------


def _illegal_from_el2(run_asm, spsr_mode: int, *, hcr: int = 0, rw: bool = True, cpu: str = "max"):
    m = run_asm(
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(hcr, rw=rw)
        + eret_to("target", spsr_mode, daif=0, spsr_extra=NZCV_NC)
        + """
target:
    mov x9, #1
    b _armnv_exit
"""
        + vectors(2, "vec2")
        + vectors(1, "vec1"),
        cpu=cpu,
        semihosting=SemihostingConfig(userspace=True),  # the exit may be made at EL0
    )
    return m


@pytest.mark.parametrize(
    "mode",
    [0xD, 0xC, 0x1, 0x6, 0x7, 0x2, 0x3, 0xA, 0xB, 0xE, 0xF, 0x10, 0x13, 0x1A],
    ids=[
        "el3h", "el3t", "el0_with_spx", "m1_el1", "m1_el1_h", "m1_el0", "m1_el0_h", "m1_el2", "m1_el2_h",
        "m1_el3", "m1_el3_h", "aarch32_usr", "aarch32_svc", "aarch32_hyp",
    ],
)  # fmt: skip
def test_illegal_return_modes_from_el2(run_asm, mode):
    m = _illegal_from_el2(run_asm, mode)
    (e,) = read_log(m)
    assert m.cpu.x[9] == 0  # the instruction at ELR did not execute
    assert m.cpu.el == 2
    assert e.offset == 0x200  # EL2h kept: current EL with SP_EL2
    assert e.esr == ESR_ILLEGAL
    if not mode & 0x10:
        # (an illegal return naming AArch32 leaves PC[63:32] and PC[1:0] UNKNOWN)
        assert e.elr == symbol(m, "target")
    # PSTATE came from SPSR (flags, masks) but EL/SP stayed EL2h, with IL set
    assert e.spsr == NZCV_NC | PSR_IL | EL2H


@pytest.mark.parametrize("e2h", [0, HCR_E2H], ids=["tge", "e2h_tge"])
def test_illegal_return_to_el1_with_tge(run_asm, e2h):
    m = _illegal_from_el2(run_asm, EL1H, hcr=HCR_TGE | e2h)
    (e,) = read_log(m)
    assert m.cpu.el == 2 and e.esr == ESR_ILLEGAL and e.spsr == NZCV_NC | PSR_IL | EL2H


@pytest.mark.parametrize("mode", [EL1H, EL1T], ids=["el1h", "el1t"])
def test_illegal_return_to_el1_with_tge_either_sp(run_asm, mode):
    m = _illegal_from_el2(run_asm, mode, hcr=HCR_TGE)
    (e,) = read_log(m)
    assert m.cpu.el == 2 and e.esr == ESR_ILLEGAL


@pytest.mark.parametrize(
    ("mode", "hcr"),
    [(EL0T, HCR_TGE), (EL0T, HCR_E2H | HCR_TGE), (EL1H, HCR_E2H), (EL1T, HCR_E2H), (EL2T, HCR_E2H), (EL2H, HCR_E2H)],
    ids=["el0-tge", "el0-host", "el1h-e2h-alone", "el1t-e2h-alone", "el2t-e2h", "el2h-e2h"],
)
def test_legal_returns_under_vhe_and_tge(run_asm, mode, hcr):
    # only TGE makes a return to EL1 illegal; E2H alone changes nothing for ERET
    m = _illegal_from_el2(run_asm, mode, hcr=hcr)
    assert m.cpu.x[9] == 1 and read_log(m) == []
    assert (m.cpu.el, m.cpu.spsel) == (mode >> 2, mode & 1)


def test_return_to_el0_with_tge_is_legal(run_asm):
    m = _illegal_from_el2(run_asm, EL0T, hcr=HCR_TGE)
    assert m.cpu.x[9] == 1 and read_log(m) == []


@pytest.mark.parametrize(("hcr", "legal"), [(HCR_TGE, False), (HCR_E2H | HCR_TGE, True)], ids=["tge", "host"])
def test_return_to_aarch64_el0_with_hcr_rw_0(run_asm, hcr, legal):
    # with HCR_EL2.RW = 0 (max) EL1, and so EL0, is AArch32 - unless {E2H,TGE} = {1,1} makes EL0
    # part of the AArch64 EL2&0 regime
    m = _illegal_from_el2(run_asm, EL0T, hcr=hcr, rw=False)
    if legal:
        assert m.cpu.x[9] == 1 and read_log(m) == []
    else:
        (e,) = read_log(m)
        assert (m.cpu.el, e.esr) == (2, ESR_ILLEGAL)


@pytest.mark.parametrize("mode", [EL1H, EL0T], ids=["el1h", "el0t"])
def test_illegal_return_to_aarch64_el1_el0_while_hcr_rw_is_0_on_max(run_asm, mode):
    # cpu-models.md §7: on max HCR_EL2.RW is writable (EL1 supports AArch32); RW = 0 makes EL1
    # and EL0 AArch32, so a return to AArch64 EL1/EL0 has the wrong register width
    m = _illegal_from_el2(run_asm, mode, rw=False)
    (e,) = read_log(m)
    assert e.esr == ESR_ILLEGAL and m.cpu.el == 2


def test_rw_is_res1_on_neoverse_n2_so_the_return_is_legal(run_asm):
    m = _illegal_from_el2(run_asm, EL1H, rw=False, cpu="neoverse-n2")
    assert m.cpu.x[9] == 1 and read_log(m) == []


def test_illegal_return_to_higher_el_from_el1(run_asm):
    m = run_asm(
        program(
            eret_to("el1", EL1H)
            + "el1:\n"
            + eret_to("target", EL2H, from_el=1, daif=0)
            + """
target:
    mov x9, #1
"""
        )
    )
    (e,) = read_log(m)
    assert m.cpu.x[9] == 0
    assert m.cpu.el == 1  # taken to EL1, the EL it stayed at
    assert (e.offset, e.esr, e.elr) == (0x200, ESR_ILLEGAL, symbol(m, "target"))
    assert e.spsr == PSR_IL | EL1H


def test_illegal_return_from_el1_to_el1t_keeps_sp_el1(run_asm):
    # returning to EL0 with SP_EL1 (M = 0b0001) from EL1: illegal, EL1h kept
    m = run_asm(program(eret_to("el1", EL1H) + "el1:\n" + eret_to("target", 0x1, from_el=1, daif=0) + "target:\n"))
    (e,) = read_log(m)
    assert (m.cpu.el, e.offset, e.spsr) == (1, 0x200, PSR_IL | EL1H)


def test_eret_with_spsr_il_set_takes_illegal_state_at_target(run_asm):
    # a legal return that restores PSTATE.IL = 1: the first instruction at the target takes EC 0x0E
    m = run_asm(program(eret_to("target", EL1H, daif=0, spsr_extra=PSR_IL) + "target:\n    mov x9, #1\n"))
    (e,) = read_log(m)
    assert m.cpu.x[9] == 0
    assert m.cpu.el == 1
    assert (e.offset, e.esr, e.elr, e.spsr) == (0x200, ESR_ILLEGAL, symbol(m, "target"), PSR_IL | EL1H)
    assert m.cpu.il == 0


@pytest.mark.parametrize(("hcr", "el"), [(0, 1), (HCR_E2H, 1), (HCR_TGE, 2), (HCR_E2H | HCR_TGE, 2)])
def test_illegal_state_at_el0_is_routed_like_any_el0_exception(run_asm, hcr, el):
    # a legal return to EL0 with SPSR.IL = 1: EC 0x0E from EL0, to EL1, or to EL2 when TGE = 1
    m = run_asm(
        program(set_hcr(hcr) + eret_to("target", EL0T, daif=0, spsr_extra=PSR_IL) + "target:\n    mov x9, #1\n")
    )
    (e,) = read_log(m)
    assert m.cpu.x[9] == 0
    assert m.cpu.el == el
    assert (e.offset, e.esr, e.elr, e.spsr) == (0x400, ESR_ILLEGAL, symbol(m, "target"), PSR_IL | EL0T)


def test_illegal_return_from_el2t_keeps_sp_el0(run_asm):
    # PSTATE.SP is kept as well as PSTATE.EL: the Illegal Execution state exception is then taken
    # from EL2t, through the "current EL with SP_EL0" vector
    m = run_asm(program("    msr spsel, #0\n" + eret_to("target", 0xD, daif=0) + "target:\n    mov x9, #1\n"))
    (e,) = read_log(m)
    assert m.cpu.x[9] == 0
    assert (e.offset, e.esr, e.spsr) == (0x000, ESR_ILLEGAL, PSR_IL | EL2T)


@pytest.mark.parametrize("mode", [EL2H, EL2T], ids=["el2h", "el2t"])
def test_return_to_el2_is_legal_whatever_hcr_rw(run_asm, mode):
    # HCR_EL2.RW gives the width of EL1 and EL0 only
    m = _illegal_from_el2(run_asm, mode, rw=False)
    assert m.cpu.x[9] == 1 and read_log(m) == []
