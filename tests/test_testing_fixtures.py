"""The fixtures of framework.testing change exactly the registers their documentation names."""

from __future__ import annotations

from framework.testing import with_stop_vectors

# x2..x27 and x29, x30 get values the fixtures never produce: 0x1100 + n
KEPT = [n for n in range(2, 31) if n not in (9, 28)]
SET_ALL = "\n".join(f"    mov x{n}, #{0x1100 + n:#x}" for n in range(0, 31))


def symbol(m, name: str) -> int:
    return next(addr for addr, n in m.symbols.items() if n == name)


def test_run_asm_exit_overwrites_only_x0_and_x1(run_asm):
    m = run_asm(SET_ALL)
    assert (m.stop.kind, m.stop.exit_code) == ("exit", 0)
    assert m.cpu.x[0] == 0x18  # SYS_EXIT
    assert m.cpu.x[1] == symbol(m, "_armnv_exit_block")
    assert all(m.cpu.x[n] == 0x1100 + n for n in range(2, 31))


def test_with_stop_vectors_uses_x9_and_a_taken_entry_overwrites_x28_x0_x1(run_asm):
    m = run_asm(with_stop_vectors(SET_ALL + "\n    mov x9, #0x1109\n    brk #1\n"))
    assert (m.stop.kind, m.stop.exit_code) == ("exit", 1)
    vbar = symbol(m, "vectors")
    assert m.cpu.x[28] == vbar + 0x200  # current EL with SP_ELx, synchronous
    assert m.cpu.x[0] == 0x18
    assert m.cpu.x[1] == symbol(m, "vec_exit_block")
    assert all(m.cpu.x[n] == 0x1100 + n for n in KEPT)


def test_with_stop_vectors_sets_x9_before_the_body(run_asm):
    m = run_asm(with_stop_vectors("    mov x2, x9\n"))
    assert m.cpu.x[2] == symbol(m, "vectors")
    assert m.cpu.sr["VBAR_EL2"] == symbol(m, "vectors")
