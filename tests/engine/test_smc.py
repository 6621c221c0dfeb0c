"""Self-modifying code: a store drops exactly the translated blocks whose bytes it changed.

Architecturally (MMU-09) instructions written by data stores are fetched after DC CVAU; DSB;
IC IVAU; DSB; ISB. armnv is coherent without the maintenance too, but these guests do it all,
so what they check holds on any implementation. How much is retranslated is armnv's own
cost, checked through its translation counter.
"""

from __future__ import annotations

import pytest

from framework.testing import STACK_TOP, assemble, make_machine
from framework.testing import with_stop_vectors as with_vectors

# x0 iterations patch the immediate of the MOVZ at `site` with the counter and call it;
# x20 sums what it returned, x19 counts mismatches
PATCH_LOOP = """
    mov x19, #0
    mov x20, #0
    mov x21, #{n}
    adr x9, site
    ldr w10, site
1:  orr w12, w10, w21, lsl #5
    str w12, [x9]
    dc cvau, x9
    dsb ish
    ic ivau, x9
    dsb ish
    isb
    bl site
    cmp x0, x21
    cinc x19, x19, ne
    add x20, x20, x0
    subs x21, x21, #1
    b.ne 1b
    b _armnv_exit
{between}
site:
    movz x0, #0
    ret
"""


def run(source: str, single: bool, max_insns: int = 1_000_000):
    m = make_machine(one_insn_per_block=single)
    m.load(str(assemble(source)))
    m.cpu.x[31] = STACK_TOP
    m.stop = m.run(max_insns)
    return m


@pytest.mark.parametrize("single", [False, True])
@pytest.mark.parametrize("between", ["", "    .balign 4096"])
def test_mmu09_each_patched_immediate_is_executed(single, between):
    # the patched code on the loop's page, then on a page of its own
    n = 200
    m = run(PATCH_LOOP.format(n=n, between=between), single)
    assert m.stop.kind == "exit"
    assert m.cpu.x[19] == 0
    assert m.cpu.x[20] == n * (n + 1) // 2


def test_a_patch_retranslates_only_the_patched_block():
    n = 200
    m = run(PATCH_LOOP.format(n=n, between=""), single=False)
    assert m.cpu.x[19] == 0
    # the loop's blocks are translated once; `site` once more per patch
    assert m.engine.translated < n + 20


def test_stores_next_to_code_keep_its_translations():
    # a counter in the same page as the loop that updates it (a loop of two blocks, so that
    # each iteration looks its blocks up again): no instruction changes
    m = run(
        """
    adr x9, counter
    mov x2, #500
1:  ldr x3, [x9]
    add x3, x3, #1
    str x3, [x9]
    b 2f
2:  str w4, [x9, #8]
    subs x2, x2, #1
    b.ne 1b
    ldr x5, [x9]
    b _armnv_exit
    .balign 8
counter:
    .quad 0
    .word 0
""",
        single=False,
    )
    assert m.cpu.x[5] == 500
    assert m.engine.translated < 10


def test_rewriting_an_instruction_with_itself_keeps_its_translation():
    m = run(
        """
    adr x9, 2f
    ldr w10, 2f
    mov x2, #300
1:  str w10, [x9]
    isb
2:  add x6, x6, #1
    subs x2, x2, #1
    b.ne 1b
    mov x7, x6
""",
        single=False,
    )
    assert m.cpu.x[7] == 300
    assert m.engine.translated < 10


@pytest.mark.parametrize("single", [False, True])
def test_mmu09_a_byte_store_into_an_instruction_is_seen(single):
    # STRB rewrites the low byte of `movz x0, #0`: bits [7:5] are imm16[2:0], [4:0] Rd
    m = run(
        """
    adr x9, site
    bl site
    mov x5, x0
    mov w2, #(5 << 5)
    strb w2, [x9]
    dc cvau, x9
    dsb ish
    ic ivau, x9
    dsb ish
    isb
    bl site
    mov x6, x0
    b _armnv_exit
site:
    movz x0, #0
    ret
""",
        single,
    )
    assert (m.cpu.x[5], m.cpu.x[6]) == (0, 5)


@pytest.mark.parametrize("single", [False, True])
def test_mmu09_code_zeroed_by_dc_zva_is_undefined(single):
    # DC ZVA zeroes the 64-byte block holding `site`; 0x00000000 is UDF #0 (EC 0x00)
    src = with_vectors("""
    adr x9, site
    bl site
    mov x5, x0
    dc zva, x9
    dsb ish
    ic ivau, x9
    dsb ish
    isb
    bl site
    mov x6, #1
    b _armnv_exit
    .balign 64
site:
    mov x0, #7
    ret
""")
    m = run(src, single)
    assert m.cpu.x[5] == 7
    assert m.stop.exit_code == 1  # the stop vectors: an exception was taken
    assert m.cpu.sr["ESR_EL2"] >> 26 == 0x00
    assert m.cpu.sr["ELR_EL2"] == next(a for a, s in m.symbols.items() if s == "site")
    assert m.cpu.x[6] == 0
