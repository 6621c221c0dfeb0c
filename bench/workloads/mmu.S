// The memory loop (memloop.S) with the EL1&0 stage 1 MMU on, 4 KiB pages.
//
// From EL2 (armnv) the guest first drops to EL1; started at EL1 (unicorn) it
// goes straight on. It maps 0x4000_0000-0x401f_ffff, which holds the image,
// the buffers and the stack, one to one with 4 KiB pages, except that the
// page at 0x4000_0000 is an alias of src_buf. Reading the alias back proves
// that addresses are translated: if not, x19 = 3.

    .equ    RAM_BASE, 0x40000000
    .equ    PAGE_ATTRS, 0x703           // page, AttrIndx 0, EL1 RW, inner shareable, AF
    .equ    TABLE, 0x3

    .text
    .global _start
_start:
    mov     x19, #0
    mov     x14, x0
    mrs     x9, CurrentEL
    cmp     x9, #(2 << 2)
    b.ne    el1_start
    mov     x9, #(1 << 31)              // HCR_EL2.RW: EL1 is AArch64
    msr     hcr_el2, x9
    mov     x9, sp
    msr     sp_el1, x9
    mov     x9, #0x3c5                  // EL1h, DAIF masked
    msr     spsr_el2, x9
    adr     x9, el1_start
    msr     elr_el2, x9
    isb
    eret

el1_start:
    adrp    x1, l1_table
    adrp    x2, l2_table
    adrp    x3, l3_table
    orr     x9, x2, #TABLE
    str     x9, [x1, #8]                // L1[1]: 0x4000_0000-0x7fff_ffff
    orr     x9, x3, #TABLE
    str     x9, [x2]                    // L2[0]: 0x4000_0000-0x401f_ffff
    mov     x11, #PAGE_ATTRS
    movz    x9, #(RAM_BASE >> 16), lsl #16
    orr     x9, x9, x11
    mov     x10, #512
1:  str     x9, [x3], #8
    add     x9, x9, #0x1000
    subs    x10, x10, #1
    b.ne    1b
    adrp    x3, l3_table
    adrp    x9, src_buf
    orr     x9, x9, x11
    str     x9, [x3]                    // L3[0]: alias of src_buf

    mov     x9, #0xff                   // MAIR attr 0: normal, write-back
    msr     mair_el1, x9
    movz    x9, #0x3519                 // T0SZ 25, WB WA inner/outer, inner shareable, TG0 4 KiB
    movk    x9, #0x8080, lsl #16        // EPD1, TG1 4 KiB
    movk    x9, #0x1, lsl #32           // IPS 36 bits
    msr     tcr_el1, x9
    msr     ttbr0_el1, x1
    dsb     sy
    tlbi    vmalle1
    dsb     sy
    isb
    mrs     x9, sctlr_el1
    orr     x9, x9, #(1 << 0)           // M
    orr     x9, x9, #(1 << 2)           // C
    orr     x9, x9, #(1 << 12)          // I
    msr     sctlr_el1, x9
    isb

    adrp    x1, src_buf
    movz    x9, #0xbeef
    movk    x9, #0xdead, lsl #16
    str     x9, [x1]
    movz    x2, #(RAM_BASE >> 16), lsl #16
    ldr     x10, [x2]
    cmp     x9, x10
    b.eq    2f
    mov     x19, #3
    b       bench_exit
2:  mov     x0, x14
    bl      memloop
    b       bench_exit

    .bss
    .balign 4096
l1_table:
    .space  4096
l2_table:
    .space  4096
l3_table:
    .space  4096
    .text
