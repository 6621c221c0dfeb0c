"""Straight-line code that runs off the end of a 4 KiB page (MMU-03, MMU-04, syndromes.md §7).

The next instruction is fetched through the translation of the next page, whatever
the previous page held: when that page is unmapped or not executable, the Instruction
Abort is taken at its first instruction (ELR = FAR = that address) after every
instruction before it completed; when it is remapped and invalidated, the new page
runs. Physical pages are laid out contiguously so that reading on past the end of the
first page would find the old code.
"""

from __future__ import annotations

import pytest

from plugins.mmu.tests.guest import CODE, EL1, HCR_RW, HCR_VM, VTCR, code_block, el1_regs, program
from plugins.mmu.tests.tables import AF, DATA, NORMAL, PXN, S2_NORMAL, S2_TABLES, S2AP_RW, TABLES, Tables

CPU = "max,mmu=on"
VA = 0x2000_0000  # two pages of code: VA -> PA0, VA + 0x1000 -> PA0 + 0x1000 (or PA2)
PA0 = DATA + 0x8000
PA2 = DATA + 0xA000
START = VA + 0x1000 - 8 * 4  # eight instructions before the boundary
ADD_X11 = 0x9100_056B  # add x11, x11, #1
MOVZ_X12 = 0xD280_000C  # mov x12, #imm16 (imm16 at bit 5)
RET = 0xD65F_03C0
ALIAS = 0x1000_0000


def write_code(m, pa: int, words: list[int]) -> None:
    for i, word in enumerate(words):
        m.bus.write(pa + 4 * i, 4, word)


def lay_out(m) -> None:
    """PA0's last eight words add 1 to x11 each; the next page and PA2 set x12 to 1 and 2."""
    write_code(m, PA0 + 0x1000 - 32, [ADD_X11] * 8)
    write_code(m, PA0 + 0x1000, [MOVZ_X12 | 1 << 5, ADD_X11, RET])
    write_code(m, PA2, [MOVZ_X12 | 2 << 5, ADD_X11, RET])


def stage1_setup(second: int | None):
    """EL1&0 tables: VA -> PA0, and VA + 0x1000 -> the page after it with attributes `second`
    (None: unmapped); x20 = that descriptor (as data), x21 = one for PA2."""

    def setup(m):
        lay_out(m)
        t = Tables(m, TABLES)
        code_block(t)
        t.map(VA, PA0, attrs=NORMAL)
        if second is None:
            addr = t.entry(VA + 0x1000, 3)
        else:
            addr = t.map(VA + 0x1000, PA0 + 0x1000, attrs=second)
        for page in range(TABLES, t.next, 0x1000):
            t.map(page + ALIAS, page, attrs=NORMAL)
        m.cpu.x[20] = addr + ALIAS
        m.cpu.x[21] = PA2 | NORMAL | 0b11

    return setup


def run_guest(run_asm, body: str, setup, single: bool, **kw):
    m = run_asm(program(body, **kw), cpu=CPU, max_insns=20_000, setup=setup, one_insn_per_block=single)
    assert m.stop.kind == "exit", m.stop
    return m


CALL = f"    ldr x1, ={START:#x}\n    blr x1\n    mov x10, #1\n"
ENGINES = pytest.mark.parametrize("single", [False, True], ids=["blocks", "single"])


@ENGINES
@pytest.mark.parametrize(
    ("second", "esr"),
    [(None, 0x8600_0007), (NORMAL | PXN, 0x8600_000F), (NORMAL & ~AF, 0x8600_000B)],
    ids=["unmapped", "pxn", "af0"],
)
def test_mmu03_fetch_fault_at_the_first_instruction_of_the_next_page(run_asm, single, second, esr):
    m = run_guest(run_asm, CALL, stage1_setup(second), single, el=1, el2=EL1, el1=el1_regs(TABLES))
    sr = m.cpu.sr
    assert sr["ESR_EL1"] == esr
    assert sr["ELR_EL1"] == sr["FAR_EL1"] == VA + 0x1000
    assert m.cpu.x[11] == 8  # every instruction of the first page ran
    assert (m.cpu.x[12], m.cpu.x[10]) == (0, 0)


@ENGINES
def test_mmu04_remapped_next_page_runs_after_tlbi(run_asm, single):
    body = CALL + "    mov x13, x12\n    str x21, [x20]\n    dsb ish\n"
    body += f"    ldr x3, ={(VA + 0x1000) >> 12:#x}\n    tlbi vae1, x3\n    dsb ish\n    isb\n" + CALL
    m = run_guest(run_asm, body, stage1_setup(NORMAL), single, el=1, el2=EL1, el1=el1_regs(TABLES))
    assert (m.cpu.x[13], m.cpu.x[12]) == (1, 2)
    assert m.cpu.x[11] == 18


@ENGINES
def test_mmu06_stage2_fetch_fault_at_the_next_page_goes_to_el2(run_asm, single):
    # stage 1 off at EL1: the IPA is the VA; stage 2 maps only the first page
    def setup(m):
        lay_out(m)
        s2 = Tables(m, S2_TABLES, start_level=1)
        s2.map(CODE, CODE, level=2, attrs=S2_NORMAL | S2AP_RW)
        s2.map(VA, PA0, attrs=S2_NORMAL | S2AP_RW)
        s2.entry(VA + 0x1000, 3)

    el2 = {"hcr_el2": HCR_RW | HCR_VM, "vtcr_el2": VTCR, "vttbr_el2": S2_TABLES}
    m = run_guest(run_asm, CALL, setup, single, el=1, el2=el2)
    sr = m.cpu.sr
    assert sr["ESR_EL2"] == 0x8200_0007
    assert sr["ELR_EL2"] == sr["FAR_EL2"] == VA + 0x1000
    assert sr["HPFAR_EL2"] == ((VA + 0x1000) >> 12) << 4
    assert m.cpu.x[11] == 8
    assert m.cpu.x[12] == 0
