/*
 * L2 userspace: one program at EL0. It only has system calls.
 */
#include "nested.h"

static const char message[] = "hello from L2 userspace\n";

static long syscall3(long nr, long a, long b, long c)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}

void __attribute__((noreturn)) l2_user_entry(void)
{
    syscall3(64, 1, (long)message, sizeof message - 1); /* write(1, message, len) */
    syscall3(93, 0, 0, 0);                               /* exit(0) */
    for (;;)
        ;
}
