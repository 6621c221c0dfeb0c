// Self-modifying code, as a JIT or a loader makes it: each of x0 iterations rewrites the
// immediate of the MOVZ at patch_site with the low 16 bits of its counter, makes the new
// instruction visible (DC CVAU, DSB, IC IVAU, DSB, ISB: the Arm ARM's sequence for code
// written by data stores), calls it and checks what it returned.
// Out: x20 = sum of the values the patched code returned; x19 = 1 if one was wrong.

    .text
    .global _start
_start:
    mov     x19, #0
    mov     x20, #0
    mov     x21, x0
    adr     x9, patch_site
    ldr     w10, patch_site             // movz x0, #0: the immediate goes in bits [20:5]
1:  and     x11, x21, #0xffff
    orr     w12, w10, w11, lsl #5
    str     w12, [x9]
    dc      cvau, x9
    dsb     ish
    ic      ivau, x9
    dsb     ish
    isb
    bl      patch_site
    cmp     x0, x11
    b.ne    smc_wrong
    add     x20, x20, x0
    subs    x21, x21, #1
    b.ne    1b
    b       bench_exit

smc_wrong:
    mov     x19, #1
    b       bench_exit

    .balign 64
patch_site:
    movz    x0, #0
    ret
