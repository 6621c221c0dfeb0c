"""The generic timer: the system counter and the four timers of a PE with EL2.

Time is virtual and exact (`framework.vclock`): by default one instruction is
one nanosecond, ``2**N`` with ``-icount shift=N``, plus the time skipped while
the CPU waited; the physical count is ``ns * CNTFRQ // 10**9`` with the
model's frequency (1 GHz on ``max``, 62.5 MHz on neoverse-n2/-v1). The
counter therefore depends only on the instruction count and the waits, never
on the host.

Timers (CTL: ENABLE bit 0, IMASK bit 1, ISTATUS bit 2 read-only; CVAL; TVAL a
signed 32-bit view ``CVAL - count``), with the PPI each one drives:

=========  ==================  =============================  =====
timer      registers           compares against               INTID
=========  ==================  =============================  =====
EL1 phys   CNTP_*_EL0          physical count                 30
EL1 virt   CNTV_*_EL0          physical count - CNTVOFF_EL2   27
EL2 phys   CNTHP_*_EL2         physical count                 26
EL2 virt   CNTHV_*_EL2         physical count                 28
=========  ==================  =============================  =====

With HCR_EL2.E2H = 1 the CNTP_*/CNTV_*_EL0 names used at EL2 (and at EL0
when {E2H,TGE} = {1,1}) reach the EL2 timers and CNTP_*/CNTV_*_EL02 reach
the EL1 ones (nv.md NV-13). EL0 access is controlled by CNTKCTL_EL1, or by
CNTHCTL_EL2 in its E2H = 1 layout for a host EL0; EL1 access to the physical
counter and timer by CNTHCTL_EL2.EL1PCTEN/EL1PCEN (bits 0/1 with E2H = 0,
10/11 with E2H = 1). Denied accesses trap with EC 0x18.

A timer's output (ENABLE and ISTATUS and not IMASK) is a level handed to
``machine.interrupts.set_ppi``. An interrupt controller plugin (GICv3)
attaches to `Interrupts` and receives those levels; on a bare board with no
controller the PPIs are ORed straight into the CPU's IRQ line, so bare-metal
programs can take timer interrupts (routed and masked like any physical IRQ).

The next firing of an enabled, unmasked timer is an *event* of
`Interrupts.event_sources` (a virtual time): the run loop makes it a
deadline, so the interrupt is taken after exactly the right number of
instructions, and WFI/WFE skip ahead in virtual time to it. Timer registers are only read or written by
MRS/MSR, which end their block, so `cpu.now()` is exact there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from framework.arch import (
    CNT_CTL_ENABLE,
    CNT_CTL_IMASK,
    CNT_CTL_ISTATUS,
    CNTHCTL_E2H_EL1PCEN,
    CNTHCTL_E2H_EL1PCTEN,
    CNTHCTL_EL1PCEN,
    CNTHCTL_EL1PCTEN,
    CNTKCTL_EL0PCTEN,
    CNTKCTL_EL0PTEN,
    CNTKCTL_EL0VCTEN,
    CNTKCTL_EL0VTEN,
    HCR_E2H,
)
from framework.cpu.exceptions import e2h_view, in_host, sync_target
from framework.cpu.state import M64
from framework.cpu.sysregs import UNDEF, Decision, SysReg, Trap, reg

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.machine import Machine

NS_PER_S = 1_000_000_000
DEFAULT_FREQUENCY = NS_PER_S
NEVER = 1 << 62

# CNTHCTL_EL2: EL1 enables of the physical counter and timer, per E2H layout
EL1PCTEN = {0: CNTHCTL_EL1PCTEN, 1: CNTHCTL_E2H_EL1PCTEN}
EL1PCEN = {0: CNTHCTL_EL1PCEN, 1: CNTHCTL_E2H_EL1PCEN}


@attrs.define(frozen=True, slots=True)
class TimerDef:
    name: str  # prefix of its registers: CNTP, CNTV, CNTHP, CNTHV
    suffix: str  # EL0 or EL2
    crm: int  # CRm of its CTL/CVAL/TVAL encodings (op0 3, CRn 14, op2 1/2/0)
    intid: int
    physical: bool  # EL0 access needs EL0PTEN (else EL0VTEN); EL1 access CNTHCTL_EL2.EL1PCEN
    virtual_offset: bool  # compares against the physical count minus CNTVOFF_EL2
    el2: bool  # an EL2 timer (op1 4) rather than an EL0 one (op1 3)

    @property
    def ctl(self) -> str:
        return f"{self.name}_CTL_{self.suffix}"

    @property
    def cval(self) -> str:
        return f"{self.name}_CVAL_{self.suffix}"


CNTP = TimerDef("CNTP", "EL0", 2, 30, physical=True, virtual_offset=False, el2=False)
CNTV = TimerDef("CNTV", "EL0", 3, 27, physical=False, virtual_offset=True, el2=False)
CNTHP = TimerDef("CNTHP", "EL2", 2, 26, physical=True, virtual_offset=False, el2=True)
CNTHV = TimerDef("CNTHV", "EL2", 3, 28, physical=False, virtual_offset=False, el2=True)
TIMERS = (CNTP, CNTV, CNTHP, CNTHV)
# the EL2 timer an EL0 timer name reaches under the E2H view
E2H_VIEW = {CNTP: CNTHP, CNTV: CNTHV}


class GenericTimer:
    """System counter and timers of the PE; state lives in cpu.sr, this object only computes."""

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.clock = machine.clock
        self.frequency = machine.model.extra.get("CNTFRQ_EL0") or DEFAULT_FREQUENCY
        self.levels = {t.intid: False for t in TIMERS}
        machine.interrupts.event_sources.append(self.next_event)
        machine.interrupts.pollers.append(self.update)

    # ---- counter -------------------------------------------------------------------
    def count(self, cpu: CPUState) -> int:
        """The physical count now (`cpu.now()`: exact also inside a block-ending helper)."""
        return self.clock.now(cpu) * self.frequency // NS_PER_S & M64

    def time_at(self, count: int) -> int:
        """The first virtual time (ns) at which the physical count reaches `count`."""
        return -(-count * NS_PER_S // self.frequency)

    @staticmethod
    def offset(cpu: CPUState, t: TimerDef) -> int:
        return cpu.sr["CNTVOFF_EL2"] if t.virtual_offset else 0

    def timer_count(self, cpu: CPUState, t: TimerDef) -> int:
        """The count timer `t` compares with its CVAL."""
        return (self.count(cpu) - self.offset(cpu, t)) & M64

    def virtual_count(self, cpu: CPUState) -> int:
        """CNTVCT_EL0: the offset is 0 at EL2 with E2H = 1 and at a host EL0."""
        if e2h_view(cpu):
            return self.count(cpu)
        return (self.count(cpu) - cpu.sr["CNTVOFF_EL2"]) & M64

    # ---- timers ----------------------------------------------------------------------
    def istatus(self, cpu: CPUState, t: TimerDef) -> bool:
        return self.timer_count(cpu, t) >= cpu.sr[t.cval]

    def output(self, cpu: CPUState, t: TimerDef) -> bool:
        ctl = cpu.sr[t.ctl]
        return ctl & (CNT_CTL_ENABLE | CNT_CTL_IMASK) == CNT_CTL_ENABLE and self.istatus(cpu, t)

    def update(self, cpu: CPUState) -> None:
        """Recompute the outputs for the current time and hand changes to the interrupt logic."""
        interrupts = self.machine.interrupts
        for t in TIMERS:
            level = self.output(cpu, t)
            if self.levels[t.intid] != level:
                self.levels[t.intid] = level
                interrupts.set_ppi(t.intid, level)

    def next_event(self, cpu: CPUState) -> int:
        """The virtual time (ns) at which an enabled, unmasked timer starts firing (NEVER if none)."""
        soonest = NEVER
        sr = cpu.sr
        for t in TIMERS:
            if sr[t.ctl] & (CNT_CTL_ENABLE | CNT_CTL_IMASK) != CNT_CTL_ENABLE:
                continue
            now = self.timer_count(cpu, t)
            cval = sr[t.cval]
            if now >= cval:
                continue
            soonest = min(soonest, self.time_at(self.count(cpu) + cval - now))
        return soonest

    def changed(self, cpu: CPUState) -> None:
        """A timer register was written: new outputs now, and a new deadline."""
        self.update(cpu)
        self.machine.engine.kick()


# ---- register access ------------------------------------------------------------------------


def _timer(cpu: CPUState) -> GenericTimer:
    return cpu.machine.timer


def _ctl_fns(t: TimerDef):
    def read(cpu: CPUState) -> int:
        ctl = cpu.sr[t.ctl] & (CNT_CTL_ENABLE | CNT_CTL_IMASK)
        return ctl | (CNT_CTL_ISTATUS if _timer(cpu).istatus(cpu, t) else 0)

    def write(cpu: CPUState, value: int) -> None:
        cpu.sr[t.ctl] = value & (CNT_CTL_ENABLE | CNT_CTL_IMASK)
        _timer(cpu).changed(cpu)

    return read, write


def _cval_fns(t: TimerDef):
    def read(cpu: CPUState) -> int:
        return cpu.sr[t.cval]

    def write(cpu: CPUState, value: int) -> None:
        cpu.sr[t.cval] = value & M64
        _timer(cpu).changed(cpu)

    return read, write


def _tval_fns(t: TimerDef):
    def read(cpu: CPUState) -> int:
        return (cpu.sr[t.cval] - _timer(cpu).timer_count(cpu, t)) & 0xFFFFFFFF

    def write(cpu: CPUState, value: int) -> None:
        delta = (value & 0xFFFFFFFF) - ((value & 0x80000000) << 1)  # sign-extend TVAL
        timer = _timer(cpu)
        cpu.sr[t.cval] = (timer.timer_count(cpu, t) + delta) & M64
        timer.changed(cpu)

    return read, write


def _write_cntvoff(cpu: CPUState, value: int) -> None:
    cpu.sr["CNTVOFF_EL2"] = value & M64
    _timer(cpu).changed(cpu)


def _read_cntpct(cpu: CPUState) -> int:
    return _timer(cpu).count(cpu)


def _read_cntvct(cpu: CPUState) -> int:
    return _timer(cpu).virtual_count(cpu)


# ---- access control (Arm ARM: CNTKCTL_EL1, CNTHCTL_EL2; the reference's access checks) ------------


def _el0_denied(cpu: CPUState, el0_bits: int) -> Decision | None:
    """EL0 needs one of `el0_bits` in CNTKCTL_EL1 (CNTHCTL_EL2 for a host EL0)."""
    if in_host(cpu):
        return None if cpu.sr["CNTHCTL_EL2"] & el0_bits else Trap(2)
    if not cpu.sr["CNTKCTL_EL1"] & el0_bits:
        return Trap(sync_target(cpu))
    return None


def _el1_physical_denied(cpu: CPUState, bits: dict[int, int]) -> Decision | None:
    """EL0/EL1 physical counter or timer access needs CNTHCTL_EL2.EL1PCTEN / EL1PCEN."""
    hcr = cpu.sr["HCR_EL2"]
    e2h = 1 if hcr & HCR_E2H else 0
    if cpu.el == 0 and in_host(cpu):
        return None
    if not cpu.sr["CNTHCTL_EL2"] & bits[e2h]:
        return Trap(2)
    return None


def _access_check(physical: bool, el0_bit: int, el1_bit: int):
    """EL0/EL1 access rule of a counter or timer: the EL0 enable, then (physical only) EL2's."""

    def check(cpu: CPUState, is_read: bool) -> Decision | None:
        el = cpu.el
        if el == 2:
            return None
        if el == 0:
            denied = _el0_denied(cpu, el0_bit)
            if denied is not None:
                return denied
        return _el1_physical_denied(cpu, el1_bit) if physical else None

    return check


def _counter_check(physical: bool):
    return _access_check(physical, CNTKCTL_EL0PCTEN if physical else CNTKCTL_EL0VCTEN, EL1PCTEN)


def _timer_check(t: TimerDef):
    return _access_check(t.physical, CNTKCTL_EL0PTEN if t.physical else CNTKCTL_EL0VTEN, EL1PCEN)


def _cntfrq_check(cpu: CPUState, is_read: bool) -> Decision | None:
    if not is_read:
        # writable only at the highest implemented EL: EL2 on the virt board (no EL3)
        return None if cpu.el == 2 else UNDEF
    if cpu.el != 0:
        return None
    return _el0_denied(cpu, CNTKCTL_EL0PCTEN | CNTKCTL_EL0VCTEN)


def _cntfrq_write(cpu: CPUState, value: int) -> None:
    # a plain register: it does not change how fast the counter runs
    cpu.sr["CNTFRQ_EL0"] = value & 0xFFFFFFFF


def timer_registers(machine: Machine) -> list[SysReg]:
    """The counter and timer registers, with their E2H views and *_EL02 accessors."""
    frequency = machine.model.extra.get("CNTFRQ_EL0") or DEFAULT_FREQUENCY
    regs = [
        reg("CNTFRQ_EL0", 3, 3, 14, 0, 0, reset=frequency, storage="CNTFRQ_EL0", check=_cntfrq_check,
            read=lambda cpu: cpu.sr["CNTFRQ_EL0"], write=_cntfrq_write),
        reg("CNTPCT_EL0", 3, 3, 14, 0, 1, access="RO", read=_read_cntpct, check=_counter_check(True)),
        reg("CNTVCT_EL0", 3, 3, 14, 0, 2, access="RO", read=_read_cntvct, check=_counter_check(False)),
        reg("CNTVOFF_EL2", 3, 4, 14, 0, 3, storage="CNTVOFF_EL2", read=lambda cpu: cpu.sr["CNTVOFF_EL2"],
            write=_write_cntvoff),
    ]  # fmt: skip
    for t in TIMERS:
        op1 = 4 if t.el2 else 3
        for what, op2, fns, storage in (
            ("CTL", 1, _ctl_fns(t), t.ctl),
            ("CVAL", 2, _cval_fns(t), t.cval),
            ("TVAL", 0, _tval_fns(t), None),
        ):
            name = f"{t.name}_{what}_{t.suffix}"
            read, write = fns
            view = E2H_VIEW.get(t)
            regs.append(
                reg(
                    name, 3, op1, 14, t.crm, op2, storage=storage, read=read, write=write,
                    check=None if t.el2 else _timer_check(t),
                    e2h_target=f"{view.name}_{what}_{view.suffix}" if view else None,
                )
            )  # fmt: skip
            if not t.el2:
                regs.append(reg(f"{t.name}_{what}_EL02", 3, 5, 14, t.crm, op2, el12_of=name))
    return regs


__all__ = ["TIMERS", "GenericTimer", "TimerDef", "timer_registers"]
