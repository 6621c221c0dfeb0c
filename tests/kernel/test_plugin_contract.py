"""The plugin contract on a running machine: adding a plugin to a built machine, the decisions
that take an exception (ERET, MSR immediate) carried out by the kernel, the decision hooks the
kernel asks only when a plugin implements them, ``-d plugins`` and ``-d unimp``.

The plugins here are small stand-ins registered with `Machine.register_plugin`; the guests are
real programs and the expected syndromes come from syndromes.md.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import pytest

from framework import hookimpl
from framework.cpu.sysregs import Allow, ToMemory, Trap, Undef
from framework.errors import ArmnvError
from framework.testing import STACK_TOP, assemble, make_machine, with_stop_vectors
from framework.vmem import TranslationFault

from .conftest import EL0T, EL1H, ESR_UNDEF, eret_to, install, read_log, set_hcr, symbol, sysreg_esr, vectors

ESR_ERET_TRAP = 0x6A000000  # EC 0x1A, IL, ISS 0: ERET (syndromes.md §5)
DATA_PAGE = 0x4040_0000
VNCR_PAGE = 0x4010_0000


def program(body: str) -> str:
    """`body` at EL2 with recording vector tables at EL2 (vec2) and EL1 (vec1) that stop the machine."""
    return (
        install(2, "vec2")
        + install(1, "vec1")
        + set_hcr(0)
        + body
        + "    b _armnv_exit\n"
        + vectors(2, "vec2")
        + vectors(1, "vec1")
    )


# the contract's mechanism alone: the feature plugins of the tree (PAN, FEAT_NV and FEAT_NV2) stay
# off, so that the stand-in plugins below are the only ones answering
BASE_CPU = "max,pan=off,nv=off"


@pytest.fixture
def run_asm(run_asm):
    return functools.partial(run_asm, cpu=BASE_CPU)


def start(source: str, **config) -> object:
    """A machine with `source` loaded, not yet run."""
    config.setdefault("cpu", BASE_CPU)
    m = make_machine(**config)
    m.load(str(assemble(source)))
    m.cpu.x[31] = STACK_TOP
    return m


# ---- Machine.register_plugin ------------------------------------------------------------------------


class FaultsReadsOf:
    """A stand-in translation: reads of one page take a level-3 stage-1 translation fault."""

    def __init__(self, page: int) -> None:
        self.page = page

    @hookimpl
    def armnv_translate(self, cpu, va, access):
        if va & ~0xFFF == self.page and not access.fetch and not access.write:
            raise TranslationFault(0x07)
        return None


def test_register_plugin_drops_translations_cached_before_it(asm):
    m = start(
        with_stop_vectors(f"""
    ldr x11, ={DATA_PAGE:#x}
    ldr x2, [x11]
    b _armnv_exit
second:
    ldr x3, [x11]
""")
    )
    assert m.run(10_000).kind == "exit"  # the read of DATA_PAGE is now in the software TLB
    m.register_plugin(FaultsReadsOf(DATA_PAGE))
    m.cpu.pc = symbol(m, "second")
    stop = m.run(10_000)
    assert (stop.kind, stop.exit_code) == ("exit", 1)  # the stop vectors
    # EC 0x25 (data abort, same EL), IL, DFSC 0x07: translation fault, level 3 (syndromes.md §6, §8)
    assert m.cpu.sr["ESR_EL2"] == 0x96000007
    assert m.cpu.sr["FAR_EL2"] == DATA_PAGE
    assert m.cpu.sr["ELR_EL2"] == symbol(m, "second")


class ReportsEl2AtEl1:
    @hookimpl
    def armnv_current_el(self, cpu):
        return 2 if cpu.el == 1 else None


def test_nv20_current_el_answer_of_a_registered_plugin(run_asm):
    m = run_asm(
        program(
            """
    mrs x2, currentel
"""
            + eret_to("el1", EL1H)
            + """
el1:
    mrs x3, currentel
"""
        ),
        setup=lambda m: m.register_plugin(ReportsEl2AtEl1()),
    )
    assert m.cpu.el == 1
    assert (m.cpu.x[2], m.cpu.x[3]) == (2 << 2, 2 << 2)  # CurrentEL.EL is bits [3:2]


class ReadsEl1OnlyPageAsEl0:
    """Reads of DATA_PAGE with EL0 permissions take a permission fault (an EL1-only page)."""

    @hookimpl
    def armnv_translate(self, cpu, va, access):
        if va & ~0xFFF == DATA_PAGE and access.el == 0:
            raise TranslationFault(0x0F)
        return None


class PrivilegedLdtrAtEl1:
    @hookimpl
    def armnv_unprivileged_el(self, cpu):
        return 1 if cpu.el == 1 else None


@pytest.mark.parametrize("privileged", [False, True])
def test_nv25_unprivileged_el_answer_of_a_registered_plugin(run_asm, privileged):
    def setup(m):
        m.register_plugin(ReadsEl1OnlyPageAsEl0())
        if privileged:
            m.register_plugin(PrivilegedLdtrAtEl1())

    m = run_asm(
        program(
            f"""
    ldr x11, ={DATA_PAGE:#x}
    mov x2, #0x5a
    str x2, [x11]
"""
            + eret_to("ldtr_insn", EL1H)
            + """
ldtr_insn:
    ldtr x3, [x11]
"""
        ),
        setup=setup,
    )
    if privileged:
        assert m.cpu.x[25] == 0 and m.cpu.x[3] == 0x5A
    else:
        # pan.md §5: LDTR at EL1 is checked with EL0 permissions: a permission fault at level 3
        [entry] = read_log(m)
        assert (entry.offset, entry.esr, entry.elr) == (0x200, 0x9600000F, symbol(m, "ldtr_insn"))


class Hears:
    def __init__(self) -> None:
        self.heard = []

    @hookimpl
    def armnv_plugins_changed(self, machine):
        self.heard.append(machine)


def test_register_plugin_notifies_every_plugin_including_the_new_one():
    m = make_machine()
    first, second = Hears(), Hears()
    assert m.register_plugin(first, name="first") == "first"
    m.register_plugin(second, name="second")
    assert first.heard == [m, m] and second.heard == [m]


class DeclaresRegisters:
    @hookimpl
    def armnv_sysregs(self, machine):
        return []


class Misspelt:
    @hookimpl
    def armnv_sysreg_acess(self, cpu):
        return None


def test_register_plugin_refuses_what_a_built_machine_cannot_take():
    m = make_machine()
    with pytest.raises(ArmnvError, match="'DeclaresRegisters' implements armnv_sysregs, which only a machine being"):
        m.register_plugin(DeclaresRegisters())
    with pytest.raises(ArmnvError, match=r"'Misspelt' does not follow the hook contract.*armnv_sysreg_acess"):
        m.register_plugin(Misspelt())
    m.register_plugin(Hears(), name="once")
    with pytest.raises(ArmnvError, match="a plugin named 'once' is already registered"):
        m.register_plugin(Hears(), name="once")
    names = [name for name, _ in m.pm.list_name_plugin()]
    assert "DeclaresRegisters" not in names and "Misspelt" not in names and names.count("once") == 1


# ---- decisions that take an exception: the kernel takes them ---------------------------------------


class EretDecision:
    """Answers every ERET at EL1 (and EL0, where it must never be asked) with `decision`."""

    def __init__(self, decision) -> None:
        self.decision = decision
        self.asked_at: list[int] = []

    @hookimpl
    def armnv_eret(self, cpu, pc):
        self.asked_at.append(cpu.el)
        return self.decision if cpu.el < 2 else None


ERET_AT_EL1 = (
    eret_to("el1_eret", EL1H)
    + """
el1_eret:
    eret
"""
)


def test_syndromes_s5_eret_trap_decision_is_taken_and_counted_by_the_kernel(run_asm):
    plugin = EretDecision(Trap(2))
    m = run_asm(program(ERET_AT_EL1), setup=lambda m: m.register_plugin(plugin))
    [entry] = read_log(m)
    # NV-15: to EL2 from a lower EL (vector +0x400), ELR = the ERET, SPSR = EL1h with DAIF masked
    assert (entry.offset, entry.esr, entry.elr, entry.spsr) == (0x400, ESR_ERET_TRAP, symbol(m, "el1_eret"), 0x3C5)
    assert m.stats.traps[2] == 1
    assert plugin.asked_at == [2, 1]


def test_eret_undef_decision_is_an_undefined_instruction(run_asm):
    m = run_asm(program(ERET_AT_EL1), setup=lambda m: m.register_plugin(EretDecision(Undef())))
    [entry] = read_log(m)
    # EC 0x00 to EL1 itself (current EL with SP_EL1: vector +0x200), ELR = the ERET
    assert (entry.offset, entry.esr, entry.elr) == (0x200, ESR_UNDEF, symbol(m, "el1_eret"))
    assert m.stats.traps[2] == 0


def test_syndromes_s3_eret_at_el0_is_undefined_without_asking_plugins(run_asm):
    plugin = EretDecision(Trap(2))
    m = run_asm(
        program(
            eret_to("el0_eret", EL0T)
            + """
el0_eret:
    eret
"""
        ),
        setup=lambda m: m.register_plugin(plugin),
    )
    [entry] = read_log(m)
    assert (entry.offset, entry.esr, entry.elr) == (0x400, ESR_UNDEF, symbol(m, "el0_eret"))
    assert plugin.asked_at == [2]


class PanField:
    """MSR PAN, #imm (op1 = 0, op2 = 4): performed at EL2, trapped to EL2 from EL1."""

    def __init__(self) -> None:
        self.performed: list[tuple[int, int]] = []

    @hookimpl
    def armnv_msr_immediate(self, cpu, op1, op2, crm):
        if (op1, op2) != (0, 4):
            return None
        if cpu.el == 2:
            self.performed.append((cpu.el, crm))
            return True
        return Trap(2)


def test_syndromes_s4_msr_immediate_trap_decision_is_taken_and_counted_by_the_kernel(run_asm):
    plugin = PanField()
    m = run_asm(
        program(
            """
    msr pan, #1
"""
            + eret_to("msr_insn", EL1H)
            + """
msr_insn:
    msr pan, #0
"""
        ),
        setup=lambda m: m.register_plugin(plugin),
    )
    [entry] = read_log(m)
    # EC 0x18 of MSR (immediate): op0 = 0, op1 = 0, CRn = 4, CRm = imm, op2 = 4, Rt = 31, a write
    assert (entry.offset, entry.esr, entry.elr) == (0x400, sysreg_esr(0, 0, 4, 0, 4, 31, False), symbol(m, "msr_insn"))
    assert entry.esr == 0x620813E0
    assert m.stats.traps[2] == 1
    assert plugin.performed == [(2, 1)]  # the EL2 write went on; the EL1 one was trapped


def test_msr_immediate_to_a_field_nobody_implements_is_undefined(run_asm):
    m = run_asm(program("msr_insn:\n    msr pan, #1\n"))
    [entry] = read_log(m)
    assert (entry.offset, entry.esr, entry.elr) == (0x200, ESR_UNDEF, symbol(m, "msr_insn"))


# ---- -d plugins --------------------------------------------------------------------------------------


class RedirectsToMemory:
    """Ordered like FEAT_NV2 (tryfirst): TPIDR_EL2 goes to memory."""

    @hookimpl(tryfirst=True)
    def armnv_sysreg_access(self, cpu, reg, key, is_read, rt):
        return ToMemory(VNCR_PAGE) if reg is not None and reg.name == "TPIDR_EL2" else None


class RedirectsTpidrEl1:
    """A plain implementation: TPIDR_EL1 is read from TPIDR_EL0; it would make TPIDR_EL2 UNDEF."""

    @hookimpl
    def armnv_sysreg_access(self, cpu, reg, is_read):
        if reg is not None and reg.name == "TPIDR_EL1":
            return Allow(cpu.machine.sysregs["TPIDR_EL0"])
        return Undef() if reg is not None and reg.name == "TPIDR_EL2" else None


class UndefinesTheThree:
    """trylast: every one of the three registers would UNDEF here."""

    @hookimpl(trylast=True)
    def armnv_sysreg_access(self, reg):
        return Undef() if reg is not None and reg.name in ("TPIDR_EL2", "TPIDR_EL1", "TPIDRRO_EL0") else None


THREE_ACCESSES = with_stop_vectors("""
    mov x1, #0x77
    msr tpidr_el0, x1
    mov x1, #0x55
    msr tpidr_el2, x1
    mrs x2, tpidr_el1
    mrs x3, tpidrro_el0
""")


def run_with_three(tmp_path, log_format: str = "console"):
    log = tmp_path / "plugins.log"
    m = start(THREE_ACCESSES, debug=frozenset({"plugins"}), log_format=log_format, log_file=str(log))
    m.register_plugin(RedirectsToMemory(), name="first")
    m.register_plugin(RedirectsTpidrEl1(), name="plain")
    m.register_plugin(UndefinesTheThree(), name="last")
    stop = m.run(10_000)
    m.close()
    return m, stop, log.read_text()


def test_debug_plugins_names_the_plugin_that_decided(asm, tmp_path):
    m, stop, text = run_with_three(tmp_path)
    assert (stop.kind, stop.exit_code) == ("exit", 1)  # MRS TPIDRRO_EL0 was UNDEFINED
    assert m.bus.read(VNCR_PAGE, 8) == 0x55 and m.cpu.x[2] == 0x77
    assert m.cpu.sr["ESR_EL2"] == ESR_UNDEF
    decisions = [line for line in text.splitlines() if line.startswith("plugins: armnv_")]
    assert decisions == [
        f"plugins: armnv_sysreg_access MSR TPIDR_EL2 at EL2 -> ToMemory({VNCR_PAGE:#x}) [first]",
        "plugins: armnv_sysreg_access MRS TPIDR_EL1 at EL2 -> Allow(TPIDR_EL0) [plain]",
        "plugins: armnv_sysreg_access MRS TPIDRRO_EL0 at EL2 -> Undef() [last]",
    ]
    assert "plugins: registered last: armnv_sysreg_access" in text.splitlines()


def test_debug_plugins_json_events(asm, tmp_path):
    _, _, text = run_with_three(tmp_path, "json")
    events = [json.loads(line) for line in text.splitlines()]
    decisions = [e for e in events if e["event"] == "plugins.decision"]
    assert [(e["hook"], e["plugin"], e["answer"]) for e in decisions] == [
        ("armnv_sysreg_access", "first", f"ToMemory({VNCR_PAGE:#x})"),
        ("armnv_sysreg_access", "plain", "Allow(TPIDR_EL0)"),
        ("armnv_sysreg_access", "last", "Undef()"),
    ]
    assert decisions[0]["call"] == "MSR TPIDR_EL2 at EL2"
    registered = [e["plugin"] for e in events if e["event"] == "plugins.register"]
    assert registered[-3:] == ["first", "plain", "last"] and "cpu_models" in registered


def test_debug_plugins_costs_nothing_when_off():
    import plugins.mmu

    # registered as themselves, with pluggy's own hook calls: no stand-ins, no monitoring
    assert make_machine().pm.get_plugin("mmu") is plugins.mmu
    traced = make_machine(debug=frozenset({"plugins"}), log_file="/dev/null")
    assert traced.pm.get_plugin("mmu") is not plugins.mmu
    traced.close()


# ---- -d unimp --------------------------------------------------------------------------------------------

UNIMPLEMENTED = """
    adr x9, vectors
    msr vbar_el2, x9
insn:
    .inst 0x00010000
reg_read:
    mrs x1, s3_0_c15_c0_0
reg_write:
    msr s3_4_c15_c7_7, x1
at_insn:
    at s1e1rp, x1
    b _armnv_exit
    .balign 2048
vectors:
    .skip 0x200
    mrs x21, esr_el2
    mrs x22, elr_el2
    add x22, x22, #4
    msr elr_el2, x22
    eret
"""


@pytest.mark.parametrize("debug", [frozenset(), frozenset({"unimp"})])
def test_debug_unimp_logs_unallocated_instructions_and_unimplemented_registers(asm, tmp_path, debug):
    log = tmp_path / "unimp.log"
    m = start(UNIMPLEMENTED, debug=debug, log_file=str(log))
    stop = m.run(10_000)
    m.close()
    assert stop.kind == "exit"
    # 0x00010000 is in the reserved space (op0 = 0, op1 = 0b0000) but not UDF; no register has the
    # two encodings; AT S1E1RP needs FEAT_PAN2. Four UNDEFs, EC 0x00 (syndromes.md §3), logged or not
    assert m.stats.exceptions[(0x00, 2)] == 4 and m.cpu.x[21] == ESR_UNDEF
    lines = log.read_text().splitlines()
    if not debug:
        assert lines == []
        return
    at = {name: symbol(m, name) for name in ("insn", "reg_read", "reg_write", "at_insn")}
    assert lines == [
        f"unimp: unallocated instruction 0x00010000 at PC {at['insn']:#x} (EL2): UNDEFINED",
        f"unimp: MRS S3_0_C15_C0_0: unimplemented system register at PC {at['reg_read']:#x} (EL2)",
        f"unimp: MSR S3_4_C15_C7_7: unimplemented system register at PC {at['reg_write']:#x} (EL2)",
        f"unimp: AT S1E1RP (feature pan is off): unimplemented system register at PC {at['at_insn']:#x} (EL2)",
    ]


def test_debug_unimp_logs_msr_immediate_to_an_unimplemented_field(asm, tmp_path):
    log = tmp_path / "unimp.log"
    m = start(program("msr_insn:\n    msr pan, #1\n"), debug=frozenset({"unimp"}), log_file=str(log))
    m.run(10_000)
    m.close()
    pc = symbol(m, "msr_insn")
    assert log.read_text().splitlines() == [
        f"unimp: MSR (immediate) op1=0 op2=4 CRm=1: unimplemented PSTATE field at PC {pc:#x} (EL2)"
    ]


# ---- the decision module's import cycle ------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    ["framework.cpu.traps", "framework.cpu.exceptions", "framework.cpu.decisions", "framework.cpu.sysaccess"],
)
def test_kernel_modules_import_first_in_a_fresh_interpreter(module):
    proc = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_debug_plugins_logs_current_el_and_eret_decisions(asm, tmp_path):
    log = tmp_path / "plugins.log"
    m = start(
        program(eret_to("el1_code", EL1H) + "el1_code:\n    mrs x2, currentel\nel1_eret:\n    eret\n"),
        debug=frozenset({"plugins"}),
        log_file=str(log),
    )
    m.register_plugin(ReportsEl2AtEl1())
    m.register_plugin(EretDecision(Trap(2)))
    m.run(10_000)
    m.close()
    decisions = [line for line in log.read_text().splitlines() if line.startswith("plugins: armnv_")]
    # the ERET at EL2, which the plugin declined, was the kernel's: not logged
    assert decisions == [
        "plugins: armnv_current_el at EL1 -> EL2 [ReportsEl2AtEl1]",
        f"plugins: armnv_eret ERET at EL1 PC {symbol(m, 'el1_eret'):#x} -> Trap(EL2) [EretDecision]",
    ]
