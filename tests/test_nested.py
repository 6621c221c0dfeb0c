"""The nested-virtualization demo image, run whole on a real Machine, with FEAT_NV2 and with FEAT_NV alone.

`examples/images/nested.elf` holds three levels of software (`examples/nested/`):
L0, a host hypervisor at EL2; L1, a guest hypervisor it runs at EL1 with
HCR_EL2.NV = 1 (and NV2 when the CPU has it); L2, a kernel at EL1 and its EL0
userspace, run by L1. L0 runs L1 under VMID 1 and L2 under VMID 2, so every
exception taken to EL2 from a lower EL can be charged to the guest that caused
it by the VMID in VTTBR_EL2 at that moment.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import attrs
import pytest
from elftools.elf.elffile import ELFFile

from framework import hookimpl
from framework.machine import Machine
from framework.testing import make_machine

IMAGE = Path(__file__).resolve().parent.parent / "examples" / "images" / "nested.elf"
ARMNV = Path(sys.executable).parent / "armnv"
MAX_INSNS = 20_000_000
L0_PANIC_STATUS = 0x4C
MODES = {"nv2": "max", "nv": "max,nv2=off"}


class ExitsByVmid:
    """Counts the exceptions taken to EL2 from EL1 or EL0, by the VMID of VTTBR_EL2 when taken."""

    def __init__(self) -> None:
        self.exits: Counter[int] = Counter()

    @hookimpl
    def armnv_entry_pstate(self, cpu, target_el: int) -> None:
        if target_el == 2 and (cpu.sr["SPSR_EL2"] >> 2) & 3 < 2:
            self.exits[(cpu.sr["VTTBR_EL2"] >> 48) & 0xFF] += 1


@attrs.define
class Run:
    machine: Machine
    exit_kind: str
    exit_code: int
    output: str
    exits: Counter


def run_image(cpu: str) -> Run:
    m = make_machine(cpu)
    m.load(str(IMAGE))
    tally = ExitsByVmid()
    m.register_plugin(tally, "exits-by-vmid")
    stop = m.run(MAX_INSNS)
    return Run(m, stop.kind, stop.exit_code, bytes(m.stdout.data).decode(), tally.exits)


@pytest.fixture(scope="module")
def runs() -> dict[str, Run]:
    return {mode: run_image(cpu) for mode, cpu in MODES.items()}


def symbol(name: str) -> int:
    with IMAGE.open("rb") as f:
        sym = ELFFile(f).get_section_by_name(".symtab").get_symbol_by_name(name)
    assert sym, f"{name} is not in {IMAGE.name}"
    return sym[0]["st_value"]


@pytest.mark.parametrize("mode", MODES)
def test_nested_l0_exits_with_status_0_and_never_panics(runs, mode):
    r = runs[mode]
    assert (r.exit_kind, r.exit_code) == ("exit", 0), r.output
    assert "L0 panic" not in r.output


@pytest.mark.parametrize("mode", MODES)
def test_nested_l2_userspace_output_reaches_the_console(runs, mode):
    lines = runs[mode].output.splitlines(keepends=True)
    assert "hello from L2 userspace\n" in lines


@pytest.mark.parametrize("mode", MODES)
def test_nv20_guest_hypervisor_reads_current_el_2(runs, mode):
    r = runs[mode]
    # L1 stores CurrentEL.EL as it read it, and prints it from that value
    assert r.machine.bus.read(symbol("l1_current_el"), 8) == 2
    assert "L1: guest hypervisor running, CurrentEL = EL2\n" in r.output


@pytest.mark.parametrize("mode", MODES)
def test_nested_virtual_timer_interrupt_reaches_l2(runs, mode):
    r = runs[mode]
    exceptions = r.machine.stats.named_exceptions()
    # the physical PPI 27 goes to L0 (HCR_EL2.IMO); L1 injects it through a list
    # register; L2, the only software that unmasks IRQs at EL1, takes it as a vIRQ
    assert exceptions.get(("IRQ", 2), 0) >= 1
    assert exceptions.get(("IRQ", 1), 0) == 1
    assert "virtual timer interrupt received (INTID 27)\n" in r.output


@pytest.mark.parametrize("mode", MODES)
def test_nested_l1_runs_under_vmid_1_and_l2_under_vmid_2(runs, mode):
    exits = runs[mode].exits
    assert set(exits) == {1, 2}
    # L2's eight hypercalls are each a full exit to L1 and entry back
    assert exits[2] >= 8


def test_nv2_04_l1_world_switch_goes_to_the_vncr_page_only_with_nv2(runs):
    to_memory = runs["nv2"].machine.stats.to_memory_regs
    for reg in ("SCTLR_EL12", "TTBR0_EL12", "VTTBR_EL2", "HCR_EL2", "ICH_LR0_EL2"):
        assert to_memory[reg] > 0, reg
    assert not runs["nv"].machine.stats.to_memory_regs


def test_nv2_makes_at_least_5x_fewer_traps_to_l0_per_l1_world_switch(runs):
    # exits of VMID 1 are the traps L1 makes; exits of VMID 2 end one stay in L2 each
    per_switch = {mode: r.exits[1] / r.exits[2] for mode, r in runs.items()}
    assert per_switch["nv"] >= 5 * per_switch["nv2"], per_switch


def test_nv01_l0_panics_with_status_0x4c_on_a_cpu_without_nv():
    r = run_image("max,nv=off")
    assert (r.exit_kind, r.exit_code) == ("exit", L0_PANIC_STATUS)
    assert r.output.startswith("L0 panic: the CPU has no FEAT_NV ESR=")
    assert "hello from L2 userspace" not in r.output


def test_nested_armnv_run_exits_0_with_l2_output_on_stdout():
    proc = subprocess.run([str(ARMNV), "run", str(IMAGE)], capture_output=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert b"\nhello from L2 userspace\n" in proc.stdout
    assert proc.stderr == b""


@pytest.fixture(scope="module")
def demo_runs():
    from framework.demo import run_mode

    return {mode: run_mode(str(IMAGE), mode) for mode in ("nv", "nv2")}


@pytest.mark.parametrize("mode", ["nv", "nv2"])
def test_demo_on_the_nested_image_counts_l2_output_and_no_panic(demo_runs, mode):
    run = demo_runs[mode]
    assert run.ok and run.panic is None
    assert "hello from L2 userspace" in [line for _, line in run.output.lines()]
    # the demo's counters saw every level run: L0 at EL2, L1 at EL1, L2 at EL1 and EL0
    assert run.levels.world_switches > 8
    assert (run.redirects > 0) == (mode == "nv2")


def test_demo_nv2_makes_at_least_5x_fewer_traps_to_l0_per_world_switch_than_nv(demo_runs):
    nv, nv2 = (demo_runs[m].levels.traps_per_switch() for m in ("nv", "nv2"))
    assert nv >= 5 * nv2, (nv, nv2)
