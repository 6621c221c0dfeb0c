"""Devices of the minimal virt board: PL011 UART, semihosting, PSCI firmware."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from framework.machine import Machine


def build_board_devices(machine: Machine) -> dict[str, Any]:
    from framework.devices.pl011 import PL011
    from framework.devices.psci import Psci
    from framework.devices.semihosting import Semihosting

    uart = PL011(machine)
    machine.bus.add_device(0x0900_0000, 0x1000, uart, "pl011")
    return {"pl011": uart, "semihosting": Semihosting(machine), "psci": Psci(machine)}
