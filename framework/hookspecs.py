"""The plugin contract of armnv: every hook a plugin may implement.

A plugin is a module (or package) whose module-level functions are decorated
with ``@framework.hookimpl`` and named like the specifications below; an
implementation may accept fewer arguments than the specification lists, in
any order, but no others. The module is found through the ``armnv``
entry-point group — armnv's builtin plugins are declared there exactly like
third-party ones — and checked against this file when it is discovered (a
misspelt hook name is an error, not a silent no-op). See
``docs/plugin-guide.md`` for a walk-through with a complete example.

Which plugins a machine calls
-----------------------------
A plugin that declares features is registered on a machine's plugin manager
only when at least one of its features is enabled (``--cpu max,nv2=off``
switches one off), so a hook implementation never has to ask "am I
enabled?". Plugins that declare CPU models or no feature at all are always
registered. Registration order is: armnv's builtin plugins, then
third-party ones, each sorted by entry-point name (``armnv plugins`` lists
them in that order).

A built machine takes more plugins only through
``Machine.register_plugin(plugin, name=...)`` (tests and tools adding a
stand-in): such a plugin may implement decisions and notifications, not
declarations, and the machine recomputes everything it derives from its
set of hooks, telling plugins through `armnv_plugins_changed`.

Three kinds of hooks
--------------------
* **Declarations**, at machine build (features, CPU models, system
  registers, HCR_EL2 bits, devices): every registered plugin contributes;
  the kernel collects the results.
* **Decisions** (``firstresult=True``): implementations are called one by
  one and the first that returns something other than ``None`` wins;
  ``None`` means "not my business". When nobody answers, the kernel applies
  the base architecture (all in ``framework/cpu/decisions.py``). pluggy
  calls the most recently registered plugin first;
  ``@hookimpl(tryfirst=True)`` / ``@hookimpl(trylast=True)`` move an
  implementation to the front / back. The ordering rule of each decision is
  written on it below, with the spec item that requires it. Decisions that
  may take an exception answer with the decision types of
  `armnv_sysreg_access` (``Trap(el, esr=None)``, ``Undef()``): the kernel
  takes the exception and counts the trap, so a plugin never enters an
  exception itself. ``-d plugins`` logs every decision a plugin answered:
  the hook, the arguments that matter, the answer and the plugin's name.
* **Notifications** (configuration changes, a plugin added to a built
  machine, CPU dumps, log fields): every implementation is called; return
  values are collected where documented.

Hooks run on *events*, never per instruction: a pluggy call costs about a
microsecond, an emulated instruction far less. The kernel only calls a
decision hook at all when some registered plugin implements it.

The exception entry and return hooks (`armnv_exception_entry`,
`armnv_entry_pstate`, `armnv_eret`) run on every exception, so the kernel
calls their implementations directly (in pluggy's order, without its
per-call machinery) and only those that can matter under the current
configuration: an implementation marked with ``framework.api.only_when``
(a predicate on configuration registers, e.g. HCR_EL2.NV = 1) is left out
while its predicate is false; the predicates are asked once per
configuration (again after a write to a register marked ``config`` or
``decides``, or a new plugin). An implementation without the mark is
always called.

Where state lives
-----------------
Plugins hold no global mutable state (two machines may run in one process).
Architectural state lives in the CPU: system registers in ``cpu.sr`` (a dict
keyed by register name), PSTATE fields as ``cpu`` attributes. Device state
lives in objects the plugin creates in `armnv_devices` and maps on
``machine.bus``. The machine is ``cpu.machine``; its enabled features are
``machine.features`` and its CPU model ``machine.model``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from framework import hookspec

if TYPE_CHECKING:
    from framework.cpu.state import CPUState
    from framework.cpu.sysregs import Decision, SysReg
    from framework.devicetree import DeviceTree
    from framework.machine import Machine
    from framework.plugins import CpuModel, Feature
    from framework.vmem import Access, Translation


# ---- declarations (discovery and machine build) -----------------------------------------------


@hookspec
def armnv_features() -> list[Feature]:
    """Declare the architectural features this plugin implements.

    Called once per process on every discovered plugin, enabled or not,
    when the feature catalogue is built (it is not called through a
    machine's plugin manager). A `framework.plugins.Feature` names:

    * ``requires`` — features it cannot work without (``nv2`` requires
      ``nv``; ``nv`` requires ``el2`` and ``vhe``). Switching a requirement
      off drops the dependent default features with it; switching a
      dependent on explicitly while its requirement is off is an error;
    * ``conflicts`` — features it cannot be enabled with (an error);
    * ``id_fields`` — the ID-register fields it claims: a field keeps the
      CPU model's value (up to the claim's ``top``) only while a feature
      claiming it is enabled; a claimed field whose feature is off drops to
      the claim's ``absent`` value, a field nobody claims to its level in the
      model's layout (a feature never raises a field above the model's
      value);
    * ``default_on`` — the models where it is on without a ``--cpu``
      switch: model names, ``EVERY_MODEL``, or ``ADVERTISED`` (every model
      whose values advertise one of its ``id_fields``);
    * ``fixed`` — cannot be switched off.

    Feature names are unique across all plugins; two plugins declaring the
    same name is an error at discovery.
    """


@hookspec
def armnv_cpu_models() -> list[CpuModel]:
    """Declare CPU models: ID-register values, their field layout, model properties.

    Called once per process on every discovered plugin. Model names are
    unique (``*`` and ``advertised`` are reserved). A model's ``id_fields``
    is the layout that says how far each field drops while no enabled
    feature claims it. Its optional ``default_features`` adds to the
    features that are on by default through their own ``default_on``; it
    may name features no installed plugin declares, which are ignored until
    a plugin implements them.
    """


@hookspec
def armnv_sysregs(machine: Machine) -> list[SysReg]:
    """Contribute system-register and system-instruction (op0 = 1) definitions.

    Called once per machine, after the kernel's base registers are declared
    (they can be looked up in ``machine.sysregs``). Each returned
    `framework.cpu.sysregs.SysReg` is added to the machine's registry; a
    definition whose encoding is already known *replaces* the earlier one
    (a feature refining a base register). Results are applied in plugin
    registration order, so a later plugin's definition wins.

    A definition with ``feature="x"`` UNDEFs while feature ``x`` is
    disabled, which lets one plugin define registers for several features.
    """


@hookspec
def armnv_hcr_bits(machine: Machine) -> int:
    """Return the HCR_EL2 bits this plugin makes writable.

    The kernel implements bits [33:0] and E2H (bit 34, only with the
    ``vhe`` feature); the CPU-model plugin adds the bits its model
    implements (TLOR, TERR, TEA, APK, API, FWB, TID4, TICAB, TOCU, TTLBIS,
    TTLBOS, EnSCXT — cpu-models.md §7); a feature adds its own control bits
    (FEAT_NV: NV, NV1, AT; FEAT_NV2: NV2 — nv.md NV-02, NV-03). All results
    are ORed; bits nobody contributes are RES0 (written value ignored).
    """


@hookspec
def armnv_devices(machine: Machine) -> None:
    """Create devices and map them on ``machine.bus`` (``bus.add_device(base, size, device, name)``).

    Called once per machine after the board's own devices (UART,
    semihosting, PSCI) exist. Keep device state in the device object.
    """


@hookspec
def armnv_device_tree(machine: Machine, tree: DeviceTree) -> None:
    """Describe the devices this plugin mapped in `armnv_devices` in the board's device tree.

    Called each time the board's flattened device tree is generated (at boot,
    ``armnv dumpdtb``), after the kernel's nodes for RAM, the CPU and PSCI and
    before the UART, the timer and /chosen. Add nodes with
    ``tree.add_node(parent_path, name, {property: value})`` (values: a string,
    a list of strings, a list of 32-bit cells, bytes, or None for an empty
    property; addresses and sizes are two cells each) and take phandles with
    ``tree.phandle()``. The plugin that provides the interrupt controller sets
    ``tree.interrupt_parent`` to its phandle; the kernel then gives the UART
    and the timer their interrupts in that controller's three-cell format
    (type, number, flags), and without one it describes no interrupts at all.
    Describe only what the machine has.
    """


@hookspec
def armnv_machine_built(machine: Machine) -> None:
    """The machine is complete and reset: last chance to adjust state before the guest runs."""


# ---- decisions ------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def armnv_sysreg_access(cpu: CPUState, reg: SysReg | None, key: int, is_read: bool, rt: int) -> Decision | None:
    """Decide an MRS, MSR (register), SYS or SYSL before the kernel does.

    :param reg: the definition of the 16-bit encoding ``key``
        (op0:op1:CRn:CRm:op2, bits [20:5] of the instruction), or None when
        no register has that encoding on this machine.
    :param is_read: True for MRS and SYSL.
    :param rt: the general-purpose register operand (31 = XZR).
    :return: a `framework.cpu.sysregs.Decision`, or None to let the kernel
        apply the base architecture (feature gate, lowest EL, direction,
        the VHE view at EL2 — nv.md NV-13 — and the register's own
        ``check``):

        * ``Allow(target)`` — perform the access on ``target`` (another
          register: a redirect, e.g. FEAT_NV2's SPSR_EL2 → SPSR_EL1);
        * ``Undef()`` — UNDEFINED (EC 0x00; a read in the feature-ID space
          reports EC 0x18 instead, syndromes.md §3 FEAT_IDST);
        * ``Trap(el, esr=None)`` — take an exception to ``el``; ``esr=None``
          is the EC 0x18 syndrome of this access (syndromes.md §4);
        * ``ToMemory(va)`` — perform the access as a 64-bit load/store at
          virtual address ``va`` in the EL2 regime (FEAT_NV2).

    Ordering (nv.md NV-12, first match wins): FEAT_NV2's redirections (to
    EL1 registers, then to memory) are ``tryfirst``; FEAT_NV's trap of
    EL2-level encodings is a plain implementation; a plugin that only adds
    traps of its own registers, or EL2 traps of EL1 registers, is
    ``trylast``, so NV2 and NV see an access first. The kernel's own
    decision comes after every plugin.

    Contract: the answer may depend only on the access (``reg``, ``key``,
    ``is_read``, ``rt``), ``cpu.el`` and configuration registers, and every
    register it reads says so in its definition (``SysReg(config=True)``, or
    ``decides=True`` when a write changes decisions but not translation).
    The kernel keeps each answer per EL and asks again only after such a
    register is written (or always, for a register with ``uncached=True``,
    and while ``-d sysreg`` or ``-d plugins`` is on). The hook is not the
    place for side effects.
    """


@hookspec(firstresult=True)
def armnv_current_el(cpu: CPUState) -> int | None:
    """The exception level ``MRS CurrentEL`` reports (bits [3:2]), or None for PSTATE.EL.

    FEAT_NV makes EL1 read 2 while HCR_EL2.NV == 1 (nv.md NV-20). Only one
    plugin is expected to answer.
    """


@hookspec(firstresult=True)
def armnv_exception_entry(cpu: CPUState, from_el: int, target_el: int, spsr: int, esr: int | None) -> int | None:
    """Adjust the PSTATE value about to be saved in SPSR_<target_el> on exception entry.

    Called before SPSR/ELR/ESR are written and before PSTATE changes.
    ``spsr`` is the value the kernel computed; ``esr`` is the syndrome (None
    for interrupts). Return the new SPSR value, or None to keep ``spsr``.
    Example: FEAT_NV reports EL2 in SPSR_EL1.M for EL1 → EL1 exceptions
    taken while HCR_EL2.NV == 1 (nv.md NV-27, nv2.md NV2-11).

    Called on every exception entry, so mark an implementation that can
    answer only under some configuration with ``only_when`` (FEAT_NV's:
    while HCR_EL2.NV = 1): while its predicate is false it is not called.
    Unmarked implementations are always called.
    """


@hookspec
def armnv_entry_pstate(cpu: CPUState, target_el: int) -> None:
    """PSTATE was set for an exception entry to ``target_el``: apply feature rules.

    Every implementation is called (notification), except one marked with
    ``only_when`` whose predicate is false under the current configuration.
    Example: FEAT_PAN sets PSTATE.PAN from SCTLR_ELx.SPAN (pan.md §3), and
    is marked to be called only while some entry can set it (an SPAN bit
    is 0). The kernel's own rules (DAIF, UAO, BTYPE, SSBS, ALLINT —
    syndromes.md §10) have already run.
    """


@hookspec(firstresult=True)
def armnv_eret(cpu: CPUState, pc: int) -> Decision | None:
    """Decide an ERET, ERETAA or ERETAB at ``pc``, at EL1 or EL2 (at EL0 it is UNDEFINED unasked).

    :return: None for the ordinary exception return (``Allow()`` means the
        same), or the exception the kernel takes instead, at ``pc``:

        * ``Trap(el, esr=None)`` — to ``el``; ``esr=None`` is the ERET trap
          syndrome, EC 0x1A with ISS 0 (syndromes.md §5). FEAT_NV traps EL1
          ERETs to EL2 this way (nv.md NV-15); the kernel counts the trap;
        * ``Undef()`` — UNDEFINED (EC 0x00).

    Only FEAT_NV is expected to answer; its implementation is marked
    ``only_when`` HCR_EL2.NV = 1, so with NV = 0 an ERET asks nobody.
    Unmarked implementations are asked on every ERET at EL1 and EL2.
    """


@hookspec(firstresult=True)
def armnv_msr_immediate(cpu: CPUState, op1: int, op2: int, crm: int) -> bool | Decision | None:
    """An MSR (immediate) to a PSTATE field the kernel does not own (e.g. PAN: op1 = 0, op2 = 4).

    Return True when the plugin performed it, or the exception the kernel
    takes instead: ``Trap(el, esr=None)`` (``esr=None`` is the EC 0x18
    syndrome with op0 = 0, CRn = 4, Rt = 31, a write — syndromes.md §4;
    the trap is counted) or ``Undef()``. If nobody answers, the instruction
    is UNDEFINED.
    """


@hookspec(firstresult=True)
def armnv_at(cpu: CPUState, op: str, va: int) -> int | None:
    """Perform the address-translation instruction ``AT <op>`` on ``va``; return the PAR_EL1 value.

    Called by the AT instruction definitions after the access decision
    (traps such as HCR_EL2.AT or NV-06 are `armnv_sysreg_access`'s
    business and leave PAR_EL1 unchanged, mmu.md MMU-08, so this hook
    answers no ``Trap``: a fault of the translation itself is reported in
    PAR_EL1 or taken by the MMU plugin as an abort). ``op`` is the
    Arm ARM name: ``S1E1R``, ``S1E1W``, ``S1E0R``, ``S1E0W``, ``S1E1RP``,
    ``S1E1WP``, ``S1E1A``, ``S1E2R``, ``S1E2W``, ``S1E2A``, ``S12E1R``,
    ``S12E1W``, ``S12E0R``, ``S12E0W``. Return None for operations the
    plugin does not handle.

    Ordering: the MMU plugin's AT rows call this hook first and perform the
    ordinary translation themselves when every implementation returns None,
    so a feature that gives one operation its own meaning returns a PAR for
    that ``op`` only and None for every other.
    """


@hookspec(firstresult=True)
def armnv_unprivileged_el(cpu: CPUState) -> int | None:
    """The EL whose permissions LDTR/STTR (and other unprivileged accesses) check at the current EL.

    None keeps the kernel's rule (EL0 at EL1 unless PSTATE.UAO; at EL2 with
    E2H/TGE likewise). FEAT_NV with NV1 == 1 makes them privileged at EL1
    (nv.md NV-25).
    """


@hookspec(firstresult=True)
def armnv_pan_active(cpu: CPUState) -> bool | None:
    """Whether PSTATE.PAN restricts privileged data accesses right now (pan.md §4, §6; nv.md NV-24).

    Asked when a memory context is built (exception entry/return, MSR PAN,
    configuration change), never per access. None means "no PAN". The MMU
    plugin also asks it on a software-TLB miss for a privileged data access
    in a regime with EL0 (not for AT S1E1R/W): the answer must depend only on
    state that selects the memory context (EL, PSTATE.PAN, HCR_EL2), since
    the permission found is cached with that context.
    """


@hookspec(firstresult=True)
def armnv_translate(cpu: CPUState, va: int, access: Access) -> Translation | None:
    """Translate a virtual address on a software-TLB miss.

    ``access`` says what for (`framework.vmem.Access`: read/write/fetch,
    the EL whose permissions apply, AT, PAN). Return a
    `framework.vmem.Translation`, raise `framework.vmem.TranslationFault`
    for a fault, or return None when no translation is in force (the
    address is then the physical address). Only the MMU plugin answers.
    ``access.regime`` (a ``framework.vmem.REGIME_*`` name) forces a regime
    other than the current EL's (AT, FEAT_NV2's EL2 accesses);
    ``access.stage1_only`` asks for the IPA (AT S1E0*/S1E1*).
    """


@hookspec(firstresult=True)
def armnv_descriptor(cpu: CPUState, regime: str, stage: int, desc: int, level: int, is_table: bool) -> Any:
    """Reinterpret a translation-table descriptor (the MMU plugin asks while walking).

    ``regime`` is ``"EL1&0"``, ``"EL2&0"`` or ``"EL2"`` (``framework.vmem.REGIME_*``;
    stage-2 descriptors come with ``"EL1&0"``); ``stage`` 1 or 2; ``desc`` the
    64-bit descriptor as read from memory, called only for valid ones (bit 0
    set); ``level`` its lookup level; ``is_table`` whether it is a table
    descriptor (bit 1 set below level 3). Return the descriptor rewritten into
    the standard VMSAv8-64 format of that regime and stage — the walker then
    reads it exactly as if memory held that value (output address, AF,
    AttrIndx, SH, AP[2:1], UXN/PXN, APTable/UXNTable/PXNTable) — or None to
    keep ``desc``. Nothing is written back to memory. FEAT_NV's NV1 = 1 reads
    EL1&0 stage-1 descriptors in the EL2 format (nv.md NV-26): move bit 54 to
    bit 53 (PXN) with UXN = 0, clear AP[1]; for tables move bit 60 to bit 59
    and clear bit 61. Translations are cached per memory context, so the
    answer must depend only on state whose change flushes the TLBs (HCR_EL2
    NV/NV1 do).
    """


# ---- notifications ----------------------------------------------------------------------------------


@hookspec
def armnv_config_changed(cpu: CPUState, reg: SysReg) -> None:
    """A configuration register (HCR_EL2, SCTLR_ELx, TCR_ELx, TTBRn_ELx…) was written.

    The kernel has already dropped the translation caches the write may
    affect (everything, except for a TTBRn/VTTBR write, which selects the
    context of its ASID/VMID, and HCR_EL2 writes that change no translation
    bit) and recomputed the memory context; a plugin caching anything derived from ``reg``
    drops it here (nv.md NV-05).
    """


@hookspec
def armnv_plugins_changed(machine: Machine) -> None:
    """A plugin was added to the built machine (``Machine.register_plugin``).

    The kernel has already recomputed which decision hooks it asks, dropped
    its memory contexts and translated code, and registered the new plugin
    (which hears this too). A plugin that derives anything from the set of
    hook implementations — e.g. the MMU plugin remembers whether anyone
    implements `armnv_descriptor` and `armnv_pan_active` — recomputes it
    here.
    """


@hookspec
def armnv_cpu_dump(cpu: CPUState) -> list[str]:
    """Words to append to the PSTATE line of a CPU dump (``-d cpu``), e.g. ``NV NV1`` (nv.md NV-37)."""


@hookspec
def armnv_log_fields(cpu: CPUState, event: str) -> dict[str, Any]:
    """Extra structured fields for the log event ``event`` (``exception.entry``, ``sysreg.trap``…)."""
