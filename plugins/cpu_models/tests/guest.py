"""Guest-program scaffolding shared by the CPU-model tests.

`program(body)` installs EL2 and EL1 vector tables whose synchronous handlers
append (target EL, ESR) to a log in memory and skip the instruction;
`taken(m)` reads the log back. An HVC taken to EL2, or an SVC taken to EL1,
ends the program (semihosting exit from the handler). `at_el1` / `at_el0`
run a body at a lower EL. The body may use x0-x19 (x0 and x1 are clobbered
by the exit sequence).
"""

from __future__ import annotations

import types

from framework import hookimpl, plugins
from framework.machine import Machine

HCR_RW = 1 << 31
SPSR_EL1H = 0x3C5
SPSR_EL0T = 0x3C0
LOG = 0x4020_0000  # exception log: one doubleword per exception, ESR | target EL << 62
DATA = 0x4030_0000  # free RAM for test data

_PROLOGUE = f"""
    ldr x26, ={LOG:#x}
    adr x0, el2_vectors
    msr vbar_el2, x0
    adr x0, el1_vectors
    msr vbar_el1, x0
    isb
"""

_VECTORS = """
    b 9f
    .balign 0x800
el2_vectors:
    .rept 16
    b el2_handler
    .balign 0x80
    .endr
el1_vectors:
    .rept 16
    b el1_handler
    .balign 0x80
    .endr
el2_handler:
    mrs x20, esr_el2
    orr x25, x20, #0x8000000000000000
    str x25, [x26], #8
    lsr x25, x20, #26
    cmp x25, #0x16
    b.eq 9f
    mrs x22, elr_el2
    add x22, x22, #4
    msr elr_el2, x22
    eret
el1_handler:
    mrs x20, esr_el1
    orr x25, x20, #0x4000000000000000
    str x25, [x26], #8
    lsr x25, x20, #26
    cmp x25, #0x15
    b.eq 9f
    mrs x22, elr_el1
    add x22, x22, #4
    msr elr_el1, x22
    eret
9:
"""


def program(body: str) -> str:
    return _PROLOGUE + body + _VECTORS


def _lower(body: str, spsr: int, hcr: int, end: str, setup: str) -> str:
    return f"""
{setup}
    ldr x0, ={hcr:#x}
    msr hcr_el2, x0
    isb
    mov x0, #{spsr:#x}
    msr spsr_el2, x0
    adr x0, 1f
    msr elr_el2, x0
    eret
1:
{body}
    {end}
"""


def at_el1(body: str, hcr: int = HCR_RW, setup: str = "") -> str:
    """`setup` at EL2, then `body` at EL1h; it ends with an SVC, which stops the program."""
    return program(_lower(body, SPSR_EL1H, hcr, "svc #0", setup))


def at_el0(body: str, hcr: int = HCR_RW, setup: str = "") -> str:
    """`setup` at EL2, then `body` at EL0t; it ends with an SVC to EL1, which stops the program."""
    return program(_lower(body, SPSR_EL0T, hcr, "svc #0", setup))


def taken(m: Machine) -> list[tuple[int, int]]:
    """The exceptions the handlers logged, in order: (target EL, ESR)."""
    n = (m.cpu.x[26] - LOG) // 8
    words = [int.from_bytes(m.bus.read_bytes(LOG + 8 * i, 8), "little") for i in range(n)]
    return [(w >> 62, w & ((1 << 62) - 1)) for w in words]


def read_u64(m: Machine, addr: int, count: int) -> list[int]:
    return [int.from_bytes(m.bus.read_bytes(addr + 8 * i, 8), "little") for i in range(count)]


def sysreg_name(op0: int, op1: int, crn: int, crm: int, op2: int) -> str:
    """The generic assembler name of an encoding (works for registers binutils does not know)."""
    return f"S{op0}_{op1}_C{crn}_C{crm}_{op2}"


def esr_sysreg(op0: int, op1: int, crn: int, crm: int, op2: int, rt: int, read: bool) -> int:
    """EC 0x18 syndrome, IL = 1 (syndromes.md §4)."""
    iss = (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | int(read)
    return (0x18 << 26) | (1 << 25) | iss


# ---- catalogues with stand-ins for feature plugins that are not installed ---------------------------


def plugin_module(name: str, **hooks: object) -> types.ModuleType:
    """A plugin module made of the given hook functions (each marked as an implementation)."""
    module = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(module, hook_name, hookimpl(fn))
    return module


NV_BITS = 0x7 << 42  # NV, NV1, AT (nv.md NV-02)
NV2_BIT = 1 << 45  # nv.md NV-03


NV_FIELD = ("ID_AA64MMFR2_EL1", 24, 4, "NV")  # nv.md NV-01: 1 = FEAT_NV, 2 = FEAT_NV2


def nv_standins() -> list[types.ModuleType]:
    """The declarations the nv and nv2 plugins make (features, ID fields, HCR_EL2 bits), nothing else."""
    nv_feature = plugins.Feature(
        "nv",
        "FEAT_NV stand-in",
        ("el2", "vhe"),
        id_fields=(plugins.IdField(*NV_FIELD, top=1),),
        default_on=(plugins.ADVERTISED,),
    )
    nv2_feature = plugins.Feature(
        "nv2",
        "FEAT_NV2 stand-in",
        ("nv",),
        id_fields=(plugins.IdField(*NV_FIELD, absent=1),),
        default_on=(plugins.ADVERTISED,),
    )
    nv = plugin_module("standin_nv", armnv_features=lambda: [nv_feature], armnv_hcr_bits=lambda: NV_BITS)
    nv2 = plugin_module("standin_nv2", armnv_features=lambda: [nv2_feature], armnv_hcr_bits=lambda: NV2_BIT)
    return [nv, nv2]


def feature_standin(feature: plugins.Feature) -> types.ModuleType:
    """A plugin that declares `feature` and nothing else."""
    return plugin_module(f"standin_{feature.name}", armnv_features=lambda: [feature])


def catalog_with(*modules: types.ModuleType) -> plugins.Catalog:
    """The installed plugins plus `modules`, skipping stand-ins for features a real plugin declares."""
    base = plugins.discover()
    entries = [(info.name, info.module, info.origin) for info in base.plugins.values()]
    for module in modules:
        declared = {f.name for f in getattr(module, "armnv_features", lambda: [])()}
        if not declared & set(base.features):
            entries.append((module.__name__, module, "test"))
    return plugins.build_catalog(entries)
