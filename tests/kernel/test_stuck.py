"""A guest stuck in an exception loop stops with its own stop kind instead of spinning to --max-insns.

The architecture fixes what each loop iteration is — the exception class, the vector address
(VBAR_ELx + offset), the preferred return address in ELR — and the tests check those; after
`STUCK_REPEATS` identical entries with no return in between, the run stops naming them.
"""

from __future__ import annotations

import pytest

from framework.stuck import STUCK_REPEATS
from framework.testing import STACK_TOP, assemble, make_machine

from .conftest import EL1H, eret_to, set_hcr

EC_IABT_SAME = 0x21
EC_DABT_SAME = 0x25
BIG = 10_000_000


def test_vector_table_at_zero_stops_as_an_exception_loop(run_asm):
    # VBAR_EL2 = 0: the UDF's vector 0x200 (current EL, SP_ELx) has no memory behind it, so its
    # fetch takes an instruction abort (external, same EL) whose vector is 0x200 again
    m = run_asm("    msr vbar_el2, xzr\n    isb\n    udf #0\n", max_insns=BIG)
    assert m.stop.kind == "exception-loop"
    assert m.cpu.sr["ESR_EL2"] >> 26 == EC_IABT_SAME
    assert m.cpu.sr["ELR_EL2"] == 0x200 and m.cpu.pc == 0x200
    assert m.cpu.icount < 2 * STUCK_REPEATS + 10
    msg = m.stop.message
    assert msg.startswith("guest stuck: Instruction abort (same EL) (EC 0x21) at PC 0x200 taken to EL2 again")
    assert "(VBAR_EL2 = 0x0)" in msg and "no vector table installed at VBAR_EL2" in msg


def test_el1_vector_table_at_zero_names_vbar_el1(run_asm):
    m = run_asm(
        set_hcr(0)
        + eret_to("el1", EL1H)
        + """
el1:
    msr vbar_el1, xzr
    isb
    svc #1
""",
        max_insns=BIG,
    )
    assert m.stop.kind == "exception-loop"
    assert m.cpu.el == 1 and m.cpu.sr["ESR_EL1"] >> 26 == EC_IABT_SAME and m.cpu.sr["ELR_EL1"] == 0x200
    assert "taken to EL1 again and again (VBAR_EL1 = 0x0)" in m.stop.message


def test_handler_that_faults_itself_stops_as_an_exception_loop(run_asm):
    # the synchronous handler loads from PA 0x60000000, where nothing is: a synchronous
    # external abort taken to the same handler, at the same load, again and again
    m = run_asm(
        """
    adr x9, vecs
    msr vbar_el2, x9
    movz x5, #0x6000, lsl #16
    isb
    brk #0
    .balign 2048
vecs:
    .skip 0x200
handler_load:
    ldr x6, [x5]
    eret
""",
        max_insns=BIG,
    )
    assert m.stop.kind == "exception-loop"
    handler = next(a for a, name in m.symbols.items() if name == "handler_load")
    assert m.cpu.sr["ESR_EL2"] >> 26 == EC_DABT_SAME and m.cpu.sr["ELR_EL2"] == handler
    assert m.cpu.sr["FAR_EL2"] == 0x6000_0000
    msg = m.stop.message
    assert f"Data abort (same EL) (EC 0x25) at PC {handler:#x} taken to EL2" in msg
    assert "handler takes the same exception itself" in msg


@pytest.mark.parametrize("single", [False, True])
def test_exceptions_that_return_are_not_a_loop(single):
    # 3000 SVCs from the same PC, each returned from by ERET: a busy guest, not a stuck one
    elf = assemble("""
    adr x9, vecs
    msr vbar_el2, x9
    mov x7, #3000
1:  svc #0
    subs x7, x7, #1
    b.ne 1b
    b _armnv_exit
    .balign 2048
vecs:
    .skip 0x200
    add x8, x8, #1
    eret
""")
    m = make_machine(one_insn_per_block=single)
    m.load(str(elf))
    m.cpu.x[31] = STACK_TOP
    stop = m.run(BIG)
    assert stop.kind == "exit" and m.cpu.x[8] == 3000


def test_both_engine_modes_stop_at_the_same_instruction():
    elf = assemble("    msr vbar_el2, xzr\n    isb\n    udf #0\n")
    seen = []
    for single in (False, True):
        m = make_machine(one_insn_per_block=single)
        m.load(str(elf))
        stop = m.run(BIG)
        seen.append((stop.kind, stop.message, m.cpu.icount, m.cpu.pc))
    assert seen[0] == seen[1]
