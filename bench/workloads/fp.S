// Floating-point loop: SCVTF, FMADD, FMUL, FADD, FCVTZS (double precision) and a counted branch.
// x0 iterations; results x20 (sum of the truncated products), x21 and x22 (the raw bits of the
// running sum and the accumulator), checked against a model in bench/run.py.

    .text
    .global _start
_start:
    mov     x20, #0
    fmov    d0, xzr                     // accumulator
    fmov    d5, xzr                     // running sum
    fmov    d1, #0.5
    ldr     d2, =0x3FB999999999999A     // 0.1
1:  scvtf   d3, x0
    fmadd   d0, d0, d1, d3              // acc = acc * 0.5 + i
    fmul    d4, d0, d2
    fadd    d5, d5, d4
    fcvtzs  x4, d4
    add     x20, x20, x4
    subs    x0, x0, #1
    b.ne    1b
    fmov    x21, d5
    fmov    x22, d0
    mov     x19, #0
    b       bench_exit
    .ltorg
