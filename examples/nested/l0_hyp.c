/*
 * L0, the host hypervisor. It runs at EL2 with HCR_EL2.E2H = 1, like a KVM
 * host, so its own EL1-named accesses reach EL2 registers and the guest's
 * EL1 registers are reached through the *_EL12 accessors.
 *
 * L0 runs one guest, L1, a guest hypervisor, at EL1 with HCR_EL2.NV = 1
 * (and NV2 with a VNCR page when the CPU has FEAT_NV2). L1 believes it is
 * at EL2. L0 keeps L1's virtual EL2 state, and the EL1 state of L1's own
 * guest (L2), in one page laid out as the architecture's VNCR page: with
 * NV2 the CPU itself loads and stores most of it; with NV alone every such
 * access traps and L0 performs the same load or store. Registers without a
 * slot in that page live in `ext`.
 */
#include "l0.h"

#define L0_PANIC_STATUS 0x4c

/* VNCR page offsets (Arm ARM, "VNCR_EL2 offsets"; armnv's vncr.csv) */
enum {
    V_VTTBR = 0x020,
    V_VTCR = 0x040,
    V_VMPIDR = 0x050,
    V_CNTVOFF = 0x060,
    V_HCR = 0x078,
    V_VPIDR = 0x088,
    V_TPIDR_EL2 = 0x090,
    V_CPACR = 0x100,
    V_CONTEXTIDR = 0x108,
    V_SCTLR = 0x110,
    V_TCR = 0x120,
    V_AFSR0 = 0x128,
    V_AFSR1 = 0x130,
    V_ESR = 0x138,
    V_MAIR = 0x140,
    V_AMAIR = 0x148,
    V_SPSR = 0x160,
    V_CNTV_CVAL = 0x168,
    V_CNTV_CTL = 0x170,
    V_TTBR0 = 0x200,
    V_TTBR1 = 0x210,
    V_FAR = 0x220,
    V_ELR = 0x230,
    V_SP_EL1 = 0x240,
    V_VBAR = 0x250,
    V_ICH_LR0 = 0x400,
    V_ICH_AP0R0 = 0x480,
    V_ICH_AP1R0 = 0x4a0,
    V_ICH_HCR = 0x4c0,
    V_ICH_VMCR = 0x4c8,
};

/* Virtual EL2 registers that have no VNCR slot: they trap even with NV2. */
enum { X_CPTR, X_MDCR, X_CNTHCTL, X_CNTKCTL, X_HPFAR, X_NR };

static u64 vncr_page[512] __attribute__((aligned(4096)));
static u64 ext[X_NR];
#define VREG(off) vncr_page[(off) / 8]

/*
 * The EL1 registers a VHE hypervisor's *_EL12 accessors name. While L1 runs
 * the real registers hold L1's own ("EL2") context; while L2 runs they hold
 * L2's, which lives in the VNCR page whenever L1 runs.
 */
#define EL1_CONTEXT(X)                                                                             \
    X(SCTLR_EL12, V_SCTLR)                                                                         \
    X(CPACR_EL12, V_CPACR)                                                                         \
    X(TTBR0_EL12, V_TTBR0)                                                                         \
    X(TTBR1_EL12, V_TTBR1)                                                                         \
    X(TCR_EL12, V_TCR)                                                                             \
    X(ESR_EL12, V_ESR)                                                                             \
    X(AFSR0_EL12, V_AFSR0)                                                                         \
    X(AFSR1_EL12, V_AFSR1)                                                                         \
    X(FAR_EL12, V_FAR)                                                                             \
    X(MAIR_EL12, V_MAIR)                                                                           \
    X(AMAIR_EL12, V_AMAIR)                                                                         \
    X(VBAR_EL12, V_VBAR)                                                                           \
    X(CONTEXTIDR_EL12, V_CONTEXTIDR)                                                               \
    X(ELR_EL12, V_ELR)                                                                             \
    X(SPSR_EL12, V_SPSR)                                                                           \
    X(SP_EL1, V_SP_EL1)                                                                            \
    X(CNTV_CVAL_EL02, V_CNTV_CVAL)                                                                 \
    X(CNTV_CTL_EL02, V_CNTV_CTL)

#define INDEX(enc, off) I_##off,
enum { EL1_CONTEXT(INDEX) I_CNTKCTL, I_NR };

/* L1's own EL1 context, kept here while L2 runs */
static u64 l1_ctx[I_NR];

/* The list registers, VMCR and active priorities of L1's virtual GIC interface */
#define VGIC_STATE(X)                                                                              \
    X(ICH_LR0_EL2, V_ICH_LR0)                                                                      \
    X(ICH_LR1_EL2, V_ICH_LR0 + 8)                                                                  \
    X(ICH_LR2_EL2, V_ICH_LR0 + 16)                                                                 \
    X(ICH_LR3_EL2, V_ICH_LR0 + 24)                                                                 \
    X(ICH_AP0R0_EL2, V_ICH_AP0R0)                                                                  \
    X(ICH_AP1R0_EL2, V_ICH_AP1R0)                                                                  \
    X(ICH_VMCR_EL2, V_ICH_VMCR)

/* HCR_EL2 trap controls L0 takes over from L1's virtual HCR_EL2 when it runs L2:
 * TWI, TWE, TID3, TSC, TVM, TRVM */
#define HCR_GUEST_TRAPS ((1UL << 13) | (1UL << 14) | (1UL << 18) | (1UL << 19) | (1UL << 26) | (1UL << 30))

static int nv2;
static int in_l2;
static u64 hcr_l1, hcr_l2;

extern char l1_entry[], l1_stack_top[];

static void puts0(const char *s)
{
    while (*s)
        pl011_putc(*s++);
}

static void print(const char *fmt, u64 a, u64 b)
{
    u64 args[2] = {a, b};
    format(pl011_putc, fmt, args);
}

static void __attribute__((noreturn)) semihosting_exit(u64 status)
{
    static u64 block[2];

    block[0] = 0x20026; /* ADP_Stopped_ApplicationExit */
    block[1] = status;
    register u64 x0 __asm__("x0") = 0x18;
    register u64 *x1 __asm__("x1") = block;
    __asm__ volatile("hlt #0xf000" ::"r"(x0), "r"(x1) : "memory");
    for (;;)
        ;
}

void l0_panic(const char *what, u64 esr)
{
    puts0("L0 panic: ");
    puts0(what);
    print(" ESR=%x ELR=%x\n", esr, mrs(ELR_EL2));
    semihosting_exit(L0_PANIC_STATUS);
}

void l0_bad_vector(u64 *frame)
{
    (void)frame;
    l0_panic("exception at EL2", mrs(ESR_EL2));
}

/* ---- world switch ------------------------------------------------------------------------- */

#define SAVE_TO(enc, off) ctx[I_##off] = mrs(enc);
#define LOAD_FROM(enc, off) msr(enc, ctx[I_##off]);
#define SAVE_TO_PAGE(enc, off) VREG(off) = mrs(enc);
#define LOAD_FROM_PAGE(enc, off) msr(enc, VREG(off));

static void save_el1(u64 *ctx)
{
    EL1_CONTEXT(SAVE_TO)
    ctx[I_CNTKCTL] = mrs(CNTKCTL_EL12);
}

static void load_el1(const u64 *ctx)
{
    EL1_CONTEXT(LOAD_FROM)
    msr(CNTKCTL_EL12, ctx[I_CNTKCTL]);
}

/* L1 executed ERET with its virtual SPSR_EL2 naming EL1 or EL0: enter L2. */
static void enter_l2(u64 elr, u64 spsr)
{
    save_el1(l1_ctx);
    EL1_CONTEXT(LOAD_FROM_PAGE)
    msr(CNTKCTL_EL12, ext[X_CNTKCTL]);
    VGIC_STATE(LOAD_FROM_PAGE)
    msr(ICH_HCR_EL2, VREG(V_ICH_HCR));
    msr(CNTVOFF_EL2, VREG(V_CNTVOFF));
    /* L0's own controls, plus the traps L1 asked for: those exits will be L1's */
    msr(HCR_EL2, hcr_l2 | (VREG(V_HCR) & HCR_GUEST_TRAPS));
    msr(VTTBR_EL2, shadow_vttbr(VREG(V_VTTBR)));
    msr(ELR_EL2, elr);
    msr(SPSR_EL2, spsr);
    isb();
    in_l2 = 1;
}

/*
 * An exception of L2 that L1 must handle: make it look to L1 as if the
 * hardware had taken it to (virtual) EL2 — the exception registers of L1's
 * EL2 are the real EL1 ones, and execution resumes at L1's vector.
 */
static void exit_to_l1(u64 vector, u64 esr, u64 far, u64 hpfar)
{
    u64 elr = mrs(ELR_EL2), spsr = mrs(SPSR_EL2);

    EL1_CONTEXT(SAVE_TO_PAGE)
    ext[X_CNTKCTL] = mrs(CNTKCTL_EL12);
    VGIC_STATE(SAVE_TO_PAGE)
    msr(ICH_HCR_EL2, 0);
    load_el1(l1_ctx);
    msr(ELR_EL12, elr);
    msr(SPSR_EL12, spsr);
    if (vector == 0x400) {
        msr(ESR_EL12, esr);
        msr(FAR_EL12, far);
        ext[X_HPFAR] = hpfar;
    }
    msr(CNTVOFF_EL2, 0);
    msr(HCR_EL2, hcr_l1);
    msr(VTTBR_EL2, stage2_l1_vttbr());
    msr(ELR_EL2, l1_ctx[I_V_VBAR] + vector);
    msr(SPSR_EL2, PSTATE_EL1H_MASKED);
    isb();
    in_l2 = 0;
}

/* ---- emulation of L1's EL2 --------------------------------------------------------------- */

#define ENC(op0, op1, crn, crm, op2)                                                               \
    ((u32)(op0) << 20 | (u32)(op2) << 17 | (u32)(op1) << 14 | (u32)(crn) << 10 | (u32)(crm) << 1)
#define ISS_ENC_MASK ENC(3, 7, 15, 15, 7)
#define EXT 0x1000

/* Where each trapped register lives: a VNCR page offset, or EXT + an index in `ext`. */
static const struct {
    u32 enc;
    u32 where;
} vregs[] = {
    {ENC(3, 4, 1, 1, 0), V_HCR},          {ENC(3, 4, 2, 1, 0), V_VTTBR},
    {ENC(3, 4, 2, 1, 2), V_VTCR},         {ENC(3, 4, 0, 0, 0), V_VPIDR},
    {ENC(3, 4, 0, 0, 5), V_VMPIDR},       {ENC(3, 4, 14, 0, 3), V_CNTVOFF},
    {ENC(3, 4, 13, 0, 2), V_TPIDR_EL2},   {ENC(3, 5, 1, 0, 0), V_SCTLR},
    {ENC(3, 5, 1, 0, 2), V_CPACR},        {ENC(3, 5, 2, 0, 0), V_TTBR0},
    {ENC(3, 5, 2, 0, 1), V_TTBR1},        {ENC(3, 5, 2, 0, 2), V_TCR},
    {ENC(3, 5, 5, 2, 0), V_ESR},          {ENC(3, 5, 5, 1, 0), V_AFSR0},
    {ENC(3, 5, 5, 1, 1), V_AFSR1},        {ENC(3, 5, 6, 0, 0), V_FAR},
    {ENC(3, 5, 10, 2, 0), V_MAIR},        {ENC(3, 5, 10, 3, 0), V_AMAIR},
    {ENC(3, 5, 12, 0, 0), V_VBAR},        {ENC(3, 5, 13, 0, 1), V_CONTEXTIDR},
    {ENC(3, 5, 4, 0, 1), V_ELR},          {ENC(3, 5, 4, 0, 0), V_SPSR},
    {ENC(3, 4, 4, 1, 0), V_SP_EL1},       {ENC(3, 5, 14, 3, 1), V_CNTV_CTL},
    {ENC(3, 5, 14, 3, 2), V_CNTV_CVAL},   {ENC(3, 4, 12, 12, 0), V_ICH_LR0},
    {ENC(3, 4, 12, 12, 1), V_ICH_LR0 + 8}, {ENC(3, 4, 12, 12, 2), V_ICH_LR0 + 16},
    {ENC(3, 4, 12, 12, 3), V_ICH_LR0 + 24}, {ENC(3, 4, 12, 8, 0), V_ICH_AP0R0},
    {ENC(3, 4, 12, 9, 0), V_ICH_AP1R0},   {ENC(3, 4, 12, 11, 0), V_ICH_HCR},
    {ENC(3, 4, 12, 11, 7), V_ICH_VMCR},   {ENC(3, 4, 1, 1, 2), EXT + X_CPTR},
    {ENC(3, 4, 1, 1, 1), EXT + X_MDCR},   {ENC(3, 4, 14, 1, 0), EXT + X_CNTHCTL},
    {ENC(3, 5, 14, 1, 0), EXT + X_CNTKCTL}, {ENC(3, 4, 6, 0, 4), EXT + X_HPFAR},
};

/* L1's EL2 exception registers are the real EL1 ones (as NV2 makes them), and so is its
 * VBAR_EL2: L1 is a VHE hypervisor, for which VBAR_EL1 and VBAR_EL2 name one register. */
static int el2_exception_reg(u32 enc, int is_read, u64 *val)
{
#define EXC_REG(enc_, real)                                                                        \
    if (enc == enc_) {                                                                             \
        if (is_read)                                                                               \
            *val = mrs(real);                                                                      \
        else                                                                                       \
            msr(real, *val);                                                                       \
        return 1;                                                                                  \
    }
    EXC_REG(ENC(3, 4, 4, 0, 1), ELR_EL12)
    EXC_REG(ENC(3, 4, 4, 0, 0), SPSR_EL12)
    EXC_REG(ENC(3, 4, 5, 2, 0), ESR_EL12)
    EXC_REG(ENC(3, 4, 6, 0, 0), FAR_EL12)
    EXC_REG(ENC(3, 4, 12, 0, 0), VBAR_EL12)
    return 0;
}

static void emulate_sysreg(u64 *frame, u64 esr)
{
    u32 iss = (u32)esr & 0x1ffffff;
    u32 enc = iss & ISS_ENC_MASK;
    int rt = (iss >> 5) & 31, is_read = iss & 1;
    u64 val = rt == 31 ? 0 : frame[rt];

    if ((enc >> 20) == 1) {
        /* TLBI (op0 = 1) by L1 on its stage 2: the shadow built from it is stale */
        if (((enc >> 14) & 7) != 4 || ((enc >> 10) & 15) != 8)
            l0_panic("unhandled system instruction from L1", esr);
        shadow_reset(VREG(V_VTTBR));
    } else if (!el2_exception_reg(enc, is_read, &val)) {
        u64 *where = 0;
        for (unsigned i = 0; i < sizeof vregs / sizeof vregs[0]; i++)
            if (vregs[i].enc == enc)
                where = vregs[i].where >= EXT ? &ext[vregs[i].where - EXT] : &VREG(vregs[i].where);
        if (!where)
            l0_panic("unhandled system register access from L1", esr);
        if (is_read)
            val = *where;
        else
            *where = val;
    }
    if (is_read && rt != 31)
        frame[rt] = val;
    msr(ELR_EL2, mrs(ELR_EL2) + 4);
}

/* ERET by L1: a return within its virtual EL2, or the entry into L2. */
static void emulate_eret(void)
{
    u64 spsr = mrs(SPSR_EL12), elr = mrs(ELR_EL12);
    u64 el = (spsr >> 2) & 3;

    if ((spsr & 0x10) || el == 3)
        l0_panic("L1 returns to AArch32 or EL3", spsr);
    if (el == 2) {
        msr(ELR_EL2, elr);
        msr(SPSR_EL2, (spsr & ~0xcUL) | 0x4);
    } else {
        enter_l2(elr, spsr);
    }
}

static void l1_hypercall(u64 *frame, u64 esr)
{
    if (frame[0] == PSCI_SYSTEM_OFF)
        semihosting_exit(0);
    if (frame[0] == HVC_L1_FAILED)
        l0_panic("L1 failed", frame[1]);
    l0_panic("unknown hypercall from L1", esr);
}

void l0_sync_lower(u64 *frame)
{
    u64 esr = mrs(ESR_EL2);
    u32 ec = ESR_EC(esr);

    if (in_l2) {
        if (ec == EC_DABT_LOW || ec == EC_IABT_LOW) {
            u64 hpfar = mrs(HPFAR_EL2), far = mrs(FAR_EL2);
            u64 ipa = (hpfar & 0xffffffffff0UL) << 8 | (far & 0xfff);
            /* a translation fault may only be missing from the shadow; anything else is L1's */
            if ((esr & 0x3c) == 0x04 && shadow_fill(ipa, VREG(V_HCR), VREG(V_VTTBR), VREG(V_VTCR)))
                return;
            exit_to_l1(0x400, esr, far, hpfar);
            return;
        }
        /* Everything else L2 does at EL2's door (HVC, traps L1 asked for) is L1's. */
        exit_to_l1(0x400, esr, mrs(FAR_EL2), 0);
        return;
    }
    switch (ec) {
    case EC_SYSREG:
        emulate_sysreg(frame, esr);
        break;
    case EC_ERET:
        emulate_eret();
        break;
    case EC_HVC64:
        l1_hypercall(frame, esr);
        break;
    default:
        l0_panic("cannot decode the trap from L1", esr);
    }
}

void l0_irq_lower(u64 *frame)
{
    u64 intid = mrs(ICC_IAR1_EL1) & 0xffffff;

    (void)frame;
    if (intid >= 1020)
        return;
    if (intid != VTIMER_INTID)
        l0_panic("unexpected interrupt", intid);
    if (in_l2) {
        /* L2's virtual timer: L1's virtual HCR_EL2.IMO makes it L1's to inject. The
         * switch to L1 loads L1's timer, which lowers the line before the EOI. */
        if (!(VREG(V_HCR) & HCR_IMO))
            l0_panic("L2 timer interrupt with virtual HCR_EL2.IMO = 0", intid);
        exit_to_l1(0x480, 0, 0, 0);
    } else {
        msr(CNTV_CTL_EL02, mrs(CNTV_CTL_EL02) | CNT_CTL_IMASK);
    }
    msr(ICC_EOIR1_EL1, intid);
}

/* ---- boot ------------------------------------------------------------------------------- */

#define GICD_BASE 0x08000000UL
#define GICR_BASE 0x080a0000UL
#define GICR_SGI (GICR_BASE + 0x10000)

static void gic_init(void)
{
    volatile u32 *gicd = (volatile u32 *)GICD_BASE;
    volatile u32 *gicr = (volatile u32 *)GICR_BASE;
    volatile u32 *sgi = (volatile u32 *)GICR_SGI;

    gicd[0] |= 2;                            /* GICD_CTLR.EnableGrp1 */
    gicr[0x14 / 4] &= ~2u;                   /* GICR_WAKER.ProcessorSleep */
    while (gicr[0x14 / 4] & 4)               /* ChildrenAsleep */
        ;
    sgi[0x80 / 4] |= 1u << VTIMER_INTID;     /* GICR_IGROUPR0: Group 1 */
    ((volatile unsigned char *)GICR_SGI)[0x400 + VTIMER_INTID] = 0x80;
    sgi[0x100 / 4] = 1u << VTIMER_INTID;     /* GICR_ISENABLER0 */
    msr(ICC_PMR_EL1, 0xff);
    msr(ICC_IGRPEN1_EL1, 1);
    isb();
}

void l0_main(void)
{
    u64 nv = (mrs(ID_AA64MMFR2_EL1) >> 24) & 0xf;

    msr(HCR_EL2, HCR_E2H | HCR_RW);
    isb();
    if (nv == 0)
        l0_panic("the CPU has no FEAT_NV", nv);
    nv2 = nv >= 2;
    hcr_l2 = HCR_E2H | HCR_RW | HCR_AMO | HCR_IMO | HCR_FMO | HCR_VM;
    hcr_l1 = hcr_l2 | HCR_NV | (nv2 ? HCR_NV2 : 0);
    gic_init();
    stage2_init();
    if (nv2) {
        msr(VNCR_EL2, (u64)vncr_page);
        print("L0: host hypervisor at EL2, FEAT_NV2: L1 runs with HCR_EL2.{NV,NV2} = {1,1}, VNCR page at %x\n",
              (u64)vncr_page, 0);
    } else {
        puts0("L0: host hypervisor at EL2, FEAT_NV: L1 runs with HCR_EL2.NV = 1, every EL2 access traps\n");
    }
    /* L1 starts like a hypervisor booted at EL2: MMU off, interrupts masked */
    msr(SCTLR_EL12, 0x30d00800UL);
    msr(SP_EL1, (u64)l1_stack_top);
    msr(CNTVOFF_EL2, 0);
    msr(HCR_EL2, hcr_l1);
    msr(ELR_EL2, (u64)l1_entry);
    msr(SPSR_EL2, PSTATE_EL1H_MASKED);
    isb();
}
