"""Assembly helpers shared by the kernel tests (exception model, traps, VHE, interrupts, timer).

Register convention in the guests: x0-x18 belong to the test body; x19-x28 to
these helpers. Each entry of a `vectors` table records the exception it took:

    x20 = ESR_ELx   x21 = ELR_ELx   x22 = SPSR_ELx   x23 = FAR_ELx
    x24 = offset of the vector entry (0x000 … 0x780)   x25 = number of entries taken

and appends (offset, ESR, ELR, SPSR, FAR) to a log in memory (`read_log`),
then does its `action`: stop the machine, return (ERET), skip the
instruction (ELR += 4, ERET), or branch to a label of the test.
"""

from __future__ import annotations

import attrs

# SPSR_ELx.M[3:0]
EL0T, EL1T, EL1H, EL2T, EL2H = 0x0, 0x4, 0x5, 0x8, 0x9
DAIF_MASKED = 0x3C0
LOG = 0x4012_0000
LOG_ENTRY = 40

HCR_FMO, HCR_IMO, HCR_AMO = 1 << 3, 1 << 4, 1 << 5
HCR_VF, HCR_VI, HCR_VSE = 1 << 6, 1 << 7, 1 << 8
HCR_TGE, HCR_RW, HCR_E2H = 1 << 27, 1 << 31, 1 << 34

ESR_UNDEF = 0x02000000
IL = 1 << 25


def vectors(el: int, label: str = "vectors", action: str = "exit") -> str:
    """A 2 KiB-aligned vector table for ELx (`el` = 1 or 2) at `label`, recording as described above.

    `action`: "exit" (stop the machine), "eret" (return to ELR), "skip" (return past the
    instruction at ELR), or the name of a label to branch to.
    """
    if action == "exit":
        tail = "    b _armnv_exit"
    elif action == "eret":
        tail = "    eret"
    elif action == "skip":
        tail = f"    mrs x19, elr_el{el}\n    add x19, x19, #4\n    msr elr_el{el}, x19\n    eret"
    else:
        tail = f"    b {action}"
    entries = "\n".join(
        f"    .balign 128\n    mov x24, #{offset:#x}\n    b {label}_record" for offset in range(0, 0x800, 0x80)
    )
    return f"""
    .balign 2048
{label}:
{entries}
{label}_record:
    mrs x20, esr_el{el}
    mrs x21, elr_el{el}
    mrs x22, spsr_el{el}
    mrs x23, far_el{el}
    ldr x26, ={LOG:#x}
    mov x27, #{LOG_ENTRY}
    madd x26, x25, x27, x26
    str x24, [x26]
    str x20, [x26, #8]
    str x21, [x26, #16]
    str x22, [x26, #24]
    str x23, [x26, #32]
    add x25, x25, #1
{tail}
    .ltorg
"""


def install(el: int, label: str = "vectors") -> str:
    """Point VBAR_ELx at a table."""
    return f"    adr x19, {label}\n    msr vbar_el{el}, x19\n"


def set_hcr(value: int, *, rw: bool = True) -> str:
    """Write HCR_EL2 (RW = 1 by default: EL1 is AArch64, cpu-models.md §7)."""
    return f"    ldr x19, ={value | (HCR_RW if rw else 0):#x}\n    msr hcr_el2, x19\n    isb\n"


def eret_to(label: str, mode: int, *, from_el: int = 2, daif: int = DAIF_MASKED, spsr_extra: int = 0) -> str:
    """ERET from `from_el` to `label` with SPSR.M = mode and the given DAIF mask bits."""
    return (
        f"    adr x19, {label}\n    msr elr_el{from_el}, x19\n"
        f"    ldr x19, ={mode | daif | spsr_extra:#x}\n    msr spsr_el{from_el}, x19\n    eret\n"
    )


@attrs.define(frozen=True)
class Entry:
    offset: int
    esr: int
    elr: int
    spsr: int
    far: int


def read_log(m) -> list[Entry]:
    """The exceptions the vector tables recorded, in order."""
    count = m.cpu.x[25]
    return [Entry(*(m.bus.read(LOG + LOG_ENTRY * i + 8 * j, 8) for j in range(5))) for i in range(count)]


def symbol(m, name: str) -> int:
    """Address of a label of the guest."""
    for addr, sym in m.symbols.items():
        if sym == name:
            return addr
    raise KeyError(name)


def sysreg_esr(op0: int, op1: int, crn: int, crm: int, op2: int, rt: int, is_read: bool) -> int:
    """EC 0x18 syndrome, the formula of syndromes.md §4."""
    return (0x18 << 26) | IL | (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | (rt << 5) | (crm << 1) | is_read
