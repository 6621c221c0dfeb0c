// LDR/STR loop, the baseline of the sysreg and nv2 workloads: the same loop with each
// register access replaced by a 64-bit store or load of a doubleword in RAM.
// x0 iterations; out: x20 = sum of the loop counter values read back.

    .text
    .global _start
_start:
    mov     x19, #0
    mov     x20, #0
    adr     x1, ldst_slots
1:  str     x0, [x1]
    ldr     x9, [x1]
    str     x9, [x1, #8]
    ldr     x10, [x1, #8]
    str     x10, [x1, #16]
    ldr     x11, [x1, #16]
    add     x20, x20, x11
    subs    x0, x0, #1
    b.ne    1b
    b       bench_exit

    .data
    .balign 8
ldst_slots:
    .quad   0, 0, 0
    .text
