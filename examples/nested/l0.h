/*
 * What L0's two translation units share: the host hypervisor's trap handling
 * and world switch (l0_hyp.c) and its stage-2 tables (l0_stage2.c).
 */
#ifndef L0_H
#define L0_H

#include "nested.h"

#define VMID_L1 1UL
#define VMID_L2 2UL

/* Print `L0 panic: <what> ESR=... ELR=...` and exit with status 0x4C. */
void __attribute__((noreturn)) l0_panic(const char *what, u64 esr);

/* Build L1's stage 2 and load VTCR_EL2/VTTBR_EL2 to run L1. */
void stage2_init(void);
/* VTTBR_EL2 to run L1 (VMID 1). */
u64 stage2_l1_vttbr(void);
/* VTTBR_EL2 to run L2 (VMID 2) under the shadow of L1's stage 2 `l1_vttbr`;
 * a shadow built for another table is dropped. */
u64 shadow_vttbr(u64 l1_vttbr);
/* Drop the shadow: L1 changed or invalidated its stage 2. */
void shadow_reset(u64 l1_vttbr);
/* L2 took a stage-2 translation fault at `ipa`: install the composed mapping and return 1,
 * or return 0 when L1's stage 2 (virtual HCR_EL2, VTTBR_EL2, VTCR_EL2) does not map it. */
int shadow_fill(u64 ipa, u64 l1_hcr, u64 l1_vttbr, u64 l1_vtcr);

#endif
