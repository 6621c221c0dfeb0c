"""Breakpoint and watchpoint registers DBGBVR/DBGBCR/DBGWVR/DBGWCR<n>_EL1 (Arm ARM D19.2, D23.3).

As many pairs exist as ID_AA64DFR0_EL1.BRPs and WRPs say (the field plus one);
the others are unallocated encodings. They hold their fields; MDCR_EL2.TDA
(and TDE) traps EL1 accesses to EL2 with EC 0x18. Linux programs and clears
each pair at boot (hw_breakpoint_reset), so a missing one is an oops.
"""

from __future__ import annotations

import pytest

from .conftest import ESR_UNDEF, sysreg_esr
from .test_traps import assert_trap, guest

DFR0_BRPS, DFR0_WRPS = 12, 20


def _counts(run_asm) -> tuple[int, int]:
    m = run_asm("    mrs x10, id_aa64dfr0_el1\n")
    dfr0 = m.cpu.x[10]
    return ((dfr0 >> DFR0_BRPS) & 0xF) + 1, ((dfr0 >> DFR0_WRPS) & 0xF) + 1


@pytest.mark.parametrize("cpu", ["max", "neoverse-n2", "neoverse-v1"])
def test_debug_every_advertised_breakpoint_and_watchpoint_pair_holds_its_fields(run_asm, cpu):
    m = run_asm("    mrs x10, id_aa64dfr0_el1\n", cpu=cpu)
    brps, wrps = ((m.cpu.x[10] >> DFR0_BRPS) & 0xF) + 1, ((m.cpu.x[10] >> DFR0_WRPS) & 0xF) + 1
    # the architecture requires at least two of each (ID_AA64DFR0_EL1.BRPs/WRPs >= 1)
    assert brps >= 2 and wrps >= 2
    body = "    mov x1, #-1\n"
    for n in range(brps):
        body += f"    msr dbgbvr{n}_el1, x1\n    msr dbgbcr{n}_el1, x1\n"
    for n in range(wrps):
        body += f"    msr dbgwvr{n}_el1, x1\n    msr dbgwcr{n}_el1, x1\n"
    body += "    mrs x10, dbgbvr0_el1\n    mrs x11, dbgbcr0_el1\n"
    body += f"    mrs x12, dbgwvr{wrps - 1}_el1\n    mrs x13, dbgwcr{wrps - 1}_el1\n"
    body += f"    mrs x14, dbgbcr{brps - 1}_el1\n"
    m = run_asm(body, cpu=cpu)
    # DBGBVR/DBGWVR[1:0] are RES0; DBGBCR: BT[23:20] LBN[19:16] SSC[15:14] HMC[13] BAS[8:5] PMC[2:1]
    # E[0]; DBGWCR: MASK[28:24] WT[20] LBN[19:16] SSC[15:14] HMC[13] BAS[12:5] LSC[4:3] PAC[2:1] E[0]
    assert m.cpu.x[10] == m.cpu.x[12] == 0xFFFF_FFFF_FFFF_FFFC
    assert m.cpu.x[11] == m.cpu.x[14] == 0x00FF_E1E7
    assert m.cpu.x[13] == 0x1F1F_FFFF


def test_debug_a_written_breakpoint_reads_back_and_clears(run_asm):
    m = run_asm(
        """
    ldr x1, =0xffff800008031124
    msr dbgbvr1_el1, x1
    ldr x2, =0x1e7
    msr dbgbcr1_el1, x2
    mrs x10, dbgbvr1_el1
    mrs x11, dbgbcr1_el1
    msr dbgbcr1_el1, xzr
    mrs x12, dbgbcr1_el1
"""
    )
    assert (m.cpu.x[10], m.cpu.x[11], m.cpu.x[12]) == (0xFFFF_8000_0803_1124, 0x1E7, 0)


def test_debug_a_pair_beyond_the_advertised_count_is_undefined(run_asm):
    brps, wrps = _counts(run_asm)
    for insn in (f"msr dbgbcr{brps}_el1, xzr", f"mrs x1, dbgwvr{wrps}_el1"):
        assert_trap(run_asm(guest(f"    {insn}")), 1, ESR_UNDEF)


@pytest.mark.parametrize("mdcr", [1 << 9, 1 << 8], ids=["tda", "tde"])
@pytest.mark.parametrize(
    ("insn", "op2", "is_read"),
    [("mrs x1, dbgbvr0_el1", 4, True), ("msr dbgbcr1_el1, x1", 5, False), ("msr dbgwcr0_el1, x1", 7, False)],
)
def test_debug_mdcr_tda_traps_breakpoint_and_watchpoint_registers(run_asm, mdcr, insn, op2, is_read):
    setup = f"    mov x19, #{mdcr:#x}\n    msr mdcr_el2, x19\n"
    crm = int(insn.split("_el1")[0][-1])
    assert_trap(run_asm(guest(f"    {insn}", el1_setup=setup)), 2, sysreg_esr(2, 0, 0, crm, op2, 1, is_read))
