"""EL2 base traps (HCR_EL2, CPTR_EL2, MDCR_EL2), EL0 enables (SCTLR_ELx), FP traps, FEAT_IDST and
the UNDEF of unknown or too-privileged registers (syndromes.md §3, §3a, §4; cpu-models.md §7)."""

from __future__ import annotations

import pytest

from .conftest import (
    EL0T,
    EL1H,
    ESR_UNDEF,
    HCR_E2H,
    HCR_TGE,
    eret_to,
    install,
    read_log,
    set_hcr,
    symbol,
    sysreg_esr,
    vectors,
)

HCR = {
    "TWI": 1 << 13, "TWE": 1 << 14, "TID1": 1 << 16, "TID2": 1 << 17, "TID3": 1 << 18, "TSC": 1 << 19,
    "TIDCP": 1 << 20, "TACR": 1 << 21, "TSW": 1 << 22, "TPCP": 1 << 23, "TPU": 1 << 24, "TTLB": 1 << 25,
    "TVM": 1 << 26, "TDZ": 1 << 28, "TRVM": 1 << 30,
}  # fmt: skip
SCTLR_UMA, SCTLR_DZE, SCTLR_UCT, SCTLR_NTWI, SCTLR_UCI = 1 << 9, 1 << 14, 1 << 15, 1 << 16, 1 << 26
ESR_FP = 0x1E000000  # EC 0x07, ISS 0
DONE = 0x7FF  # the SVC that ends a guest which took no other exception


def guest(
    body: str, *, at: int = 1, hcr: int = 0, el1_setup: str = "", sctlr_el1: int = 0, el2_action: str = "exit"
) -> str:
    """`body` at EL1 (at=1) or EL0 (at=0) under HCR_EL2 = hcr | RW; the instruction after it is `done`.

    `el1_setup` runs at EL2 before the ERET (registers it sets survive). Both vector tables stop
    the machine (unless `el2_action` says otherwise), so the log holds the first exception only.
    """
    setup = install(2, "vec2") + install(1, "vec1") + set_hcr(hcr) + el1_setup
    if sctlr_el1:
        setup += (
            f"    mrs x19, sctlr_el1\n    ldr x20, ={sctlr_el1:#x}\n    orr x19, x19, x20\n    msr sctlr_el1, x19\n"
        )
    mode = EL1H if at == 1 else EL0T
    return (
        setup
        + eret_to("lower", mode, daif=0)
        + f"lower:\n{body}\ndone:\n    mov x18, #1\n    svc #{DONE}\n"
        + vectors(2, "vec2", el2_action)
        + vectors(1, "vec1")
    )


def el2_program(body: str) -> str:
    """`body` at EL2 with an EL2 vector table that stops the machine."""
    return install(2, "vec2") + body + "\n    b _armnv_exit\n" + vectors(2, "vec2")


def only_exception(m):
    (e,) = read_log(m)
    return e


def assert_trap(m, el: int, esr: int, at: str = "lower"):
    e = only_exception(m)
    assert m.cpu.el == el, f"taken to EL{m.cpu.el}, ESR {e.esr:#x}"
    assert e.esr == esr, f"ESR {e.esr:#x} != {esr:#x}"
    assert e.elr == symbol(m, at)  # a trap returns to the trapped instruction


def assert_no_trap(m):
    # the only exception is the SVC after `done`
    e = only_exception(m)
    assert m.cpu.x[18] == 1
    assert e.esr == 0x56000000 | DONE, f"unexpected exception, ESR {e.esr:#x}"


# ---- WFI / WFE (syndromes.md §3a) ----------------------------------------------------------


def test_twi_traps_el1_wfi_to_el2(run_asm):
    assert_trap(run_asm(guest("    wfi", hcr=HCR["TWI"])), 2, 0x07E00000)


def test_el0_wfi_traps_to_el1_when_sctlr_ntwi_is_0(run_asm):
    # SCTLR_EL1 resets to 0x30D00800, whose nTWI (bit 16) is 0
    assert_trap(run_asm(guest("    wfi", at=0)), 1, 0x07E00000)


def test_el0_wfi_with_ntwi_traps_to_el2_by_twi(run_asm):
    assert_trap(run_asm(guest("    wfi", at=0, hcr=HCR["TWI"], sctlr_el1=SCTLR_NTWI)), 2, 0x07E00000)


def test_wfe_is_never_trapped(run_asm):
    assert_no_trap(run_asm(guest("    sevl\n    wfe\n    wfe", hcr=HCR["TWE"])))


# ---- SMC (syndromes.md §9, NV-16) -------------------------------------------------------------


def test_tsc_traps_el1_smc_with_smc_address(run_asm):
    m = run_asm(
        guest("    smc #7", hcr=HCR["TSC"], el1_setup="    ldr x0, =0x84000000\n", el2_action="keep_x0")
        + "keep_x0:\n    mov x17, x0\n    b _armnv_exit\n"
    )
    assert_trap(m, 2, 0x5E000007)
    assert m.cpu.x[17] == 0x84000000  # x0 unchanged: the firmware call was not made


# ---- ID registers: TID1, TID2, TID3 ------------------------------------------------------------


def test_tid3_traps_id_register_read(run_asm):
    # cpu-models.md §7: MRS X1, ID_AA64MMFR2_EL1 -> ESR_EL2 0x6234002F
    assert_trap(run_asm(guest("    mrs x1, id_aa64mmfr2_el1", hcr=HCR["TID3"])), 2, 0x6234002F)


def test_tid3_traps_reserved_group3_encoding(run_asm):
    m = run_asm(guest("    mrs x2, s3_0_c0_c4_6", hcr=HCR["TID3"]))
    assert_trap(m, 2, sysreg_esr(3, 0, 0, 4, 6, 2, True))


def test_without_tid3_id_registers_read_at_el1(run_asm):
    m = run_asm(guest("    mrs x1, id_aa64mmfr2_el1\n    mrs x2, s3_0_c0_c4_6\n    mov x3, x1"))
    assert_no_trap(m)
    assert m.cpu.x[3] == m.id_value("ID_AA64MMFR2_EL1")
    assert m.cpu.x[2] == 0  # reserved, RAZ


@pytest.mark.parametrize(("asm", "enc"), [("aidr_el1", (3, 1, 0, 0, 7)), ("revidr_el1", (3, 0, 0, 0, 6))])
def test_tid1(run_asm, asm, enc):
    assert_trap(run_asm(guest(f"    mrs x4, {asm}", hcr=HCR["TID1"])), 2, sysreg_esr(*enc, 4, True))


@pytest.mark.parametrize(
    ("asm", "enc", "is_read"),
    [
        ("mrs x5, ctr_el0", (3, 3, 0, 0, 1), True),
        ("mrs x5, clidr_el1", (3, 1, 0, 0, 1), True),
        ("mrs x5, csselr_el1", (3, 2, 0, 0, 0), True),
        ("msr csselr_el1, x5", (3, 2, 0, 0, 0), False),
    ],
)
def test_tid2(run_asm, asm, enc, is_read):
    assert_trap(run_asm(guest(f"    {asm}", hcr=HCR["TID2"])), 2, sysreg_esr(*enc, 5, is_read))


def test_tid2_traps_ctr_el0_at_el0_when_uct_allows_it(run_asm):
    m = run_asm(guest("    mrs x6, ctr_el0", at=0, hcr=HCR["TID2"], sctlr_el1=SCTLR_UCT))
    assert_trap(m, 2, sysreg_esr(3, 3, 0, 0, 1, 6, True))


def test_ctr_el0_at_el0_without_uct_traps_to_el1(run_asm):
    # SCTLR_EL1.UCT = 0 (reset): the EL0 enable is checked before HCR_EL2.TID2
    m = run_asm(guest("    mrs x6, ctr_el0", at=0, hcr=HCR["TID2"]))
    assert_trap(m, 1, sysreg_esr(3, 3, 0, 0, 1, 6, True))


def test_ctr_el0_at_el0_with_uct(run_asm):
    m = run_asm(guest("    mrs x6, ctr_el0\n    mov x7, x6", at=0, sctlr_el1=SCTLR_UCT))
    assert_no_trap(m)
    assert m.cpu.x[7] == m.id_value("CTR_EL0") != 0


def test_host_el0_ctr_el0_ignores_tid2_and_uses_sctlr_el2_uct(run_asm):
    # {E2H,TGE} = {1,1}: HCR_EL2.TID2 behaves as 0, SCTLR_EL2.UCT is the EL0 enable
    body = "    mrs x6, ctr_el0\n    svc #0"
    el2_setup = "    mrs x19, sctlr_el2\n    orr x19, x19, #(1 << 15)\n    msr sctlr_el2, x19\n"
    m = run_asm(guest(body, at=0, hcr=HCR_E2H | HCR_TGE | HCR["TID2"], el1_setup=el2_setup))
    e = only_exception(m)
    assert m.cpu.el == 2 and e.esr == 0x56000000  # reached the SVC
    m = run_asm(guest(body, at=0, hcr=HCR_E2H | HCR_TGE))
    assert_trap(m, 2, sysreg_esr(3, 3, 0, 0, 1, 6, True))


# ---- TACR, TVM, TRVM --------------------------------------------------------------------------


@pytest.mark.parametrize(("asm", "is_read"), [("mrs x3, actlr_el1", True), ("msr actlr_el1, x3", False)])
def test_tacr(run_asm, asm, is_read):
    assert_trap(run_asm(guest(f"    {asm}", hcr=HCR["TACR"])), 2, sysreg_esr(3, 0, 1, 0, 1, 3, is_read))


VM_CONTROLS = {
    "sctlr_el1": (3, 0, 1, 0, 0),
    "ttbr0_el1": (3, 0, 2, 0, 0),
    "ttbr1_el1": (3, 0, 2, 0, 1),
    "tcr_el1": (3, 0, 2, 0, 2),
    "afsr0_el1": (3, 0, 5, 1, 0),
    "afsr1_el1": (3, 0, 5, 1, 1),
    "esr_el1": (3, 0, 5, 2, 0),
    "far_el1": (3, 0, 6, 0, 0),
    "mair_el1": (3, 0, 10, 2, 0),
    "amair_el1": (3, 0, 10, 3, 0),
    "contextidr_el1": (3, 0, 13, 0, 1),
}


@pytest.mark.parametrize("name", VM_CONTROLS)
def test_tvm_traps_writes_only(run_asm, name):
    # write back the value just read: with TVM the read succeeds and the write traps
    m = run_asm(guest(f"    mrs x2, {name}\nthe_write:\n    msr {name}, x2", hcr=HCR["TVM"]))
    assert_trap(m, 2, sysreg_esr(*VM_CONTROLS[name], 2, False), at="the_write")


@pytest.mark.parametrize("name", VM_CONTROLS)
def test_trvm_traps_reads_only(run_asm, name):
    m = run_asm(guest(f"    msr {name}, xzr\nthe_read:\n    mrs x2, {name}", hcr=HCR["TRVM"]))
    assert_trap(m, 2, sysreg_esr(*VM_CONTROLS[name], 2, True), at="the_read")


def test_el2_traps_do_not_apply_at_el2(run_asm):
    hcr = HCR["TVM"] | HCR["TRVM"] | HCR["TID3"] | HCR["TACR"] | HCR["TID2"]
    m = run_asm(
        el2_program(
            set_hcr(hcr)
            + """
    mrs x1, sctlr_el1
    msr sctlr_el1, x1
    mrs x2, id_aa64mmfr2_el1
    mrs x3, actlr_el1
    mrs x4, ctr_el0
    mov x18, #1
"""
        )
    )
    assert read_log(m) == [] and m.cpu.x[18] == 1


# ---- cache maintenance: TSW, TPCP, TPU, TDZ; EL0 enables UCI, DZE --------------------------------


BUFFER = "    ldr x1, =0x40100000\n"  # an address in RAM for maintenance by VA


def dc_esr(op1: int, crm: int, op2: int, rt: int = 0) -> int:
    return sysreg_esr(1, op1, 7, crm, op2, rt, False)


@pytest.mark.parametrize(("op", "enc"), [("dc isw", (0, 6, 2)), ("dc csw", (0, 10, 2)), ("dc cisw", (0, 14, 2))])
def test_tsw(run_asm, op, enc):
    assert_trap(run_asm(guest(f"    {op}, x0", hcr=HCR["TSW"])), 2, dc_esr(*enc))


TO_POC = [("dc ivac", (0, 6, 1)), ("dc cvac", (3, 10, 1)), ("dc civac", (3, 14, 1)), ("dc cvap", (3, 12, 1))]
TO_POU = [("ic ivau", (3, 5, 1)), ("dc cvau", (3, 11, 1))]


@pytest.mark.parametrize(("op", "enc"), TO_POC)
def test_tpcp(run_asm, op, enc):
    m = run_asm(guest(f"    {op}, x1", hcr=HCR["TPCP"], el1_setup=BUFFER))
    assert_trap(m, 2, dc_esr(*enc, rt=1))


@pytest.mark.parametrize(("op", "enc"), [*TO_POU, ("ic iallu", (0, 5, 0)), ("ic ialluis", (0, 1, 0))])
def test_tpu(run_asm, op, enc):
    body = f"    {op}, x1" if op.startswith(("dc", "ic ivau")) else f"    {op}"
    rt = 1 if "," in body else 31
    assert_trap(run_asm(guest(body, hcr=HCR["TPU"])), 2, dc_esr(*enc, rt=rt))


def test_tdz_traps_dc_zva(run_asm):
    assert_trap(run_asm(guest("    dc zva, x2", hcr=HCR["TDZ"])), 2, dc_esr(3, 4, 1, rt=2))


@pytest.mark.parametrize(("op", "enc"), [*TO_POU, ("dc civac", (3, 14, 1)), ("dc cvac", (3, 10, 1))])
def test_el0_cache_maintenance_needs_uci(run_asm, op, enc):
    body = f"    {op}, x1"
    assert_trap(run_asm(guest(body, at=0, el1_setup=BUFFER)), 1, dc_esr(*enc, rt=1))
    assert_no_trap(run_asm(guest(body, at=0, sctlr_el1=SCTLR_UCI, el1_setup=BUFFER)))


def test_el0_with_uci_is_still_trapped_by_tpcp(run_asm):
    m = run_asm(guest("    dc civac, x1", at=0, hcr=HCR["TPCP"], sctlr_el1=SCTLR_UCI, el1_setup=BUFFER))
    assert_trap(m, 2, dc_esr(3, 14, 1, rt=1))


def test_el0_dc_zva_needs_dze(run_asm):
    body = "    dc zva, x1"
    assert_trap(run_asm(guest(body, at=0, el1_setup=BUFFER)), 1, dc_esr(3, 4, 1, rt=1))
    assert_no_trap(run_asm(guest(body, at=0, sctlr_el1=SCTLR_DZE, el1_setup=BUFFER)))


def test_el0_dc_ivac_and_set_way_are_undefined(run_asm):
    assert_trap(run_asm(guest("    dc ivac, x1", at=0)), 1, ESR_UNDEF)
    assert_trap(run_asm(guest("    dc isw, x1", at=0)), 1, ESR_UNDEF)


def test_dc_zva_zeroes_an_aligned_64_byte_block(run_asm):
    m = run_asm(
        el2_program(
            """
    ldr x1, =0x40100000
    mov x2, #-1
    mov x3, #0
fill:
    str x2, [x1, x3]
    add x3, x3, #8
    cmp x3, #192
    b.ne fill
    ldr x4, =0x40100050
    dc zva, x4
"""
        )
    )
    data = [m.bus.read(0x40100000 + 8 * i, 8) for i in range(24)]
    assert data[:8] == [(1 << 64) - 1] * 8
    assert data[8:16] == [0] * 8  # 0x40100040..0x4010007F
    assert data[16:] == [(1 << 64) - 1] * 8


def test_dc_zva_fault_is_a_write_data_abort_at_the_register_address(run_asm):
    # MMU off, data accesses are Device-nGnRnE: DC ZVA outside RAM is an Alignment fault, and FAR
    # holds the address in the register (FAR_ELx: the rule for data-cache instructions)
    m = run_asm(el2_program("    ldr x4, =0x60000068\nthe_zva:\n    dc zva, x4"))
    e = only_exception(m)
    assert e.esr == 0x96000061  # EC 0x25, WnR, alignment fault
    assert e.far == 0x60000068
    assert e.elr == symbol(m, "the_zva")


def test_ic_and_dc_without_traps_complete(run_asm):
    body = "    ic iallu\n    ic ialluis\n    ic ivau, x1\n    dc cvau, x1\n    dc isw, x1\n    dc civac, x1"
    assert_no_trap(run_asm(guest(body, el1_setup=BUFFER)))


# ---- TTLB, TIDCP ------------------------------------------------------------------------------


def test_ttlb_traps_tlbi_at_el1(run_asm):
    assert_trap(run_asm(guest("    tlbi vmalle1", hcr=HCR["TTLB"])), 2, sysreg_esr(1, 0, 8, 7, 0, 31, False))


def test_tidcp_traps_implementation_defined_space(run_asm):
    m = run_asm(guest("    mrs x3, s3_0_c15_c0_0", hcr=HCR["TIDCP"]))
    assert_trap(m, 2, sysreg_esr(3, 0, 15, 0, 0, 3, True))
    assert_trap(run_asm(guest("    mrs x3, s3_0_c15_c0_0")), 1, ESR_UNDEF)


# ---- FP/SIMD register access: CPACR_EL1.FPEN, CPTR_EL2 ----------------------------------------------


FPEN_ON = "    mov x19, #(3 << 20)\n    msr cpacr_el1, x19\n"


def test_fpcr_at_el1_traps_to_el1_when_cpacr_fpen_is_0(run_asm):
    assert_trap(run_asm(guest("    mrs x1, fpcr")), 1, ESR_FP)


def test_fpsr_at_el0_traps_when_fpen_is_el1_only(run_asm):
    m = run_asm(guest("    mrs x1, fpsr", at=0, el1_setup="    mov x19, #(1 << 20)\n    msr cpacr_el1, x19\n"))
    assert_trap(m, 1, ESR_FP)


def test_cptr_tfp_traps_el1_fpcr_to_el2(run_asm):
    setup = FPEN_ON + "    mov x19, #(1 << 10)\n    msr cptr_el2, x19\n"
    assert_trap(run_asm(guest("    msr fpcr, xzr", el1_setup=setup)), 2, ESR_FP)


def test_fpcr_accessible_with_fpen(run_asm):
    assert_no_trap(run_asm(guest("    mrs x1, fpcr\n    msr fpsr, x1", el1_setup=FPEN_ON)))


def test_cptr_tfp_traps_el2_fpcr(run_asm):
    m = run_asm(el2_program("    mov x1, #(1 << 10)\n    msr cptr_el2, x1\nthe_mrs:\n    mrs x2, fpcr"))
    assert_trap(m, 2, ESR_FP, at="the_mrs")


def test_tcpac_traps_cpacr_el1_access(run_asm):
    setup = "    mov x19, #(1 << 31)\n    msr cptr_el2, x19\n"
    assert_trap(run_asm(guest("    mrs x1, cpacr_el1", el1_setup=setup)), 2, sysreg_esr(3, 0, 1, 0, 2, 1, True))


@pytest.mark.parametrize("mdcr", [1 << 9, 1 << 8], ids=["tda", "tde"])
def test_mdcr_tda_traps_debug_registers(run_asm, mdcr):
    setup = f"    mov x19, #{mdcr:#x}\n    msr mdcr_el2, x19\n"
    assert_trap(run_asm(guest("    mrs x1, mdscr_el1", el1_setup=setup)), 2, sysreg_esr(2, 0, 0, 2, 2, 1, True))


# ---- EL0 access to DAIF: SCTLR_EL1.UMA -------------------------------------------------------------


def test_el0_daif_needs_uma(run_asm):
    # MSR DAIFSet, #2 reports op0 = 0, op1 = 3, CRn = 4, CRm = imm, op2 = 6, Rt = 31 (syndromes.md §4)
    assert_trap(run_asm(guest("    msr daifset, #2", at=0)), 1, sysreg_esr(0, 3, 4, 2, 6, 31, False))
    assert_trap(run_asm(guest("    mrs x1, daif", at=0)), 1, sysreg_esr(3, 3, 4, 2, 1, 1, True))
    m = run_asm(guest("    msr daifset, #2\n    mrs x1, daif\n    mov x2, x1", at=0, sctlr_el1=SCTLR_UMA))
    assert_no_trap(m)
    assert m.cpu.x[2] == 0x80


# ---- FEAT_IDST (syndromes.md §3) -------------------------------------------------------------------


def test_idst_el0_id_register_read_is_ec_0x18_to_el1(run_asm):
    assert_trap(run_asm(guest("    mrs x1, id_aa64pfr0_el1", at=0)), 1, 0x62300029)
    assert_trap(run_asm(guest("    mrs x1, id_aa64mmfr2_el1", at=0)), 1, 0x6234002F)


@pytest.mark.parametrize("e2h", [0, HCR_E2H], ids=["tge", "host"])
def test_idst_goes_where_the_undef_would_go(run_asm, e2h):
    assert_trap(run_asm(guest("    mrs x1, id_aa64pfr0_el1", at=0, hcr=HCR_TGE | e2h)), 2, 0x62300029)


def test_idst_write_to_id_space_stays_undefined(run_asm):
    assert_trap(run_asm(guest("    msr s3_0_c0_c4_0, x1", at=0)), 1, ESR_UNDEF)


def test_idst_unimplemented_id_register_at_el1(run_asm):
    # syndromes.md §4: MRS X0, GMID_EL1 without the register -> 0x62384001
    assert_trap(run_asm(guest("    mrs x0, s3_1_c0_c0_4")), 1, 0x62384001)


# ---- UNDEF: unknown and too-privileged registers ------------------------------------------------


@pytest.mark.parametrize(
    ("at", "asm"),
    [
        (0, "mrs x1, sctlr_el1"),
        (0, "mrs x1, currentel"),
        (0, "msr spsel, #1"),
        (0, "mrs x1, spsel"),
        (0, "mrs x1, s3_4_c1_c0_0"),  # SCTLR_EL2
        (1, "mrs x1, hcr_el2"),
        (1, "msr vbar_el2, x1"),
        (1, "mrs x1, s3_6_c1_c1_0"),  # SCR_EL3: EL3 is not implemented
        (1, "mrs x1, s3_0_c11_c0_0"),  # nothing allocated
        (1, "msr midr_el1, x1"),  # read-only
        (1, "mrs x1, oslar_el1"),  # write-only
        (1, "mrs x1, sctlr_el12"),  # *_EL12 at EL1 without NV
    ],
)
def test_undefined_system_register_accesses(run_asm, at, asm):
    assert_trap(run_asm(guest(f"    {asm}", at=at)), 1, ESR_UNDEF)


@pytest.mark.parametrize("asm", ["mrs x1, s3_6_c1_c1_0", "mrs x1, s3_4_c15_c15_7", "msr s3_3_c15_c15_7, x1"])
def test_undefined_at_el2(run_asm, asm):
    m = run_asm(el2_program(f"the_access:\n    {asm}"))
    assert_trap(m, 2, ESR_UNDEF, at="the_access")


def test_sp_el0_is_undefined_while_it_is_the_stack_pointer(run_asm):
    m = run_asm(el2_program("    msr spsel, #0\nthe_access:\n    mrs x1, sp_el0"))
    assert_trap(m, 2, ESR_UNDEF, at="the_access")


# ---- MIDR/MPIDR at EL1 read VPIDR/VMPIDR (cpu-models.md §7) ---------------------------------------


def test_midr_mpidr_at_el1_read_vpidr_vmpidr(run_asm):
    setup = "    ldr x19, =0x410FD123\n    msr vpidr_el2, x19\n    ldr x19, =0x80000101\n    msr vmpidr_el2, x19\n"
    m = run_asm(guest("    mrs x10, midr_el1\n    mrs x11, mpidr_el1", el1_setup=setup))
    assert_no_trap(m)
    assert (m.cpu.x[10], m.cpu.x[11]) == (0x410FD123, 0x80000101)


def test_midr_mpidr_at_el2_read_the_real_values(run_asm):
    m = run_asm(
        "    ldr x1, =0x410FD123\n    msr vpidr_el2, x1\n    msr vmpidr_el2, x1\n"
        "    mrs x10, midr_el1\n    mrs x11, mpidr_el1\n    mrs x12, vpidr_el2\n    mrs x13, vmpidr_el2\n",
        cpu="neoverse-n2",
    )
    assert (m.cpu.x[10], m.cpu.x[11]) == (0x410FD493, 0x80000000)
    assert (m.cpu.x[12], m.cpu.x[13]) == (0x410FD123, 0x410FD123)


def test_vpidr_vmpidr_reset_to_midr_mpidr(run_asm):
    m = run_asm("    mrs x10, vpidr_el2\n    mrs x11, vmpidr_el2\n", cpu="neoverse-v1")
    assert (m.cpu.x[10], m.cpu.x[11]) == (0x411FD402, 0x80000000)


# ---- FEAT_EVT trap bits (writable on every model, cpu-models.md §7) ---------------------------------


@pytest.mark.parametrize(
    ("bit", "asm", "esr"),
    [
        (49, "mrs x1, csselr_el1", sysreg_esr(3, 2, 0, 0, 0, 1, True)),  # TID4
        (49, "mrs x1, clidr_el1", sysreg_esr(3, 1, 0, 0, 1, 1, True)),
        (50, "ic ialluis", sysreg_esr(1, 0, 7, 1, 0, 31, False)),  # TICAB
        (52, "ic ivau, x1", sysreg_esr(1, 3, 7, 5, 1, 1, False)),  # TOCU
        (52, "dc cvau, x1", sysreg_esr(1, 3, 7, 11, 1, 1, False)),
        (52, "ic iallu", sysreg_esr(1, 0, 7, 5, 0, 31, False)),
    ],
    ids=["tid4_csselr", "tid4_clidr", "ticab", "tocu_ic_ivau", "tocu_dc_cvau", "tocu_ic_iallu"],
)
def test_evt_traps(run_asm, bit, asm, esr):
    assert_trap(run_asm(guest(f"    {asm}", hcr=1 << bit, el1_setup=BUFFER)), 2, esr)


def test_evt_tid4_does_not_trap_ctr_el0(run_asm):
    assert_no_trap(run_asm(guest("    mrs x1, ctr_el0", hcr=1 << 49)))
