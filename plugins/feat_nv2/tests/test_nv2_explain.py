"""NV2-04/NV2-05 seen by a user: the -d sysreg explanation, --stats, and the traps NV2 saves.

A world switch of a guest hypervisor (NV1 = 0, VHE style) saves and restores
20 EL1 registers of its guest through the *_EL12/*_EL02 accessors, programs
its guest's EL2 controls, and ERETs. The host at EL2 steps over every trap.
With FEAT_NV2 most of those accesses become loads and stores of the VNCR page;
without it every one is a trap.
"""

from __future__ import annotations

import pytest

from plugins.feat_nv.tests.guest import HCR_NV
from plugins.feat_nv2.tests.guest import HCR_RW, NV2, VNCR, fill, nv2_run
from plugins.mmu.tests.guest import program

STEP_OVER = "    mrs x10, elr_el2\n    add x10, x10, #4\n    msr elr_el2, x10\n"

EL12 = [
    "sctlr_el12",
    "cpacr_el12",
    "ttbr0_el12",
    "ttbr1_el12",
    "tcr_el12",
    "esr_el12",
    "afsr0_el12",
    "afsr1_el12",
    "far_el12",
    "mair_el12",
    "amair_el12",
    "contextidr_el12",
    "vbar_el12",
    "elr_el12",
    "spsr_el12",
    "cntkctl_el12",
    "cntv_ctl_el02",
    "cntv_cval_el02",
    "cntp_ctl_el02",
    "cntp_cval_el02",
]
EL2 = ["hcr_el2", "vttbr_el2", "vtcr_el2", "vmpidr_el2", "vpidr_el2", "cntvoff_el2", "hstr_el2", "tpidr_el2"]


def world_switch() -> str:
    save = "".join(f"    mrs x2, {r}\n    str x2, [x1], #8\n" for r in EL12)
    restore = "".join(f"    ldr x2, [x1], #8\n    msr {r}, x2\n" for r in EL12)
    el2 = "".join(f"    msr {r}, x2\n" for r in EL2)
    tail = "    adr x2, 1f\n    msr elr_el2, x2\n    mov x2, #0x3c5\n    msr spsr_el2, x2\n    eret\n1:\n"
    return "    ldr x1, =0x40610000\n" + save + restore + el2 + tail


def switch_traps(run_asm, cpu: str) -> int:
    m = nv2_run(run_asm, world_switch(), NV2 if "nv2=off" not in cpu else HCR_NV, cpu=cpu, hvc=STEP_OVER)
    assert m.cpu.el == 1
    return m.stats.traps.get(2, 0)


def test_nv2_04_a_world_switch_makes_at_least_5_times_fewer_traps_with_nv2(run_asm):
    with_nv2, without = switch_traps(run_asm, "max"), switch_traps(run_asm, "max,nv2=off")
    # without NV2: 40 *_EL12/_EL02 accesses, 8 EL2 registers, ELR/SPSR_EL2 and the ERET all trap;
    # with NV2 only CNTKCTL_EL12 (no slot, NV2-09) twice and the ERET (NV2-12) do
    assert (with_nv2, without) == (3, 51)
    assert without >= 5 * with_nv2


def test_nv2_05_d_sysreg_explains_each_access_made_to_memory(run_asm, tmp_path):
    log = tmp_path / "log"
    body = "    mov x3, #1\n    msr hcr_el2, x3\n    mrs x5, sctlr_el12\n    mrs x6, hcr_el2\n"
    src = program(body, el=1, el2={"vncr_el2": VNCR, "hcr_el2": HCR_RW | NV2})
    m = run_asm(src, cpu="max", setup=fill, debug=frozenset({"sysreg"}), log_file=str(log))
    assert m.stop.kind == "exit" and m.cpu.el == 1
    lines = [line for line in log.read_text().splitlines() if "to memory" in line]
    assert len(lines) == 3
    assert f"to memory: MSR HCR_EL2, x3 at EL1 -> {VNCR + 0x78:#x} (NV2-04, VNCR_EL2 + 0x78)" in lines[0]
    assert f"to memory: MRS x5, SCTLR_EL12 at EL1 -> {VNCR + 0x110:#x} (NV2-04, VNCR_EL2 + 0x110)" in lines[1]
    assert f"MRS x6, HCR_EL2 at EL1 -> {VNCR + 0x78:#x}" in lines[2]


@pytest.mark.parametrize("cpu", ["max", "max,nv2=off"])
def test_nv2_05_stats_count_the_accesses_made_to_memory_by_register(run_asm, cpu):
    body = "    msr hcr_el2, x3\n    mrs x5, hcr_el2\n    msr tpidr_el2, x3\n    ldr x1, =0x40610000\n"
    hcr = NV2 if cpu == "max" else HCR_NV
    m = nv2_run(run_asm, body + "    mrs x2, hcr_el2\n", hcr, cpu=cpu, hvc=STEP_OVER)
    lines = m.stats.lines(1, 1.0)
    if cpu == "max":
        i = lines.index("system-register accesses made to memory: 4")
        assert lines[i + 1 : i + 3] == ["  HCR_EL2: 3", "  TPIDR_EL2: 1"]
        assert "traps to EL2: 0" in lines
    else:
        assert not any("made to memory" in line for line in lines)
        assert "traps to EL2: 4" in lines
