/*
 * L0's stage 2: the table that runs L1 (VMID 1), and the shadow table that
 * runs L2 (VMID 2). L2's addresses go through two translations, L1's stage 2
 * (L2's IPA to L1's IPA) and L0's (L1's IPA to a physical address), but the
 * MMU does one: L0 composes them, one fault at a time, as KVM does.
 */
#include "l0.h"

/* stage 2 of L1: L1's and L2's memory, identity mapped, and the UART */
static u64 s2_l1_level1[512] __attribute__((aligned(4096)));
static u64 s2_l1_dev[512] __attribute__((aligned(4096)));
static u64 s2_l1_ram[512] __attribute__((aligned(4096)));

/* the shadow stage 2 of L2, filled on demand */
#define SHADOW_TABLES 8
static u64 shadow_level1[512] __attribute__((aligned(4096)));
static u64 shadow_pool[SHADOW_TABLES][512] __attribute__((aligned(4096)));
static int shadow_used;
static u64 shadow_of_vttbr; /* L1's virtual VTTBR_EL2 the shadow was built for */

static u64 *new_table(void)
{
    if (shadow_used == SHADOW_TABLES)
        l0_panic("shadow stage 2 full", 0);
    u64 *t = shadow_pool[shadow_used++];
    for (int i = 0; i < 512; i++)
        t[i] = 0;
    return t;
}

void shadow_reset(u64 l1_vttbr)
{
    for (int i = 0; i < 512; i++)
        shadow_level1[i] = 0;
    shadow_used = 0;
    shadow_of_vttbr = l1_vttbr;
    __asm__ volatile("dsb ishst\n tlbi alle1\n dsb ish\n isb" ::: "memory");
}

struct s2_leaf {
    u64 out;   /* output address of `ipa` */
    int shift; /* log2 of the size of the block or page that maps it */
    u64 desc;  /* the leaf descriptor */
};

/*
 * Walk a stage-2 table (4 KiB granule, VTCR_EL2.SL0 start level) for `ipa`.
 * `table_pa` turns a table's address into one L0 can read.
 */
static int s2_walk(u64 vttbr, u64 vtcr, u64 ipa, u64 (*table_pa)(u64), struct s2_leaf *leaf)
{
    int level = 2 - (int)((vtcr >> 6) & 3);
    u64 table = vttbr & S2_ADDR_MASK & ~1UL;

    if ((vtcr & 0xc000) != 0 || level < 0)
        l0_panic("stage 2 walk: only the 4 KiB granule is supported", vtcr);
    for (;; level++) {
        int shift = 12 + 9 * (3 - level);
        u64 pa = table_pa(table);
        if (pa == ~0UL)
            return 0;
        u64 desc = ((volatile u64 *)pa)[(ipa >> shift) & 511];
        if (!(desc & S2_VALID))
            return 0;
        if (level < 3 && (desc & 3) == S2_TABLE) {
            table = desc & S2_ADDR_MASK;
            continue;
        }
        if (level == 3 && (desc & 3) != S2_PAGE)
            return 0;
        u64 size = 1UL << shift;
        leaf->out = (desc & S2_ADDR_MASK & ~(size - 1)) | (ipa & (size - 1));
        leaf->shift = shift;
        leaf->desc = desc;
        return 1;
    }
}

static u64 l0_phys(u64 pa)
{
    return pa;
}

/* L1's IPAs are L0's stage 2 of L1 away from physical addresses. */
static u64 l1_ipa_to_pa(u64 ipa)
{
    struct s2_leaf leaf;

    if (!s2_walk((u64)s2_l1_level1, VTCR_4G_L1, ipa, l0_phys, &leaf))
        return ~0UL;
    return leaf.out;
}

/*
 * A stage-2 fault of L2 at `ipa`: if L1 maps the address (and L0 maps L1's
 * output), install the combined translation in the shadow table and return 1;
 * return 0 when the fault is L1's to handle.
 */
int shadow_fill(u64 ipa, u64 l1_hcr, u64 l1_vttbr, u64 l1_vtcr)
{
    struct s2_leaf l1, l0;

    if (l1_hcr & HCR_VM) {
        if (!s2_walk(l1_vttbr, l1_vtcr, ipa, l1_ipa_to_pa, &l1))
            return 0;
    } else {
        l1.out = ipa;
        l1.shift = 30;
        l1.desc = S2_AP_RW | S2_MEM_NORMAL | S2_SH_INNER;
    }
    if (!s2_walk((u64)s2_l1_level1, VTCR_4G_L1, l1.out, l0_phys, &l0))
        l0_panic("L1 maps L2 to memory L1 does not own", l1.out);
    int shift = l1.shift < l0.shift ? l1.shift : l0.shift;
    if (shift > 21)
        shift = 21;
    u64 size = 1UL << shift;
    u64 attrs = (l1.desc & (0xfUL << 2 | 3UL << 8)) | (l1.desc & l0.desc & S2_AP_RW) | S2_AF |
                ((l1.desc | l0.desc) & S2_XN);
    u64 desc = (l0.out & ~(size - 1) & S2_ADDR_MASK) | attrs;

    if (ipa >> 32)
        return 0;
    u64 *l2t = (u64 *)(shadow_level1[ipa >> 30] & S2_ADDR_MASK);
    if (!(shadow_level1[ipa >> 30] & S2_VALID)) {
        l2t = new_table();
        shadow_level1[ipa >> 30] = (u64)l2t | S2_TABLE;
    }
    if (shift == 21) {
        l2t[(ipa >> 21) & 511] = desc | S2_BLOCK;
    } else {
        u64 *l3t = (u64 *)(l2t[(ipa >> 21) & 511] & S2_ADDR_MASK);
        if (!(l2t[(ipa >> 21) & 511] & S2_VALID)) {
            l3t = new_table();
            l2t[(ipa >> 21) & 511] = (u64)l3t | S2_TABLE;
        }
        l3t[(ipa >> 12) & 511] = desc | S2_PAGE;
    }
    dsb();
    return 1;
}


void stage2_init(void)
{
    s2_l1_level1[0] = (u64)s2_l1_dev | S2_TABLE;
    s2_l1_level1[1] = (u64)s2_l1_ram | S2_TABLE;
    s2_l1_dev[UART_BASE >> 21] = UART_BASE | S2_BLOCK | S2_MEM_DEVICE | S2_AP_RW | S2_AF | S2_XN;
    for (u64 pa = 0x40200000; pa < 0x40800000; pa += 1UL << 21)
        s2_l1_ram[(pa >> 21) & 511] = pa | S2_BLOCK | S2_MEM_NORMAL | S2_AP_RW | S2_SH_INNER | S2_AF;
    dsb();
    msr(VTCR_EL2, VTCR_4G_L1);
    msr(VTTBR_EL2, stage2_l1_vttbr());
}

u64 stage2_l1_vttbr(void)
{
    return (u64)s2_l1_level1 | VMID_L1 << 48;
}

u64 shadow_vttbr(u64 l1_vttbr)
{
    if (l1_vttbr != shadow_of_vttbr)
        shadow_reset(l1_vttbr);
    return (u64)shadow_level1 | VMID_L2 << 48;
}
