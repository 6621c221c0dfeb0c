/*
 * hello: the armnv demo guest. A bare-metal program for QEMU's virt board
 * (and armnv, which has the same memory map): one greeting through Arm
 * semihosting, one through the PL011 UART with a polling driver.
 */

#define SYS_WRITE0 0x04

#define UART_BASE 0x09000000UL
#define UART_DR 0x000
#define UART_FR 0x018
#define UART_FR_TXFF (1u << 5) /* transmit FIFO full */

static long semihosting_call(long op, const void *param)
{
    register long x0 __asm__("x0") = op;
    register const void *x1 __asm__("x1") = param;

    __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
    return x0;
}

static void uart_putc(char c)
{
    volatile unsigned int *uart = (volatile unsigned int *)UART_BASE;

    while (uart[UART_FR / 4] & UART_FR_TXFF)
        ;
    uart[UART_DR / 4] = (unsigned char)c;
}

static void uart_puts(const char *s)
{
    while (*s)
        uart_putc(*s++);
}

int main(void)
{
    semihosting_call(SYS_WRITE0, "Hello from armnv! (semihosting SYS_WRITE0)\n");
    uart_puts("Hello from the PL011 UART!\n");
    return 0;
}
