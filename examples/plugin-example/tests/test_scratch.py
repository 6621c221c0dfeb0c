"""Tests of the scratch plugin: guest programs on a real armnv machine (fixture ``run_asm``)."""

from framework.plugins import discover

# An exception records ESR_EL2 in x20 and ends the program (jumps to the exit sequence
# ``run_asm`` appends after the snippet).
VECTORS = """
    b done
    .balign 0x800
vectors:
    .rept 16
    mrs x20, esr_el2
    b done
    .balign 0x80
    .endr
done:
"""

# Set IMP_SCRATCHCTL_EL2 to x5, then continue at EL1 (label el1).
TO_EL1 = """
    adr x0, vectors
    msr vbar_el2, x0
    msr S3_4_C15_C0_0, x5       // IMP_SCRATCHCTL_EL2
    mov x0, #(1 << 31)          // HCR_EL2.RW: EL1 is AArch64
    msr hcr_el2, x0
    mov x0, #0x3c5              // SPSR: EL1h, interrupts masked
    msr spsr_el2, x0
    adr x0, el1
    msr elr_el2, x0
    eret
el1:
"""

# syndromes.md §4: EC 0x18, IL, Op0 [21:20], Op2 [19:17], Op1 [16:14], CRn [13:10], Rt [9:5],
# CRm [4:1], Direction [0] (1 = read): MRS X2, S3_0_C15_C0_0
ESR_MRS_X2_SCRATCH = (0x18 << 26) | (1 << 25) | (3 << 20) | (15 << 10) | (2 << 5) | 1


def test_scratch_feature_is_discovered():
    feature = discover().features["scratch"]
    assert feature.plugin == "scratch"
    assert feature.requires == ("el2",)


def test_register_undefined_while_feature_off(run_asm):
    m = run_asm("adr x0, vectors\nmsr vbar_el2, x0\nmrs x2, S3_0_C15_C0_0\n" + VECTORS, cpu="max")
    assert "scratch" not in m.features
    assert m.cpu.x[20] == 0x02000000  # EC 0x00: UNDEFINED


def test_el1_uses_the_register_when_not_trapped(run_asm):
    el1 = "mov x3, #42\nmsr S3_0_C15_C0_0, x3\nmrs x2, S3_0_C15_C0_0\n"
    m = run_asm("mov x5, #0\n" + TO_EL1 + el1 + VECTORS, cpu="max,scratch=on")
    assert m.cpu.el == 1
    assert m.cpu.x[2] == 42
    assert m.cpu.x[20] == 0


def test_tscr_traps_el1_access_to_el2(run_asm):
    m = run_asm("mov x5, #1\n" + TO_EL1 + "mrs x2, S3_0_C15_C0_0\n" + VECTORS, cpu="max,scratch=on")
    assert m.cpu.el == 2
    assert m.cpu.x[20] == ESR_MRS_X2_SCRATCH
    assert "TSCR" in m.cpu_dump()


def test_control_register_res0_bits(run_asm):
    m = run_asm("mov x5, #-1\nmsr S3_4_C15_C0_0, x5\nmrs x2, S3_4_C15_C0_0\n", cpu="max,scratch=on")
    assert m.cpu.x[2] == 1
