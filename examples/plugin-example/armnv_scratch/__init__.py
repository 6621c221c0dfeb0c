"""armnv-scratch: an IMPLEMENTATION DEFINED scratch register that EL2 can trap.

Feature ``scratch`` (``--cpu max,scratch=on``) adds two registers in the
IMPLEMENTATION DEFINED space (op0 = 3, CRn = 15):

* ``IMP_SCRATCH_EL1`` (S3_0_C15_C0_0): 64 bits of storage, usable from EL1;
* ``IMP_SCRATCHCTL_EL2`` (S3_4_C15_C0_0): bit 0, TSCR, traps EL1 accesses to
  IMP_SCRATCH_EL1 to EL2 with EC 0x18 — the way a hypervisor would hide a
  vendor register from its guests. Other bits are RES0.

It shows the three kinds of hooks: declarations (a feature, two register
definitions), a decision (the trap) and a notification (a CPU-dump word).
The plugin keeps no state of its own: both registers live in ``cpu.sr``.

The feature is on by default on no model. Software finds a vendor register
through MIDR_EL1, not through an architectural ID field, so the feature
claims no ID field, and none of the built-in models (QEMU's ``max`` and two
Arm Neoverse cores) has this register: on them the encodings stay
UNDEFINED unless the user asks for the feature.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework import hookimpl
from framework.api import Feature, SysReg, Trap, reg

if TYPE_CHECKING:
    from framework.api import CPUState, Machine

TSCR = 1 << 0

FEATURE = Feature(
    "scratch",
    "IMP_SCRATCH_EL1, an IMPLEMENTATION DEFINED register EL2 can trap (example plugin)",
    requires=("el2",),
    # the models where it is on without --cpu: none (a vendor model would name itself here)
    default_on=(),
)


# ---- declarations ----------------------------------------------------------------------------


@hookimpl
def armnv_features() -> list[Feature]:
    return [FEATURE]


@hookimpl
def armnv_sysregs(machine: Machine) -> list[SysReg]:
    return [
        reg("IMP_SCRATCH_EL1", 3, 0, 15, 0, 0, min_el=1),
        # decides: its TSCR bit is what this plugin's access decision reads
        reg("IMP_SCRATCHCTL_EL2", 3, 4, 15, 0, 0, min_el=2, wmask=TSCR, decides=True),
    ]


# ---- decision ------------------------------------------------------------------------------------


@hookimpl(trylast=True)
def armnv_sysreg_access(cpu: CPUState, reg: SysReg | None, is_read: bool) -> Trap | None:
    # trylast: this plugin only adds a trap of its own register, so redirections and traps
    # of other features (FEAT_NV2, FEAT_NV) are decided first (hookspecs, nv.md NV-12)
    if reg is not None and reg.name == "IMP_SCRATCH_EL1" and cpu.el == 1 and cpu.sr["IMP_SCRATCHCTL_EL2"] & TSCR:
        return Trap(2)  # EC 0x18 with this access's ISS
    return None


# ---- notification ----------------------------------------------------------------------------------


@hookimpl
def armnv_cpu_dump(cpu: CPUState) -> list[str]:
    return ["TSCR"] if cpu.sr["IMP_SCRATCHCTL_EL2"] & TSCR else []
