"""The plugin contract of armnv: every hook a plugin may implement.

A plugin is a module whose functions are decorated with
``@framework.hookimpl`` and named like the specifications below. It is found
through the ``armnv`` entry-point group (builtin plugins are declared there
exactly like third-party ones) and registered on a machine's plugin manager
only when its feature is enabled (see ``framework.plugins``), so a hook
implementation never has to ask "am I enabled?".

Hooks run on *events*, never per instruction. Three kinds:

* **declarations** at machine build (features, CPU models, system registers,
  devices, HCR_EL2 bits): every plugin contributes, results are collected;
* **decisions** (``firstresult=True``): the first implementation that returns
  something other than ``None`` wins; ``None`` means "not my business", and
  the kernel's own rule applies when nobody answers;
* **notifications** (configuration changes, dumps, logs): everybody is called.

Order between plugins is explicit with ``tryfirst``/``trylast``; the rule for
each decision hook is written on it.

Plugins hold no global mutable state: architectural state lives in the CPU
(system registers in ``cpu.sr``), device state in objects registered on the
machine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework import hookspec

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.cpu.sysregs import Decision, SysReg
    from framework.machine import Machine
    from framework.plugins import CpuModel, Feature
    from framework.vmem import Access, Translation


# ---- declarations (machine build) ---------------------------------------------------------


@hookspec
def armnv_features() -> list[Feature]:
    """Declare the architectural features this plugin implements.

    Called on every discovered plugin (enabled or not) when the catalogue of
    features is built. A `Feature` names what it requires (``nv2`` requires
    ``nv``) and the ID-register fields it sets when enabled.
    """


@hookspec
def armnv_cpu_models() -> list[CpuModel]:
    """Declare CPU models: name, ID-register values and default features.

    Called on every discovered plugin. Model names must be unique.
    """


@hookspec
def armnv_sysregs(machine: Machine) -> list[SysReg]:
    """Contribute system-register (and system-instruction) definitions.

    Called once per machine, after the kernel's base registers are declared.
    A definition whose encoding is already known *replaces* the earlier one
    (a feature refining a base register, e.g. HCR_EL2's write mask), in
    plugin registration order.
    """


@hookspec
def armnv_hcr_bits(machine: Machine) -> int:
    """Return the HCR_EL2 bits this feature makes writable (e.g. NV, NV1, AT for FEAT_NV).

    The results are ORed into the base mask of the CPU model.
    """


@hookspec
def armnv_devices(machine: Machine) -> None:
    """Create devices and map them on ``machine.bus`` (``bus.add_device``)."""


@hookspec
def armnv_machine_built(machine: Machine) -> None:
    """The machine is complete and reset: last chance to adjust state before the guest runs."""


# ---- decisions ----------------------------------------------------------------------------


@hookspec(firstresult=True)
def armnv_sysreg_access(cpu: CPUState, reg: SysReg | None, key: int, is_read: bool, rt: int) -> Decision | None:
    """Decide an MRS/MSR/SYS/SYSL access before the kernel does.

    ``reg`` is the definition of the 16-bit encoding ``key``
    (op0:op1:CRn:CRm:op2), or None when no register has that encoding.
    Return a `framework.cpu.sysregs.Decision` — ``Allow(target)``,
    ``Undef()``, ``Trap(el, esr)``, ``ToMemory(va)`` — or None to let the
    kernel apply the base architecture (EL checks, VHE view, EL2 traps).

    Ordering: FEAT_NV2's memory/EL1 redirection is ``tryfirst``, FEAT_NV's
    trap is plain, plugins that only add traps of their own registers should
    be ``trylast`` (nv.md NV-12).
    """


@hookspec(firstresult=True)
def armnv_current_el(cpu: CPUState) -> int | None:
    """The value of PSTATE.EL as read by ``MRS CurrentEL`` (FEAT_NV makes EL1 read 2)."""


@hookspec(firstresult=True)
def armnv_exception_entry(cpu: CPUState, from_el: int, target_el: int, spsr: int, esr: int | None) -> int | None:
    """Adjust the PSTATE value about to be saved in SPSR_ELx on exception entry.

    Return the new SPSR value, or None to keep ``spsr`` (e.g. NV-27 reports
    EL2 in SPSR_EL1.M for EL1 → EL1 exceptions).
    """


@hookspec
def armnv_entry_pstate(cpu: CPUState, target_el: int) -> None:
    """PSTATE was set for an exception entry to ``target_el``: apply feature rules (PAN, SSBS…)."""


@hookspec(firstresult=True)
def armnv_eret(cpu: CPUState, pc: int) -> int | None:
    """An ERET/ERETAA/ERETAB at ``pc``: return the next PC if the plugin handled it (NV-15 trap)."""


@hookspec(firstresult=True)
def armnv_msr_immediate(cpu: CPUState, op1: int, op2: int, crm: int) -> bool | None:
    """An MSR (immediate) to a PSTATE field the kernel does not own (e.g. PAN: op1=0, op2=4).

    Return True when the plugin performed it; if nobody does, the instruction is UNDEFINED.
    """


@hookspec(firstresult=True)
def armnv_unprivileged_el(cpu: CPUState) -> int | None:
    """The EL whose permissions LDTR/STTR use at the current EL (NV-25 makes them privileged)."""


@hookspec(firstresult=True)
def armnv_pan_active(cpu: CPUState) -> bool | None:
    """Whether PSTATE.PAN restricts privileged data accesses now (pan.md §4, §6)."""


@hookspec(firstresult=True)
def armnv_translate(cpu: CPUState, va: int, access: Access) -> Translation | None:
    """Translate a virtual address on a software-TLB miss.

    Return a `framework.vmem.Translation`, raise
    `framework.vmem.TranslationFault` for a fault, or return None when no
    translation is in force (the address is then the physical address).
    """


@hookspec(firstresult=True)
def armnv_descriptor(cpu: CPUState, regime: str, stage: int, desc: int, level: int, is_table: bool) -> Any:
    """Reinterpret a translation-table descriptor for a regime (NV-26); None keeps the standard format."""


# ---- notifications ------------------------------------------------------------------------


@hookspec
def armnv_config_changed(cpu: CPUState, reg: SysReg) -> None:
    """A configuration register (HCR_EL2, SCTLR_ELx, TCR_ELx, TTBRn_ELx…) was written.

    The kernel has already dropped its translation caches.
    """


@hookspec
def armnv_cpu_dump(cpu: CPUState) -> list[str]:
    """Words to append to the PSTATE line of a CPU dump (NV-37: ``NV``, ``NV1``, ``NV2``)."""


@hookspec
def armnv_log_fields(cpu: CPUState, event: str) -> dict[str, Any]:
    """Extra structured fields for a log event (``exception.entry``, ``sysreg.trap``…)."""
