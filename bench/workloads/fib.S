// Call-heavy recursion: x0 times fib(FIB_N), each call with a stack frame.
// Out: x20 = x0 * fib(FIB_N).

    .equ    FIB_N, 20

    .text
    .global _start
_start:
    mov     x19, #0
    mov     x20, #0
    mov     x21, x0
1:  mov     x0, #FIB_N
    bl      fib
    add     x20, x20, x0
    subs    x21, x21, #1
    b.ne    1b
    b       bench_exit

// x0 = n -> x0 = fib(n)
fib:
    cmp     x0, #2
    b.lo    2f
    stp     x29, x30, [sp, #-32]!
    mov     x29, sp
    stp     x22, x23, [sp, #16]
    mov     x22, x0
    sub     x0, x0, #1
    bl      fib
    mov     x23, x0
    sub     x0, x22, #2
    bl      fib
    add     x0, x0, x23
    ldp     x22, x23, [sp, #16]
    ldp     x29, x30, [sp], #32
2:  ret
