/*
 * L1, the guest hypervisor. It is written as a VHE hypervisor at EL2 (it
 * reads CurrentEL = 2 and keeps HCR_EL2.E2H = 1 in its HCR_EL2), runs one
 * guest, L2, and switches worlds the way KVM does: on every entry into the
 * guest it loads the guest's whole EL1 context through the *_EL12 accessors
 * and its own EL2 controls, and on every exit it saves them back. That is
 * exactly the code FEAT_NV makes expensive (each of those accesses traps to
 * L0) and FEAT_NV2 makes cheap (most become loads and stores to L0's VNCR
 * page).
 *
 * L1 gives L2 its memory through its stage 2 and leaves the UART out of it:
 * the guest's UART accesses are stage-2 faults that L1 emulates (an always
 * ready PL011 transmitter), writing the bytes to the real UART, which L0 lets
 * L1 use directly.
 */
#include "nested.h"

#define VMID 1UL

/* KVM's guest HCR_EL2 on a VHE host: stage 2 on, interrupts to the hypervisor */
#define HCR_GUEST (HCR_E2H | HCR_RW | HCR_AMO | HCR_IMO | HCR_FMO | HCR_VM)
#define HCR_HOST (HCR_E2H | HCR_TGE | HCR_RW)
/* CPTR_EL2 in its E2H layout: FP/SIMD open to the host, trapped for the guest */
#define CPTR_HOST (3UL << 20)
#define CPTR_GUEST 0UL
/* MDCR_EL2: the guest's debug and PMU accesses trap (TDRA, TDOSA, TDA, TPM, TPMCR) */
#define MDCR_GUEST ((1UL << 11) | (1UL << 10) | (1UL << 9) | (1UL << 6) | (1UL << 5))
#define MDCR_HOST 0UL
/* CNTHCTL_EL2 (E2H layout): the host reaches the EL1 physical counter and timer */
#define CNTHCTL_HOST ((1UL << 10) | (1UL << 11))
#define CNTHCTL_GUEST (1UL << 10)

enum {
    SCTLR, CPACR, TTBR0, TTBR1, TCR, ESR, AFSR0, AFSR1, FAR, MAIR, VBAR, CONTEXTIDR, AMAIR,
    CNTKCTL, PAR, TPIDR, SP_EL1_, ELR, SPSR, CSSELR, TPIDR0, TPIDRRO0, SP_EL0_, NR_SYSREGS
};

struct vcpu {
    u64 x[31];       /* offsets 0..240: l1_entry.S relies on them */
    u64 pc, pstate;  /* the guest's ELR_EL2 and SPSR_EL2 */
    u64 esr, far, hpfar;
    u64 sys[NR_SYSREGS];
    u64 vpidr, vmpidr, vttbr, vtcr;
    u64 cntvoff, cntv_ctl, cntv_cval;
    u64 ich_hcr, ich_vmcr, ich_lr[4], ich_ap0r0, ich_ap1r0;
};

static struct vcpu vcpu;
static u64 s2_level1[512] __attribute__((aligned(4096)));
static u64 s2_level2[512] __attribute__((aligned(4096)));

/* L1's reading of CurrentEL.EL, kept where a debugger (or a test) can look */
volatile u64 l1_current_el;
static u64 hypercalls, injected;

extern char l2_entry[];
u64 l1_guest_enter(struct vcpu *v);

static void print(const char *fmt, u64 a, u64 b)
{
    u64 args[2] = {a, b};
    format(pl011_putc, fmt, args);
}

static void __attribute__((noreturn)) fail(u64 esr)
{
    register u64 x0 __asm__("x0") = HVC_L1_FAILED;
    register u64 x1 __asm__("x1") = esr;
    __asm__ volatile("hvc #0" ::"r"(x0), "r"(x1));
    for (;;)
        ;
}

/* ---- the world switch ------------------------------------------------------------------ */

static void activate_traps(struct vcpu *v)
{
    msr(HCR_EL2, HCR_GUEST);
    msr(CPTR_EL2, CPTR_GUEST);
    msr(MDCR_EL2, MDCR_GUEST);
    msr(CNTHCTL_EL2, CNTHCTL_GUEST);
    msr(VPIDR_EL2, v->vpidr);
    msr(VMPIDR_EL2, v->vmpidr);
    msr(VTCR_EL2, v->vtcr);
    msr(VTTBR_EL2, v->vttbr);
}

static void deactivate_traps(void)
{
    msr(HCR_EL2, HCR_HOST);
    msr(CPTR_EL2, CPTR_HOST);
    msr(MDCR_EL2, MDCR_HOST);
    msr(CNTHCTL_EL2, CNTHCTL_HOST);
}

/* The guest's EL1 registers: with E2H = 1 the *_EL12 names reach them; the
 * registers VHE does not redirect (PAR, TPIDR, CSSELR, EL0 ones) are named directly. */
#define GUEST_EL1(X)                                                                               \
    X(SCTLR_EL12, SCTLR)                                                                           \
    X(CPACR_EL12, CPACR)                                                                           \
    X(TTBR0_EL12, TTBR0)                                                                           \
    X(TTBR1_EL12, TTBR1)                                                                           \
    X(TCR_EL12, TCR)                                                                               \
    X(ESR_EL12, ESR)                                                                               \
    X(AFSR0_EL12, AFSR0)                                                                           \
    X(AFSR1_EL12, AFSR1)                                                                           \
    X(FAR_EL12, FAR)                                                                               \
    X(MAIR_EL12, MAIR)                                                                             \
    X(VBAR_EL12, VBAR)                                                                             \
    X(CONTEXTIDR_EL12, CONTEXTIDR)                                                                 \
    X(AMAIR_EL12, AMAIR)                                                                           \
    X(CNTKCTL_EL12, CNTKCTL)                                                                       \
    X(PAR_EL1, PAR)                                                                                \
    X(TPIDR_EL1, TPIDR)                                                                            \
    X(SP_EL1, SP_EL1_)                                                                             \
    X(ELR_EL12, ELR)                                                                               \
    X(SPSR_EL12, SPSR)                                                                             \
    X(CSSELR_EL1, CSSELR)                                                                          \
    X(TPIDR_EL0, TPIDR0)                                                                           \
    X(TPIDRRO_EL0, TPIDRRO0)                                                                       \
    X(SP_EL0, SP_EL0_)

#define RESTORE(enc, i) msr(enc, v->sys[i]);
#define SAVE(enc, i) v->sys[i] = mrs(enc);

static void sysreg_restore_guest(struct vcpu *v)
{
    GUEST_EL1(RESTORE)
    msr(CNTVOFF_EL2, v->cntvoff);
    msr(CNTV_CVAL_EL02, v->cntv_cval);
    msr(CNTV_CTL_EL02, v->cntv_ctl);
    msr(ELR_EL2, v->pc);
    msr(SPSR_EL2, v->pstate);
}

static void sysreg_save_guest(struct vcpu *v)
{
    v->pc = mrs(ELR_EL2);
    v->pstate = mrs(SPSR_EL2);
    GUEST_EL1(SAVE)
    v->cntv_ctl = mrs(CNTV_CTL_EL02);
    v->cntv_cval = mrs(CNTV_CVAL_EL02);
}

static void vgic_restore(struct vcpu *v)
{
    msr(ICH_HCR_EL2, v->ich_hcr);
    msr(ICH_VMCR_EL2, v->ich_vmcr);
    msr(ICH_AP0R0_EL2, v->ich_ap0r0);
    msr(ICH_AP1R0_EL2, v->ich_ap1r0);
    msr(ICH_LR0_EL2, v->ich_lr[0]);
    msr(ICH_LR1_EL2, v->ich_lr[1]);
    msr(ICH_LR2_EL2, v->ich_lr[2]);
    msr(ICH_LR3_EL2, v->ich_lr[3]);
}

static void vgic_save(struct vcpu *v)
{
    v->ich_vmcr = mrs(ICH_VMCR_EL2);
    v->ich_ap0r0 = mrs(ICH_AP0R0_EL2);
    v->ich_ap1r0 = mrs(ICH_AP1R0_EL2);
    v->ich_lr[0] = mrs(ICH_LR0_EL2);
    v->ich_lr[1] = mrs(ICH_LR1_EL2);
    v->ich_lr[2] = mrs(ICH_LR2_EL2);
    v->ich_lr[3] = mrs(ICH_LR3_EL2);
    msr(ICH_HCR_EL2, 0);
}

static u64 vcpu_run(struct vcpu *v)
{
    activate_traps(v);
    sysreg_restore_guest(v);
    vgic_restore(v);
    u64 kind = l1_guest_enter(v);
    vgic_save(v);
    sysreg_save_guest(v);
    if (kind == 0) {
        v->esr = mrs(ESR_EL2);
        v->far = mrs(FAR_EL2);
        if (ESR_EC(v->esr) == EC_DABT_LOW || ESR_EC(v->esr) == EC_IABT_LOW)
            v->hpfar = mrs(HPFAR_EL2);
    }
    deactivate_traps();
    return kind;
}

/* ---- exit handling ---------------------------------------------------------------------- */

/* The guest's UART: a PL011 whose transmitter is always ready. */
static void handle_mmio(struct vcpu *v)
{
    u64 ipa = (v->hpfar & 0xffffffffff0UL) << 8 | (v->far & 0xfff);
    u64 iss = v->esr & 0x1ffffff;
    int isv = (iss >> 24) & 1, srt = (iss >> 16) & 31, wnr = (iss >> 6) & 1;

    if (!isv || ipa - UART_BASE >= 0x1000)
        fail(v->esr);
    if (wnr && ipa == UART_BASE + UART_DR)
        pl011_putc((char)(srt == 31 ? 0 : v->x[srt]));
    else if (!wnr && srt != 31)
        v->x[srt] = 0; /* FR: transmitter never full; other registers read as zero */
    v->pc += 4;
}

/* The guest's virtual timer fired: mask it at the timer (as KVM does) and
 * give the guest its interrupt through a list register. */
static void handle_irq(struct vcpu *v)
{
    u64 ctl = v->cntv_ctl;

    if (!(ctl & CNT_CTL_ENABLE) || !(ctl & CNT_CTL_ISTATUS) || (ctl & CNT_CTL_IMASK))
        return;
    v->cntv_ctl = ctl | CNT_CTL_IMASK;
    for (int i = 0; i < 4; i++) {
        if ((v->ich_lr[i] >> 62) == 0) {
            /* State = pending, Group 1, priority 0xa0, vINTID 27 */
            v->ich_lr[i] = 1UL << 62 | 1UL << 60 | 0xa0UL << 48 | VTIMER_INTID;
            injected++;
            return;
        }
    }
    fail(0);
}

/* 1 = keep running the guest, 0 = the guest has powered off */
static int handle_exit(struct vcpu *v, u64 kind)
{
    if (kind == 1) {
        handle_irq(v);
        return 1;
    }
    switch (ESR_EC(v->esr)) {
    case EC_HVC64:
        if (v->x[0] == PSCI_SYSTEM_OFF)
            return 0;
        if (v->x[0] != HVC_PING)
            fail(v->esr);
        v->x[0] = ++hypercalls;
        return 1;
    case EC_DABT_LOW:
        handle_mmio(v);
        return 1;
    default:
        fail(v->esr);
    }
}

/* ---- boot -------------------------------------------------------------------------------- */

void l1_main(void)
{
    l1_current_el = (mrs(CURRENTEL) >> 2) & 3;
    print("L1: guest hypervisor running, CurrentEL = EL%d\n", l1_current_el, 0);

    msr(HCR_EL2, HCR_HOST);
    msr(CPTR_EL2, CPTR_HOST);
    msr(CNTHCTL_EL2, CNTHCTL_HOST);

    /* L2's memory: its kernel and its userspace, 2 MiB each, at the same addresses */
    s2_level1[1] = (u64)s2_level2 | S2_TABLE;
    for (u64 ipa = 0x40400000; ipa < 0x40800000; ipa += 1UL << 21)
        s2_level2[(ipa >> 21) & 511] = ipa | S2_BLOCK | S2_MEM_NORMAL | S2_AP_RW | S2_SH_INNER | S2_AF;
    dsb();
    vcpu.vtcr = VTCR_4G_L1;
    vcpu.vttbr = (u64)s2_level1 | VMID << 48;
    msr(VTCR_EL2, vcpu.vtcr);
    msr(VTTBR_EL2, vcpu.vttbr);
    __asm__ volatile("tlbi vmalls12e1\n dsb ish\n isb" ::: "memory");

    /* L2 starts like a kernel booted at EL1: MMU off, interrupts masked */
    vcpu.pc = (u64)l2_entry;
    vcpu.pstate = PSTATE_EL1H_MASKED;
    vcpu.sys[SCTLR] = 0x30d00800UL;
    vcpu.vpidr = 0x410fd0f0UL;
    vcpu.vmpidr = 0x80000000UL;
    vcpu.ich_hcr = 1; /* ICH_HCR_EL2.En */

    while (handle_exit(&vcpu, vcpu_run(&vcpu)))
        ;
    print("L1: L2 powered off after %d hypercalls and %d injected timer interrupt(s)\n", hypercalls, injected);
    register u64 x0 __asm__("x0") = PSCI_SYSTEM_OFF;
    __asm__ volatile("hvc #0" ::"r"(x0));
    for (;;)
        ;
}
