"""The trap path with its per-configuration caches: trapped accesses and exception returns.

A trapped access's exception (its EL, syndrome and --stats rule) and what an ERET does for an
SPSR value are worked out once per configuration. The architecture says what each must
be under the configuration in force when it executes, so the tests change the configuration
between two executions of the same instruction and check the second one; and they run
the same guests translated and one instruction per block, with and without the
``-d int`` observer (which takes the full path), and compare.
"""

from __future__ import annotations

import pytest

from framework.testing import run_in_both_modes

from .conftest import EL1H, HCR_TGE, eret_to, install, read_log, set_hcr, sysreg_esr, vectors

HCR_TVM = 1 << 26
EC_SYSREG, EC_HVC, EC_ILLEGAL = 0x18, 0x16, 0x0E
CONTEXTIDR_WRITE_X4 = sysreg_esr(3, 0, 13, 0, 1, 4, False)
PSTATE_IL = 1 << 20


def state(m):
    cpu = m.cpu
    return (list(cpu.x), cpu.nzcv, cpu.pc, cpu.el, cpu.icount, m.stop.kind, read_log(m))


# EL1 writes CONTEXTIDR_EL1 in a loop under HCR_EL2.TVM: each write traps (EC 0x18) in the
# middle of the loop's block, and EL2 skips it; x4 counts the passes
TRAPPED_IN_LOOP = (
    install(2, "vec2")
    + set_hcr(HCR_TVM)
    + eret_to("el1_loop", EL1H)
    + """
el1_loop:
    mov x0, #5
    mov x4, #0
1:  add x4, x4, #1
    msr contextidr_el1, x4
    add x5, x4, #10
    subs x0, x0, #1
    b.ne 1b
    hvc #1
"""
    + vectors(2, "vec2", action="skip_or_exit")
    + """
skip_or_exit:
    lsr x19, x20, #26
    cmp x19, #0x18
    b.ne _armnv_exit
    mrs x19, elr_el2
    add x19, x19, #4
    msr elr_el2, x19
    eret
"""
)


def test_trapped_write_in_a_loop_block_traps_every_time_at_the_write():
    translated, single = run_in_both_modes(TRAPPED_IN_LOOP)
    log = read_log(translated)
    assert [e.esr for e in log[:5]] == [CONTEXTIDR_WRITE_X4] * 5
    assert len({e.elr for e in log[:5]}) == 1  # the MSR itself, each time
    assert log[5].esr >> 26 == EC_HVC
    assert translated.cpu.sr["CONTEXTIDR_EL1"] == 0  # every write was trapped and skipped
    assert translated.cpu.x[5] == 15
    assert state(translated) == state(single)


@pytest.mark.parametrize("limit", [11, 12, 13, 14, 30, 31, 32, 33, 48, 49, 50])
def test_max_insns_is_exact_around_trapped_writes(limit):
    translated, single = run_in_both_modes(TRAPPED_IN_LOOP, max_insns=limit)
    assert translated.cpu.icount == single.cpu.icount == limit
    assert state(translated) == state(single)


def test_trap_counts_and_trace_are_the_same_with_the_observer(tmp_path):
    # -d int takes the full path (explanations, the log); without it the cached plan is
    # taken: the guest, the counters by rule and the exception counts must not differ
    quiet, _ = run_in_both_modes(TRAPPED_IN_LOOP)
    log = tmp_path / "int.log"
    watched, _ = run_in_both_modes(TRAPPED_IN_LOOP, debug=("int",), log_file=str(log))
    assert state(quiet) == state(watched)
    assert quiet.stats.traps[2] == watched.stats.traps[2] == 5
    assert dict(quiet.stats.trap_rules) == dict(watched.stats.trap_rules)
    assert sum(quiet.stats.trap_rules.values()) == 5
    assert quiet.stats.exceptions == watched.stats.exceptions == {(EC_SYSREG, 2): 5, (EC_HVC, 2): 1}


# The same EL1 write before and after EL2 changes HCR_EL2.TVM (through an HVC): it must trap
# exactly while TVM is set. x7 = 0: TVM starts clear and the HVC sets it; x7 = 1: the reverse.
TOGGLED = (
    install(2, "vec2")
    + """
    cbz x7, 1f
    ldr x19, =(1 << 31) | (1 << 26)
    b 2f
1:  ldr x19, =(1 << 31)
2:  msr hcr_el2, x19
    isb
"""
    + eret_to("el1_writes", EL1H)
    + """
el1_writes:
    mov x4, #1
    msr contextidr_el1, x4
    mov x4, #2
    msr contextidr_el1, x4
    hvc #0
    mov x4, #3
    msr contextidr_el1, x4
    mov x4, #4
    msr contextidr_el1, x4
    hvc #1
"""
    + vectors(2, "vec2", action="toggle")
    + """
toggle:
    lsr x19, x20, #26
    cmp x19, #0x18
    b.eq skip
    and x19, x20, #0xffff
    cbnz x19, _armnv_exit
    mrs x19, hcr_el2
    eor x19, x19, #(1 << 26)
    msr hcr_el2, x19
    isb
    eret
skip:
    mrs x19, elr_el2
    add x19, x19, #4
    msr elr_el2, x19
    eret
"""
)


@pytest.mark.parametrize("tvm_first", [0, 1], ids=["set-later", "cleared-later"])
def test_a_trap_follows_hcr_el2_tvm_from_one_write_to_the_next(run_asm, tvm_first):
    m = run_asm(TOGGLED, setup=lambda m: m.cpu.x.__setitem__(7, tvm_first))
    kinds = [e.esr >> 26 for e in read_log(m)]
    if tvm_first:
        # writes 1 and 2 trap, the HVC clears TVM, writes 3 and 4 reach the register
        assert kinds == [EC_SYSREG, EC_SYSREG, EC_HVC, EC_HVC]
        assert m.cpu.sr["CONTEXTIDR_EL1"] == 4
    else:
        assert kinds == [EC_HVC, EC_SYSREG, EC_SYSREG, EC_HVC]
        assert m.cpu.sr["CONTEXTIDR_EL1"] == 2
    assert m.stats.traps[2] == 2


# ERET from EL2 to EL1h with one SPSR value, twice: HCR_EL2.TGE = 0 the first time (a legal
# return), 1 the second (illegal: PSTATE.IL, EL and SP kept, EC 0x0E at the next instruction)
ERET_THEN_TGE = (
    install(2, "vec2")
    + set_hcr(0)
    + """
    ldr x10, =0x600003c5
    msr spsr_el2, x10
    adr x19, el1_code
    msr elr_el2, x19
    eret
el1_code:
    mrs x11, nzcv
    hvc #0
"""
    + vectors(2, "vec2", action="second")
    + """
second:
    cmp x25, #1
    b.ne _armnv_exit
    ldr x19, =(1 << 31) | (1 << 27)
    msr hcr_el2, x19
    isb
    msr spsr_el2, x10
    adr x19, el1_code
    msr elr_el2, x19
    eret
"""
)


def test_the_same_spsr_returns_legally_then_illegally_once_tge_is_set(run_asm):
    m = run_asm(ERET_THEN_TGE)
    log = read_log(m)
    assert log[0].esr >> 26 == EC_HVC and log[0].spsr & 0xF == EL1H  # from EL1: the legal return
    assert m.cpu.x[11] == 0x6000_0000  # NZCV restored from SPSR: Z and C
    # the illegal return stayed at EL2 with SP_EL2 and IL set; el1_code's first instruction
    # then took the Illegal Execution state exception
    assert log[1].esr >> 26 == EC_ILLEGAL
    assert log[1].elr == log[0].elr - 8  # el1_code: the HVC (its ELR is past it) is its second instruction
    assert log[1].spsr & PSTATE_IL and log[1].spsr & 0xF == 0x9  # EL2h, as the ERET left it


def test_one_return_per_spsr_value_restores_each_value(run_asm):
    # an exception return for each NZCV value, from the same ERET: each value's own flags
    m = run_asm(
        install(2, "vec2")
        + set_hcr(0)
        + """
    mov x12, #0
    mov x13, #0
    mov x9, #0x3c5
next:
    lsl x10, x12, #28
    orr x10, x10, x9
    msr spsr_el2, x10
    adr x19, el1_code
    msr elr_el2, x19
    eret
el1_code:
    mrs x11, nzcv
    add x13, x13, x11, lsr #28
    hvc #0
"""
        + vectors(2, "vec2", action="again")
        + """
again:
    add x12, x12, #1
    cmp x12, #16
    b.ne next
    b _armnv_exit
"""
    )
    assert m.cpu.x[13] == sum(range(16))
    assert len(read_log(m)) == 16


def test_illegal_returns_with_one_spsr_keep_each_stack_pointer_selection(run_asm):
    # SPSR.M = EL1h with TGE = 1 is an illegal return, which keeps PSTATE.SP: once from
    # EL2h, once from EL2t, with the same SPSR value
    m = run_asm(
        install(2, "vec2")
        + set_hcr(HCR_TGE)
        + """
    mov x14, #0
    ldr x10, =0x3c5
    msr spsr_el2, x10
    adr x19, first
    msr elr_el2, x19
    eret
first:
    mrs x15, spsel
    msr spsel, #0
    msr spsr_el2, x10
    adr x19, second_ret
    msr elr_el2, x19
    eret
second_ret:
    mrs x16, spsel
    b _armnv_exit
"""
        + vectors(2, "vec2", action="skip_il")
        + """
skip_il:
    // the Illegal Execution state exception at the return target: resume there with IL clear
    add x14, x14, #1
    mrs x19, spsr_el2
    bic x19, x19, #(1 << 20)
    msr spsr_el2, x19
    eret
"""
    )
    assert m.cpu.x[14] == 2
    assert (m.cpu.x[15], m.cpu.x[16]) == (1, 0)
    assert [e.spsr & 0xF for e in read_log(m)] == [0x9, 0x8]


def test_entry_pstate_follows_sctlr_from_one_exception_to_the_next(run_asm):
    # syndromes.md §10: PSTATE.SSBS on entry is SCTLR_ELx.DSSBS (max has FEAT_SSBS); the same
    # SVC before and after EL1 sets SCTLR_EL1.DSSBS must see each value
    m = run_asm(
        set_hcr(0)
        + eret_to("el1", EL1H)
        + """
    .balign 2048
el1_vectors:
    .skip 0x200
    // current EL with SP_ELx, synchronous: PSTATE.SSBS as the handler sees it
    cbnz x13, 1f
    mrs x14, S3_3_C4_C2_6
    mov x13, #1
    eret
1:  mrs x15, S3_3_C4_C2_6
    eret

el1:
    adr x19, el1_vectors
    msr vbar_el1, x19
    isb
    mov x13, #0
    mov x14, #7
    mov x15, #7
    svc #0
    mrs x19, sctlr_el1
    orr x19, x19, #(1 << 44)
    msr sctlr_el1, x19
    isb
    svc #1
"""
    )
    ssbs = 1 << 12  # PSTATE.SSBS as MRS SSBS reads it
    assert (m.cpu.x[14], m.cpu.x[15]) == (0, ssbs)
