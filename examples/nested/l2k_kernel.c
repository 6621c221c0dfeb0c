/*
 * The L2 kernel: a small OS at EL1. It turns its MMU on, takes a virtual
 * timer interrupt through the GIC's virtual CPU interface, makes a fixed
 * number of hypercalls, and runs one userspace program whose system calls
 * write to the UART. It does not know it is nested: its hypervisor (L1)
 * emulates that UART, and L1 is itself a guest of L0.
 */
#include "nested.h"

#define ROUND_TRIPS 8
#define TIMER_TICKS 20000 /* counter ticks (1 GHz on `max`): fires during the round trips */

#define SYS_WRITE 64
#define SYS_EXIT 93

/* Stage 1: VA = IPA. Level 1: 0-1 GiB device (the UART), 1-2 GiB through a level-2 table:
 * the kernel's 2 MiB (EL1 only) and userspace's 2 MiB (EL0 and EL1 read/write). */
#define PT_BLOCK 1UL
#define PT_TABLE 3UL
#define PT_ATTR(i) ((u64)(i) << 2) /* MAIR index: 0 device, 1 normal */
#define PT_AP_EL0 (1UL << 6)
#define PT_SH_INNER (3UL << 8)
#define PT_AF (1UL << 10)
#define PT_PXN (1UL << 53)
#define PT_UXN (1UL << 54)
#define KERNEL_BASE 0x40400000UL
#define USER_BASE 0x40600000UL

static u64 pt_level1[512] __attribute__((aligned(4096)));
static u64 pt_level2[512] __attribute__((aligned(4096)));

static volatile u64 timer_intid;

extern char l2_user_entry[];
void l2_enter_user(u64 pc, u64 sp);

static void uart_putc(char c)
{
    /* no polling: the (emulated) transmitter is always ready, and every access is an exit */
    *(volatile u32 *)(UART_BASE + UART_DR) = (unsigned char)c;
}

static void print(const char *fmt, u64 a)
{
    format(uart_putc, fmt, &a);
}

static u64 hvc(u64 fn)
{
    register u64 x0 __asm__("x0") = fn;
    __asm__ volatile("hvc #0" : "+r"(x0)::"memory");
    return x0;
}

static void __attribute__((noreturn)) power_off(void)
{
    hvc(PSCI_SYSTEM_OFF);
    for (;;)
        ;
}

void l2_bad_exception(u64 *frame)
{
    print("L2: unexpected exception, ESR %x\n", mrs(ESR_EL1));
    (void)frame;
    power_off();
}

void l2_irq(u64 *frame)
{
    u64 intid = mrs(ICC_IAR1_EL1) & 0xffffff;

    (void)frame;
    if (intid == VTIMER_INTID) {
        msr(CNTV_CTL_EL0, 0);
        timer_intid = intid;
    }
    if (intid < 1020)
        msr(ICC_EOIR1_EL1, intid);
}

void l2_syscall(u64 *frame)
{
    u64 esr = mrs(ESR_EL1);

    if (ESR_EC(esr) != 0x15) {
        l2_bad_exception(frame);
        return;
    }
    switch (frame[8]) {
    case SYS_WRITE: {
        const char *buf = (const char *)frame[1];
        for (u64 i = 0; i < frame[2]; i++)
            uart_putc(buf[i]);
        frame[0] = frame[2];
        break;
    }
    case SYS_EXIT:
        power_off();
    default:
        frame[0] = (u64)-1;
    }
}

static void mmu_on(void)
{
    pt_level1[0] = 0x00000000UL | PT_BLOCK | PT_ATTR(0) | PT_AF | PT_PXN | PT_UXN;
    pt_level1[1] = (u64)pt_level2 | PT_TABLE;
    pt_level2[(KERNEL_BASE >> 21) & 511] = KERNEL_BASE | PT_BLOCK | PT_ATTR(1) | PT_SH_INNER | PT_AF | PT_UXN;
    pt_level2[(USER_BASE >> 21) & 511] = USER_BASE | PT_BLOCK | PT_ATTR(1) | PT_SH_INNER | PT_AF | PT_AP_EL0 | PT_PXN;
    dsb();
    msr(MAIR_EL1, 0xff00UL);
    /* T0SZ = 32 (4 GiB from level 1), write-back walks, 4 KiB granule, no TTBR1, 40-bit IPA */
    msr(TCR_EL1, 32UL | 1UL << 8 | 1UL << 10 | 3UL << 12 | 1UL << 23 | 2UL << 32);
    msr(TTBR0_EL1, (u64)pt_level1);
    isb();
    __asm__ volatile("tlbi vmalle1\n dsb nsh\n isb" ::: "memory");
    /* M, C, I on; SPAN set so that exceptions do not set PSTATE.PAN (the kernel reads user buffers) */
    msr(SCTLR_EL1, mrs(SCTLR_EL1) | 1UL << 0 | 1UL << 2 | 1UL << 12 | 1UL << 23);
    isb();
}

void l2_main(void)
{
    mmu_on();
    print("L2: kernel at EL%d with its MMU on\n", (mrs(CURRENTEL) >> 2) & 3);

    /* the virtual CPU interface: all priorities, Group 1 on; then the virtual timer */
    msr(ICC_PMR_EL1, 0xff);
    msr(ICC_IGRPEN1_EL1, 1);
    isb();
    msr(CNTV_TVAL_EL0, TIMER_TICKS);
    msr(CNTV_CTL_EL0, CNT_CTL_ENABLE);
    __asm__ volatile("msr daifclr, #2" ::: "memory");

    u64 answered = 0;
    for (int i = 0; i < ROUND_TRIPS; i++)
        answered = hvc(HVC_PING);
    while (!timer_intid)
        __asm__ volatile("wfi");
    print("L2: %d hypercalls answered, ", answered);
    print("virtual timer interrupt received (INTID %d)\n", timer_intid);

    __asm__ volatile("msr daifset, #2" ::: "memory");
    l2_enter_user((u64)l2_user_entry, USER_BASE + (2UL << 20));
}
