// Redirected accesses (FEAT_NV2): EL2 points VNCR_EL2 at a page and sets HCR_EL2.{NV, NV2},
// then EL1 runs the ldst workload's loop with MSR/MRS of TPIDR_EL2 and VTTBR_EL2, each of
// which is a 64-bit store or load at VNCR_EL2 + its offset (0x90, 0x20) in the EL2 regime.
// x0 iterations; out: x20 = sum of the counter values read back, x21 = the last value
// stored in the page's TPIDR_EL2 slot (checked: the accesses reached memory).

    .equ    HCR_RW_NV_NV2, (1 << 31) | (1 << 42) | (1 << 45)

    .text
    .global _start
_start:
    mov     x19, #0
    mov     x20, #0
    adr     x9, vncr_page
    msr     s3_4_c2_c2_0, x9            // VNCR_EL2
    ldr     x9, =HCR_RW_NV_NV2
    msr     hcr_el2, x9
    mov     x9, sp
    msr     sp_el1, x9
    mov     x9, #0x3c5                  // EL1h, DAIF masked
    msr     spsr_el2, x9
    adr     x9, el1_main
    msr     elr_el2, x9
    isb
    eret

el1_main:
1:  msr     tpidr_el2, x0
    mrs     x9, tpidr_el2
    msr     vttbr_el2, x9
    mrs     x10, vttbr_el2
    msr     tpidr_el2, x10
    mrs     x11, tpidr_el2
    add     x20, x20, x11
    subs    x0, x0, #1
    b.ne    1b
    adr     x9, vncr_page
    ldr     x21, [x9, #0x90]
    b       bench_exit

    .data
    .balign 4096
vncr_page:
    .fill   4096, 1, 0
    .text
