"""A small three-level guest for the per-level counters and ``armnv demo``, with its counts by construction.

L0 (EL2) boots, picks FEAT_NV2 when ID_AA64MMFR2_EL1.NV says it is there
(else FEAT_NV alone), and ERETs into L1 at EL1 under VMID 1. L1 makes
`ROUNDS` world switches: each writes six EL2 registers (VTTBR, HCR, VTCR,
TPIDR, ELR, SPSR: under NV each traps, NV-06; under NV2 the first four go to
the VNCR page and ELR/SPSR_EL2 to ELR/SPSR_EL1) and ERETs (trapped, NV-15);
L0 then enters L2 at EL1 under VMID 2. L2 runs `L2_NOPS` NOPs and makes an
HVC; L0 resumes L1. After the last round L1's HVC asks L0 to exit.

Every piece of code is a list of instructions here, so a test computes how
many instructions each level runs from the program's structure alone.
A trapped instruction counts as one instruction, like every other
instruction that ends in an exception (the engine's count).
"""

from __future__ import annotations

ROUNDS = 3
L1_NOPS = 5
L1_BACK_NOPS = 7
L2_NOPS = 11
L2_LINE = "hello from L2"  # SYS_WRITE0 at the end of each of L2's runs
L0_LINE = "L0: all done"  # SYS_WRITE0 before the exit
VNCR = 0x4070_0000
HCR_RW, HCR_NV, HCR_NV2 = 1 << 31, 1 << 42, 1 << 45

BOOT_HEAD = [
    "adr x0, l0_vectors",
    "msr vbar_el2, x0",
    f"ldr x21, ={HCR_RW | HCR_NV:#x}",
    "mrs x0, id_aa64mmfr2_el1",
    "ubfx x0, x0, #24, #4",
    "cmp x0, #2",
    "b.ne 1f",
]
BOOT_NV2 = [  # only when FEAT_NV2 is there (VNCR_EL2 UNDEFs without it)
    f"orr x21, x21, #{HCR_NV2:#x}",
    f"ldr x0, ={VNCR:#x}",
    "msr vncr_el2, x0",
]
BOOT_TAIL = [
    "1: msr hcr_el2, x21",
    "movz x0, #1, lsl #48",
    "msr vttbr_el2, x0",
    "isb",
    "adr x0, l1_main",
    "msr elr_el2, x0",
    "mov x0, #0x3c5",
    "msr spsr_el2, x0",
    "eret",
]
# L1 (EL1, VMID 1)
L1_START = [f"l1_main: mov x20, #{ROUNDS}"] + ["nop"] * L1_NOPS
L1_WRITES = ["msr vttbr_el2, x3", "msr hcr_el2, x4", "msr vtcr_el2, x4", "msr tpidr_el2, x4"]
L1_SWITCH = [
    "l1_switch: movz x3, #2, lsl #48",
    *L1_WRITES,
    "adr x5, l2_main",
    "msr elr_el2, x5",
    "mov x5, #0x3c5",
    "msr spsr_el2, x5",
    "eret",
]
L1_BACK = ["l1_back: nop"] + ["nop"] * (L1_BACK_NOPS - 1) + ["sub x20, x20, #1", "cbnz x20, l1_switch"]
L1_END = ["hvc #1"]
# L2 (EL1, VMID 2)
L2_CODE = ["l2_main: nop"] + ["nop"] * (L2_NOPS - 1) + ["mov x0, #4", "adr x1, l2_msg", "hlt #0xf000", "hvc #2"]
# L0's lower-EL synchronous vector and handlers (EL2)
VECTOR = ["b l0_sync"]
DISPATCH_HVC = ["l0_sync: mrs x10, esr_el2", "lsr x10, x10, #26", "cmp x10, #0x16", "b.eq l0_hvc"]
DISPATCH_ERET = [*DISPATCH_HVC, "cmp x10, #0x1a", "b.eq l0_enter_l2"]
DISPATCH_SYSREG = DISPATCH_ERET
SKIP = ["l0_skip: mrs x11, elr_el2", "add x11, x11, #4", "msr elr_el2, x11", "eret"]
ENTER_L2 = [
    "l0_enter_l2: movz x11, #2, lsl #48",
    "msr vttbr_el2, x11",
    f"ldr x11, ={HCR_RW:#x}",
    "msr hcr_el2, x11",
    "isb",
    "adr x11, l2_main",
    "msr elr_el2, x11",
    "mov x11, #0x3c5",
    "msr spsr_el2, x11",
    "eret",
]
HVC_WHO = ["l0_hvc: mrs x11, vttbr_el2", "lsr x11, x11, #48", "cmp x11, #2", "b.ne l0_done"]
RESUME_L1 = [
    "movz x11, #1, lsl #48",
    "msr vttbr_el2, x11",
    "msr hcr_el2, x21",
    "isb",
    "adr x11, l1_back",
    "msr elr_el2, x11",
    "mov x11, #0x3c5",
    "msr spsr_el2, x11",
    "eret",
]
DONE = ["l0_done: mov x0, #4", "adr x1, l0_msg", "hlt #0xf000", "b _armnv_exit"]
EXIT = ["mov x0, #0x18", "adr x1, _armnv_exit_block", "hlt #0xf000"]  # framework.testing's epilogue


def _lines(code: list[str]) -> str:
    return "".join(f"    {line}\n" for line in code)


def source() -> str:
    """The guest, as the body of ``_start`` (framework.testing adds the exit epilogue)."""
    return (
        _lines(BOOT_HEAD + BOOT_NV2 + BOOT_TAIL + L1_START + L1_SWITCH + L1_BACK + L1_END + L2_CODE)
        + "    .balign 2048\nl0_vectors:\n    .skip 0x400\n"
        + _lines(VECTOR)
        + "    .balign 128\n"
        + _lines(DISPATCH_ERET + SKIP + ENTER_L2 + HVC_WHO + RESUME_L1 + DONE)
        + "    .ltorg\n"
        + f'l2_msg: .asciz "{L2_LINE}\\n"\n'
        + f'l0_msg: .asciz "{L0_LINE}\\n"\n'
        + "    .balign 4\n"
    )


def expected_insns(nv2: bool) -> dict[tuple[str, int], int]:
    """Instructions each (level, EL) runs, counted from the code above."""
    r = ROUNDS
    l1_traps = len(L1_WRITES) + 2 if not nv2 else 0  # NV-06: the six MSRs to EL2 registers
    l0 = len(BOOT_HEAD) + (len(BOOT_NV2) if nv2 else 0) + len(BOOT_TAIL)
    l0 += r * l1_traps * (len(VECTOR) + len(DISPATCH_SYSREG) + len(SKIP))
    l0 += r * (len(VECTOR) + len(DISPATCH_ERET) + len(ENTER_L2))
    l0 += r * (len(VECTOR) + len(DISPATCH_HVC) + len(HVC_WHO) + len(RESUME_L1))
    l0 += len(VECTOR) + len(DISPATCH_HVC) + len(HVC_WHO) + len(DONE) + len(EXIT)
    l1 = len(L1_START) + r * (len(L1_SWITCH) + len(L1_BACK)) + len(L1_END)
    l2 = r * len(L2_CODE)
    return {("L0", 2): l0, ("L1", 1): l1, ("L2", 1): l2}


def expected_traps_from_l1(nv2: bool) -> int:
    """Exceptions L1 takes to EL2: per round its ERET (and under NV its six MSRs), then its last HVC."""
    return ROUNDS * (1 if nv2 else 1 + len(L1_WRITES) + 2) + 1
