"""``-d gic``: interrupt-controller state changes are logged (pending, activate, EOI, list registers,
maintenance); without it nothing is."""

from __future__ import annotations

from framework.testing import run_program
from plugins.gicv3.tests.guest import CPUIF_ON, LOW_IRQ, gic_setup
from plugins.gicv3.tests.test_gic_virt import MAINTENANCE_EL2, virq_guest

SETUP = f"""
{gic_setup(25, priority=0x20)}
{CPUIF_ON}
    ldr x4, =0xFF000002
    msr ich_vmcr_el2, x4
    ldr x4, =0x5090020000000028
    msr ich_lr0_el2, x4
    mov x4, #1
    msr ich_hcr_el2, x4
"""


def run_logged(tmp_path, debug: frozenset[str]) -> list[str]:
    log = tmp_path / "log.txt"
    source = virq_guest(SETUP, 1, [], extra=MAINTENANCE_EL2, el2_handlers={LOW_IRQ: "maint_el2"})
    m = run_program(source, debug=debug, log_file=str(log))
    assert m.stop.kind == "exit" and m.stop.exit_code == 0, m.stop
    m.close()
    return log.read_text().splitlines()


def test_gic11_debug_gic_logs_state_changes(asm, tmp_path):
    events = [line.split()[0] for line in run_logged(tmp_path, frozenset({"gic"}))]
    for event in ("gic.ich", "gic.vmcr", "gic.virtual.activate", "gic.virtual.eoi", "gic.virtual.deactivate",
                  "gic.maintenance", "gic.activate", "gic.eoi", "gic.deactivate"):  # fmt: skip
        assert event in events, event
    # the order of one injection: acknowledged, EOId, deactivated, then the maintenance interrupt
    order = [events.index(e) for e in ("gic.virtual.activate", "gic.virtual.deactivate", "gic.maintenance")]
    assert order == sorted(order)


def test_gic11_no_gic_events_without_the_category(asm, tmp_path):
    assert not [line for line in run_logged(tmp_path, frozenset({"int"})) if line.startswith("gic.")]
