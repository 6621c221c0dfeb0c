// Prepended by bench/run.py to every workload.
//
// Conventions: the guest starts at _start with the iteration count in x0
// (chosen by the bench), leaves its results in x16 and x20-x22, and ends by
// branching to bench_exit with a status in x19 (0: the workload's own checks
// passed). bench_end, the semihosting call, is where unicorn is stopped.
// On armnv the bench points VBAR_EL1/EL2 at bench_trap_vectors first, so an
// exception the workload does not expect ends the run with status 0xee.

    .text
bench_exit:
    adr     x1, bench_exit_block
    str     x19, [x1, #8]
    mov     x0, #0x18                   // SYS_EXIT
bench_end:
    hlt     #0xf000
    b       bench_end

bench_trap:
    mov     x19, #0xee
    b       bench_exit

    .balign 2048
bench_trap_vectors:
    .rept   16
    .balign 128
    b       bench_trap
    .endr

    .data
    .balign 8
bench_exit_block:
    .quad   0x20026, 0                  // ADP_Stopped_ApplicationExit, status
    .text
