// Memory loop with the MMU off (see memloop.S).

    .text
    .global _start
_start:
    mov     x19, #0
    bl      memloop
    b       bench_exit
