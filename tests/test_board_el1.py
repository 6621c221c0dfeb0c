"""The board without EL2 (-M virt,virtualization=off), PSCI over HVC, and the device slots it leaves empty.

Without EL2 the CPU starts at EL1h and the built-in PSCI firmware answers
HVC from EL1 (the device tree's psci method is "hvc"), as on QEMU's virt
with virtualization=off; SMC is UNDEFINED (no EL3, no EL2). Addresses where
QEMU's virt has devices armnv does not (virtio-mmio transports at
0x0A00_0000, the ITS) are not RAM nor a device: an access is a synchronous
external abort (syndromes.md §6, DFSC 0x10).
"""

from __future__ import annotations

import pytest

from framework.testing import STOP_VECTORS, with_stop_vectors

M64 = (1 << 64) - 1
PSCI_VERSION = 0x8400_0000
CPU_ON_64 = 0xC400_0003
AFFINITY_INFO_64 = 0xC400_0004
SYSTEM_OFF = 0x8400_0008
SUCCESS, INVALID_PARAMETERS, ALREADY_ON = 0, -2 & M64, -4 & M64
AFFINITY_ON = 0

EC_UNKNOWN, EC_DABT_SAME = 0x00, 0x25
DFSC_EXTERNAL = 0x10


def hvc_call(fid: int, x1: int = 0, x2: int = 0) -> str:
    return f"""
    ldr x0, ={fid:#x}
    ldr x1, ={x1:#x}
    mov x2, #{x2}
    hvc #0
    mov x20, x0
    mov x21, #1
"""


def el1_run(run_asm, body: str):
    return run_asm(body, virtualization=False)


def test_starts_at_el1_with_no_el2_advertised(run_asm):
    m = el1_run(run_asm, "    mrs x20, CurrentEL\n    mrs x21, ID_AA64PFR0_EL1\n")
    assert m.cpu.x[20] == 1 << 2
    assert (m.cpu.x[21] >> 8) & 0xF == 0  # ID_AA64PFR0_EL1.EL2: not implemented
    assert m.cpu.x[21] & 0xF in (1, 2)  # EL0 is still there


@pytest.mark.parametrize(
    ("fid", "x1", "x2", "expected"),
    [
        (PSCI_VERSION, 0, 0, 0x0001_0001),
        (AFFINITY_INFO_64, 0, 0, AFFINITY_ON),  # the one CPU, affinity 0, is on
        (AFFINITY_INFO_64, 0x100, 0, INVALID_PARAMETERS),  # no such CPU
        (CPU_ON_64, 0, 0, ALREADY_ON),
        (CPU_ON_64, 1, 0, INVALID_PARAMETERS),
        (0xC400_00FF, 0, 0, -1 & M64),  # NOT_SUPPORTED
    ],
)
def test_psci_over_hvc_from_el1(run_asm, fid, x1, x2, expected):
    m = el1_run(run_asm, hvc_call(fid, x1, x2))
    assert m.stop.kind == "exit"
    assert m.cpu.x[20] == expected
    assert m.cpu.x[21] == 1  # execution goes on after the HVC: no exception
    assert m.cpu.el == 1


def test_psci_system_off_over_hvc_powers_off(run_asm):
    m = el1_run(run_asm, hvc_call(SYSTEM_OFF))
    assert m.stop.kind == "poweroff"
    assert m.cpu.x[21] == 0


def test_eret_to_el0_and_svc_back_without_el2(run_asm):
    # EL1 and EL0 are AArch64 with no EL2 to say otherwise (HCR_EL2.RW has no effect)
    m = el1_run(
        run_asm,
        f"""
    adr x9, vectors
    msr vbar_el1, x9
    msr spsr_el1, xzr
    adr x9, el0
    msr elr_el1, x9
    isb
    eret
el0:
    mov x20, #5
    svc #9
{STOP_VECTORS}
""",
    )
    assert m.cpu.x[20] == 5
    assert m.cpu.sr["ESR_EL1"] == (0x15 << 26) | (1 << 25) | 9  # SVC from AArch64 EL0
    assert m.cpu.sr["SPSR_EL1"] & 0x1F == 0  # from EL0t, AArch64
    assert m.cpu.x[28] == next(a for a, name in m.symbols.items() if name == "vectors") + 0x400


def undefined_at_el1(insn: str) -> str:
    return f"""
    adr x9, vectors
    msr vbar_el1, x9
    isb
    mov x20, #7
insn:
    {insn}
    mov x21, #1
    b _armnv_exit
{STOP_VECTORS}
"""


@pytest.mark.parametrize("insn", ["smc #0", "msr hcr_el2, xzr"])
def test_smc_and_el2_registers_are_undefined_without_el2(run_asm, insn):
    m = el1_run(run_asm, undefined_at_el1(insn))
    assert m.cpu.sr["ESR_EL1"] >> 26 == EC_UNKNOWN
    assert m.cpu.sr["ELR_EL1"] == next(a for a, name in m.symbols.items() if name == "insn")
    assert m.cpu.x[21] == 0


def test_with_el2_hvc_is_still_the_call_to_el2(run_asm):
    # syndromes.md §9: the conduit is SMC; an HVC at EL2 is taken to EL2 (EC 0x16)
    m = run_asm(with_stop_vectors("    mov x0, #0x84000000\n    hvc #5\n"))
    assert m.cpu.sr["ESR_EL2"] == (0x16 << 26) | (1 << 25) | 5
    assert (m.stop.kind, m.stop.exit_code) == ("exit", 1)  # through the vector, not the firmware


@pytest.mark.parametrize(
    "address",
    [0x0A00_0000, 0x0A00_3E00, 0x0808_0000],
    ids=["first-virtio-mmio-slot", "last-virtio-mmio-slot", "its"],
)
def test_syndromes_s6_empty_device_slots_are_external_aborts(run_asm, address):
    m = run_asm(with_stop_vectors(f"    ldr x1, ={address:#x}\n    ldr w2, [x1]\n    mov x21, #1\n"))
    esr = m.cpu.sr["ESR_EL2"]
    assert esr >> 26 == EC_DABT_SAME
    assert esr & 0x3F == DFSC_EXTERNAL
    assert m.cpu.sr["FAR_EL2"] == address
    assert m.cpu.x[21] == 0
