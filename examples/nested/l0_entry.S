/*
 * L0, the host hypervisor: boot, EL2 vectors and the trap frame.
 *
 * Every exception L0 takes comes from a lower EL (L1 or L2 running at real
 * EL1/EL0): L0 itself runs with all interrupts masked. The entry saves all
 * general-purpose registers in a frame on L0's stack, because they belong to
 * the guest: when L0 reflects an exception into L1, L1 must find L2's
 * registers exactly as the hardware would have left them.
 */
    .section .text.boot, "ax"
    .global _start
_start:
    ldr x0, =l0_stack_top
    mov sp, x0
    adr x0, l0_vectors
    msr vbar_el2, x0
    isb
    bl l0_main              /* sets ELR_EL2/SPSR_EL2/HCR_EL2 for L1's first instruction */
    mov x0, sp
    b l0_return_to_guest_zeroed

    .text
/* Enter the guest with every register zero: L1 starts from a clean slate. */
l0_return_to_guest_zeroed:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30
    mov x\n, xzr
    .endr
    eret

    .macro save_frame
    sub sp, sp, #256
    stp x0, x1, [sp, #0]
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    str x30, [sp, #240]
    mov x0, sp
    .endm

l0_restore_frame:
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    ldr x30, [sp, #240]
    ldp x0, x1, [sp, #0]
    add sp, sp, #256
    eret

    .macro vector handler
    .balign 128
    save_frame
    bl \handler
    b l0_restore_frame
    .endm

/* L0 never unmasks exceptions at EL2, so the current-EL entries only see L0's own bugs. */
    .balign 2048
l0_vectors:
    .rept 8
    vector l0_bad_vector
    .endr
    vector l0_sync_lower        /* +0x400: synchronous from L1 or L2 */
    vector l0_irq_lower         /* +0x480: physical IRQ while a guest runs */
    vector l0_bad_vector
    vector l0_bad_vector
    .rept 4
    vector l0_bad_vector        /* AArch32 lower EL: never used */
    .endr

    .bss
    .balign 16
    .space 16384
l0_stack_top:
