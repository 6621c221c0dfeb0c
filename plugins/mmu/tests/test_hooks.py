"""The MMU's contract with other plugins and the kernel: descriptor and PAN hooks, -d mmu, the TLB fast path."""

from __future__ import annotations

import re

from framework import hookimpl
from plugins.mmu.tests.guest import HCR_RW, code_block, el1_regs, el2_regs, run
from plugins.mmu.tests.tables import AP_RW_ALL, DATA, NORMAL, TABLES, UXN, Tables

EL1 = {"hcr_el2": HCR_RW}
TARGET = DATA + 0x4000


class Nv1Format:
    """A stand-in for feat_nv's NV-26 rule: bit 54 is PXN, AP[1] reads as 0 (EL1&0 stage 1)."""

    @hookimpl
    def armnv_descriptor(self, cpu, regime, stage, desc, level, is_table):
        if regime != "EL1&0" or stage != 1 or is_table:
            return None
        pxn = (desc >> 54) & 1
        return (desc & ~(3 << 53) & ~(1 << 6)) | pxn << 53


class PanOn:
    """A stand-in for the pan plugin's answer "PAN is in effect" (pan.md §4)."""

    @hookimpl
    def armnv_pan_active(self, cpu):
        # in effect until the first exception, so that the exit path may read the image
        return cpu.sr["ESR_EL1"] == 0


def with_plugin(plugin, build):
    def setup(m):
        m.register_plugin(plugin)
        t = Tables(m, TABLES)
        code_block(t)
        build(t, m)

    return setup


def code_page(t, m, attrs):
    t.map(TARGET, TARGET, attrs=attrs)
    m.bus.write(TARGET, 4, 0xD28000E9)  # mov x9, #7
    m.bus.write(TARGET + 4, 4, 0xD65F03C0)  # ret


CALL = f"    ldr x1, ={TARGET:#x}\n    blr x1\n"


def test_nv26_descriptor_hook_reinterprets_stage1_descriptors(run_asm):
    # with the hook, bit 54 (normally UXN) forbids execution at EL1 (MMU-03 under NV1)
    m = run(
        run_asm,
        CALL,
        with_plugin(Nv1Format(), lambda t, m: code_page(t, m, NORMAL | UXN)),
        el=1,
        el2=EL1,
        el1=el1_regs(TABLES),
    )
    assert m.cpu.sr["ESR_EL1"] == 0x8600_000F
    # and AP[1] reads as 0: an AP = 0b01 page is EL1-only, so AT S1E0R reports a permission fault
    body = f"    ldr x1, ={TARGET:#x}\n    at s1e0r, x1\n    mrs x2, par_el1\n"
    m = run(
        run_asm,
        body,
        with_plugin(Nv1Format(), lambda t, m: code_page(t, m, NORMAL | AP_RW_ALL)),
        el=1,
        el2=EL1,
        el1=el1_regs(TABLES),
    )
    assert m.cpu.x[2] == 0x81F


def test_pan_hook_makes_el0_pages_fault_for_privileged_loads(run_asm):
    def build(t, m):
        t.map(DATA, DATA, attrs=NORMAL | AP_RW_ALL)

    # the image is EL0-readable too: no literal loads while PAN is in effect
    body = f"    mov x1, #{DATA:#x}\n    ldr x2, [x1]\n    mov x9, #1\n"
    spsr = 0x3C5 | 1 << 22  # EL1h with PSTATE.PAN = 1 (kept only where FEAT_PAN is enabled)
    # the stand-in alone decides (feature pan off): the MMU asks the hook, not PSTATE.PAN
    cpu = "max,pan=off"
    m = run(run_asm, body, with_plugin(PanOn(), build), el=1, el2=EL1, el1=el1_regs(TABLES), spsr=spsr, cpu=cpu)
    assert m.cpu.sr["ESR_EL1"] == 0x9600_000F
    assert m.cpu.x[9] == 0
    # no PAN plugin: nothing restricts privileged accesses
    m = run(run_asm, body, with_plugin(object(), build), el=1, el2=EL1, el1=el1_regs(TABLES), spsr=spsr, cpu=cpu)
    assert m.cpu.x[9] == 1


def test_debug_mmu_logs_walks_and_faults(run_asm, tmp_path):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)

    from plugins.mmu.tests.guest import CPU, program

    log = tmp_path / "mmu.log"
    src = program(f"    ldr x1, ={DATA:#x}\n    ldr x2, [x1]\n", el2=el2_regs(TABLES))
    m = run_asm(src, cpu=CPU, max_insns=10_000, setup=setup, debug=frozenset({"mmu"}), log_file=str(log))
    m.close()
    text = log.read_text()
    assert "mmu.walk regime=EL2" in text
    assert "s1 L3" in text or "s1 L2" in text
    assert "mmu.fault" in text and "0x96000006" in text


def test_mmu_feature_is_declared_and_can_be_switched_off(run_asm):
    m = run(run_asm, "    nop\n", lambda m: None)
    assert "mmu" in m.features
    # without the MMU the EL2 stage 1 stays flat and AT is UNDEFINED
    body = f"    ldr x1, ={DATA:#x}\n    at s1e2r, x1\n    mov x9, #1\n"
    m = run(run_asm, body, lambda m: None, cpu="max,mmu=off", el2=el2_regs(TABLES))
    assert "mmu" not in m.features
    assert m.cpu.sr["ESR_EL2"] == 0x0200_0000


# ---- the same results with the MMU on, and TLB hits on the generated-code fast path ---------------

WORKLOAD = f"""
    ldr x1, ={DATA:#x}
    mov x2, #0
    mov x3, #0
1:  str x2, [x1, x2, lsl #3]
    add x2, x2, #1
    cmp x2, #2048
    b.ne 1b
    mov x2, #0
2:  ldr x4, [x1, x2, lsl #3]
    add x3, x3, x4
    add x2, x2, #1
    cmp x2, #2048
    b.ne 2b
"""


def test_mmu_on_gives_the_same_results_with_few_walks(run_asm):
    walks = []

    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)
        for page in range(DATA, DATA + 0x4000, 0x1000):
            t.map(page, page, attrs=NORMAL)
        w = m.mem.mmu
        real = w.translate

        def counting(cpu, va, acc):
            walks.append(va)
            return real(cpu, va, acc)

        w.translate = counting

    off = run(run_asm, WORKLOAD, lambda m: None, max_insns=100_000)
    on = run(run_asm, WORKLOAD, setup, max_insns=100_000, el2=el2_regs(TABLES))
    assert on.cpu.x[3] == off.cpu.x[3] == sum(range(2048))
    assert on.cpu.sr["SCTLR_EL2"] & 1
    # 16 KiB of data: one walk per page and access kind, not one per access
    data_walks = [va for va in walks if DATA <= va < DATA + 0x4000]
    assert len(data_walks) <= 8


class AtS1e1rAnswers:
    """A stand-in for a feature that gives AT S1E1R its own meaning (hook armnv_at)."""

    @hookimpl
    def armnv_at(self, cpu, op, va):
        return 0xABC00 if op == "S1E1R" else None


def test_at_hook_answers_before_the_walk_and_declines_other_operations(run_asm):
    def setup(m):
        m.register_plugin(AtS1e1rAnswers())

    m = run_asm(
        """
    movz x1, #0x4000, lsl #16
    at s1e1r, x1
    isb
    mrs x11, par_el1
    at s1e1w, x1
    isb
    mrs x12, par_el1
""",
        setup=setup,
    )
    assert m.cpu.x[11] == 0xABC00
    # AT S1E1W is left to the MMU: stage 1 off at EL1, so the VA is the PA with Device-nGnRnE
    # attributes (mmu.md MMU-07: 0x…B00 with NS = 1, SH = 0b10, bit 11 RES1)
    assert m.cpu.x[12] == 0x40000B00


def test_debug_plugins_names_the_mmu_for_translations_and_faults(run_asm, tmp_path):
    def setup(m):
        t = Tables(m, TABLES)
        code_block(t)

    import plugins.mmu
    from framework.plugins import implemented_hooks
    from plugins.mmu.tests.guest import CPU, program

    log = tmp_path / "plugins.log"
    src = program(f"    ldr x1, ={DATA:#x}\n    ldr x2, [x1]\n", el2=el2_regs(TABLES))
    m = run_asm(src, cpu=CPU, max_insns=10_000, setup=setup, debug=frozenset({"plugins"}), log_file=str(log))
    m.close()
    lines = log.read_text().splitlines()
    assert "plugins: registered mmu: " + " ".join(implemented_hooks(plugins.mmu)) in lines
    # the image is identity-mapped (fetches: VA = PA); DATA is not mapped at all: a level-2
    # translation fault (DFSC 0x06)
    fetches = [
        re.fullmatch(r"plugins: armnv_translate fetch (\S+) with EL2 permissions -> PA (\S+) \[mmu\]", line)
        for line in lines
        if line.startswith("plugins: armnv_translate fetch")
    ]
    assert fetches and all(f is not None and f[1] == f[2] for f in fetches)
    assert (
        f"plugins: armnv_translate read {DATA:#x} with EL2 permissions -> raised TranslationFault(0x6) [mmu]" in lines
    )
