// Tight integer loop: register-form ALU operations and a counted branch.
// x0 iterations; results x20, x21, x22 (checked against a model in bench/run.py).

    .text
    .global _start
_start:
    mov     x19, #0
    mov     x20, #0
    mov     x21, #0
    mov     x22, #0
1:  add     x20, x20, x0
    eor     x21, x21, x20, ror #7
    sub     x22, x22, x21, lsr #3
    subs    x0, x0, #1
    b.ne    1b
    b       bench_exit
