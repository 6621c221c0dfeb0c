"""Guest programs for the MMU tests: register setup, the drop to EL1/EL0, vectors.

Every exception vector (EL1 and EL2) branches to the exit epilogue, so a test
runs its snippet, and either falls off the end or takes one exception; the
syndrome registers are then read from the stopped machine. Identity maps use
`code_block`: the 2 MiB at 0x4000_0000 (image, stack, literal pool) readable
and executable at EL0, EL1 and EL2.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from framework.machine import Machine
from plugins.mmu.tests.tables import AF, AP_RO_ALL, MAIR, SH_INNER, TABLES, Tables, attr_index

CPU = "max,mmu=on"
CODE = 0x4000_0000
IMAGE = 0x4008_0000
STACK_TOP = 0x4018_0000

# TCR_EL2 (E2H = 0): T0SZ 25, WBWA inner shareable walks, 4 KiB, PS 40 bits, RES1 bits 31 and 23
TCR_EL2 = 0x8082_3519
# TCR_EL1 of MMU-01: T0SZ 25, 4 KiB, EPD1, IPS 40 bits
TCR_EL1 = 0x2_0080_3519
TCR_EL1_64K = 0x2_0080_7519
# VTCR_EL2 of MMU-05: T0SZ 25, SL0 1 (start level 1), 4 KiB, PS 40 bits
VTCR = 0x8002_3559

SCTLR_EL2_M = 0x30C5_0831
SCTLR_EL1_M = 0x30D0_0801
HCR_RW = 1 << 31
HCR_VM = 1 << 0
HCR_TGE = 1 << 27
HCR_E2H = 1 << 34

SPSR = {1: 0x3C5, 0: 0x3C0}

VECTORS = """
    .balign 2048
vectors:
    .rept 16
    b _armnv_exit
    .balign 128
    .endr
"""

CODE_ATTRS = AP_RO_ALL | attr_index(0) | SH_INNER | AF


def code_block(t: Tables, level: int = 2) -> None:
    """Identity-map the 2 MiB block that holds the image and its stack (4 KiB granule)."""
    t.map(CODE, CODE, level=level, attrs=CODE_ATTRS)


def code_pages(t: Tables) -> None:
    """Identity-map the image and its stack (0x4008_0000 to 0x4018_0000) with pages of any granule."""
    for addr in range(IMAGE, STACK_TOP, t.size):
        t.map(addr, addr, attrs=CODE_ATTRS)


def _set(regs: dict[str, int]) -> str:
    return "".join(f"    ldr x0, ={value:#x}\n    msr {name}, x0\n" for name, value in regs.items())


def program(
    body: str,
    *,
    el: int = 2,
    el2: dict[str, int] | None = None,
    el1: dict[str, int] | None = None,
    hvc: str | None = None,
    spsr: int | None = None,
) -> str:
    """A guest: program registers at EL2 (EL2 ones, then EL1 ones), drop to `el`, run `body`.

    With `hvc`, a synchronous exception from a lower EL to EL2 (an HVC) runs that code at
    EL2 and returns to the instruction after the HVC.
    """
    src = "    adr x0, vectors\n    msr vbar_el2, x0\n    msr vbar_el1, x0\n"
    src += _set(el2 or {}) + _set(el1 or {}) + "    isb\n"
    if el < 2:
        value = spsr if spsr is not None else SPSR[el]
        src += f"    ldr x0, ={value:#x}\n    msr spsr_el2, x0\n"
        src += "    adr x0, 1f\n    msr elr_el2, x0\n    eret\n1:\n"
    src += body + "\n    b _armnv_exit\n    .ltorg\n"
    if hvc is None:
        return src + VECTORS
    src += f"hvc_handler:\n{hvc}\n    eret\n"
    return src + VECTORS.replace("    .rept 16\n", "    .rept 8\n", 1) + HVC_VECTORS


HVC_VECTORS = """
    b hvc_handler
    .balign 128
    .rept 7
    b _armnv_exit
    .balign 128
    .endr
"""


def el2_regs(root: int, **extra: int) -> dict[str, int]:
    """EL2 regime (E2H = 0) with the MMU on."""
    return {"mair_el2": MAIR, "tcr_el2": TCR_EL2, "ttbr0_el2": root, **extra, "sctlr_el2": SCTLR_EL2_M}


def el1_regs(root: int, *, tcr: int = TCR_EL1, **extra: int) -> dict[str, int]:
    """EL1&0 regime with stage 1 on (written at EL2)."""
    return {"mair_el1": MAIR, "tcr_el1": tcr, "ttbr0_el1": root, **extra, "sctlr_el1": SCTLR_EL1_M}


def run(
    run_asm: Callable[..., Machine],
    body: str,
    setup: Callable[[Machine], Any],
    *,
    max_insns: int = 20_000,
    cpu: str = CPU,
    semihosting: Any = None,
    **kw: Any,
) -> Machine:
    """Run a guest built by `program(body, **kw)`; it must reach the exit.

    A guest whose exit is made at EL0 needs ``semihosting=SemihostingConfig(userspace=True)``.
    """
    config = {} if semihosting is None else {"semihosting": semihosting}
    m = run_asm(program(body, **kw), cpu=cpu, max_insns=max_insns, setup=setup, **config)
    assert m.stop.kind == "exit", m.stop
    return m


def addr_of(m: Machine, label: str) -> int:
    """The address of a label of the guest program."""
    return next(addr for addr, name in m.symbols.items() if name == label)


# ---- shared by the rule tests: an EL1&0 guest, a load, a call into a page of code ----------------

EL1 = {"hcr_el2": HCR_RW}
WXN = 1 << 19  # SCTLR_ELx.WXN
MOV_X9_7 = 0xD280_00E9  # mov x9, #7
RET = 0xD65F_03C0


def el1_setup(build: Callable[[Tables, Machine], Any], *, granule: int = 4096, inputsize: int = 39) -> Callable:
    """A setup function: EL1&0 tables at TABLES with the code identity-mapped, then `build(t, m)`."""

    def setup(m: Machine) -> None:
        t = Tables(m, TABLES, granule=granule, inputsize=inputsize)
        if granule == 4096:
            code_block(t)
        else:
            code_pages(t)
        build(t, m)

    return setup


def load(addr: int, reg: str = "x2") -> str:
    """x1 = addr, then a 64-bit load from it into `reg`."""
    return f"    ldr x1, ={addr:#x}\n    ldr {reg}, [x1]\n"


def store(addr: int) -> str:
    """x1 = addr, then store x1 there and set x9 = 1 (so x9 tells whether the store completed)."""
    return f"    ldr x1, ={addr:#x}\n    str x1, [x1]\n    mov x9, #1\n"


def write_ret_code(m: Machine, pa: int) -> None:
    """`mov x9, #7; ret` at `pa`: a function whose run shows in x9."""
    m.bus.write(pa, 4, MOV_X9_7)
    m.bus.write(pa + 4, 4, RET)


def call(addr: int) -> str:
    """Call the function at `addr`; x10 = 1 when it returned."""
    return f"    ldr x1, ={addr:#x}\n    blr x1\n    mov x10, #1\n"
