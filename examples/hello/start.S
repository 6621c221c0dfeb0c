/*
 * Boot code of the hello demo: runs at the image entry point at EL2, MMU off,
 * as both armnv and QEMU's virt board start it. Sets up a stack, clears .bss,
 * calls main() and hands its return value to semihosting SYS_EXIT.
 */
    .section .text.boot, "ax"
    .global _start
_start:
    ldr     x0, =__stack_top
    mov     sp, x0

    /* .bss is zero when the loader did its job; clear it anyway, as on hardware */
    ldr     x0, =__bss_start
    ldr     x1, =__bss_dwords
    cbz     x1, 2f
1:  str     xzr, [x0], #8
    sub     x1, x1, #1
    cbnz    x1, 1b
2:
    bl      main

    /* SYS_EXIT (0x18) with {ADP_Stopped_ApplicationExit, status}: the status is main's result */
    ldr     x1, =exit_block
    str     x0, [x1, #8]
    mov     x0, #0x18
    hlt     #0xf000
    b       .

    .section .bss.stack, "aw", %nobits
    .balign 16
    .skip   0x4000
__stack_top:

    .data
    .balign 8
exit_block:
    .quad   0x20026, 0      /* ADP_Stopped_ApplicationExit, status */
