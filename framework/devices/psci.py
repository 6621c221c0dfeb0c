"""PSCI firmware over SMC, as QEMU's virt board provides it when the CPU starts at EL2.

There is no EL3: an SMC that HCR_EL2.TSC does not trap is handled here,
whatever the function ID, and execution goes on after the SMC (README "Board
facts"). Results go to x0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.errors import GuestStop

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.machine import Machine

PSCI_VERSION = 0x8400_0000
CPU_SUSPEND = (0x8400_0001, 0xC400_0001)
CPU_OFF = 0x8400_0002
CPU_ON = (0x8400_0003, 0xC400_0003)
AFFINITY_INFO = (0x8400_0004, 0xC400_0004)
MIGRATE_INFO_TYPE = 0x8400_0006
SYSTEM_OFF = 0x8400_0008
SYSTEM_RESET = 0x8400_0009
PSCI_FEATURES = 0x8400_000A

NOT_SUPPORTED = -1
INVALID_PARAMETERS = -2
ALREADY_ON = -4

SUPPORTED = {PSCI_VERSION, CPU_OFF, MIGRATE_INFO_TYPE, SYSTEM_OFF, SYSTEM_RESET, PSCI_FEATURES}
SUPPORTED |= set(CPU_SUSPEND) | set(CPU_ON) | set(AFFINITY_INFO)


class Psci:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine

    def call(self, cpu: CPUState) -> None:
        fid = cpu.x[0] & 0xFFFFFFFF
        result = self.dispatch(cpu, fid)
        cpu.x[0] = result & 0xFFFFFFFFFFFFFFFF

    def dispatch(self, cpu: CPUState, fid: int) -> int:
        if fid == PSCI_VERSION:
            return 0x0001_0001  # PSCI 1.1
        if fid == SYSTEM_OFF:
            raise GuestStop(0, "poweroff")
        if fid == SYSTEM_RESET:
            raise GuestStop(0, "reset")
        if fid == PSCI_FEATURES:
            return 0 if (cpu.x[1] & 0xFFFFFFFF) in SUPPORTED else NOT_SUPPORTED
        if fid in CPU_ON:
            # one CPU: MPIDR affinity 0 is this CPU and already on
            return ALREADY_ON if cpu.x[1] & 0xFFFFFF == 0 else INVALID_PARAMETERS
        if fid in AFFINITY_INFO:
            return 0 if cpu.x[1] & 0xFFFFFF == 0 else INVALID_PARAMETERS
        if fid == MIGRATE_INFO_TYPE:
            return 2  # no trusted OS: migration not required
        if fid in CPU_SUSPEND:
            return 0
        if fid == CPU_OFF:
            raise GuestStop(0, "cpu-off")
        return NOT_SUPPORTED
