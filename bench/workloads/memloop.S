// The memory loop shared by the `mem` and `mmu` workloads.
//
// memloop: x0 iterations. src_buf (64 KiB) holds k * 0x9e3779b97f4a7c15 in
// word k; iteration i stores i into word 0, copies src_buf to dst_buf with
// LDP/STP and folds dst_buf into a checksum (acc = word ^ rol(acc, 1)), so a
// copy that went wrong in any iteration changes the result.
// Out: x16 = iterations done, x20 = sum of the per-iteration checksums.

    .equ    BUF_WORDS, 8192

    .text
memloop:
    mov     x15, x0
    adrp    x12, src_buf
    add     x12, x12, :lo12:src_buf
    adrp    x13, dst_buf
    add     x13, x13, :lo12:dst_buf
    movz    x4, #0x7c15
    movk    x4, #0x7f4a, lsl #16
    movk    x4, #0x79b9, lsl #32
    movk    x4, #0x9e37, lsl #48
    mov     x1, x12
    mov     x5, #0
    mov     x6, #BUF_WORDS
1:  str     x5, [x1], #8
    add     x5, x5, x4
    subs    x6, x6, #1
    b.ne    1b

    mov     x16, #0
    mov     x20, #0
2:  str     x16, [x12]
    mov     x1, x12
    mov     x2, x13
    mov     x6, #BUF_WORDS / 2
3:  ldp     x7, x8, [x1], #16
    stp     x7, x8, [x2], #16
    subs    x6, x6, #1
    b.ne    3b
    mov     x2, x13
    mov     x5, #0
    mov     x6, #BUF_WORDS
4:  ldr     x7, [x2], #8
    eor     x5, x7, x5, ror #63
    subs    x6, x6, #1
    b.ne    4b
    add     x20, x20, x5
    add     x16, x16, #1
    cmp     x16, x15
    b.ne    2b
    ret

    .bss
    .balign 4096
src_buf:
    .space  BUF_WORDS * 8
dst_buf:
    .space  BUF_WORDS * 8
    .text
