"""The access-decision cache: a decision is made once per configuration, and again exactly
when a register it reads (`SysReg.config` or `SysReg.decides`) is written.

The plugin is a small stand-in whose answer reads MDCR_EL2 bit 0 (a `decides` register);
the guest makes the same accesses before and after EL2 changes that register.
"""

from __future__ import annotations

from framework import hookimpl
from framework.cpu.sysregs import Trap

from .conftest import EL1H, eret_to, install, read_log, set_hcr, sysreg_esr, vectors

TPIDR_EL1_KEY = (3 << 14) | (0 << 11) | (13 << 7) | (0 << 3) | 4


class TrapsTpidrWhenMdcrBit0:
    """Traps EL1 writes of TPIDR_EL1 to EL2 while MDCR_EL2 bit 0 is set; counts its answers."""

    def __init__(self) -> None:
        self.asked = 0

    @hookimpl
    def armnv_sysreg_access(self, cpu, reg, key, is_read, rt):
        if key != TPIDR_EL1_KEY or cpu.el != 1:
            return None
        self.asked += 1
        return Trap(2) if cpu.sr["MDCR_EL2"] & 1 and not is_read else None


GUEST = (
    install(2, "vec2")
    + set_hcr(0)
    + eret_to("el1_code", EL1H)
    + """
el1_code:
    mov x1, #1
    mov x2, #3
1:  msr tpidr_el1, x1
    add x1, x1, #1
    subs x2, x2, #1
    b.ne 1b
    hvc #0
trapped:
    msr tpidr_el1, x1
    b _armnv_exit

el2_handler:
    cmp x25, #1
    b.ne _armnv_exit
    mov x3, #1
    msr mdcr_el2, x3
    eret
"""
    + vectors(2, "vec2", action="el2_handler")
)


def test_decision_is_made_once_per_configuration_and_again_when_it_changes(run_asm):
    plugin = TrapsTpidrWhenMdcrBit0()
    m = run_asm(GUEST, setup=lambda m: m.register_plugin(plugin))
    log = read_log(m)
    # the HVC, then the write after MDCR_EL2 changed: EC 0x18 to EL2 with this access's ISS
    assert len(log) == 2
    assert log[1].esr == sysreg_esr(3, 0, 13, 0, 4, 1, False)
    assert m.cpu.sr["TPIDR_EL1"] == 3  # three writes went through; the trapped fourth did not
    # asked once for the three identical writes, once more after the configuration changed
    assert plugin.asked == 2


def test_decision_cache_is_off_with_d_sysreg(run_asm):
    plugin = TrapsTpidrWhenMdcrBit0()
    m = run_asm(GUEST, setup=lambda m: m.register_plugin(plugin), debug=("sysreg",))
    assert len(read_log(m)) == 2
    assert plugin.asked == 4  # every access asked: the debug category sees each decision made
