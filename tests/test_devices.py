"""The board devices: the PL011 UART, Arm semihosting and the PSCI firmware behind SMC.

Expected values come from the PL011 TRM (Arm DDI 0183), the Arm semihosting
specification (2.0), PSCI (Arm DEN 0022) and the spec's README "Board facts" /
syndromes.md §9.
"""

from __future__ import annotations

import pytest

from framework.testing import with_stop_vectors
from plugins.mmu.tests.guest import el1_regs, run
from plugins.mmu.tests.tables import DATA, DEVICE, NORMAL, TABLES, Tables
from plugins.mmu.tests.test_stage1 import el1_setup

M64 = (1 << 64) - 1
UART = 0x0900_0000
RAM_BASE = 0x4000_0000
# x1 = UART base
UART_BASE = "    movz x1, #0x0900, lsl #16\n"


# ---- PL011 -----------------------------------------------------------------------------------------


def test_pl011_flags_say_transmit_fifo_empty_and_nothing_received(run_asm):
    m = run_asm(UART_BASE + "    ldr w2, [x1, #0x18]\n")
    fr = m.cpu.x[2]
    assert fr & (1 << 5) == 0  # TXFF: a polling driver never waits
    assert fr & (1 << 3) == 0  # BUSY
    assert fr & (1 << 7)  # TXFE
    assert fr & (1 << 4)  # RXFE
    assert fr == 0x90


def test_pl011_polling_driver_writes_to_stdout(run_asm):
    m = run_asm(
        UART_BASE
        + """
    adr x3, text
next:
    ldrb w4, [x3], #1
    cbz w4, done
wait:
    ldr w5, [x1, #0x18]
    tbnz w5, #5, wait      // FR.TXFF
    str w4, [x1]           // DR
    b next
text:
    .asciz "UART says hi\\n"
    .balign 4
done:
"""
    )
    assert m.stop.kind == "exit"
    assert m.output == b"UART says hi\n"


def test_pl011_byte_store_to_dr(run_asm):
    m = run_asm(UART_BASE + "    mov w2, #0x41\n    strb w2, [x1]\n")
    assert m.output == b"A"


def test_pl011_primecell_identification(run_asm):
    # PL011 r1p5: UARTPeriphID0-3 = 0x11 0x10 0x14 0x00, UARTPCellID0-3 = 0x0D 0xF0 0x05 0xB1
    body = UART_BASE + "".join(f"    ldr w{2 + i}, [x1, #{0xFE0 + 4 * i:#x}]\n" for i in range(8))
    m = run_asm(body)
    assert [m.cpu.x[2 + i] for i in range(8)] == [0x11, 0x10, 0x14, 0x00, 0x0D, 0xF0, 0x05, 0xB1]


def test_pl011_control_registers_reset_values_and_widths(run_asm):
    m = run_asm(
        UART_BASE
        + """
    ldr w2, [x1, #0x30]       // CR reset: TXE | RXE
    ldr w3, [x1, #0x34]       // IFLS reset: 1/2 and 1/2
    movz w4, #0x2345
    movk w4, #0x1, lsl #16
    str w4, [x1, #0x24]       // IBRD is 16 bits
    ldr w5, [x1, #0x24]
    mov w4, #0xff
    str w4, [x1, #0x28]       // FBRD is 6 bits
    ldr w6, [x1, #0x28]
    mov w4, #0x70
    str w4, [x1, #0x2c]       // LCR_H: 8 bits, 8N1 with FIFOs
    ldr w7, [x1, #0x2c]
"""
    )
    assert m.cpu.x[2] == 0x300
    assert m.cpu.x[3] == 0x12
    assert m.cpu.x[5] == 0x2345
    assert m.cpu.x[6] == 0x3F
    assert m.cpu.x[7] == 0x70


def test_pl011_byte_and_halfword_loads_return_the_addressed_bytes(run_asm):
    # little-endian byte lanes of the 32-bit registers: CR resets to 0x0300, IFLS to 0x12,
    # FR reads 0x90 (TXFE, RXFE), UARTPeriphID0 is 0x11
    m = run_asm(
        UART_BASE
        + """
    ldrb w2, [x1, #0x30]      // CR[7:0]
    ldrb w3, [x1, #0x31]      // CR[15:8]
    ldrh w4, [x1, #0x30]      // CR[15:0]
    ldrh w5, [x1, #0x32]      // CR[31:16]
    ldrb w6, [x1, #0x34]      // IFLS[7:0]
    ldrb w7, [x1, #0x18]      // FR[7:0]
    ldrb w8, [x1, #0x19]      // FR[15:8]
    ldrh w9, [x1, #0xfe0]     // UARTPeriphID0[15:0]
    ldrb w10, [x1, #0xfe3]    // UARTPeriphID0[31:24]
    ldrsb x11, [x1, #0x18]    // FR[7:0] sign-extended: bit 7 (TXFE) is set
"""
    )
    x = m.cpu.x
    assert m.stop.kind == "exit"
    assert [x[i] for i in range(2, 11)] == [0x00, 0x03, 0x0300, 0, 0x12, 0x90, 0, 0x11, 0]
    assert x[11] == 0xFFFF_FFFF_FFFF_FF90


def test_pl011_transmit_interrupt_status_and_mask(run_asm):
    m = run_asm(
        UART_BASE
        + """
    ldr w2, [x1, #0x3c]       // RIS: TXRIS, the FIFO is empty
    ldr w3, [x1, #0x40]       // MIS with everything masked
    mov w4, #0x20
    str w4, [x1, #0x38]       // IMSC.TXIM
    ldr w5, [x1, #0x40]
    str w4, [x1, #0x44]       // ICR clears TXRIS, which the empty FIFO raises again
    ldr w6, [x1, #0x3c]
"""
    )
    assert m.cpu.x[2] & 0x20
    assert m.cpu.x[3] == 0
    assert m.cpu.x[5] == 0x20
    assert m.cpu.x[6] & 0x20


def test_pl011_unused_offsets_read_zero_without_fault(run_asm):
    m = run_asm(UART_BASE + "    mov x2, #7\n    ldr w2, [x1, #0x800]\n    str w2, [x1, #0x804]\n")
    assert m.stop.kind == "exit"
    assert m.cpu.x[2] == 0
    assert m.cpu.sr["ESR_EL2"] == 0


# ---- DC ZVA on devices and where there is no memory ------------------------------------------------
# DC ZVA to any type of Device memory is an Alignment fault (DFSC 0x21); it is a store (WnR = 1,
# CM = 0), and FAR holds the address in the register, as for every data-cache instruction.
ESR_DABT_SAME_WNR = 0x9600_0040
DFSC_ALIGNMENT, DFSC_EXTERNAL = 0x21, 0x10


def test_dc_zva_to_the_uart_is_an_alignment_fault_and_sends_nothing(run_asm):
    m = run_asm(
        with_stop_vectors(
            UART_BASE
            + """
    add x2, x1, #0x8
the_zva:
    dc zva, x2
    mov x20, #1
"""
        )
    )
    assert m.output == b""
    assert m.cpu.sr["ESR_EL2"] == ESR_DABT_SAME_WNR | DFSC_ALIGNMENT
    assert m.cpu.sr["FAR_EL2"] == UART + 8
    assert m.cpu.sr["ELR_EL2"] == next(a for a, name in m.symbols.items() if name == "the_zva")
    assert m.cpu.x[20] == 0


def _fill_data_page(t: Tables, m, attrs: int, pa: int = DATA) -> None:
    t.map(DATA, pa, attrs=attrs)
    m.bus.write_bytes(DATA, b"\xff" * 0x100)


def test_dc_zva_to_ram_mapped_as_device_is_an_alignment_fault(run_asm):
    body = f"    ldr x2, ={DATA + 0x48:#x}\n    dc zva, x2\n    mov x20, #1\n"
    setup = el1_setup(lambda t, m: _fill_data_page(t, m, DEVICE))
    m = run(run_asm, body, setup, el=1, el2={"hcr_el2": 1 << 31}, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == ESR_DABT_SAME_WNR | DFSC_ALIGNMENT
    assert m.cpu.sr["FAR_EL1"] == DATA + 0x48
    assert m.cpu.x[20] == 0
    assert m.bus.read_bytes(DATA, 0x100) == b"\xff" * 0x100


def test_dc_zva_to_ram_mapped_as_normal_zeroes_the_block(run_asm):
    body = f"    ldr x2, ={DATA + 0x48:#x}\n    dc zva, x2\n    mov x20, #1\n"
    setup = el1_setup(lambda t, m: _fill_data_page(t, m, NORMAL))
    m = run(run_asm, body, setup, el=1, el2={"hcr_el2": 1 << 31}, el1=el1_regs(TABLES))
    assert m.cpu.x[20] == 1
    assert m.bus.read_bytes(DATA, 0x100) == b"\xff" * 0x40 + bytes(0x40) + b"\xff" * 0x80


def test_dc_zva_to_normal_mapping_of_no_memory_is_an_external_abort(run_asm):
    body = f"    ldr x2, ={DATA + 0x68:#x}\n    dc zva, x2\n    mov x20, #1\n"
    setup = el1_setup(lambda t, m: t.map(DATA, 0x6000_0000, attrs=NORMAL))
    m = run(run_asm, body, setup, el=1, el2={"hcr_el2": 1 << 31}, el1=el1_regs(TABLES))
    assert m.cpu.sr["ESR_EL1"] == ESR_DABT_SAME_WNR | DFSC_EXTERNAL
    assert m.cpu.sr["FAR_EL1"] == DATA + 0x68
    assert m.cpu.x[20] == 0


# ---- entering EL1 (HCR_EL2.RW = 1, SPSR_EL2 = EL1h with DAIF masked, ERET) ---------------------------


def at_el1(el1_code: str, hcr: int = 1 << 31) -> str:
    """Run `el1_code` at EL1; it ends by `hvc #0`. The EL2 vector for lower-EL exceptions saves
    ESR_EL2/ELR_EL2/SPSR_EL2/x0 in x10-x13 and stops the machine (exit 0)."""
    return f"""
    adr x9, vectors
    msr vbar_el2, x9
    movz x9, #{hcr >> 16 & 0xFFFF:#x}, lsl #16
    movk x9, #{hcr & 0xFFFF:#x}
    msr hcr_el2, x9
    mov x9, #0x3c5
    msr spsr_el2, x9
    adr x9, el1
    msr elr_el2, x9
    eret
el1:
{el1_code}
    hvc #0
    b .
    .balign 2048
vectors:
    .skip 0x400
lower_sync:
    mov x13, x0
    mrs x10, esr_el2
    mrs x11, elr_el2
    mrs x12, spsr_el2
    b _armnv_exit
"""


# ---- PSCI over SMC ----------------------------------------------------------------------------------

PSCI_VERSION = 0x8400_0000
PSCI_FEATURES = 0x8400_000A
CPU_ON_64 = 0xC400_0003
AFFINITY_INFO = 0x8400_0004
MIGRATE_INFO_TYPE = 0x8400_0006


def psci(fid: int, x1: int = 0, x2: int = 0, result: str = "x20") -> str:
    return f"""
    movz x0, #{fid >> 16:#x}, lsl #16
    movk x0, #{fid & 0xFFFF:#x}
    movz x1, #{x1 >> 16 & 0xFFFF:#x}, lsl #16
    movk x1, #{x1 & 0xFFFF:#x}
    mov x2, #{x2}
    smc #0
    mov {result}, x0
"""


@pytest.mark.parametrize(
    ("fid", "x1", "x2", "expected"),
    [
        (PSCI_VERSION, 0, 0, 0x0001_0001),  # PSCI 1.1
        (0, 0, 0, M64),  # unknown function: NOT_SUPPORTED (-1)
        (0xC400_0077, 0, 0, M64),
        (PSCI_FEATURES, PSCI_VERSION, 0, 0),
        (PSCI_FEATURES, CPU_ON_64, 0, 0),
        (PSCI_FEATURES, 0x8400_0077, 0, M64),
        (CPU_ON_64, 0, 0, (-4) & M64),  # the only CPU (affinity 0) is already on
        (CPU_ON_64, 1, 0, (-2) & M64),  # no CPU with affinity 1: INVALID_PARAMETERS
        (AFFINITY_INFO, 0, 0, 0),  # ON
        (MIGRATE_INFO_TYPE, 0, 0, 2),  # no trusted OS
    ],
)
def test_psci_call_results(run_asm, fid, x1, x2, expected):
    m = run_asm(psci(fid, x1, x2) + "    mov x21, #1\n")
    assert m.stop.kind == "exit"
    assert m.cpu.x[20] == expected
    assert m.cpu.x[21] == 1  # execution continues after the SMC


def test_psci_smc_records_no_exception(run_asm):
    m = run_asm(
        """
    mov x9, #0x1230
    msr elr_el2, x9
    msr esr_el2, x9
"""
        + psci(PSCI_VERSION)
    )
    assert m.cpu.x[20] == 0x10001
    assert m.cpu.sr["ELR_EL2"] == 0x1230
    assert m.cpu.sr["ESR_EL2"] == 0x1230


@pytest.mark.parametrize(
    ("fid", "kind"),
    [(0x8400_0008, "poweroff"), (0x8400_0009, "reset"), (0x8400_0002, "cpu-off")],
)
def test_psci_calls_that_stop_the_machine(run_asm, fid, kind):
    m = run_asm(psci(fid) + "    mov x21, #1\n")
    assert m.stop.kind == kind
    assert m.cpu.x[21] == 0


def test_psci_smc_at_el1_without_tsc_is_a_firmware_call(run_asm):
    m = run_asm(at_el1(psci(PSCI_VERSION)))
    assert m.cpu.x[20] == 0x10001
    assert (m.cpu.x[10] >> 26) == 0x16  # then the HVC that ends the EL1 code


def test_nv16_smc_at_el1_with_tsc_traps_to_el2(run_asm):
    # syndromes.md §9: ESR 0x5E000000 | imm16, ELR_EL2 = the SMC itself, x0 unchanged
    hcr = (1 << 31) | (1 << 19)  # RW, TSC
    m = run_asm(
        at_el1(
            """
    movz x0, #0x8400, lsl #16
smc_insn:
    smc #7
""",
            hcr,
        )
    )
    assert m.cpu.sr["ESR_EL2"] == 0x5E000007
    assert m.cpu.x[10] == 0x5E000007
    assert m.cpu.x[11] == next(addr for addr, name in m.symbols.items() if name == "smc_insn")
    assert m.cpu.x[12] & 0xF == 0b0101  # from EL1h
    assert m.cpu.x[13] == 0x8400_0000  # the firmware call was not made


def test_semihosting_works_at_el1(run_asm):
    m = run_asm(
        at_el1(
            """
    adr x1, text
    mov x0, #4
    hlt #0xf000
    b after
text: .asciz "from EL1\\n"
    .balign 4
after:
""",
            (1 << 31) | (1 << 19),  # semihosting is never trapped, whatever HCR_EL2 holds
        )
    )
    assert m.output == b"from EL1\n"
    assert m.cpu.x[10] >> 26 == 0x16  # the EL1 code went on to its HVC
