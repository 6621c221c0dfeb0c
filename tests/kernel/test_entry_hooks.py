"""Which implementations of the exception entry and ERET hooks the kernel calls (hookspecs, `only_when`).

The kernel resolves, once per configuration, the implementations of ``armnv_exception_entry``,
``armnv_entry_pstate`` and ``armnv_eret`` that can matter: one marked with `only_when` is left
out while its predicate is false, every other one is always called. The plugins here are
stand-ins registered with `Machine.register_plugin`; the guests are real programs and the
syndromes come from syndromes.md §9.
"""

from __future__ import annotations

import pytest

from framework import hookimpl
from framework.api import only_when
from framework.errors import ArmnvError
from framework.testing import make_machine

from .conftest import EL1H, IL, eret_to, install, read_log, set_hcr, symbol, vectors

HCR_TACR = 1 << 21  # traps EL1 accesses to ACTLR_EL1: nothing in these guests makes one


def esr_hvc(imm: int) -> int:
    return (0x16 << 26) | IL | imm  # syndromes.md §9: EC 0x16, ISS = imm16


def esr_svc(imm: int) -> int:
    return (0x15 << 26) | IL | imm  # syndromes.md §9: EC 0x15, ISS = imm16


class HearsEntriesAndReturns:
    """Implements the three hooks without `only_when`, answering nothing: it must hear every event.

    Its `armnv_exception_entry` takes only some of the specification's arguments, in another
    order, as the contract allows.
    """

    def __init__(self) -> None:
        self.entries: list[tuple[int, int, int | None]] = []
        self.pstate: list[int] = []
        self.erets: list[tuple[int, int]] = []

    @hookimpl
    def armnv_exception_entry(self, esr, target_el, from_el):
        self.entries.append((from_el, target_el, esr))

    @hookimpl
    def armnv_entry_pstate(self, cpu, target_el):
        self.pstate.append((target_el, cpu.el))

    @hookimpl
    def armnv_eret(self, pc, cpu):
        self.erets.append((cpu.el, pc))


# an HVC at EL2 returned from by its handler, an ERET to EL1, an SVC at EL1 (which stops)
HVC_ERET_SVC = (
    install(2, "vec2")
    + install(1, "vec1")
    + set_hcr(0)
    + """
    hvc #1
"""
    + eret_to("el1", EL1H)
    + """
el1:
    svc #2
    b _armnv_exit
"""
    + vectors(2, "vec2", action="eret")
    + vectors(1, "vec1")
)


@pytest.mark.parametrize("cpu", ["max", "max,pan=off,nv=off"])
def test_syndromes_s9_unmarked_entry_and_eret_hooks_are_called_on_every_event(run_asm, cpu):
    # with the tree's own NV, NV2 and PAN implementations left out under this configuration
    # (HCR_EL2.NV = 0, SCTLR_EL1.SPAN = 1 at reset), or switched off altogether
    plugin = HearsEntriesAndReturns()
    m = run_asm(HVC_ERET_SVC, cpu=cpu, setup=lambda m: m.register_plugin(plugin, name="third-party"))
    hvc, svc = read_log(m)
    # both taken to the current EL with SP_ELx: vector + 0x200
    assert (hvc.offset, hvc.esr, svc.offset, svc.esr) == (0x200, esr_hvc(1), 0x200, esr_svc(2))
    assert plugin.entries == [(2, 2, esr_hvc(1)), (1, 1, esr_svc(2))]
    # called once PSTATE is that of the target EL
    assert plugin.pstate == [(2, 2), (1, 1)]
    # the handler's ERET and the ERET to EL1 (the instruction before el1), both at EL2
    assert [el for el, _ in plugin.erets] == [2, 2]
    assert plugin.erets[1][1] == symbol(m, "el1") - 4


class HearsEntriesWhileTacr:
    """An `armnv_exception_entry` that can matter only while HCR_EL2.TACR = 1 (its `only_when`)."""

    def __init__(self) -> None:
        self.heard: list[int] = []

    @hookimpl
    @only_when(lambda cpu: cpu.sr["HCR_EL2"] & HCR_TACR)
    def armnv_exception_entry(self, esr):
        self.heard.append(esr)


def test_only_when_predicate_is_asked_again_after_a_configuration_write(run_asm):
    plugin = HearsEntriesWhileTacr()
    source = (
        install(2, "vec2")
        + set_hcr(0)
        + "    hvc #1\n"
        + set_hcr(HCR_TACR)
        + "    hvc #2\n"
        + set_hcr(0)
        + "    hvc #3\n"
        + "    b _armnv_exit\n"
        + vectors(2, "vec2", action="eret")
    )
    m = run_asm(source, setup=lambda m: m.register_plugin(plugin))
    assert [e.esr for e in read_log(m)] == [esr_hvc(1), esr_hvc(2), esr_hvc(3)]
    # HCR_EL2 is a configuration register: each write makes the kernel ask the predicate again
    assert plugin.heard == [esr_hvc(2)]


class MarksAnotherHook:
    @hookimpl
    @only_when(lambda cpu: True)
    def armnv_current_el(self, cpu):
        return None


def test_only_when_on_a_hook_it_does_not_apply_to_is_refused():
    m = make_machine()
    with pytest.raises(ArmnvError, match="'MarksAnotherHook' marks armnv_current_el with only_when"):
        m.register_plugin(MarksAnotherHook())
    assert "MarksAnotherHook" not in [name for name, _ in m.pm.list_name_plugin()]
