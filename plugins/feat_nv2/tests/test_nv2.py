"""FEAT_NV2, item by item (NV2-01 … NV2-19 of the rules reference).

Each guest runs at EL1h with HCR_EL2 = RW | NV | NV2 (unless the test says
otherwise) and VNCR_EL2 at a page of RAM whose slots hold a sentinel; every
exception vector stops the machine. Syndromes come from the ESR layouts
(`sysreg_esr`, `vncr_esr`) and are checked against the spec's worked values.
"""

from __future__ import annotations

import pytest

from plugins.feat_nv.tests.guest import (
    ESR_UNDEF,
    HCR_AT,
    HCR_E2H,
    HCR_NV1,
    program,
    sysreg_esr,
)
from plugins.feat_nv2.tests.guest import (
    HCR_NV,
    HCR_NV2,
    HCR_RW,
    NV2,
    SENTINEL,
    VNCR,
    nv2_run,
    slot,
    vncr_esr,
)
from plugins.mmu.tests.guest import addr_of

HCR_TVM = 1 << 26
HCR_TRVM = 1 << 30
MODELS = ["max", "neoverse-n2", "neoverse-v1"]


def trapped(m, esr: int, label: str = "at") -> None:
    """Taken to EL2 with `esr` from the instruction at `label`, SPSR the real EL1h (NV2-13)."""
    assert m.cpu.el == 2
    assert m.cpu.sr["ESR_EL2"] == esr, f"{m.cpu.sr['ESR_EL2']:#x} != {esr:#x}"
    assert m.cpu.sr["ELR_EL2"] == addr_of(m, label)
    assert m.cpu.sr["SPSR_EL2"] == 0x3C5


def undef_at_el1(m, label: str = "at") -> None:
    assert m.cpu.el == 1
    assert m.cpu.sr["ESR_EL1"] == ESR_UNDEF
    assert m.cpu.sr["ELR_EL1"] == addr_of(m, label)


# ---- A. register and control bit ----------------------------------------------------------------


@pytest.mark.parametrize("cpu", [*MODELS, "max,nv2=off"])
def test_nv2_01_hcr_nv2_is_bit_45_writable_only_with_feat_nv2(run_asm, cpu):
    body = "    mov x0, #0\n    movk x0, #0x2400, lsl #32\n    msr hcr_el2, x0\n    mrs x2, hcr_el2\n"
    body += "    mrs x3, id_aa64mmfr2_el1\n"
    m = run_asm(program(body, el=2), cpu=cpu)
    has_nv2 = (m.cpu.x[3] >> 24) & 0xF == 2
    assert has_nv2 == (cpu != "max,nv2=off")
    assert m.cpu.x[2] & (HCR_NV | HCR_NV2) == (HCR_NV | HCR_NV2 if has_nv2 else HCR_NV)


def test_nv2_01_nv2_without_nv_changes_nothing_at_el1(run_asm):
    m = nv2_run(run_asm, "at:\n    mrs x5, hcr_el2\n", HCR_NV2)
    undef_at_el1(m)  # NV = 0: an EL2 register UNDEFs at EL1, no slot is read
    m = nv2_run(run_asm, "    mov x3, #7\n    msr actlr_el1, x3\n    mrs x4, currentel\n", HCR_NV2)
    assert m.cpu.sr["ACTLR_EL1"] == 7 and slot(m, 0x118) == SENTINEL | 0x118
    assert m.cpu.x[4] == 0x4


def test_nv2_01_nv2_changes_nothing_at_el2(run_asm):
    body = f"    ldr x0, ={VNCR:#x}\n    msr vncr_el2, x0\n    ldr x0, ={HCR_RW | NV2:#x}\n    msr hcr_el2, x0\n"
    body += "    mov x3, #0x55\n    msr tpidr_el2, x3\n    mov x3, #0x66\n    msr actlr_el1, x3\n"
    m = run_asm(program(body, el=2), cpu="max", setup=lambda m: m.bus.write(VNCR + 0x90, 8, 1))
    assert m.cpu.sr["TPIDR_EL2"] == 0x55 and m.cpu.sr["ACTLR_EL1"] == 0x66
    assert slot(m, 0x90) == 1


def test_nv2_02_vncr_el2_at_el1_slot_trap_or_undef(run_asm):
    m = nv2_run(run_asm, "    ldr x3, =0x1234000\n    msr vncr_el2, x3\n    mrs x5, vncr_el2\n")
    assert slot(m, 0xB0) == 0x1234000 and m.cpu.x[5] == 0x1234000
    assert m.cpu.sr["VNCR_EL2"] == VNCR
    m = nv2_run(run_asm, "at:\n    mrs x5, vncr_el2\n", HCR_NV)  # NV2 = 0: FEAT_NV's trap
    trapped(m, sysreg_esr(3, 4, 2, 2, 0, 5, True))
    m = nv2_run(run_asm, "at:\n    msr vncr_el2, x3\n", 0)
    undef_at_el1(m)


def test_nv2_02_vncr_el2_is_undefined_without_feat_nv2(run_asm):
    m = run_asm(program("at:\n    mrs x5, vncr_el2\n", el=2), cpu="max,nv2=off")
    assert m.cpu.el == 2 and m.cpu.sr["ESR_EL2"] == ESR_UNDEF and m.cpu.sr["ELR_EL2"] == addr_of(m, "at")
    m = nv2_run(run_asm, "at:\n    mrs x5, vncr_el2\n", HCR_NV, cpu="max,nv2=off")
    undef_at_el1(m)  # NV2-02: UNDEF at every EL, even where FEAT_NV would trap an EL2 register


def test_nv2_03_vncr_el2_keeps_bits_63_12_and_clears_11_0(run_asm):
    body = "    mov x0, #-1\n    msr vncr_el2, x0\n    mrs x2, vncr_el2\n"
    body += "    ldr x0, =0x00ff000040700abc\n    msr vncr_el2, x0\n    mrs x3, vncr_el2\n"
    m = run_asm(program(body, el=2), cpu="max")
    assert m.cpu.x[2] == 0xFFFF_FFFF_FFFF_F000
    assert m.cpu.x[3] == 0x00FF_0000_4070_0000  # RESS not checked on write


def test_nv2_03_the_virtual_vncr_el2_is_a_raw_doubleword(run_asm):
    m = nv2_run(run_asm, "    ldr x3, =0xa50000000000b001\n    msr vncr_el2, x3\n    mrs x5, vncr_el2\n")
    assert slot(m, 0xB0) == 0xA500_0000_0000_B001 and m.cpu.x[5] == 0xA500_0000_0000_B001


@pytest.mark.parametrize("write", [False, True])
def test_nv2_03_ress_not_repeating_bit_56_is_a_level_0_translation_fault(run_asm, write):
    bad = 0x0100_0000_4070_0000  # bit 56 set, bits [63:57] clear: a non-canonical base
    insn = "msr hcr_el2, x3" if write else "mrs x5, hcr_el2"
    m = nv2_run(run_asm, f"at:\n    {insn}\n", vncr=bad)
    trapped(m, vncr_esr(0x04, write))
    assert m.cpu.sr["FAR_EL2"] == bad + 0x78


# ---- B. memory redirection ----------------------------------------------------------------------


@pytest.mark.parametrize("nv1", [0, HCR_NV1])
def test_nv2_04_a_pair_shares_one_slot_chosen_by_nv1(run_asm, nv1):
    body = "    mov x3, #0x11\n    msr sctlr_el12, x3\n    mrs x5, sctlr_el12\n"
    m = nv2_run(run_asm, body, NV2 | nv1)
    if nv1:
        assert m.cpu.el == 2 and m.cpu.sr["ESR_EL2"] == sysreg_esr(3, 5, 1, 0, 0, 3, False)
        assert slot(m, 0x110) == SENTINEL | 0x110
    else:
        assert slot(m, 0x110) == 0x11 and m.cpu.x[5] == 0x11
    body = "    ldr x3, =0xc0de\n    msr contextidr_el1, x3\n    mrs x5, contextidr_el1\n"
    m = nv2_run(run_asm, body, NV2 | nv1)
    assert m.cpu.x[5] == 0xC0DE
    assert (slot(m, 0x108) == 0xC0DE) == bool(nv1)
    assert (m.cpu.sr["CONTEXTIDR_EL1"] == 0xC0DE) == (not nv1)


def test_nv2_05_xzr_stores_zero_and_slots_have_no_side_effects(run_asm):
    # the HCR_EL2 slot holds NV = 0 and TGE = 1, yet the guest stays an NV2 guest at EL1
    body = "    msr vttbr_el2, xzr\n    ldr x3, =0x8000000\n    msr hcr_el2, x3\n    mrs x4, currentel\n"
    body += "    mov x3, #1\n    msr cntv_ctl_el02, x3\n    mrs x6, cntv_ctl_el02\n    mrs x7, hcr_el2\n"
    m = nv2_run(run_asm, body)
    assert slot(m, 0x20) == 0 and slot(m, 0x78) == 0x8000000 and m.cpu.x[7] == 0x8000000
    assert m.cpu.x[4] == 0x8  # CurrentEL still reads EL2: the real HCR_EL2 is unchanged
    assert m.cpu.sr["HCR_EL2"] == HCR_RW | NV2
    assert slot(m, 0x170) == 1 and m.cpu.x[6] == 1
    assert m.cpu.sr["CNTV_CTL_EL0"] & 1 == 0  # no timer armed
    assert m.cpu.el == 1 and m.cpu.sr["ESR_EL2"] == 0  # nothing was taken


def test_nv2_05_every_access_uses_the_current_vncr_el2(run_asm):
    # EL2 moves the page between two reads (HVC): nothing is cached
    hvc = f"    ldr x0, ={VNCR + 0x1000:#x}\n    msr vncr_el2, x0\n"
    body = "    mrs x5, tpidr_el2\n    hvc #0\n    mrs x6, tpidr_el2\n"

    def setup(m):
        m.bus.write(VNCR + 0x90, 8, 0xAAAA)
        m.bus.write(VNCR + 0x1090, 8, 0xBBBB)

    m = nv2_run(run_asm, body, setup=setup, hvc=hvc)
    assert (m.cpu.x[5], m.cpu.x[6]) == (0xAAAA, 0xBBBB)


def test_nv2_07_sctlr_el1_ee_does_not_set_the_byte_order(run_asm):
    m = nv2_run(
        run_asm, "    ldr x3, =0x1122334455667788\n    msr tpidr_el2, x3\n", el1={"sctlr_el1": 0x30D0_0800 | 1 << 25}
    )
    assert slot(m, 0x90) == 0x1122334455667788


def test_nv2_07_sctlr_el2_ee_makes_slots_big_endian(run_asm):
    # EL2 sets EE just before entering EL1 and makes no data access after it
    src = f"""
    adr x0, vectors
    msr vbar_el2, x0
    ldr x0, ={VNCR:#x}
    msr vncr_el2, x0
    ldr x0, ={HCR_RW | NV2:#x}
    msr hcr_el2, x0
    mov x0, #0x3c5
    msr spsr_el2, x0
    adr x0, el1
    msr elr_el2, x0
    mrs x0, sctlr_el2
    orr x0, x0, #(1 << 25)
    msr sctlr_el2, x0
    isb
    eret
el1:
    ldr x3, =0x1122334455667788
    msr tpidr_el2, x3
    mrs x5, tpidr_el2
    ldr x6, ={VNCR + 0x90:#x}
    ldr x6, [x6]
    mrs x7, hcr_el2
    b _armnv_exit
    .ltorg
    .balign 2048
vectors:
    .rept 16
    b _armnv_exit
    .balign 128
    .endr
"""
    m = run_asm(src, cpu="max", setup=lambda m: m.bus.write(VNCR + 0x78, 8, 0x0102030405060708))
    assert m.cpu.el == 1 and m.cpu.sr["ESR_EL2"] == 0
    assert m.cpu.x[5] == 0x1122334455667788
    assert m.cpu.x[6] == 0x8877665544332211  # EL1 (little-endian) sees the bytes in big-endian order
    assert m.cpu.x[7] == 0x0807060504030201


def test_nv2_08_hcr_tvm_traps_sctlr_el1_before_the_redirect(run_asm):
    m = nv2_run(run_asm, "    mov x3, #5\nat:\n    msr sctlr_el1, x3\n", NV2 | HCR_NV1 | HCR_TVM)
    trapped(m, sysreg_esr(3, 0, 1, 0, 0, 3, False))
    assert slot(m, 0x110) == SENTINEL | 0x110
    m = nv2_run(run_asm, "at:\n    mrs x5, ttbr0_el1\n", NV2 | HCR_NV1 | HCR_TRVM)
    trapped(m, sysreg_esr(3, 0, 2, 0, 0, 5, True))
    # the *_EL12 accessor of the same register (NV1 = 0) has no TVM check: it reaches its slot
    m = nv2_run(run_asm, "    mov x3, #5\n    msr sctlr_el12, x3\n", NV2 | HCR_TVM)
    assert m.cpu.el == 1 and slot(m, 0x110) == 5


def test_nv2_08_the_nv1_traps_of_feat_nv_do_not_fire_with_nv2(run_asm):
    # NV-21 traps VBAR/ELR/SPSR_EL1 with {NV, NV1, NV2} = {1, 1, 0}; with NV2 they are redirected
    body = "    mov x3, #0x800\n    msr vbar_el1, x3\n    mov x3, #0x44\n    msr elr_el1, x3\n"
    body += "    mov x3, #0x3c4\n    msr spsr_el1, x3\n    mrs x5, vbar_el1\n"
    m = nv2_run(run_asm, body, NV2 | HCR_NV1)
    assert m.cpu.el == 1 and m.cpu.sr["ESR_EL2"] == 0
    assert (slot(m, 0x250), slot(m, 0x230), slot(m, 0x160), m.cpu.x[5]) == (0x800, 0x44, 0x3C4, 0x800)
    m = nv2_run(run_asm, "at:\n    msr vbar_el1, x3\n", HCR_NV | HCR_NV1)
    trapped(m, sysreg_esr(3, 0, 12, 0, 0, 3, False))


@pytest.mark.parametrize(
    ("insn", "esr"),
    [
        ("mrs x1, sctlr_el2", 0x62310421),  # NV2-14's worked value
        ("msr ttbr0_el2, x3", sysreg_esr(3, 4, 2, 0, 0, 3, False)),
        ("mrs x5, tcr_el2", sysreg_esr(3, 4, 2, 0, 2, 5, True)),
        ("msr mdcr_el2, x3", sysreg_esr(3, 4, 1, 1, 1, 3, False)),
        ("mrs x5, cnthctl_el2", sysreg_esr(3, 4, 14, 1, 0, 5, True)),
        ("msr cntkctl_el12, x3", sysreg_esr(3, 5, 14, 1, 0, 3, False)),
        ("mrs x5, cntp_tval_el02", sysreg_esr(3, 5, 14, 2, 0, 5, True)),
        ("msr vbar_el2, x3", sysreg_esr(3, 4, 12, 0, 0, 3, False)),
        ("mrs x5, hpfar_el2", sysreg_esr(3, 4, 6, 0, 4, 5, True)),
        ("at s1e2r, x3", sysreg_esr(1, 4, 7, 8, 0, 3, False)),
        ("tlbi alle2", sysreg_esr(1, 4, 8, 7, 0, 31, False)),
    ],
)
def test_nv2_09_registers_without_a_slot_keep_trapping(run_asm, insn, esr):
    m = nv2_run(run_asm, f"at:\n    {insn}\n")
    trapped(m, esr)


# ---- C. EL2 -> EL1 register redirection ---------------------------------------------------------

WIDE = {
    "spsr": 0x1_0000_03C4,
    "elr": 0xFEDC_BA98_7654_3210,
    "esr": 0x00AB_CDEF_9600_2006,
    "far": 0x8765_4321_0FED_CBA9,
}


@pytest.mark.parametrize("nv1", [0, HCR_NV1])
def test_nv2_10_spsr_elr_esr_far_el2_reach_the_real_el1_registers(run_asm, nv1):
    body = "".join(
        f"    ldr x3, ={v:#x}\n    msr {n}_el2, x3\n    mrs x{5 + i}, {n}_el2\n"
        for i, (n, v) in enumerate(WIDE.items())
    )
    # TVM/TRVM trap FAR_EL1 and ESR_EL1 themselves; the EL2 names are not checked against them
    m = nv2_run(run_asm, body, NV2 | nv1 | HCR_TVM | HCR_TRVM)
    assert m.cpu.el == 1 and m.cpu.sr["ESR_EL2"] == 0
    for i, (name, v) in enumerate(WIDE.items()):
        assert m.cpu.sr[f"{name.upper()}_EL1"] == v, name
        assert m.cpu.x[5 + i] == v, name
    assert m.cpu.sr["SPSR_EL2"] == 0x3C5  # the real EL2 registers are untouched
    assert all(slot(m, off) == SENTINEL | off for off in range(0, 0x1000, 8))


def test_nv2_10_with_nv1_0_spsr_el2_and_spsr_el1_name_the_same_storage(run_asm):
    body = "    ldr x3, =0x2000003c5\n    msr spsr_el2, x3\n    mrs x5, spsr_el1\n"
    body += "    ldr x3, =0x12345\n    msr elr_el1, x3\n    mrs x6, elr_el2\n"
    m = nv2_run(run_asm, body)
    assert (m.cpu.x[5], m.cpu.x[6]) == (0x2_0000_03C5, 0x12345)


def test_nv2_10_with_nv1_1_spsr_el1_is_its_slot_and_spsr_el2_the_register(run_asm):
    body = "    ldr x3, =0x3c9\n    msr spsr_el2, x3\n    mrs x5, spsr_el1\n"
    m = nv2_run(run_asm, body, NV2 | HCR_NV1, setup=lambda m: m.bus.write(VNCR + 0x160, 8, 0x3C4))
    assert m.cpu.x[5] == 0x3C4 and m.cpu.sr["SPSR_EL1"] == 0x3C9 and slot(m, 0x160) == 0x3C4


def test_nv2_10_with_nv2_off_the_el2_names_trap(run_asm):
    m = nv2_run(run_asm, "at:\n    mrs x5, elr_el2\n", HCR_NV)
    trapped(m, sysreg_esr(3, 4, 4, 0, 1, 5, True))


# ---- D. exception entry -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nv2", "nv1", "nv", "el"),
    [(0, 0, 0, 1), (1, 1, 0, 1), (0, 0, 1, 2), (0, 1, 1, 1), (1, 0, 1, 2), (1, 1, 1, 2)],
)
@pytest.mark.parametrize("spsel", [0, 1])
def test_nv2_11_spsr_el1_m_of_an_el1_to_el1_exception(run_asm, nv2, nv1, nv, el, spsel):
    hcr = (HCR_NV2 if nv2 else 0) | (HCR_NV1 if nv1 else 0) | (HCR_NV if nv else 0)
    m = nv2_run(run_asm, "at:\n    svc #0\n", hcr, spsr=0x3C4 | spsel)
    assert m.cpu.el == 1 and m.cpu.sr["ESR_EL1"] >> 26 == 0x15
    assert m.cpu.sr["SPSR_EL1"] == 0x3C0 | el << 2 | spsel  # M[0] and the other bits unchanged


# ---- E. what FEAT_NV still does -----------------------------------------------------------------


def test_nv2_12_currentel_eret_and_at_traps_still_apply(run_asm):
    m = nv2_run(run_asm, "    mrs x4, currentel\nat:\n    eret\n")
    assert m.cpu.x[4] == 0x8
    trapped(m, 0x1A << 26 | 1 << 25)
    m = nv2_run(run_asm, "at:\n    at s1e1r, x3\n", NV2 | HCR_AT)
    trapped(m, sysreg_esr(1, 0, 7, 8, 0, 3, False))


@pytest.mark.parametrize("write", [False, True])
def test_nv2_13_14_a_slot_beyond_ram_is_an_external_abort_to_el2(run_asm, write):
    hvc = "    mov x15, #0x400\n    b _armnv_exit\n"  # the vector taken: synchronous, lower EL
    insn = "msr hcr_el2, x3" if write else "mrs x5, hcr_el2"
    m = nv2_run(run_asm, f"at:\n    {insn}\n", vncr=0x6000_0000, hvc=hvc)
    assert m.cpu.x[15] == 0x400
    trapped(m, vncr_esr(0x10, write))
    assert m.cpu.sr["ESR_EL2"] == (0x96002050 if write else 0x96002010)
    assert m.cpu.sr["FAR_EL2"] == 0x6000_0078


def test_nv2_14_the_worked_values_of_the_syndrome_layout():
    assert (vncr_esr(0x06, False), vncr_esr(0x06, True)) == (0x96002006, 0x96002046)
    assert (vncr_esr(0x0A, False), vncr_esr(0x0A, True)) == (0x9600200A, 0x9600204A)
    assert vncr_esr(0x0E, True) == 0x9600204E


def test_nv2_14_a_bad_vncr_el2_leaves_other_accesses_alone(run_asm):
    body = "    mov x3, #0x3c4\n    msr spsr_el2, x3\n    mrs x6, spsr_el2\nat:\n    mrs x1, sctlr_el2\n"
    m = nv2_run(run_asm, body, vncr=0x6000_0000)
    assert m.cpu.x[6] == 0x3C4 and m.cpu.sr["SPSR_EL1"] == 0x3C4
    trapped(m, 0x62310421)


def test_nv2_14_the_guest_s_own_vncr_el2_faults_the_same_way(run_asm):
    m = nv2_run(run_asm, "at:\n    mrs x5, vncr_el2\n", vncr=0x6000_0000)
    trapped(m, 0x96002010)
    assert m.cpu.sr["FAR_EL2"] == 0x6000_00B0


def test_nv2_15_mdscr_el1_is_a_slot_so_the_guest_cannot_enable_debug(run_asm):
    # no watchpoint is armed by a guest hypervisor's MDSCR_EL1 write: it goes to the page
    body = "    ldr x3, =0xa000\n    msr mdscr_el1, x3\n    mrs x5, mdscr_el1\n    mrs x6, tpidr_el2\n"
    m = nv2_run(run_asm, body)
    assert slot(m, 0x158) == 0xA000 and m.cpu.x[5] == 0xA000
    assert m.cpu.sr["MDSCR_EL1"] == 0
    assert m.cpu.x[6] == SENTINEL | 0x90 and m.cpu.el == 1


@pytest.mark.parametrize("cpu", MODELS)
def test_nv2_16_18_without_mte_tfsr_el2_and_tfsr_el12_undef_and_slots_are_unchecked(run_asm, cpu):
    m = nv2_run(run_asm, "    mrs x2, id_aa64pfr1_el1\nat:\n    mrs x5, tfsr_el2\n", cpu=cpu)
    assert (m.cpu.x[2] >> 8) & 0xF == 0  # no MTE on any model: no tag check, no ATA trap to make
    undef_at_el1(m)
    m = nv2_run(run_asm, "at:\n    msr s3_5_c5_c6_0, x3\n", cpu=cpu)  # TFSR_EL12
    undef_at_el1(m)
    # a slot read works whatever the tag bits of the address a tag check would look at
    m = nv2_run(run_asm, "    mrs x5, vttbr_el2\n", cpu=cpu)
    assert m.cpu.x[5] == SENTINEL | 0x20


@pytest.mark.parametrize("cpu", MODELS)
def test_nv2_19_registers_the_model_lacks_undef_under_nv2(run_asm, cpu):
    # the models have 4 list registers (ICH_VTR_EL2.ListRegs = 3): ICH_LR4_EL2 does not exist
    m = nv2_run(run_asm, "at:\n    mrs x5, s3_4_c12_c12_4\n", cpu=cpu)  # ICH_LR4_EL2
    assert m.model.extra["ICH_VTR_EL2"] & 0x1F == 3
    undef_at_el1(m)
    assert slot(m, 0x420) == SENTINEL | 0x420
    # NV2-08 step 2: VSTTBR_EL2 exists only in Secure state, this is Non-secure
    m = nv2_run(run_asm, "at:\n    msr vsttbr_el2, x3\n", cpu=cpu)
    undef_at_el1(m)
    m = nv2_run(run_asm, "at:\n    msr s3_0_c1_c2_0, x3\n", NV2 | HCR_NV1, cpu=cpu)  # ZCR_EL1, no SVE
    undef_at_el1(m)


@pytest.mark.parametrize("e2h", [0, HCR_E2H])
def test_nv2_06_mmu_off_the_slot_address_is_the_physical_address(run_asm, e2h):
    m = nv2_run(run_asm, "    ldr x3, =0x77\n    msr vmpidr_el2, x3\n", NV2 | e2h)
    assert slot(m, 0x50) == 0x77
