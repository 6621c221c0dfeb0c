"""System-register definitions and the registry they form.

A register is one declarative `SysReg`: name, encoding, lowest EL, reset
value, writable-bit mask, the feature it belongs to, and functions only where
it is special. The kernel declares the base registers (`regdefs.py`); plugins
contribute theirs through the `armnv_sysregs` hook. Lookup is by the 16-bit
key op0:op1:CRn:CRm:op2, which is bits [20:5] of an MRS/MSR/SYS word, so
decoding an access is a dict hit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs

from framework.cpu.state import M64
from framework.cpu.syndrome import make_key, split_key

if TYPE_CHECKING:
    from framework.cpu.state import CPUState

ReadFn = Callable[["CPUState"], int]
WriteFn = Callable[["CPUState", int], None]
# An access check returns None (go on) or a Decision.
CheckFn = Callable[["CPUState", bool], "Decision | None"]

OP1_MIN_EL = {3: 0, 4: 2, 5: 2, 6: 3}


@attrs.define(frozen=True, slots=True)
class SysReg:
    """One system register or system instruction (op0 = 1)."""

    name: str
    op0: int
    op1: int
    crn: int
    crm: int
    op2: int
    # lowest EL that may access it; by default the one the op1 field encodes (op1 = 3: EL0
    # registers and instructions, 4 and 5: EL2 and the *_EL12/*_EL02 accessors, 6: EL3)
    min_el: int = attrs.field(default=attrs.Factory(lambda self: OP1_MIN_EL.get(self.op1, 1), takes_self=True))
    reset: int = 0
    # bits a write may change (others keep their value); RES1 bits are forced on
    wmask: int = M64
    res1: int = 0
    access: str = "RW"  # "RW", "RO", "WO"
    feature: str | None = None
    # storage slot in cpu.sr; defaults to the name
    storage: str | None = None
    read: ReadFn | None = None
    write: WriteFn | None = None
    # extra access checks (traps to EL2, EL0 enables…) run after the EL check
    check: CheckFn | None = None
    # a write changes translation or the execution mode: caches are dropped (the TLBs, and
    # the access decisions with them)
    config: bool = False
    # a write changes access decisions only (a trap or enable control, VNCR_EL2): the
    # decision caches are dropped, the TLBs kept. Every register an access decision reads
    # is `config` or `decides`; that is what makes the decision caches exact
    decides: bool = False
    # the decision of an access to this register reads state that is not a register
    # (SP_EL0: PSTATE.SP), so it is made again at every access and never cached
    uncached: bool = False
    # with HCR_EL2.E2H == 1 at EL2, this EL1 encoding names the given EL2 register (NV-13)
    e2h_target: str | None = None
    # a *_EL12 / *_EL02 accessor: at EL2 with E2H == 1 it names this register (NV-13)
    el12_of: str | None = None

    @property
    def key(self) -> int:
        return make_key(self.op0, self.op1, self.crn, self.crm, self.op2)

    @property
    def slot(self) -> str:
        return self.storage or self.name

    @property
    def encoding(self) -> tuple[int, int, int, int, int]:
        return (self.op0, self.op1, self.crn, self.crm, self.op2)


def reg(name: str, op0: int, op1: int, crn: int, crm: int, op2: int, **kw: Any) -> SysReg:
    return SysReg(name, op0, op1, crn, crm, op2, **kw)


# ---- access decisions --------------------------------------------------------------------


@attrs.define(frozen=True, slots=True)
class Decision:
    """Outcome of an access check; subclasses say what happens instead of the access."""


@attrs.define(frozen=True, slots=True)
class Allow(Decision):
    """Perform the access on `target` (the register itself unless redirected)."""

    target: SysReg | None = None


@attrs.define(frozen=True, slots=True)
class Undef(Decision):
    """The access is UNDEFINED (EC 0x00, or EC 0x18 under FEAT_IDST for ID-space reads)."""


@attrs.define(frozen=True, slots=True)
class Trap(Decision):
    """Trap to `el` with syndrome `esr` (preferred return = the instruction).

    `rule` names the rule that caused it (``"NV-06"``) and `why` the controls
    that made it apply (``"HCR_EL2.NV=1"``): `-d int`, `-d sysreg` and
    ``--stats`` show them, so a user sees why each exit happened.
    """

    el: int
    esr: int | None = None  # None: the EC 0x18 syndrome of the access
    rule: str = ""
    why: str = ""


@attrs.define(frozen=True, slots=True)
class ToMemory(Decision):
    """Perform the access as a 64-bit load/store at a virtual address in the EL2 regime (FEAT_NV2).

    `fsc`, when set, is a fault the access takes instead of being made (a
    CONSTRAINED UNPREDICTABLE choice the plugin fixes, e.g. NV2-03's
    non-canonical VNCR_EL2): a Data Abort to EL2 with the VNCR syndrome.
    `rule` is shown by `-d sysreg` and counted by ``--stats``.
    """

    va: int
    fsc: int | None = None
    rule: str = ""
    why: str = ""  # where the address comes from, for the explanation (``VNCR_EL2 + 0x78``)


ALLOW = Allow()
UNDEF = Undef()


class Registry:
    """All registers of one machine, by key and by name."""

    def __init__(self, regs: Iterable[SysReg] = ()) -> None:
        self.by_key: dict[int, SysReg] = {}
        self.by_name: dict[str, SysReg] = {}
        for r in regs:
            self.add(r)

    def add(self, r: SysReg) -> None:
        old = self.by_key.get(r.key)
        if old is not None and old.name != r.name:
            raise ValueError(f"{r.name} and {old.name} share encoding {r.encoding}")
        self.by_key[r.key] = r
        self.by_name[r.name] = r

    def replace(self, r: SysReg) -> None:
        """Override an existing definition (a CPU model or feature refining a base register)."""
        old = self.by_key.get(r.key)
        if old is not None and old.name != r.name and self.by_name.get(old.name) is old:
            del self.by_name[old.name]
        self.by_key[r.key] = r
        self.by_name[r.name] = r

    def __contains__(self, name: str) -> bool:
        return name in self.by_name

    def __getitem__(self, name: str) -> SysReg:
        return self.by_name[name]

    def get(self, key: int) -> SysReg | None:
        return self.by_key.get(key)

    def __iter__(self):
        return iter(self.by_name.values())

    def reset(self, cpu: CPUState) -> None:
        for r in self.by_name.values():
            # plain registers and those with an explicit slot; instructions and computed views have none
            if r.storage is not None or (r.read is None and r.write is None):
                cpu.sr.setdefault(r.slot, r.reset)


def describe_key(key: int) -> str:
    """An encoding no register names, in the assembler's generic form: ``S3_4_C15_C7_7``."""
    return "S{}_{}_C{}_C{}_{}".format(*split_key(key))
