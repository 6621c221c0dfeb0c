// System workload: exception round trips and EL1 system registers.
//
// Starts at EL2, drops to EL1h with ERET; then each of x0 iterations does
// HVC (to EL2 and back), SVC (to EL1's own vector and back) and MSR/MRS of
// TPIDR_EL1 and CONTEXTIDR_EL1. Each handler checks the syndrome's EC.
// Out: x21 = HVCs handled, x22 = SVCs handled, x20 = sum of the values read
// back; x19 = 1 if an unexpected vector was taken, 2 if a syndrome was wrong.

    .equ    EC_SVC64, 0x15
    .equ    EC_HVC64, 0x16

    .macro  vectors name, sync_slot, handler
    .balign 2048
\name:
    .set    .Lslot, 0
    .rept   16
    .balign 128
    .if     .Lslot == \sync_slot
    b       \handler
    .else
    b       bad_vector
    .endif
    .set    .Lslot, .Lslot + 1
    .endr
    .endm

    .text
    .global _start
_start:
    mov     x19, #0
    mov     x20, #0
    mov     x21, #0
    mov     x22, #0
    adr     x9, el2_vectors
    msr     vbar_el2, x9
    adr     x9, el1_vectors
    msr     vbar_el1, x9
    mov     x9, #(1 << 31)              // HCR_EL2.RW: EL1 is AArch64
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
    hvc     #0
    svc     #0
    msr     tpidr_el1, x0
    mrs     x9, tpidr_el1
    msr     contextidr_el1, x9
    mrs     x10, contextidr_el1
    add     x20, x20, x10
    subs    x0, x0, #1
    b.ne    el1_main
    b       bench_exit

el2_hvc:
    mrs     x9, esr_el2
    lsr     x9, x9, #26
    cmp     x9, #EC_HVC64
    b.ne    bad_syndrome
    add     x21, x21, #1
    eret

el1_svc:
    mrs     x9, esr_el1
    lsr     x9, x9, #26
    cmp     x9, #EC_SVC64
    b.ne    bad_syndrome
    add     x22, x22, #1
    eret

bad_vector:
    mov     x19, #1
    b       bench_exit
bad_syndrome:
    mov     x19, #2
    b       bench_exit

    // slot 8: lower EL using AArch64, synchronous; slot 4: current EL with SP_ELx, synchronous
    vectors el2_vectors, 8, el2_hvc
    vectors el1_vectors, 4, el1_svc
