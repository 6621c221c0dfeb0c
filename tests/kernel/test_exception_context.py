"""Exception entry and return change the EL, and with it the permissions every later fetch is
checked against (Arm ARM D8, stage-1 execute permissions): code that EL0 ran must not become
executable at EL1 because an exception was taken from it, and code EL1 ran must not become
executable at EL0 after an ERET. armnv caches translated code per translation context, so these
tests catch an entry or return that forgets to select the new EL's context.

The EL1&0 stage-1 map (4 KiB pages, identity) makes every page of the image EL1-only (AP = 0b00,
UXN) except `el0_page`, which is EL0 read-write, EL0-executable and PXN.
"""

from __future__ import annotations

import struct

from .conftest import EL0T, EL1H, eret_to, install, read_log, set_hcr, symbol, vectors

L1, L2, L3 = 0x4030_0000, 0x4030_1000, 0x4030_2000  # tables for VA 0x4000_0000-0x401F_FFFF
TABLE, PAGE, AF, SH_INNER, NORMAL = 0b11, 0b11, 1 << 10, 3 << 8, 1 << 2
AP_EL0_RW, PXN, UXN = 1 << 6, 1 << 53, 1 << 54

MMU_ON = """
    ldr x0, =0x40300000
    msr ttbr0_el1, x0
    ldr x0, =0x80803519
    msr tcr_el1, x0
    mov x0, #0xff00
    msr mair_el1, x0
    mrs x0, sctlr_el1
    orr x0, x0, #1
    msr sctlr_el1, x0
    isb
"""


def page_tables(m) -> None:
    """Write the map described above (MAIR attribute 1 is Normal memory)."""
    el0_page = symbol(m, "el0_page")
    entries = []
    for i in range(512):
        pa = 0x4000_0000 + (i << 12)
        perms = AP_EL0_RW | PXN if pa == el0_page else UXN
        entries.append(pa | perms | NORMAL | SH_INNER | AF | PAGE)
    m.write_phys(L3, b"".join(struct.pack("<Q", e) for e in entries))
    m.write_phys(L2, struct.pack("<Q", L3 | TABLE))
    m.write_phys(L1 + 8, struct.pack("<Q", L2 | TABLE))


def program(el1: str, el1_vectors: str) -> str:
    return (
        install(2, "vec2")
        + set_hcr(0)
        + "    adr x0, vec1\n    msr vbar_el1, x0\n"
        + MMU_ON
        + eret_to("el1", EL1H)
        + f"el1:\n{el1}\n"
        + vectors(2, "vec2")
        + el1_vectors
        + """
    .balign 4096
el0_page:
    svc #1
    b .
    .balign 4096
"""
    )


# EL1 vectors: the synchronous exception from EL0 (entry 0x400) branches to el0_page, every
# other entry records ESR/ELR/FAR in x20/x21/x23 and stops
BRANCHING_VECTORS = """
    .balign 2048
vec1:
    .rept 8
    .balign 128
    b record
    .endr
    .balign 128
    b to_el0_page
    .rept 7
    .balign 128
    b record
    .endr
to_el0_page:
    mov x9, #1
    adr x1, el0_page
    br x1
record:
    mrs x20, esr_el1
    mrs x21, elr_el1
    mrs x23, far_el1
    b _armnv_exit
"""


def test_entry_from_el0_leaves_el0_code_not_executable_at_el1(run_asm):
    # EL0 runs `svc #1` from el0_page; the EL1 handler branches to that same instruction, which
    # EL1 may not execute (PXN): an Instruction Abort taken to EL1, not an SVC
    m = run_asm(program(eret_to("el0_page", EL0T, from_el=1), BRANCHING_VECTORS), setup=page_tables)
    x = m.cpu.x
    assert x[9] == 1  # the SVC from EL0 reached the handler
    # EC 0x21 (same EL), permission fault at level 3, on el0_page
    assert (x[20], x[21], x[23]) == (0x8600000F, symbol(m, "el0_page"), symbol(m, "el0_page"))


def test_return_to_el0_leaves_el1_code_not_executable_at_el0(run_asm):
    # EL1 runs `el1_code` (an EL1-only page), then ERETs to it at EL0: an Instruction Abort from EL0
    el1 = "    bl el1_code\n" + eret_to("el1_code", EL0T, from_el=1) + "el1_code:\n    mov x9, #1\n    ret\n"
    m = run_asm(program(el1, vectors(1, "vec1")), setup=page_tables)
    (e,) = read_log(m)
    assert m.cpu.el == 1
    # EC 0x20 (from a lower EL), permission fault at level 3
    assert (e.esr, e.elr, e.far) == (0x8200000F, symbol(m, "el1_code"), symbol(m, "el1_code"))
