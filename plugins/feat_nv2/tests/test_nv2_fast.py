"""Redirected accesses made by generated code on RAM: the same architecture as the helper's.

Once an MRS/MSR with a slot has been made (NV2-05), the engine makes the next ones
itself on the RAM doubleword its EL2-regime translation gave. These tests check
what the architecture requires of the repeated accesses: the same memory, registers
and ``--stats`` counts as accesses all made by the helper (``-d sysreg`` caches
nothing); a new EL2 mapping of the VNCR page is used after TLBI ALLE2 (NV2-06,
MMU-08); an access whose mapping became invalid faults to EL2 (NV2-13, NV2-14);
and a slot store to a page holding executed code is fetched after DSB, ISB (MMU-09,
CTR_EL0.DIC = IDC = 1 on the `max` model).
"""

from __future__ import annotations

from plugins.feat_nv2.tests.guest import HCR_RW, NV2, SENTINEL, VNCR, fill, nv2_run, slot, vncr_esr
from plugins.feat_nv2.tests.test_nv2_faults import E2H, el2_mmu
from plugins.mmu.tests.guest import addr_of, code_block, program
from plugins.mmu.tests.tables import AP_RW_EL1, BLOCK, NORMAL, TABLES, Tables

TPIDR_EL2, VTTBR_EL2 = 0x90, 0x20  # their slots (vncr.csv)

LOOP = """
    mov x0, #{n}
    mov x20, #0
1:  msr tpidr_el2, x0
    mrs x9, tpidr_el2
    msr vttbr_el2, x9
    mrs x10, vttbr_el2
    add x20, x20, x10
    mrs xzr, tpidr_el2
    subs x0, x0, #1
    b.ne 1b
"""


def test_nv2_05_repeated_accesses_match_accesses_made_one_by_one(run_asm, tmp_path):
    n = 50
    src = program(LOOP.format(n=n), el=1, el2={"vncr_el2": VNCR, "hcr_el2": HCR_RW | NV2})
    runs = {}
    for name, config in {
        "blocks": {"one_insn_per_block": False},
        "single": {"one_insn_per_block": True},
        # -d sysreg caches no decision, so every access is made by the helper
        "helper": {"debug": frozenset({"sysreg"}), "log_file": str(tmp_path / "log")},
    }.items():
        m = run_asm(src, setup=fill, max_insns=20_000, **config)
        assert m.stop.kind == "exit" and m.cpu.el == 1, m.stop
        runs[name] = m
    for m in runs.values():
        # the last MSR of each slot stored 1; every read saw the value just stored
        assert slot(m, TPIDR_EL2) == 1 and slot(m, VTTBR_EL2) == 1
        assert m.cpu.x[20] == n * (n + 1) // 2
        # an access to XZR is still an access to the slot
        assert dict(m.stats.to_memory_regs) == {"TPIDR_EL2": 3 * n, "VTTBR_EL2": 2 * n}
    page = [[slot(m, off) for off in range(0, 0x1000, 8)] for m in runs.values()]
    assert page[0] == page[1] == page[2]
    assert slot(runs["blocks"], 0x28) == SENTINEL | 0x28  # nothing else in the page changed
    # the runs with cached decisions did make their accesses on RAM
    assert runs["blocks"].mem.vfast[1] and runs["single"].mem.vfast[1]
    assert not runs["helper"].mem.vfast[1]


# ---- the VNCR page's EL2 mapping changes: TLBI ALLE2 -------------------------------------------

VA = 0x40A0_0000  # the VNCR page's VA in the EL2 regime: a 2 MiB block
PA1 = 0x4080_0000
PA2 = 0x40C0_0000
PARAM = 0x4058_0000  # the descriptor's address and its new value, for the EL2 handler
OTHER = 0xBBBB_0000_0000_0000  # the slots of the page at PA2 hold OTHER | offset

# EL2: an HVC rewrites the block descriptor of VA, then TLBI ALLE2; any other exception stops
HANDLER = """
    mrs x12, esr_el2
    lsr x12, x12, #26
    cmp x12, #0x16
    b.eq 3f
    mov x15, #0x400
    b _armnv_exit
3:  ldr x9, ={param:#x}
    ldp x10, x11, [x9]
    str x11, [x10]
    dsb ish
    tlbi alle2
    dsb ish
    isb
"""

# EL1: four passes storing and loading the TPIDR_EL2 slot, the EL2 mapping changed after two
REMAP = """
    ldr x1, =0x1111111111111111
    mov x7, #0
1:
at: msr tpidr_el2, x1
    mrs x3, tpidr_el2
    mrs x4, vttbr_el2
    add x7, x7, #1
    cmp x7, #2
    b.ne 2f
    hvc #0
    ldr x1, =0x2222222222222222
2:  cmp x7, #4
    b.ne 1b
"""


def remap_setup(new_desc: int | None):
    def setup(m):
        fill(m, PA1)
        for off in range(0, 0x1000, 8):
            m.bus.write(PA2 + off, 8, OTHER | off)
        t = Tables(m, TABLES)
        code_block(t)
        # the tables and PARAM, writable at EL2
        t.map(TABLES, TABLES, level=2, attrs=NORMAL | AP_RW_EL1)
        desc = t.entry(VA, 2)
        m.bus.write(desc, 8, PA1 | NORMAL | AP_RW_EL1 | BLOCK)
        m.bus.write(PARAM, 8, desc)
        m.bus.write(PARAM + 8, 8, PA2 | NORMAL | AP_RW_EL1 | BLOCK if new_desc is None else new_desc)

    return setup


def run_remap(run_asm, e2h: int, new_desc: int | None):
    src = program(REMAP, el=1, el2=el2_mmu(e2h), hvc=HANDLER.format(param=PARAM))
    m = run_asm(src, cpu="max", setup=remap_setup(new_desc), max_insns=20_000)
    assert m.stop.kind == "exit", m.stop
    return m


@E2H
def test_nv2_06_a_new_mapping_of_the_vncr_page_is_used_after_tlbi_alle2(run_asm, e2h):
    m = run_remap(run_asm, e2h, None)
    assert m.cpu.el == 1 and m.cpu.x[15] == 0 and m.cpu.x[7] == 4
    assert m.bus.read(PA1 + TPIDR_EL2, 8) == 0x1111111111111111  # before the TLBI
    assert m.bus.read(PA2 + TPIDR_EL2, 8) == 0x2222222222222222  # after it
    assert m.cpu.x[3] == 0x2222222222222222
    assert m.cpu.x[4] == OTHER | VTTBR_EL2  # read from the new page
    assert m.stats.to_memory_regs["TPIDR_EL2"] == 8 and m.stats.to_memory_regs["VTTBR_EL2"] == 4


@E2H
def test_nv2_14_an_access_whose_mapping_was_invalidated_faults_to_el2(run_asm, e2h):
    m = run_remap(run_asm, e2h, 0)
    assert m.cpu.el == 2 and m.cpu.x[15] == 0x400 and m.cpu.x[7] == 2
    # Translation fault, level 2, on the store of the third pass (NV2-14: EC 0x25, VNCR, WnR)
    assert m.cpu.sr["ESR_EL2"] == vncr_esr(0x06, True)
    assert m.cpu.sr["FAR_EL2"] == VA + TPIDR_EL2
    assert m.cpu.sr["ELR_EL2"] == addr_of(m, "at")
    assert m.bus.read(PA1 + TPIDR_EL2, 8) == 0x1111111111111111
    assert m.bus.read(PA2 + TPIDR_EL2, 8) == OTHER | TPIDR_EL2
    # the faulting access is counted as the helper counts it: it was made to memory
    assert m.stats.to_memory_regs["TPIDR_EL2"] == 5


# ---- a slot in a page of code --------------------------------------------------------------------

RET = 0xD65F_03C0


def movz_x9_ret(imm: int) -> int:
    """A doubleword holding ``mov x9, #imm`` then ``ret``."""
    return RET << 32 | 0xD280_0009 | imm << 5


def test_mmu09_a_slot_store_to_a_page_of_code_is_fetched_after_isb(run_asm):
    # each pass stores `mov x9, #k; ret` into the TPIDR_EL2 slot and calls it: the first
    # call makes the VNCR page a page of translated code, later stores must replace it
    body = f"""
    ldr x4, ={VNCR + TPIDR_EL2:#x}
    ldr x1, ={movz_x9_ret(7):#x}
    ldr x2, ={movz_x9_ret(8):#x}
    ldr x3, ={movz_x9_ret(9):#x}
    mov x20, #0
    mov x7, #3
1:  msr tpidr_el2, x1
    dsb ish
    isb
    blr x4
    add x20, x9, x20, lsl #4
    mov x1, x2
    mov x2, x3
    subs x7, x7, #1
    b.ne 1b
"""
    m = nv2_run(run_asm, body)
    assert m.cpu.el == 1
    assert m.cpu.x[20] == 0x789
    assert slot(m, TPIDR_EL2) == movz_x9_ret(9)
