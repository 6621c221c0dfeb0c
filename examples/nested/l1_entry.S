/*
 * L1, the guest hypervisor: entry, its (virtual) EL2 vectors and the guest
 * entry/exit path, shaped like KVM's __guest_enter/__guest_exit.
 *
 * l1_guest_enter(vcpu) saves the hypervisor's callee-saved registers and the
 * vcpu pointer on its stack, loads the guest's general-purpose registers and
 * executes ERET. The next exception from the guest arrives at the vector
 * with the hypervisor's stack pointer as it was at the ERET, so the exit path
 * finds the vcpu there, stores the guest's registers into it and returns to
 * the caller of l1_guest_enter with the exit kind (0 sync, 1 IRQ).
 */
    .text
    .global l1_entry
l1_entry:
    /* VBAR_EL2 has no VNCR slot: this traps to L0 even with NV2. (With E2H = 1,
     * KVM writes the same register as VBAR_EL1, which would not trap.) */
    adr x0, l1_vectors
    msr vbar_el2, x0
    isb
    bl l1_main
    b .

    .global l1_guest_enter
l1_guest_enter:
    stp x29, x30, [sp, #-16]!
    stp x27, x28, [sp, #-16]!
    stp x25, x26, [sp, #-16]!
    stp x23, x24, [sp, #-16]!
    stp x21, x22, [sp, #-16]!
    stp x19, x20, [sp, #-16]!
    str x0, [sp, #-16]!
    ldp x2, x3, [x0, #16]
    ldp x4, x5, [x0, #32]
    ldp x6, x7, [x0, #48]
    ldp x8, x9, [x0, #64]
    ldp x10, x11, [x0, #80]
    ldp x12, x13, [x0, #96]
    ldp x14, x15, [x0, #112]
    ldp x16, x17, [x0, #128]
    ldp x18, x19, [x0, #144]
    ldp x20, x21, [x0, #160]
    ldp x22, x23, [x0, #176]
    ldp x24, x25, [x0, #192]
    ldp x26, x27, [x0, #208]
    ldp x28, x29, [x0, #224]
    ldr x30, [x0, #240]
    ldp x0, x1, [x0, #0]
    eret

l1_guest_exit:                  /* x1 = exit kind; the guest's x0, x1 are on the stack */
    ldr x0, [sp, #16]
    stp x2, x3, [x0, #16]
    stp x4, x5, [x0, #32]
    stp x6, x7, [x0, #48]
    stp x8, x9, [x0, #64]
    stp x10, x11, [x0, #80]
    stp x12, x13, [x0, #96]
    stp x14, x15, [x0, #112]
    stp x16, x17, [x0, #128]
    stp x18, x19, [x0, #144]
    stp x20, x21, [x0, #160]
    stp x22, x23, [x0, #176]
    stp x24, x25, [x0, #192]
    stp x26, x27, [x0, #208]
    stp x28, x29, [x0, #224]
    str x30, [x0, #240]
    ldp x2, x3, [sp], #16
    stp x2, x3, [x0, #0]
    mov x0, x1
    add sp, sp, #16
    ldp x19, x20, [sp], #16
    ldp x21, x22, [sp], #16
    ldp x23, x24, [sp], #16
    ldp x25, x26, [sp], #16
    ldp x27, x28, [sp], #16
    ldp x29, x30, [sp], #16
    ret

l1_unexpected:                  /* an exception at L1's own level: report it to L0 */
    mrs x1, esr_el1
    ldr x0, =0x860000ff
    hvc #0
    b .

    .macro exit_vector kind
    .balign 128
    stp x0, x1, [sp, #-16]!
    mov x1, #\kind
    b l1_guest_exit
    .endm

    .balign 2048
l1_vectors:
    .rept 8
    .balign 128
    b l1_unexpected
    .endr
    exit_vector 0               /* +0x400: synchronous exception from the guest */
    exit_vector 1               /* +0x480: IRQ while the guest ran */
    .rept 6
    .balign 128
    b l1_unexpected
    .endr

    .bss
    .balign 16
    .space 16384
    .global l1_stack_top
l1_stack_top:
