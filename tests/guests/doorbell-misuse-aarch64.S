/*
 * Stores to Penguin's Arm doorbell that must not ring it, and two that must
 * (tests/test_doorbell_misuse.py). Bare metal on virt, MMU off (the doorbell
 * is Device memory). Every attempt names itself in x0 and keeps NR_PROBE in
 * x8, so the host sees exactly which ones rang:
 *   1  str w, the plain store: rings
 *   2  stp w, w    3  stp x, x    4  str x with post-index write-back
 *   5  ldxr/stxr   6  stadd (LSE) 7  swp (LSE)   8  str h (16 bits)
 *   9  fw_cfg's DMA engine writing 4 bytes to the doorbell
 *  10  NR_WRITE_BACK with a0 = the doorbell: the host's callback writes 8
 *      bytes at a0 (into the doorbell itself) and answers 0x600d
 * then NR_DONE with x0 = what attempt 10 answered. None of 2-9 may ring: KVM
 * cannot hand such a store to user space (no valid syndrome), and a device's
 * DMA or the host's own write is not the guest's store.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
    .arch   armv8.1-a
    .equ DOORBELL,      0x09fff000
    .equ FW_CFG_DMA,    0x09020010
    .equ NR_PROBE,      0x50454e90
    .equ NR_WRITE_BACK, 0x50454e91
    .equ NR_DONE,       0x50454e92

    .text
    .globl _start
_start:
    ldr     x16, =DOORBELL
    ldr     x8, =NR_PROBE
    mov     x9, #0x99
    mov     x10, #0xaa

    mov     x0, #1
    str     w9, [x16]
    mov     x0, #2
    stp     w9, w10, [x16]
    mov     x0, #3
    stp     x9, x10, [x16]
    mov     x0, #4
    mov     x17, x16
    str     x9, [x17], #8
    mov     x0, #5
    ldxr    x12, [x16]
    stxr    w11, x9, [x16]
    mov     x0, #6
    stadd   w9, [x16]
    mov     x0, #7
    swp     w9, w12, [x16]
    mov     x0, #8
    strh    w9, [x16]

    /* fw_cfg DMA: FWCfgDmaAccess (big-endian) { SELECT | READ of key 0, 4 bytes,
     * to the doorbell }, its address written to the DMA register. */
    mov     x0, #9
    ldr     x15, =dma
    ldr     w11, =0x0a000000
    str     w11, [x15]
    ldr     w11, =0x04000000
    str     w11, [x15, #4]
    rev     x11, x16
    str     x11, [x15, #8]
    ldr     x12, =FW_CFG_DMA
    rev     x11, x15
    str     x11, [x12]

    ldr     x8, =NR_WRITE_BACK
    mov     x0, x16
    str     w9, [x16]
    ldr     x8, =NR_DONE
    str     w9, [x16]
1:  wfi
    b       1b
    .ltorg

    .data
    .balign 16
dma:
    .space 16
