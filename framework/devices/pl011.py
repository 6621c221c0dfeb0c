"""PL011 UART (Arm PrimeCell r1p5), as QEMU's virt board has it at 0x0900_0000: transmit only.

Bytes written to UARTDR go to the guest's stdout at once, so the transmit
FIFO is never full and never busy: FR reads TXFE = 1, TXFF = 0, BUSY = 0, and
a polling driver ("wait while FR.TXFF, then write DR") never waits. Nothing is
ever received (FR.RXFE = 1). The control registers keep what is written (to
their implemented width), the PrimeCell identification registers read as on
the real part, and the interrupt line is not connected.

Every register is a 32-bit word. A load narrower or wider than a word
returns the bytes it addresses, little-endian: a byte load of UARTCR + 1
reads CR[15:8], a doubleword load of UARTCR reads CR and then IFLS. A store
writes the register at the offset it addresses (the low bits of the value, to
the register's width; a byte store to UARTDR transmits that byte); a store to
an offset that is not a register's is ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.machine import Machine

DR = 0x000
RSR = 0x004  # receive status / error clear
FR = 0x018
ILPR = 0x020
IBRD = 0x024
FBRD = 0x028
LCR_H = 0x02C
CR = 0x030
IFLS = 0x034
IMSC = 0x038
RIS = 0x03C
MIS = 0x040
ICR = 0x044
DMACR = 0x048

FR_BUSY = 1 << 3
FR_RXFE = 1 << 4
FR_TXFF = 1 << 5
FR_RXFF = 1 << 6
FR_TXFE = 1 << 7

CR_UARTEN = 1 << 0
CR_TXE = 1 << 8

INT_TX = 1 << 5

# read/write registers: offset -> (implemented bits, reset value)
RW_REGS = {
    ILPR: (0xFF, 0),
    IBRD: (0xFFFF, 0),
    FBRD: (0x3F, 0),
    LCR_H: (0xFF, 0),
    CR: (0xFFFF, CR_TXE | (1 << 9)),  # TXE and RXE set, UART disabled
    IFLS: (0x3F, 0x12),  # both FIFO levels at 1/2
    IMSC: (0x7FF, 0),
    DMACR: (0x7, 0),
}

# PrimeCell peripheral ID (part 0x011, designer Arm, revision r1p5) and cell ID
ID_REGS = {0xFE0: 0x11, 0xFE4: 0x10, 0xFE8: 0x14, 0xFEC: 0x00, 0xFF0: 0x0D, 0xFF4: 0xF0, 0xFF8: 0x05, 0xFFC: 0xB1}


class PL011:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.regs = {offset: reset for offset, (_, reset) in RW_REGS.items()}
        # the transmit FIFO is always empty, so its interrupt is always raised
        self.ris = INT_TX

    def read(self, offset: int, size: int) -> int:
        first = offset & ~3
        words = 0
        for i, word in enumerate(range(first, offset + size, 4)):
            words |= self._read_word(word) << (32 * i)
        return (words >> (8 * (offset - first))) & ((1 << (8 * size)) - 1)

    def _read_word(self, offset: int) -> int:
        if offset in self.regs:
            return self.regs[offset]
        if offset == FR:
            return FR_RXFE | FR_TXFE
        if offset == RIS:
            return self.ris
        if offset == MIS:
            return self.ris & self.regs[IMSC]
        if offset in ID_REGS:
            return ID_REGS[offset]
        if offset not in (DR, RSR, ICR):
            self._guest_error("read", offset)
        return 0  # DR with nothing received, RSR with no errors, ICR (write-only)

    def write(self, offset: int, size: int, value: int) -> None:
        if offset == DR:
            self.transmit(value & 0xFF)
        elif offset in self.regs:
            self.regs[offset] = value & RW_REGS[offset][0]
        elif offset == ICR:
            # TX is cleared and at once raised again: the FIFO is still empty
            self.ris = (self.ris & ~value) | INT_TX
        elif offset != RSR:  # writing RSR/ECR clears errors there never are
            self._guest_error("write", offset)

    def transmit(self, byte: int) -> None:
        machine = self.machine
        if "guest_errors" in machine.debug and self.regs[CR] & (CR_UARTEN | CR_TXE) != CR_UARTEN | CR_TXE:
            # QEMU sends the byte anyway and only reports it; so do we
            machine.logger.msg("pl011.disabled", cr=self.regs[CR], byte=byte)
        machine.stdout.write(bytes((byte,)))

    def _guest_error(self, access: str, offset: int) -> None:
        if "guest_errors" in self.machine.debug:
            self.machine.logger.msg("pl011.bad_offset", access=access, offset=offset)
