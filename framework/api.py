"""The names a plugin may import from the kernel: armnv's plugin API.

A plugin (armnv's own under ``plugins/`` and third-party ones alike) imports
from three places only:

* ``from framework import hookimpl`` — `hookimpl`, the marker of hook
  implementations (also importable from here; the hooks themselves are
  specified in `framework.hookspecs`), and from here `only_when`, which tells
  the kernel under which configuration an exception entry or ERET hook
  implementation can matter at all;
* ``framework.api`` — this module: the names below, grouped by what they are
  for;
* ``framework.arch`` — the vocabulary of architectural register fields
  (``HCR_NV``, ``SCTLR_SPAN``, ``PSTATE_PAN``, ``TCR_TG0``…), the `Field`
  helper for multi-bit fields, `hcr_eff` (the effective HCR_EL2) and
  `describe_hcr`.

Everything else in ``framework`` is the kernel's inside and may change
without notice; ``tests/test_api_surface.py`` checks that the plugins in this
repository keep to the rule. A plugin's tests may also use
`framework.testing` (the pytest fixtures) and whatever else they need.

Declarations
    `Feature` (an optional architectural feature: name, requirements,
    conflicts, the ID-register fields it owns), `IdField` (one such field)
    and `CpuModel` (ID-register values and default features), returned by
    the ``armnv_features`` and ``armnv_cpu_models`` hooks. A feature's
    ``default_on`` names the models where it is on without a switch:
    model names, `EVERY_MODEL`, or `ADVERTISED` (every model whose value of
    a field the feature claims advertises it).

System registers and instructions
    `SysReg` is one declarative register or system instruction, usually made
    with `reg` (name, op0, op1, CRn, CRm, op2, keywords); ``armnv_sysregs``
    returns them. `ReadFn`, `WriteFn` and `CheckFn` are the types of its
    ``read``, ``write`` and ``check`` functions. `make_key` and `split_key`
    convert between an encoding and the 16-bit key hooks receive.

Access decisions
    What ``armnv_sysreg_access`` and a `SysReg` ``check`` answer:
    `Allow` (optionally on another register), `Undef`, `Trap` (to an EL, with
    an ESR or the access's own EC 0x18 syndrome), `ToMemory` (a 64-bit
    load/store in the EL2 regime), the subclasses of `Decision`. `ALLOW` and
    `UNDEF` are ready-made instances. `kernel_decision` is the base architecture's
    answer for an access (the register's own checks and the EL2 trap
    controls): a plugin that replaces an access only after those checks asks
    it first (FEAT_NV2's redirection, NV2-08).

Syndromes
    `syndrome` is the module of ESR builders (``esr``, ``uncategorized``,
    ``sysreg_trap``, ``sysreg_trap_key``, ``eret_trap``, ``wfx_trap``,
    ``abort``…) and of the EC, FSC and data-abort ISS constants
    (``syndrome.EC_SYSREG``, ``syndrome.FSC_TRANSLATION``…).

Translation
    `Access` (what a translation is for), `Translation` (its result) and
    `TranslationFault` (a fault with its FSC, stage, S1PTW and IPA) are the
    arguments and answers of ``armnv_translate`` and ``armnv_at``.
    `REGIME_EL10`, `REGIME_EL2` and `REGIME_EL20` name the translation
    regimes; `regime_of` gives the regime of an access at an EL,
    `current_asid` and `current_vmid` the ASID and VMID in force.

Architectural rules the kernel implements
    `in_host` ({E2H, TGE} = {1, 1}), `e2h_view` (EL1 register names reach
    EL2 state), `sync_target` (where an ordinary synchronous exception goes),
    `sync_exception` (take a synchronous exception with an ESR to an EL and
    return the vector's address), `el0_enabled` (an EL0 enable bit of the
    EL0 regime's SCTLR) and
    `ttlb_check` (the HCR_EL2.TTLB trap, a ready `SysReg` ``check`` for EL1
    TLB maintenance rows).

Device tree
    `DeviceTree` is the board's tree under construction that
    ``armnv_device_tree`` receives; `fdt_cells` splits a 64-bit address or
    size into the two cells the board's nodes use; `GIC_SPI`, `GIC_PPI` and
    `IRQ_LEVEL_HIGH` are the cells of a GIC interrupt specifier.

Instruction decoding
    `decoder` returns the A64 decode table; ``decoder().decode(word)`` is
    None for a word no row implements (how a feature probes for its
    instructions).

Types
    `CPUState` (registers, PSTATE, ``sr``) and `Machine` (``features``,
    ``model``, ``id_value``, ``bus``, ``sysregs``), for annotations: import
    them under ``if TYPE_CHECKING:``.
"""

from __future__ import annotations

from framework import hookimpl
from framework.cpu import syndrome
from framework.cpu.decisions import kernel_decision
from framework.cpu.exceptions import e2h_view, in_host, sync_exception, sync_target
from framework.cpu.state import CPUState
from framework.cpu.syndrome import make_key, split_key
from framework.cpu.sysregs import (
    ALLOW,
    UNDEF,
    Allow,
    CheckFn,
    Decision,
    ReadFn,
    SysReg,
    ToMemory,
    Trap,
    Undef,
    WriteFn,
    reg,
)
from framework.cpu.traps import el0_enabled, ttlb_check
from framework.devicetree import GIC_PPI, GIC_SPI, IRQ_LEVEL_HIGH, DeviceTree
from framework.devicetree import cells as fdt_cells
from framework.isa.table import decoder
from framework.machine import Machine
from framework.plugins import ADVERTISED, EVERY_MODEL, CpuModel, Feature, IdField, only_when
from framework.vmem import (
    REGIME_EL2,
    REGIME_EL10,
    REGIME_EL20,
    Access,
    Translation,
    TranslationFault,
    current_asid,
    current_vmid,
    regime_of,
)

__all__ = [
    "ADVERTISED",
    "ALLOW",
    "EVERY_MODEL",
    "GIC_PPI",
    "GIC_SPI",
    "IRQ_LEVEL_HIGH",
    "REGIME_EL2",
    "REGIME_EL10",
    "REGIME_EL20",
    "UNDEF",
    "Access",
    "Allow",
    "CPUState",
    "CheckFn",
    "CpuModel",
    "Decision",
    "DeviceTree",
    "Feature",
    "IdField",
    "Machine",
    "ReadFn",
    "SysReg",
    "ToMemory",
    "Translation",
    "TranslationFault",
    "Trap",
    "Undef",
    "WriteFn",
    "current_asid",
    "current_vmid",
    "decoder",
    "e2h_view",
    "el0_enabled",
    "fdt_cells",
    "hookimpl",
    "in_host",
    "kernel_decision",
    "make_key",
    "only_when",
    "reg",
    "regime_of",
    "split_key",
    "sync_exception",
    "sync_target",
    "syndrome",
    "ttlb_check",
]
