"""Blocks that go on past a conditional branch, and leave early when it is taken (side exits).

Whatever the shape of the translated blocks, the architecture fixes the result: the
registers, the flags a taken branch carries to its target, the exception a trapped access
takes and its ELR, and the number of instructions executed (``--max-insns`` stops at exactly
that count). Each program runs translated and one instruction per block, and both must
agree with each other and with the values worked out here. (A trapped access in the middle
of a loop block is in tests/kernel/test_trap_path.py.)
"""

from __future__ import annotations

import pytest

from framework.testing import run_in_both_modes

NZCV_Z, NZCV_C = 1 << 30, 1 << 29


def run_both(source: str, max_insns: int = 1_000_000):
    return run_in_both_modes(source, max_insns=max_insns)


def state(m):
    cpu = m.cpu
    return (list(cpu.x), cpu.nzcv, cpu.pc, cpu.el, cpu.icount, m.stop.kind)


# x9 counts down from 10; x10 counts the passes through the fall-through path of the B.EQ,
# x11 the passes through its target; the B.EQ is in the middle of the loop's block
CLASSIFY = """
    mov x9, #10
    mov x10, #0
    mov x11, #0
1:  and x3, x9, #3
    cmp x3, #0
    b.eq 2f
    add x10, x10, #1
    b 3f
2:  add x11, x11, #1
3:  subs x9, x9, #1
    b.ne 1b
"""


def test_branch_taken_and_not_taken_in_one_block():
    translated, single = run_both(CLASSIFY)
    # x9 = 10 … 1: multiples of 4 are 8 and 4
    assert (translated.cpu.x[10], translated.cpu.x[11]) == (8, 2)
    assert state(translated) == state(single)
    # 3 + 10 passes of 7 instructions (and, cmp, b.eq, add, b | add; subs, b.ne), then the exit's 3
    assert translated.cpu.icount == 3 + 10 * 7 - 2 * 1 + 3


@pytest.mark.parametrize("limit", list(range(1, 40)))
def test_max_insns_is_exact_through_side_exits(limit):
    translated, single = run_both(CLASSIFY, max_insns=limit)
    assert translated.cpu.icount == single.cpu.icount == limit
    assert state(translated) == state(single)


@pytest.mark.parametrize(
    ("compare", "nzcv", "x6"),
    [(7, NZCV_Z | NZCV_C, 0), (8, NZCV_C, 9)],
    ids=["taken", "not-taken"],
)
def test_flags_reach_the_branch_target_on_both_paths(compare, nzcv, x6):
    # taken: the B.EQ leaves the block and the target reads the flags of 7 - 7 (Z, C);
    # not taken: the block goes on, and the target reads those of 9 - 3 (C: no borrow)
    translated, single = run_both(f"""
    mov x5, #7
    cmp x5, #{compare}
    b.eq 1f
    mov x6, #9
    cmp x6, #3
1:  mrs x7, nzcv
    cset x8, hs
""")
    for m in (translated, single):
        assert (m.cpu.x[7], m.cpu.x[8], m.cpu.x[6]) == (nzcv, 1, x6)
    assert state(translated) == state(single)


def test_side_exit_from_a_loop_block_counts_every_iteration():
    # the loop's block runs itself (it branches back to its own start) and leaves through
    # the CBZ in its middle on the pass where x1 reaches x2
    translated, single = run_both("""
    mov x9, #100
    mov x10, #0
    mov x11, #37
1:  add x10, x10, #1
    sub x3, x11, x10
    cbz x3, 2f
    subs x9, x9, #1
    b.ne 1b
2:  mov x4, x10
""")
    assert translated.cpu.x[4] == 37 and translated.cpu.x[9] == 100 - 36
    assert state(translated) == state(single)
    # 3 + 36 whole passes of 5 + the last pass's 3, then the mov and the exit's 3
    assert translated.cpu.icount == 3 + 36 * 5 + 3 + 1 + 3
    assert any("while True" in b.source for b in translated.engine.blocks.values())


def test_counter_read_after_a_branch_not_taken_sees_the_exact_count():
    # one instruction is one virtual nanosecond on max: CNTVCT_EL0 reads the instructions
    # executed before the MRS
    translated, single = run_both("""
    mov x5, #1
    cbz x5, 1f
    mov x6, #2
    tbnz x6, #0, 1f
    mrs x7, cntvct_el0
1:  nop
""")
    assert translated.cpu.x[7] == single.cpu.x[7] == 4
    assert state(translated) == state(single)
