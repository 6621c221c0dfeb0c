"""NV2-06/NV2-13/NV2-14: the slot access is translated in the EL2 regime, and faults go to EL2.

The EL2 (E2H = 0) or EL2&0 (E2H = 1) regime has its MMU on, with the image
identity-mapped and the VNCR page at VA 0x40A0_0000 in a 2 MiB block (the
spec's worked values) mapped to PA 0x4080_0000. EL1's own MMU is off. Every
fault on a slot access is a Data Abort to EL2 with EC 0x25 and ISS.VNCR set,
FAR_EL2 the slot's VA, ELR_EL2 the MRS/MSR, SPSR_EL2 the EL1h PSTATE.
"""

from __future__ import annotations

import pytest

from plugins.feat_nv.tests.guest import HCR_E2H
from plugins.feat_nv2.tests.guest import HCR_RW, NV2, SENTINEL, fill, vncr_esr
from plugins.mmu.tests.guest import MAIR, SCTLR_EL2_M, TCR_EL1, TCR_EL2, addr_of, code_block, program
from plugins.mmu.tests.tables import AF, AP_RO_EL1, AP_RW_ALL, AP_RW_EL1, BLOCK, NORMAL, TABLES, Tables

VA = 0x40A0_0000
PA = 0x4080_0000  # a 2 MiB block maps a 2 MiB-aligned output address
BAD = "bad"  # no descriptor for the block


def el2_mmu(e2h: int) -> dict[str, int]:
    # HCR_EL2 first: E2H selects the format of TCR_EL2 (E2H = 1: the TCR_EL1 layout, EPD1 set)
    tcr = TCR_EL1 if e2h else TCR_EL2
    return {
        "hcr_el2": HCR_RW | NV2 | e2h,
        "vncr_el2": VA,
        "mair_el2": MAIR,
        "tcr_el2": tcr,
        "ttbr0_el2": TABLES,
        "sctlr_el2": SCTLR_EL2_M,
    }


def tables(attrs: int | str):
    def setup(m):
        fill(m, PA)
        t = Tables(m, TABLES)
        code_block(t)
        if attrs != BAD:
            m.bus.write(t.entry(VA, 2), 8, PA | attrs | BLOCK)

    return setup


HVC = "    mov x15, #0x400\n    b _armnv_exit\n"  # the vector: synchronous exception from a lower EL


def run_el1(run_asm, body: str, e2h: int, attrs: int | str):
    src = program(body, el=1, el2=el2_mmu(e2h), hvc=HVC)
    m = run_asm(src, cpu="max", setup=tables(attrs), max_insns=20_000)
    assert m.stop.kind == "exit", m.stop
    return m


def assert_vncr_abort(m, esr: int, far: int) -> None:
    assert m.cpu.el == 2 and m.cpu.x[15] == 0x400
    assert m.cpu.sr["ESR_EL2"] == esr, f"{m.cpu.sr['ESR_EL2']:#x} != {esr:#x}"
    assert m.cpu.sr["FAR_EL2"] == far
    assert m.cpu.sr["ELR_EL2"] == addr_of(m, "at")
    assert m.cpu.sr["SPSR_EL2"] == 0x3C5  # EL1h, not the EL2 a guest hypervisor believes in


E2H = pytest.mark.parametrize("e2h", [0, HCR_E2H], ids=["el2", "el20"])


@E2H
def test_nv2_06_the_slot_is_translated_in_the_el2_regime(run_asm, e2h):
    body = "    ldr x3, =0x1122334455667788\n    msr hcr_el2, x3\n    mrs x5, hcr_el2\n    mrs x6, vttbr_el2\n"
    m = run_el1(run_asm, body, e2h, NORMAL | AP_RW_EL1)
    assert m.cpu.el == 1 and m.cpu.x[15] == 0
    assert m.bus.read(PA + 0x78, 8) == 0x1122334455667788  # at the PA the EL2 tables give
    assert m.cpu.x[5] == 0x1122334455667788 and m.cpu.x[6] == SENTINEL | 0x20
    assert m.bus.read(VA + 0x78, 8) == 0  # not at the VA taken as a PA


def test_nv2_06_pan_is_treated_as_0_in_the_el2_and_0_regime(run_asm):
    # an EL0-accessible page in the EL2&0 regime, PSTATE.PAN = 1 at EL1: no Permission fault
    body = "    msr pan, #1\n    mov x3, #0x99\n    msr tpidr_el2, x3\n    mrs x5, tpidr_el2\n    mrs x6, pan\n"
    m = run_el1(run_asm, body, HCR_E2H, NORMAL | AP_RW_ALL)
    assert m.cpu.el == 1 and m.cpu.x[15] == 0
    assert m.cpu.x[6] == 1 << 22  # PAN was set
    assert m.bus.read(PA + 0x90, 8) == 0x99 and m.cpu.x[5] == 0x99


CASES = [
    ("invalid block, level 2", BAD, 0x96002006, 0x96002046),
    ("access flag 0", (NORMAL & ~AF) | AP_RW_EL1, 0x9600200A, 0x9600204A),
    ("read-only block", NORMAL | AP_RO_EL1, None, 0x9600204E),
]


@E2H
@pytest.mark.parametrize(("what", "attrs", "mrs_esr", "msr_esr"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize(
    ("reg", "offset"), [("hcr_el2", 0x78), ("sctlr_el12", 0x110), ("vncr_el2", 0xB0)], ids=["hcr", "sctlr12", "vncr"]
)
def test_nv2_13_14_faults_on_the_slot_are_vncr_data_aborts_to_el2(
    run_asm, e2h, what, attrs, mrs_esr, msr_esr, reg, offset
):
    m = run_el1(run_asm, f"at:\n    mrs x5, {reg}\n", e2h, attrs)
    if mrs_esr is None:
        assert m.cpu.el == 1 and m.cpu.x[5] == SENTINEL | offset  # a read-only slot reads fine
    else:
        assert vncr_esr(mrs_esr & 0x3F, False) == mrs_esr
        assert_vncr_abort(m, mrs_esr, VA + offset)
    m = run_el1(run_asm, f"    mov x3, #1\nat:\n    msr {reg}, x3\n", e2h, attrs)
    assert vncr_esr(msr_esr & 0x3F, True) == msr_esr
    assert_vncr_abort(m, msr_esr, VA + offset)
    assert m.bus.read(PA + offset, 8) == SENTINEL | offset


@E2H
def test_nv2_13_a_slot_fault_goes_to_el2_even_with_el1_vectors_ready(run_asm, e2h):
    # an EL1 data abort would go to VBAR_EL1; the slot's fault never does (ESR_EL1 stays 0)
    m = run_el1(run_asm, "at:\n    mrs x5, tpidr_el2\n", e2h, BAD)
    assert_vncr_abort(m, 0x96002006, VA + 0x90)
    assert m.cpu.sr["ESR_EL1"] == 0 and m.cpu.sr["FAR_EL1"] == 0
