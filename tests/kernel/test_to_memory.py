"""The ToMemory access decision: an MRS/MSR becomes a 64-bit load/store in the EL2 regime
(the mechanism FEAT_NV2 uses for the VNCR_EL2 page, nv2.md NV2-05..NV2-07, NV2-14)."""

from __future__ import annotations

from framework import hookimpl
from framework.cpu.sysregs import ToMemory

PAGE = 0x4010_0000
TPIDR_EL2_KEY = (3 << 14) | (4 << 11) | (13 << 7) | (0 << 3) | 2


class RedirectTpidrEl2:
    """A stand-in plugin: TPIDR_EL2 accesses go to memory at `va` instead of the register."""

    def __init__(self, va: int) -> None:
        self.va = va

    @hookimpl(tryfirst=True)
    def armnv_sysreg_access(self, cpu, reg, key, is_read, rt):
        return ToMemory(self.va) if key == TPIDR_EL2_KEY else None


def redirect(va: int):
    def setup(m):
        m.register_plugin(RedirectTpidrEl2(va))

    return setup


def test_nv2_05_msr_and_mrs_become_a_store_and_a_load_of_the_slot(run_asm):
    m = run_asm(
        """
    ldr x11, =0x1122334455667788
    msr tpidr_el2, x11
    mrs x12, tpidr_el2
""",
        setup=redirect(PAGE + 0x90),
    )
    assert m.bus.read(PAGE + 0x90, 8) == 0x1122334455667788
    assert m.cpu.x[12] == 0x1122334455667788
    assert m.cpu.sr["TPIDR_EL2"] == 0  # the register itself is untouched


def test_nv2_07_sctlr_el2_ee_selects_big_endian_slots(run_asm):
    m = run_asm(
        """
    mrs x9, sctlr_el2
    orr x9, x9, #(1 << 25)
    msr sctlr_el2, x9
    ldr x11, =0x1122334455667788
    msr tpidr_el2, x11
    mrs x12, tpidr_el2
""",
        setup=redirect(PAGE + 0x90),
    )
    assert m.bus.read(PAGE + 0x90, 8) == 0x8877665544332211
    assert m.cpu.x[12] == 0x1122334455667788


def test_nv2_14_a_slot_in_unbacked_memory_is_an_external_abort_with_iss_vncr(run_asm):
    # README "Board facts": an access that reaches neither RAM nor a device is a synchronous
    # external abort (DFSC 0x10), reported as a VNCR fault: EC 0x25, ISS.VNCR (bit 13), WnR
    m = run_asm(
        """
    adr x9, vec
    msr vbar_el2, x9
    mov x11, #5
faulting:
    msr tpidr_el2, x11
    b _armnv_exit
    .balign 2048
vec:
    .rept 16
    b _armnv_exit
    .balign 128
    .endr
""",
        setup=redirect(0x6000_0000),
    )
    assert m.cpu.sr["ESR_EL2"] == 0x96002050
    assert m.cpu.sr["FAR_EL2"] == 0x6000_0000
    assert m.symbols.get(m.cpu.sr["ELR_EL2"]) == "faulting"
