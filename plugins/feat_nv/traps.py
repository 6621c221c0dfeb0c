"""The FEAT_NV decision for an MRS, MSR, SYS or SYSL at EL1 (NV-06 … NV-21).

Order (NV-12): an encoding that does not exist on this machine is left to the
kernel, which UNDEFs it (NV-08; the kernel's HCR_EL2.TIDCP trap of
IMPLEMENTATION DEFINED encodings comes first there); FEAT_NV2's redirections
were asked before this plugin (``tryfirst``); then the EL2-level trap (NV-06),
the NV1 traps of EL1 registers (NV-21) and HCR_EL2.AT (NV-17). Everything else
is the kernel's ordinary access with its own checks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from framework.api import Trap, make_key, split_key
from framework.arch import HCR_AT, HCR_NV, HCR_NV1, HCR_NV2

if TYPE_CHECKING:
    from framework.api import CPUState, Decision, SysReg

# NV-06: op1 = 4 (EL2 registers and instructions) and op1 = 5 (the *_EL12/*_EL02 accessors)
EL2_LEVEL_OP1 = frozenset({4, 5})

# NV-21: EL1 registers that trap with {NV, NV1, NV2} = {1, 1, 0}
NV1_TRAPPED = frozenset(
    make_key(*enc)
    for enc in (
        (3, 0, 12, 0, 0),  # VBAR_EL1
        (3, 0, 4, 0, 1),  # ELR_EL1
        (3, 0, 4, 0, 0),  # SPSR_EL1
        (3, 0, 13, 0, 7),  # SCXTNUM_EL1 (FEAT_CSV2_2)
        (3, 0, 5, 6, 0),  # TFSR_EL1 (FEAT_MTE2)
    )
)

# NV-17: AT S1E1R, S1E1W, S1E0R, S1E0W, S1E1RP, S1E1WP, S1E1A
AT_TRAPPED = frozenset(make_key(1, 0, 7, 8, op2) for op2 in range(4)) | frozenset(
    make_key(1, 0, 7, 9, op2) for op2 in range(3)
)

# one decision per rule, with the explanation -d int and --stats show
TRAPS = {
    "NV-06": Trap(2, rule="NV-06", why="HCR_EL2.NV=1"),
    "NV-21": Trap(2, rule="NV-21", why="HCR_EL2.{NV,NV1}={1,1}"),
    "NV-17": Trap(2, rule="NV-17", why="HCR_EL2.AT=1"),
}


def exists(cpu: CPUState, reg: SysReg | None) -> bool:
    """Whether the encoding names a register or instruction of this machine (NV-08)."""
    return reg is not None and (reg.feature is None or reg.feature in cpu.machine.features)


def nv_rule(cpu: CPUState, reg: SysReg | None, key: int) -> str | None:
    """The rule that traps this access at EL1 to EL2, or None (the caller checked EL1)."""
    if not exists(cpu, reg):
        return None
    hcr = cpu.sr["HCR_EL2"]
    if hcr & HCR_NV:
        if split_key(key)[1] in EL2_LEVEL_OP1:
            return "NV-06"
        if key in NV1_TRAPPED and hcr & (HCR_NV1 | HCR_NV2) == HCR_NV1:
            return "NV-21"
    if hcr & HCR_AT and key in AT_TRAPPED:
        return "NV-17"
    return None


def nv_access(cpu: CPUState, reg: SysReg | None, key: int) -> Decision | None:
    rule = nv_rule(cpu, reg, key)
    return None if rule is None else TRAPS[rule]
