/*
 * Entry of the device-tree guest, for every boot form (ELF, raw, arm64 Image):
 * keeps the boot registers x0-x3 for main(), sets up a stack, clears .bss.
 * Linked at the address the image is loaded at (the test links one per form).
 */
    .section .text.boot, "ax"
    .global _start
_start:
    mov     x19, x0
    mov     x20, x1
    mov     x21, x2
    mov     x22, x3
    ldr     x0, =__stack_top
    mov     sp, x0
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
1:  cmp     x0, x1
    b.hs    2f
    str     xzr, [x0], #8
    b       1b
2:  mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    mov     x3, x22
    bl      main
    /* main powers the board off through PSCI: getting here is a failure, main's result says which */
    ldr     x1, =exit_block
    str     x0, [x1, #8]
    mov     x0, #0x18
    hlt     #0xf000
    b       .

    .global psci_smc
psci_smc:
    smc     #0
    ret

    .global psci_hvc
psci_hvc:
    hvc     #0
    ret

    .global current_el
current_el:
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    ret

    .section .bss.stack, "aw", %nobits
    .balign 16
    .skip   0x4000
__stack_top:

    .data
    .balign 8
exit_block:
    .quad   0x20026, 0      /* ADP_Stopped_ApplicationExit, status */
