// Fast-snapshot benchmark guest for AArch64 on -M virt (bench/fast_snapshot.py).
// Bare metal at EL1, MMU off, loaded at 0x40000000 (the start of RAM).
//
// NR_HELLO (a0 = CMD, a1 = BASE) returns how many bytes from BASE to fill: the guest
// writes one word into each page of them (pages in use, not zero pages), then makes
// NR_READY and spins on the word at CMD. A nonzero n there: the guest clears it, writes
// one word into each of the n pages from BASE, makes NR_DIRTIED (a0 = n) and spins again.
//
// x19 = CMD, x20 = BASE, x21 = the round (the value written).

// SENTINEL; NR_HELLO, NR_READY, NR_DIRTIED (common.inc)
    .include "aarch64.inc"

    .equ CMD,        0x40100000
    .equ BASE,       0x40200000
    .equ PAGE,       4096

    .text
    .globl _start
_start:
    msr     daifset, #0xf
    ldr     x19, =CMD
    ldr     x20, =BASE
    str     wzr, [x19]
    mov     x21, #1
    ldr     x8, =NR_HELLO
    mov     x0, x19
    mov     x1, x20
    SENTINEL                            // x0 = bytes to fill
    mov     x1, x20
    add     x2, x20, x0
1:  cmp     x1, x2
    b.hs    2f
    str     x21, [x1]
    add     x1, x1, #PAGE
    b       1b
2:  ldr     x8, =NR_READY
    SENTINEL

wait:
    ldr     w0, [x19]
    cbz     w0, wait
    str     wzr, [x19]
    add     x21, x21, #1
    mov     x1, x20
    add     x2, x20, x0, lsl #12
3:  cmp     x1, x2
    b.hs    4f
    str     x21, [x1]
    add     x1, x1, #PAGE
    b       3b
4:  ldr     x8, =NR_DIRTIED
    SENTINEL                            // a0 = n
    b       wait
