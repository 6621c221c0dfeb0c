// Allowed system-register accesses at EL2: MSR then MRS of TPIDR_EL0, TPIDR_EL1 and
// TPIDR_EL2, the ldst workload's loop with each memory access replaced by a register one.
// x0 iterations; out: x20 = sum of the loop counter values read back.

    .text
    .global _start
_start:
    mov     x19, #0
    mov     x20, #0
1:  msr     tpidr_el0, x0
    mrs     x9, tpidr_el0
    msr     tpidr_el1, x9
    mrs     x10, tpidr_el1
    msr     tpidr_el2, x10
    mrs     x11, tpidr_el2
    add     x20, x20, x11
    subs    x0, x0, #1
    b.ne    1b
    b       bench_exit
