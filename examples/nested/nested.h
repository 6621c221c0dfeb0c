/*
 * Shared definitions of the nested-virtualization demo: types, system-register
 * access by encoding, and a tiny formatter. Every level (L0, L1, L2) includes
 * this header into its own translation unit, so each gets a private copy of
 * the helpers in its own memory: no level ever calls code that belongs to
 * another one.
 */
#ifndef NESTED_H
#define NESTED_H

typedef unsigned long u64;
typedef unsigned int u32;

/* Registers are named by encoding (S<op0>_<op1>_C<n>_C<m>_<op2>), so the
 * assembler needs no architecture extension flags for *_EL12 or ICH_*. */
#define mrs(enc)                                                                                   \
    ({                                                                                             \
        u64 __v;                                                                                   \
        __asm__ volatile("mrs %0, " enc : "=r"(__v)::"memory");                                   \
        __v;                                                                                       \
    })
#define msr(enc, v) __asm__ volatile("msr " enc ", %x0" ::"rZ"((u64)(v)) : "memory")
#define isb() __asm__ volatile("isb" ::: "memory")
#define dsb() __asm__ volatile("dsb sy" ::: "memory")

/* EL2 registers (op1 = 4) */
#define HCR_EL2 "S3_4_C1_C1_0"
#define CPTR_EL2 "S3_4_C1_C1_2"
#define MDCR_EL2 "S3_4_C1_C1_1"
#define VTTBR_EL2 "S3_4_C2_C1_0"
#define VTCR_EL2 "S3_4_C2_C1_2"
#define VNCR_EL2 "S3_4_C2_C2_0"
#define VPIDR_EL2 "S3_4_C0_C0_0"
#define VMPIDR_EL2 "S3_4_C0_C0_5"
#define SPSR_EL2 "S3_4_C4_C0_0"
#define ELR_EL2 "S3_4_C4_C0_1"
#define SP_EL1 "S3_4_C4_C1_0"
#define ESR_EL2 "S3_4_C5_C2_0"
#define FAR_EL2 "S3_4_C6_C0_0"
#define HPFAR_EL2 "S3_4_C6_C0_4"
#define VBAR_EL2 "S3_4_C12_C0_0"
#define CNTHCTL_EL2 "S3_4_C14_C1_0"
#define CNTVOFF_EL2 "S3_4_C14_C0_3"
#define ICH_AP0R0_EL2 "S3_4_C12_C8_0"
#define ICH_AP1R0_EL2 "S3_4_C12_C9_0"
#define ICH_HCR_EL2 "S3_4_C12_C11_0"
#define ICH_VMCR_EL2 "S3_4_C12_C11_7"
#define ICH_LR0_EL2 "S3_4_C12_C12_0"
#define ICH_LR1_EL2 "S3_4_C12_C12_1"
#define ICH_LR2_EL2 "S3_4_C12_C12_2"
#define ICH_LR3_EL2 "S3_4_C12_C12_3"

/* The EL1 context through its VHE accessors (op1 = 5) */
#define SCTLR_EL12 "S3_5_C1_C0_0"
#define CPACR_EL12 "S3_5_C1_C0_2"
#define TTBR0_EL12 "S3_5_C2_C0_0"
#define TTBR1_EL12 "S3_5_C2_C0_1"
#define TCR_EL12 "S3_5_C2_C0_2"
#define SPSR_EL12 "S3_5_C4_C0_0"
#define ELR_EL12 "S3_5_C4_C0_1"
#define AFSR0_EL12 "S3_5_C5_C1_0"
#define AFSR1_EL12 "S3_5_C5_C1_1"
#define ESR_EL12 "S3_5_C5_C2_0"
#define FAR_EL12 "S3_5_C6_C0_0"
#define MAIR_EL12 "S3_5_C10_C2_0"
#define AMAIR_EL12 "S3_5_C10_C3_0"
#define VBAR_EL12 "S3_5_C12_C0_0"
#define CONTEXTIDR_EL12 "S3_5_C13_C0_1"
#define CNTKCTL_EL12 "S3_5_C14_C1_0"
#define CNTV_CTL_EL02 "S3_5_C14_C3_1"
#define CNTV_CVAL_EL02 "S3_5_C14_C3_2"

/* EL1/EL0 registers */
#define CURRENTEL "S3_0_C4_C2_2"
#define ID_AA64MMFR2_EL1 "S3_0_C0_C7_2"
#define SCTLR_EL1 "S3_0_C1_C0_0"
#define TTBR0_EL1 "S3_0_C2_C0_0"
#define TCR_EL1 "S3_0_C2_C0_2"
#define SPSR_EL1 "S3_0_C4_C0_0"
#define ELR_EL1 "S3_0_C4_C0_1"
#define SP_EL0 "S3_0_C4_C1_0"
#define ESR_EL1 "S3_0_C5_C2_0"
#define PAR_EL1 "S3_0_C7_C4_0"
#define MAIR_EL1 "S3_0_C10_C2_0"
#define VBAR_EL1 "S3_0_C12_C0_0"
#define TPIDR_EL1 "S3_0_C13_C0_4"
#define TPIDR_EL0 "S3_3_C13_C0_2"
#define TPIDRRO_EL0 "S3_3_C13_C0_3"
#define CSSELR_EL1 "S3_2_C0_C0_0"
#define CNTV_TVAL_EL0 "S3_3_C14_C3_0"
#define CNTV_CTL_EL0 "S3_3_C14_C3_1"
#define ICC_PMR_EL1 "S3_0_C4_C6_0"
#define ICC_IAR1_EL1 "S3_0_C12_C12_0"
#define ICC_EOIR1_EL1 "S3_0_C12_C12_1"
#define ICC_IGRPEN1_EL1 "S3_0_C12_C12_7"

#define HCR_VM (1UL << 0)
#define HCR_FMO (1UL << 3)
#define HCR_IMO (1UL << 4)
#define HCR_AMO (1UL << 5)
#define HCR_TGE (1UL << 27)
#define HCR_RW (1UL << 31)
#define HCR_E2H (1UL << 34)
#define HCR_NV (1UL << 42)
#define HCR_NV1 (1UL << 43)
#define HCR_NV2 (1UL << 45)

#define ESR_EC(esr) (((esr) >> 26) & 0x3f)
#define EC_HVC64 0x16
#define EC_SYSREG 0x18
#define EC_ERET 0x1a
#define EC_IABT_LOW 0x20
#define EC_DABT_LOW 0x24

/* SPSR: EL1h with D, A, I, F masked, as on exception entry */
#define PSTATE_EL1H_MASKED 0x3c5UL

/* Stage-2 descriptors, 4 KiB granule: block at level 1/2, page at level 3 */
#define S2_VALID (1UL << 0)
#define S2_TABLE (3UL << 0)
#define S2_PAGE (3UL << 0)
#define S2_BLOCK (1UL << 0)
#define S2_MEM_NORMAL (0xfUL << 2) /* MemAttr: Normal, Write-Back */
#define S2_MEM_DEVICE (0x0UL << 2) /* MemAttr: Device-nGnRnE */
#define S2_AP_RW (3UL << 6)
#define S2_SH_INNER (3UL << 8)
#define S2_AF (1UL << 10)
#define S2_XN (2UL << 53)
#define S2_ADDR_MASK 0x0000fffffffff000UL

/* VTCR_EL2: 4 GiB IPA space (T0SZ = 32) walked from level 1 (SL0 = 1), 4 KiB granule,
 * write-back inner-shareable walks, 40-bit PA */
#define VTCR_4G_L1 ((1UL << 31) | (2UL << 16) | (3UL << 12) | (1UL << 10) | (1UL << 8) | (1UL << 6) | 32)

#define PSCI_SYSTEM_OFF 0x84000008UL
#define HVC_PING 0x86000001UL /* the L2 kernel's round trip to its hypervisor */
#define HVC_L1_FAILED 0x860000ffUL /* L1 hit something it cannot handle: x1 = ESR */

#define UART_BASE 0x09000000UL
#define UART_DR 0x00
#define UART_FR 0x18
#define UART_FR_TXFF (1u << 5)

#define VTIMER_INTID 27
#define CNT_CTL_ENABLE 1UL
#define CNT_CTL_IMASK 2UL
#define CNT_CTL_ISTATUS 4UL

/* A polling PL011 transmitter for software that owns the real UART (L0, and L1
 * through its pass-through stage-2 mapping). */
static inline void pl011_putc(char c)
{
    volatile u32 *uart = (volatile u32 *)UART_BASE;

    while (uart[UART_FR / 4] & UART_FR_TXFF)
        ;
    uart[UART_DR / 4] = (unsigned char)c;
}

/* print("text %x text %d", ...): %x is hexadecimal with 0x, %d unsigned decimal. */
static inline void format(void (*putc)(char), const char *fmt, const u64 *args)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%' || (fmt[1] != 'x' && fmt[1] != 'd')) {
            putc(*fmt);
            continue;
        }
        u64 v = *args++;
        char digits[20];
        int n = 0;
        if (*++fmt == 'x') {
            putc('0');
            putc('x');
            do {
                digits[n++] = "0123456789abcdef"[v & 15];
                v >>= 4;
            } while (v);
        } else {
            do {
                digits[n++] = (char)('0' + v % 10);
                v /= 10;
            } while (v);
        }
        while (n)
            putc(digits[--n]);
    }
}

#endif
