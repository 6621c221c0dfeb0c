"""The system-register mechanism and the kernel's base registers: lowest EL from the encoding,
reset values (cpu-models.md §7), write masks, PSTATE fields as registers, banked SPs, the OS lock."""

from __future__ import annotations

import pytest

from framework.cpu.sysregs import Registry, reg

from .conftest import EL1H, eret_to, install, read_log, set_hcr, vectors

# ---- the registry ----------------------------------------------------------------------------


@pytest.mark.parametrize(("op1", "min_el"), [(0, 1), (1, 1), (2, 1), (3, 0), (4, 2), (5, 2), (6, 3), (7, 1)])
def test_lowest_el_defaults_to_the_one_op1_encodes(op1, min_el):
    assert reg("R", 3, op1, 15, 15, 7).min_el == min_el
    assert reg("R", 3, op1, 15, 15, 7, min_el=2).min_el == 2


def test_lookup_is_by_encoding_key():
    r = reg("TEST_EL1", 3, 0, 15, 2, 3)
    registry = Registry([r])
    key = (3 << 14) | (0 << 11) | (15 << 7) | (2 << 3) | 3
    assert registry.get(key) is r
    assert registry["TEST_EL1"] is r


def test_replacing_a_definition_drops_the_old_name():
    registry = Registry([reg("OLD", 3, 0, 15, 2, 3)])
    new = reg("NEW", 3, 0, 15, 2, 3)
    registry.replace(new)
    assert "OLD" not in registry
    assert registry.get(new.key) is new


def test_two_names_for_one_encoding_are_rejected():
    with pytest.raises(ValueError, match="share encoding"):
        Registry([reg("A", 3, 0, 15, 2, 3), reg("B", 3, 0, 15, 2, 3)])


# ---- reset values and write masks (cpu-models.md §7) ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sctlr_el1", 0x30D00800),
        ("sctlr_el2", 0x30C50830),
        ("cnthctl_el2", 0x3),
        ("cptr_el2", 0x0),
        ("hcr_el2", 0x0),
        ("vbar_el2", 0x0),
        ("s2_0_c1_c1_4", 0xA),  # OSLSR_EL1: OS lock implemented and locked
    ],
)
def test_reset_values_on_max(run_asm, name, value):
    m = run_asm(f"    mrs x10, {name}\n")
    assert m.cpu.x[10] == value


@pytest.mark.parametrize(("cpu", "hcr"), [("max", 0), ("neoverse-n2", 0x80000000), ("neoverse-v1", 0x80000000)])
def test_hcr_el2_reset_and_rw(run_asm, cpu, hcr):
    m = run_asm("    mrs x10, hcr_el2\n    msr hcr_el2, xzr\n    mrs x11, hcr_el2\n", cpu=cpu)
    assert (m.cpu.x[10], m.cpu.x[11]) == (hcr, hcr)  # RW is RAO/WI on n2/v1


def test_hcr_el2_base_bits_are_writable_and_top_byte_is_res0(run_asm):
    m = run_asm("    mov x1, #-1\n    msr hcr_el2, x1\n    mrs x10, hcr_el2\n    msr hcr_el2, xzr\n")
    value = m.cpu.x[10]
    assert value & ((1 << 35) - 1) == (1 << 35) - 1  # Armv8.0 bits [33:0] and E2H (FEAT_VHE)
    assert value >> 56 == 0  # ATA, DCT, TID5, TWEDEn, TWEDEL: RES0 on every model


@pytest.mark.parametrize(
    ("name", "value"),
    [("sctlr_el1", 0x34D00800), ("sctlr_el2", 0x30C50830), ("vtcr_el2", 0x80023559), ("tcr_el1", 0x5B5103510)],
)
def test_registers_store_the_written_value(run_asm, name, value):
    m = run_asm(f"    ldr x1, ={value:#x}\n    msr {name}, x1\n    mrs x10, {name}\n")
    assert m.cpu.x[10] == value


# ---- PSTATE fields as registers -------------------------------------------------------------------


def test_nzcv_daif_spsel_round_trip(run_asm):
    m = run_asm(
        """
    mov x1, #0x60000000
    msr nzcv, x1
    mrs x10, nzcv
    mov x1, #0x140
    msr daif, x1
    mrs x11, daif
    msr spsel, #0
    mrs x12, spsel
    msr spsel, #1
    mrs x13, currentel
"""
    )
    assert [m.cpu.x[i] for i in range(10, 14)] == [0x60000000, 0x140, 0, 8]


@pytest.mark.parametrize(
    ("field", "bit"),
    [("dit", 24), ("ssbs", 12), ("uao", 23)],
)
def test_msr_immediate_pstate_fields(run_asm, field, bit):
    m = run_asm(f"    msr {field}, #1\n    mrs x10, {field}\n    msr {field}, #0\n    mrs x11, {field}\n")
    assert (m.cpu.x[10], m.cpu.x[11]) == (1 << bit, 0)


def test_daifset_daifclr(run_asm):
    m = run_asm("    msr daifclr, #0xf\n    mrs x10, daif\n    msr daifset, #5\n    mrs x11, daif\n")
    assert (m.cpu.x[10], m.cpu.x[11]) == (0, 0x140)


def test_uao_is_undefined_without_feat_uao(run_asm):
    m = run_asm(install(2, "vec2") + "    mrs x1, uao\n    b _armnv_exit\n" + vectors(2, "vec2"), cpu="max,uao=off")
    (e,) = read_log(m)
    assert e.esr == 0x02000000


# ---- stack pointers -------------------------------------------------------------------------------


def test_sp_el0_and_sp_el1_as_registers(run_asm):
    m = run_asm(
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(0)
        + """
    ldr x1, =0x40150000
    msr sp_el1, x1
    ldr x1, =0x40140000
    msr sp_el0, x1
    mrs x10, sp_el1
    mov x11, sp
"""
        + eret_to("el1", EL1H)
        + """
el1:
    mov x12, sp
    mrs x13, sp_el0
    ldr x1, =0x40130000
    msr sp_el0, x1
    msr spsel, #0
    mov x14, sp
    b _armnv_exit
"""
        + vectors(2, "vec2")
        + vectors(1, "vec1")
    )
    x = m.cpu.x
    assert (x[10], x[11]) == (0x40150000, 0x40180000)
    assert (x[12], x[13], x[14]) == (0x40150000, 0x40140000, 0x40130000)


# ---- the OS lock ----------------------------------------------------------------------------------


def test_oslar_sets_and_clears_the_os_lock(run_asm):
    m = run_asm(
        """
    msr oslar_el1, xzr
    mrs x10, oslsr_el1
    mov x1, #1
    msr oslar_el1, x1
    mrs x11, oslsr_el1
"""
    )
    assert (m.cpu.x[10], m.cpu.x[11]) == (0x8, 0xA)
