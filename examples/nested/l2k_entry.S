/*
 * The L2 kernel: entry, EL1 vectors, and the drop to userspace.
 *
 * Exceptions save the caller-saved registers (x0-x18, x30) and ELR/SPSR in a
 * frame on the kernel stack and call C; ELR/SPSR are part of the frame so
 * that an interrupt taken inside a handler could not lose them.
 */
    .text
    .global l2_entry
l2_entry:
    ldr x0, =l2_stack_top
    mov sp, x0
    adr x0, l2_vectors
    msr vbar_el1, x0
    isb
    bl l2_main
    b .

/* l2_enter_user(pc, sp): first entry into EL0, interrupts unmasked */
    .global l2_enter_user
l2_enter_user:
    msr elr_el1, x0
    msr sp_el0, x1
    msr spsr_el1, xzr
    eret

    .macro kernel_entry handler
    .balign 128
    sub sp, sp, #192
    stp x0, x1, [sp, #0]
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x30, [sp, #144]
    mrs x0, elr_el1
    mrs x1, spsr_el1
    stp x0, x1, [sp, #160]
    mov x0, sp
    bl \handler
    b l2_kernel_exit
    .endm

    .balign 2048
l2_vectors:
    .rept 5
    kernel_entry l2_bad_exception
    .endr
    kernel_entry l2_irq                 /* +0x280: IRQ in the kernel */
    kernel_entry l2_bad_exception
    kernel_entry l2_bad_exception
    kernel_entry l2_syscall             /* +0x400: SVC (or a fault) from userspace */
    kernel_entry l2_irq                 /* +0x480: IRQ in userspace */
    .rept 6
    kernel_entry l2_bad_exception
    .endr

l2_kernel_exit:
    ldp x0, x1, [sp, #160]
    msr elr_el1, x0
    msr spsr_el1, x1
    ldp x0, x1, [sp, #0]
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x30, [sp, #144]
    add sp, sp, #192
    eret

    .bss
    .balign 16
    .space 8192
l2_stack_top:
