"""PSCI 1.1 firmware, as QEMU's virt board provides it: over SMC with EL2, over HVC without.

There is no EL3. With EL2 (the CPU starts there) the conduit is SMC: an SMC
that HCR_EL2.TSC does not trap is handled here, whatever the function ID and
whatever HCR_EL2.NV/NV1/NV2 are, and HVC is the ordinary call to EL2. Without
EL2 (``-M virt,virtualization=off``: the CPU starts at EL1) the conduit is
HVC from EL1, and SMC is UNDEFINED, as on QEMU. Either way no exception is
taken, the result goes to x0 and execution goes on after the instruction.
The device tree names the conduit (psci ``method``). The board has one CPU,
with affinity 0.
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

VERSION_1_1 = 0x0001_0001
SUCCESS = 0
NOT_SUPPORTED = -1
INVALID_PARAMETERS = -2
ALREADY_ON = -4
TOS_NOT_PRESENT = 2  # MIGRATE_INFO_TYPE: no trusted OS, migration not required
AFFINITY_ON = 0

# MPIDR_EL1 affinity fields Aff3 [39:32] and Aff2..Aff0 [23:0]
AFFINITY_MASK = 0xFF_00FF_FFFF
# CPU_SUSPEND power_state bits QEMU accepts: StateID and StateType, no affinity levels
SUSPEND_STATE_MASK = 0x0001_FFFF

SUPPORTED = frozenset(
    {PSCI_VERSION, CPU_OFF, MIGRATE_INFO_TYPE, SYSTEM_OFF, SYSTEM_RESET, PSCI_FEATURES}
    | set(CPU_SUSPEND)
    | set(CPU_ON)
    | set(AFFINITY_INFO)
)
M64 = (1 << 64) - 1


class Psci:
    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.conduit = "smc" if "el2" in machine.features else "hvc"

    def call(self, cpu: CPUState) -> None:
        """Handle the SMC or HVC at cpu.pc: function ID in w0, arguments in x1-x3, result in x0."""
        fid = cpu.x[0] & 0xFFFF_FFFF  # SMCCC: the function ID is W0
        machine = self.machine
        if machine.log_int:
            machine.logger.msg("psci.call", el=cpu.el, function=fid, x1=cpu.x[1], x2=cpu.x[2], x3=cpu.x[3])
        cpu.x[0] = self.dispatch(cpu, fid) & M64

    def dispatch(self, cpu: CPUState, fid: int) -> int:
        if fid == PSCI_VERSION:
            return VERSION_1_1
        if fid == PSCI_FEATURES:
            return SUCCESS if cpu.x[1] & 0xFFFF_FFFF in SUPPORTED else NOT_SUPPORTED
        if fid == MIGRATE_INFO_TYPE:
            return TOS_NOT_PRESENT
        if fid in CPU_ON:
            # the only CPU is the caller, which is on; there is no other to start
            return ALREADY_ON if self._is_this_cpu(cpu, cpu.x[1]) else INVALID_PARAMETERS
        if fid in AFFINITY_INFO:
            if cpu.x[2] != 0:  # levels above 0 are always on
                return AFFINITY_ON
            return AFFINITY_ON if self._is_this_cpu(cpu, cpu.x[1]) else INVALID_PARAMETERS
        if fid in CPU_SUSPEND:
            if cpu.x[1] & ~SUSPEND_STATE_MASK & 0xFFFF_FFFF:
                return INVALID_PARAMETERS
            # no power-down state: a standby, i.e. a WFI that any wake-up event ends
            cpu.halted = True
            self.machine.engine.kick()
            return SUCCESS
        if fid == SYSTEM_OFF:
            raise GuestStop(0, "poweroff")
        if fid == SYSTEM_RESET:
            raise GuestStop(0, "reset")
        if fid == CPU_OFF:
            # the last CPU going off leaves nothing that could ever run again
            raise GuestStop(0, "cpu-off")
        return NOT_SUPPORTED

    def _is_this_cpu(self, cpu: CPUState, mpidr: int) -> bool:
        return mpidr & AFFINITY_MASK == cpu.sr["MPIDR_EL1"] & AFFINITY_MASK
