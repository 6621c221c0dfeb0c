"""Guest-program pieces shared by the GICv3 tests: vector tables, GIC set-up, a test SPI source."""

from __future__ import annotations

from framework.testing import make_machine

GICD = 0x0800_0000
GICR = 0x080A_0000
SGI_BASE = GICR + 0x1_0000
RESULTS = 0x4060_0000
NEVER = 1 << 62

# vector offsets (from the vector base)
CUR_SYNC, CUR_IRQ, CUR_FIQ = 0x200, 0x280, 0x300
LOW_SYNC, LOW_IRQ, LOW_FIQ = 0x400, 0x480, 0x500
HCR_RW = 1 << 31
HCR_IMO = 1 << 4
HCR_FMO = 1 << 3
HCR_NV = 1 << 42
HCR_NV2 = 1 << 45


def vectors(label: str, handlers: dict[int, str]) -> str:
    """A 2 KiB vector table at `label`: each entry branches to its handler, or to `unexpected`."""
    lines = ["    .balign 2048", f"{label}:"]
    for off in range(0, 0x800, 0x80):
        lines += [f"    .org {label} + {off:#x}", f"    b {handlers.get(off, 'unexpected')}"]
    lines.append(f"    .org {label} + 0x800")
    return "\n".join(lines)


# an unexpected exception: its vector's return address, ESR_EL2 and exit status 1
UNEXPECTED = """
unexpected:
    mrs x26, esr_el2
    mrs x27, elr_el2
    mov x0, #0x18
    adr x1, unexpected_block
    hlt #0xf000
    .balign 8
unexpected_block:
    .quad 0x20026, 1
"""


def gic_setup(intid: int, priority: int = 0x80, group: int = 1, edge: bool = False) -> str:
    """Distributor on (ARE, both groups), redistributor awake, `intid` enabled at `priority` in `group`
    (edge-triggered with `edge`: GICD_ICFGR<n>, Int_config bit 1). Uses x1-x3.
    """
    if intid < 32:
        frame, n = SGI_BASE, 0
    else:
        frame, n = GICD, intid // 32
    bit = 1 << (intid % 32)
    return f"""
    ldr x1, ={GICD:#x}
    mov w2, #0x13
    str w2, [x1]
    ldr x1, ={GICR:#x}
    str wzr, [x1, #0x14]
    ldr x1, ={frame:#x}
    ldr w2, [x1, #{0x80 + 4 * n:#x}]
    ldr w3, ={bit:#x}
    {"orr" if group else "bic"} w2, w2, w3
    str w2, [x1, #{0x80 + 4 * n:#x}]
    mov w2, #{priority:#x}
    strb w2, [x1, #{0x400 + intid:#x}]
    ldr w2, ={(2 << (2 * (intid % 16))) if edge else 0:#x}
    str w2, [x1, #{0xC00 + 4 * (intid // 16):#x}]
    str w3, [x1, #{0x100 + 4 * n:#x}]
"""


CPUIF_ON = """
    mov x2, #0xff
    msr icc_pmr_el1, x2
    mov x2, #1
    msr icc_igrpen1_el1, x2
    msr icc_igrpen0_el1, x2
    isb
"""


def enter_el1(label: str, hcr: int, spsr: int = 0x3C5) -> str:
    """ERET from EL2 to `label` at EL1h with HCR_EL2 = `hcr` (uses x2)."""
    return f"""
    ldr x2, ={hcr:#x}
    msr hcr_el2, x2
    mov x2, #{spsr:#x}
    msr spsr_el2, x2
    adr x2, {label}
    msr elr_el2, x2
    isb
    eret
"""


class SpiSource:
    """A test device that pulses SPI `intid` (an edge) at virtual time `at` (ns: the instruction count by default)."""

    def __init__(self, machine, intid: int, at: int) -> None:
        self.machine = machine
        self.intid = intid
        self.at = at
        self.fired = False
        machine.interrupts.event_sources.append(self.next_event)
        machine.interrupts.pollers.append(self.poll)

    def next_event(self, cpu) -> int:
        return NEVER if self.fired else self.at

    def poll(self, cpu) -> None:
        if not self.fired and self.machine.clock.now(cpu) >= self.at:
            self.fired = True
            gic = self.machine.devices["gic"]
            gic.set_spi(self.intid, True)
            gic.set_spi(self.intid, False)


def results(m, n: int) -> list[int]:
    return [m.bus.read(RESULTS + 8 * i, 8) for i in range(n)]


__all__ = ["make_machine"]
