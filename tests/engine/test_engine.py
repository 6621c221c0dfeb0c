"""The translator and run loop: precise exceptions, self-modifying code, block/loop budgets,
and equality of the translated and one-instruction-per-block modes."""

from __future__ import annotations

import pytest

from framework.testing import STACK_TOP, assemble, make_machine, run_in_both_modes
from framework.testing import with_stop_vectors as with_vectors


def run_both(source: str, max_insns: int = 100_000, wrap: bool = True, cpu: str = "max"):
    """Run the same program translated and one instruction per block; return both machines."""
    return run_in_both_modes(source, max_insns=max_insns, wrap=wrap, cpu=cpu)


def state(m):
    cpu = m.cpu
    sr = {k: cpu.sr[k] for k in ("ESR_EL2", "ELR_EL2", "FAR_EL2", "SPSR_EL2")}
    return (list(cpu.x), cpu.nzcv, cpu.pc, cpu.el, cpu.icount, sr, m.stop.kind, m.stop.exit_code)


def test_precise_fault_keeps_earlier_registers_and_drops_later_ones():
    # the load from unbacked PA 0x60000000 is a synchronous external abort (DFSC 0x10) in the
    # middle of a straight-line block: x1/x2 are written, x4 is not, ELR is the load itself
    src = with_vectors("""
    mov x11, #1
    mov x12, #2
    movz x5, #0x6000, lsl #16
faulting:
    ldr x13, [x5]
    mov x14, #4
""")
    for m in run_both(src):
        cpu = m.cpu
        assert m.stop.exit_code == 1
        assert cpu.x[11] == 1 and cpu.x[12] == 2 and cpu.x[13] == 0 and cpu.x[14] == 0
        assert cpu.sr["ESR_EL2"] == 0x96000010
        assert cpu.sr["FAR_EL2"] == 0x60000000
        assert m.symbols[cpu.sr["ELR_EL2"]] == "faulting"


def test_precise_fault_elr_is_the_faulting_instruction():
    src = with_vectors("""
    mov x11, #1
    movz x5, #0x6000, lsl #16
    nop
    nop
    str x11, [x5]
    mov x14, #4
""")
    translated, single = run_both(src)
    elr = translated.cpu.sr["ELR_EL2"]
    word = translated.bus.read(elr, 4)
    assert word == 0xF90000AB  # str x11, [x5]
    assert state(translated) == state(single)


def test_flags_set_before_a_fault_are_visible_to_the_handler():
    # SUBS sets Z lazily; the fault right after it must still see the architectural NZCV saved
    # in SPSR_EL2 (Z=1, C=1 for 5 - 5)
    src = with_vectors("""
    mov x11, #5
    subs x12, x11, #5
    movz x5, #0x6000, lsl #16
    ldr x13, [x5]
""")
    for m in run_both(src):
        assert (m.cpu.sr["SPSR_EL2"] >> 28) == 0b0110


def test_self_modifying_code_takes_effect_after_isb():
    # the program rewrites the instruction at `patch` (mov x0, #1 -> mov x0, #2) after it has
    # been translated once, then runs it again (MMU-09: data stores are seen by fetches after
    # DSB; IC IALLU; DSB; ISB — here the ISB ends the block and the store dropped the block)
    src = """
    mov x3, #0
again:
patch:
    mov x0, #1
    add x3, x3, #1
    cmp x3, #2
    b.eq done
    adr x1, patch
    ldr w2, new_insn
    str w2, [x1]
    dsb ish
    isb
    b again
done:
    b _armnv_exit_hook
    .balign 4
new_insn:
    mov x0, #2
_armnv_exit_hook:
    mov x4, x0
"""
    for m in run_both(src):
        assert m.stop.kind == "exit"
        assert m.cpu.x[4] == 2


def test_store_into_the_running_block_is_seen_by_the_next_execution():
    # a loop body that patches an instruction later in its own block: the current pass runs
    # what was translated, the next translation sees the new word
    src = """
    mov x6, #0
    adr x1, target
    ldr w2, replacement
loop:
    str w2, [x1]
    dsb ish
    isb
target:
    add x6, x6, #1
    cmp x6, #3
    b.lt loop
    b end
    .balign 4
replacement:
    add x6, x6, #10
end:
    nop
"""
    for m in run_both(src):
        # pass 1 writes the patch then the ISB ends the block: target already sees +10
        assert m.cpu.x[6] == 10


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 50, 64, 65, 1000, 1001])
def test_max_insns_stops_at_exactly_that_count_in_both_modes(limit):
    src = """
    mov x0, #0
1:  add x0, x0, #1
    add x1, x0, #2
    b 1b
"""
    translated, single = run_both(src, max_insns=limit)
    assert translated.stop.kind == single.stop.kind == "max-insns"
    assert translated.cpu.icount == single.cpu.icount == limit
    assert state(translated) == state(single)


def test_loop_block_runs_whole_iterations_within_the_budget():
    src = """
    movz x0, #10000
    mov x1, #0
1:  add x1, x1, #3
    subs x0, x0, #1
    b.ne 1b
    mov x2, x1
"""
    translated, single = run_both(src, max_insns=1_000_000)
    assert translated.cpu.x[2] == 30000
    assert state(translated) == state(single)
    # 2 + 3 * 10000 + 1 instructions, then the 3-instruction epilogue (the HLT counts)
    assert translated.cpu.icount == 2 + 30000 + 1 + 3


def test_block_ends_at_the_page_boundary():
    # straight-line code that crosses a 4 KiB page: the engine splits blocks at the boundary
    # (so a remap of one page cannot leave a stale half block) and both modes agree
    body = "\n".join("    add x11, x11, #1" for _ in range(1500))
    src = f"""
    mov x11, #0
{body}
"""
    translated, single = run_both(src)
    assert translated.cpu.x[11] == 1500
    assert state(translated) == state(single)
    for blk in translated.engine.blocks.values():
        assert (blk.pc & 0xFFF) + 4 * blk.n <= 0x1000


def test_branch_to_misaligned_pc_is_a_pc_alignment_fault():
    src = with_vectors("""
    adr x7, target
    add x7, x7, #2
    br x7
target:
    nop
""")
    for m in run_both(src):
        esr = m.cpu.sr["ESR_EL2"]
        assert esr >> 26 == 0x22
        assert m.cpu.sr["ELR_EL2"] & 3 == 2
        assert m.cpu.sr["FAR_EL2"] == m.cpu.sr["ELR_EL2"]


def test_fetch_from_unbacked_memory_is_an_instruction_abort():
    src = with_vectors("""
    movz x7, #0x6000, lsl #16
    br x7
""")
    for m in run_both(src):
        assert m.cpu.sr["ESR_EL2"] == 0x86000010
        assert m.cpu.sr["ELR_EL2"] == m.cpu.sr["FAR_EL2"] == 0x60000000


def test_counter_read_inside_a_loop_block_sees_the_exact_instruction_count():
    # max has CNTFRQ = 1 GHz and one instruction is one virtual nanosecond, so CNTVCT_EL0 reads
    # the number of instructions executed before the MRS: 1 + 3 * 99 for the last pass
    src = """
    mov x12, #100
1:  mrs x11, cntvct_el0
    subs x12, x12, #1
    b.ne 1b
"""
    translated, single = run_both(src)
    assert translated.cpu.x[11] == single.cpu.x[11] == 1 + 3 * 99
    assert any("while True" in b.source for b in translated.engine.blocks.values())


def test_timer_interrupt_is_taken_at_the_same_instruction_in_both_modes():
    # the EL2 physical timer (PPI 26, wired straight to the IRQ line: gicv3=off) fires
    # 1000 ns after it is armed; with HCR_EL2.IMO the IRQ goes to EL2's IRQ vector (+0x280)
    src = """
    adr x9, irq_vectors
    msr vbar_el2, x9
    mov x9, #(1 << 4)
    msr hcr_el2, x9
    mov x9, #1000
    msr cnthp_tval_el2, x9
    mov x9, #1
    msr cnthp_ctl_el2, x9
    msr daifclr, #2
    mov x13, #0
spin:
    add x13, x13, #1
    add x14, x13, #2
    b spin

    .balign 2048
irq_vectors:
    .rept 5
    b .
    .balign 128
    .endr
    mrs x20, elr_el2
    mrs x21, cntpct_el0
    b _armnv_exit
"""
    translated, single = run_both(src, max_insns=10_000, cpu="max,gicv3=off")
    assert translated.stop.kind == single.stop.kind == "exit"
    assert state(translated) == state(single)
    assert translated.cpu.x[21] >= 1000


def test_exception_traces_and_counters_are_identical_in_both_modes(tmp_path):
    # -d int (as JSON lines) and the always-on counters of a run with synchronous exceptions
    # and a timer interrupt (straight to the IRQ line: gicv3=off) must not depend on how the code
    # was split into blocks
    elf = assemble("""
    adr x9, tvec
    msr vbar_el2, x9
    mov x9, #(1 << 4)
    msr hcr_el2, x9
    mov x9, #700
    msr cnthp_tval_el2, x9
    mov x9, #1
    msr cnthp_ctl_el2, x9
    mov x13, #0
loop:
    add x13, x13, #1
    hvc #5
    cmp x13, #40
    b.ne loop
    msr daifclr, #2
1:  add x14, x14, #1
    b 1b

    .balign 2048
tvec:
    .rept 4
    b .
    .balign 128
    .endr
    eret                      // +0x200: HVC from EL2 with SP_EL2
    .balign 128
    mov x9, #0                // +0x280: the timer IRQ: stop it and leave
    msr cnthp_ctl_el2, x9
    b _armnv_exit
""")
    runs = []
    for single in (False, True):
        log = tmp_path / f"int-{single}.json"
        m = make_machine(
            "max,gicv3=off", one_insn_per_block=single, debug=frozenset({"int"}), log_format="json", log_file=str(log)
        )
        m.load(str(elf))
        m.cpu.x[31] = STACK_TOP
        stop = m.run(100_000)
        m.close()
        runs.append((log.read_text().splitlines(), dict(m.stats.exceptions), m.cpu.icount, stop.kind))
    (trace_a, counts_a, n_a, kind_a), (trace_b, counts_b, n_b, kind_b) = runs
    assert kind_a == kind_b == "exit"
    assert len(trace_a) > 40 and trace_a == trace_b
    assert counts_a == counts_b and n_a == n_b
