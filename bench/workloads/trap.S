// A hypervisor's exits: EL2 sets HCR_EL2.TVM and drops to EL1, where each of x0
// iterations writes CONTEXTIDR_EL1 (trapped to EL2, EC 0x18, which emulates the write
// and returns past it), reads it back (not trapped) and makes an HVC (to EL2 and back).
// Out: x20 = sum of the values read back, x21 = writes emulated, x22 = HVCs handled;
// x19 = 1 if an unexpected vector was taken, 2 if a syndrome was wrong.

    .equ    EC_HVC64, 0x16
    .equ    EC_SYSREG, 0x18
    .equ    HCR_RW_TVM, (1 << 31) | (1 << 26)

    .text
    .global _start
_start:
    mov     x19, #0
    mov     x20, #0
    mov     x21, #0
    mov     x22, #0
    adr     x9, trap_el2_vectors
    msr     vbar_el2, x9
    ldr     x9, =HCR_RW_TVM
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
    msr     contextidr_el1, x0
    mrs     x10, contextidr_el1
    add     x20, x20, x10
    hvc     #0
    subs    x0, x0, #1
    b.ne    el1_main
    b       bench_exit

el2_sync:
    mrs     x9, esr_el2
    lsr     x9, x9, #26
    cmp     x9, #EC_SYSREG
    b.ne    1f
    msr     contextidr_el1, x0          // the guest wrote x0 (ISS.Rt = 0)
    add     x21, x21, #1
    mrs     x9, elr_el2
    add     x9, x9, #4
    msr     elr_el2, x9
    eret
1:  cmp     x9, #EC_HVC64
    b.ne    trap_bad_syndrome
    add     x22, x22, #1
    eret

trap_bad_vector:
    mov     x19, #1
    b       bench_exit
trap_bad_syndrome:
    mov     x19, #2
    b       bench_exit

    // slot 8: lower EL using AArch64, synchronous
    .balign 2048
trap_el2_vectors:
    .set    .Lslot, 0
    .rept   16
    .balign 128
    .if     .Lslot == 8
    b       el2_sync
    .else
    b       trap_bad_vector
    .endif
    .set    .Lslot, .Lslot + 1
    .endr
