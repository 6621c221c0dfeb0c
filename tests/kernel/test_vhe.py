"""FEAT_VHE register views (nv.md NV-13): at EL2 with HCR_EL2.E2H = 1 the *_EL1 names reach the EL2
registers and *_EL12 / *_EL02 reach the EL1/EL0 ones; with E2H = 0 the *_EL12 names UNDEF; a host
EL0 ({E2H,TGE} = {1,1}) runs under EL2."""

from __future__ import annotations

import pytest

from .conftest import (
    EL0T,
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


def el2(body: str) -> str:
    return install(2, "vec2") + body + "\n    b _armnv_exit\n" + vectors(2, "vec2")


E2H_ON = set_hcr(HCR_E2H)
E2H_OFF = set_hcr(0)

# EL1 name -> EL2 register it names at EL2 with E2H = 1, and a value harmless to write to both
REDIRECTED = {
    "sctlr_el1": ("sctlr_el2", 0x30C51830),
    "cpacr_el1": ("cptr_el2", 0x300000),
    "ttbr0_el1": ("ttbr0_el2", 0x40200000),
    "ttbr1_el1": ("ttbr1_el2", 0x40300000),
    "tcr_el1": ("tcr_el2", 0x80803520),
    "afsr0_el1": ("afsr0_el2", 0x11),
    "afsr1_el1": ("afsr1_el2", 0x22),
    "esr_el1": ("esr_el2", 0x96000045),
    "far_el1": ("far_el2", 0xDEAD0000),
    "mair_el1": ("mair_el2", 0xFF44),
    "amair_el1": ("amair_el2", 0x33),
    "vbar_el1": ("vbar_el2", 0x40101000),
    "contextidr_el1": ("contextidr_el2", 0x77),
    "cntkctl_el1": ("cnthctl_el2", 0x3),
    "spsr_el1": ("spsr_el2", 0x3C5),
    "elr_el1": ("elr_el2", 0x40001234),
}


def test_nv13_cpacr_el1_at_el2_reads_raw_cptr_el2(run_asm):
    # nv.md NV-13: with E2H = 1, MRS CPACR_EL1 at EL2 returns the raw CPTR_EL2 (0 after reset)
    m = run_asm(
        el2(E2H_ON + "    mrs x10, cpacr_el1\n    mov x1, #(3 << 20)\n    msr cptr_el2, x1\n    mrs x11, cpacr_el1")
    )
    assert (m.cpu.x[10], m.cpu.x[11]) == (0, 0x300000)


def test_nv13_cntkctl_el1_at_el2_reads_raw_cnthctl_el2(run_asm):
    m = run_asm(el2(E2H_ON + "    mrs x10, cntkctl_el1"))
    assert m.cpu.x[10] == 3  # CNTHCTL_EL2 resets to 3 (cpu-models.md §7)


@pytest.mark.parametrize("el1_name", REDIRECTED)
def test_nv13_el1_name_at_el2_with_e2h_writes_the_el2_register(run_asm, el1_name):
    el2_name, value = REDIRECTED[el1_name]
    m = run_asm(
        el2(
            f"""
    mrs x10, {el1_name}
    ldr x1, ={value:#x}
"""
            + E2H_ON
            + f"    msr {el1_name}, x1\n    mrs x11, {el1_name}\n"
            + E2H_OFF
            + f"    mrs x12, {el2_name}\n    mrs x13, {el1_name}\n"
        )
    )
    x = m.cpu.x
    assert x[11] == value  # read back through the same name
    assert x[12] == value  # landed in the EL2 register
    assert x[13] == x[10]  # the EL1 register is untouched


@pytest.mark.parametrize("el1_name", REDIRECTED)
def test_nv13_el12_names_reach_the_el1_register(run_asm, el1_name):
    el12 = el1_name.replace("_el1", "_el12")
    _, value = REDIRECTED[el1_name]
    m = run_asm(
        el2(
            f"    ldr x1, ={value:#x}\n"
            + E2H_ON
            + f"    msr {el12}, x1\n    mrs x11, {el12}\n"
            + E2H_OFF
            + f"    mrs x12, {el1_name}\n"
        )
    )
    assert (m.cpu.x[11], m.cpu.x[12]) == (value, value)


def test_nv13_el12_reads_reset_sctlr_el1(run_asm):
    m = run_asm(el2(E2H_ON + "    mrs x10, sctlr_el12\n    mrs x11, sctlr_el1"))
    assert (m.cpu.x[10], m.cpu.x[11]) == (0x30D00800, 0x30C50830)


@pytest.mark.parametrize("name", ["sctlr_el12", "far_el12", "cntkctl_el12", "cntp_ctl_el02", "cntv_cval_el02"])
def test_nv13_el12_and_el02_undefined_with_e2h_0(run_asm, name):
    m = run_asm(el2(f"the_access:\n    mrs x1, {name}"))
    (e,) = read_log(m)
    assert (e.offset, e.esr, e.elr) == (0x200, ESR_UNDEF, symbol(m, "the_access"))


def test_nv13_far_written_with_e2h_is_far_el2(run_asm):
    # nv.md NV-13: FAR_EL1 written at EL2 with E2H = 1 is FAR_EL2 when read back with E2H = 0
    m = run_asm(el2(E2H_ON + "    ldr x1, =0x1234000\n    msr far_el1, x1\n" + E2H_OFF + "    mrs x10, far_el2"))
    assert m.cpu.x[10] == 0x1234000
    assert m.cpu.sr["FAR_EL1"] == 0


def test_tpidr_el1_is_not_redirected(run_asm):
    m = run_asm(el2(E2H_ON + "    mov x1, #5\n    msr tpidr_el1, x1\n    mrs x10, tpidr_el2\n    mrs x11, tpidr_el1"))
    assert (m.cpu.x[10], m.cpu.x[11]) == (0, 5)


# ---- timers under E2H ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("el0_name", "el2_name", "value"),
    [
        ("cntp_cval_el0", "cnthp_cval_el2", 0xFFFFFFFF00),
        ("cntv_cval_el0", "cnthv_cval_el2", 0xFFFFFFFF00),
        ("cntp_ctl_el0", "cnthp_ctl_el2", 0x2),  # IMASK; ISTATUS (bit 2) is read-only
        ("cntv_ctl_el0", "cnthv_ctl_el2", 0x2),
    ],
)
def test_nv13_el0_timer_names_at_el2_reach_the_el2_timers(run_asm, el0_name, el2_name, value):
    m = run_asm(
        el2(
            E2H_ON
            + f"    ldr x1, ={value:#x}\n    msr {el0_name}, x1\n    mrs x10, {el2_name}\n"
            + E2H_OFF
            + f"    mrs x11, {el0_name}\n"
        )
    )
    mask = 3 if "ctl" in el0_name else (1 << 64) - 1
    assert m.cpu.x[10] & mask == value
    assert m.cpu.x[11] & mask == 0  # the EL1 timer is untouched


def test_nv13_el02_timer_accessors_reach_the_el1_timers(run_asm):
    m = run_asm(
        el2(
            E2H_ON
            + "    ldr x1, =0xFFFFFFFF00\n    msr cntv_cval_el02, x1\n    mov x2, #2\n    msr cntp_ctl_el02, x2\n"
            + E2H_OFF
            + "    mrs x10, cntv_cval_el0\n    mrs x11, cntp_ctl_el0\n    mrs x12, cnthv_cval_el2\n"
        )
    )
    assert (m.cpu.x[10], m.cpu.x[11] & 3, m.cpu.x[12]) == (0xFFFFFFFF00, 2, 0)


# ---- host EL0: {E2H, TGE} = {1, 1} --------------------------------------------------------------


def host_el0(body: str) -> str:
    return (
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(HCR_E2H | HCR_TGE)
        + eret_to("el0", EL0T, daif=0)
        + f"el0:\n{body}\n    svc #0x7ff\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1")
    )


@pytest.mark.parametrize(
    ("asm", "esr"),
    [
        ("svc #1", 0x56000001),
        ("mrs x1, currentel", ESR_UNDEF),
        ("mrs x1, sctlr_el1", ESR_UNDEF),
        ("hvc #0", ESR_UNDEF),
        ("mrs x1, id_aa64pfr0_el1", 0x62300029),
    ],
)
def test_nv13_host_el0_exceptions_go_to_el2(run_asm, asm, esr):
    m = run_asm(host_el0(f"    {asm}"))
    (e,) = read_log(m)
    assert m.cpu.el == 2
    assert (e.offset, e.esr, e.spsr) == (0x400, esr, EL0T)
    elr = symbol(m, "el0") + (4 if esr == 0x56000001 else 0)
    assert e.elr == elr


def test_nv13_host_el0_counter_access_allowed_by_cnthctl_reset(run_asm):
    m = run_asm(host_el0("    mrs x10, cntvct_el0\n    mrs x11, cntpct_el0"))
    (e,) = read_log(m)
    assert e.esr == 0x560007FF  # reached the final SVC: no trap
    assert 0 < m.cpu.x[10] <= m.cpu.x[11]


def test_host_el0_counter_access_denied_by_cnthctl(run_asm):
    m = run_asm(
        install(2, "vec2")
        + "    msr cnthctl_el2, xzr\n"
        + set_hcr(HCR_E2H | HCR_TGE)
        + eret_to("el0", EL0T, daif=0)
        + "el0:\n    mrs x1, cntvct_el0\n"
        + vectors(2, "vec2")
    )
    (e,) = read_log(m)
    assert m.cpu.el == 2 and e.esr == sysreg_esr(3, 3, 14, 0, 2, 1, True)


def test_host_el0_timer_names_reach_the_el2_timer(run_asm):
    m = run_asm(
        install(2, "vec2")
        + "    mov x1, #(3 << 8)\n    msr cnthctl_el2, x1\n"  # EL0PTEN | EL0VTEN (E2H = 1 layout)
        + set_hcr(HCR_E2H | HCR_TGE)
        + eret_to("el0", EL0T, daif=0)
        + "el0:\n    ldr x2, =0xABC000\n    msr cntp_cval_el0, x2\n    svc #0\n"
        + vectors(2, "vec2")
    )
    assert m.cpu.sr["CNTHP_CVAL_EL2"] == 0xABC000
    assert m.cpu.sr["CNTP_CVAL_EL0"] == 0


def test_virtual_count_offset_is_zero_at_el2_with_e2h(run_asm):
    m = run_asm(
        el2(
            "    ldr x1, =0x100000\n    msr cntvoff_el2, x1\n"
            "    mrs x10, cntvct_el0\n    mrs x11, cntpct_el0\n"
            + E2H_ON
            + "    mrs x12, cntvct_el0\n    mrs x13, cntpct_el0\n"
        )
    )
    x = m.cpu.x
    assert (x[11] - x[10]) & ((1 << 64) - 1) == 0x100000 + 1  # offset applied, one instruction later
    assert x[13] - x[12] == 1  # offset 0 with E2H = 1
