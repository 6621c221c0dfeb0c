"""PL011 UART: transmit to the guest's stdout, enough for polling drivers.

The transmit FIFO never fills and never holds anything (FR.TXFE = 1,
FR.TXFF = 0, FR.BUSY = 0); the receive FIFO is always empty (FR.RXFE = 1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from framework.machine import Machine

DR, FR, IBRD, FBRD, LCR_H, CR, IFLS, IMSC, RIS, MIS, ICR = (
    0x000, 0x018, 0x024, 0x028, 0x02C, 0x030, 0x034, 0x038, 0x03C, 0x040, 0x044,
)  # fmt: skip
FR_RXFE = 1 << 4
FR_TXFE = 1 << 7
INT_TX = 1 << 5
# PrimeCell peripheral and cell identification registers at 0xFE0..0xFFC
ID_REGS = {0xFE0: 0x11, 0xFE4: 0x10, 0xFE8: 0x14, 0xFEC: 0x00, 0xFF0: 0x0D, 0xFF4: 0xF0, 0xFF8: 0x05, 0xFFC: 0xB1}


class PL011:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.regs = {IBRD: 0, FBRD: 0, LCR_H: 0, CR: 0x300, IFLS: 0x12, IMSC: 0}
        self.ris = INT_TX

    def read(self, offset: int, size: int) -> int:
        if offset == DR:
            return 0
        if offset == FR:
            return FR_RXFE | FR_TXFE
        if offset == RIS:
            return self.ris
        if offset == MIS:
            return self.ris & self.regs[IMSC]
        if offset in ID_REGS:
            return ID_REGS[offset]
        return self.regs.get(offset, 0)

    def write(self, offset: int, size: int, value: int) -> None:
        if offset == DR:
            self.machine.stdout.write(bytes([value & 0xFF]))
            return
        if offset == ICR:
            self.ris &= ~value
            self.ris |= INT_TX  # the FIFO is always empty again at once
            return
        if offset in self.regs:
            self.regs[offset] = value & 0xFFFF
