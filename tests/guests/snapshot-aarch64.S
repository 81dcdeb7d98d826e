// Snapshot test guest (tests/test_snapshot.py), AArch64 on -M virt:
// count in a register and in RAM, and report both with every hypercall, so the host
// can see a loaded snapshot bring both back to the values saved.

// SENTINEL; NR_TICK (common.inc)
    .include "aarch64.inc"

    .text
    .globl _start
_start:
    ldr   x20, =0x40200000          // the RAM counter, away from the image
    mov   x21, #0                   // the register counter
    str   x21, [x20]
1:  add   x21, x21, #1
    ldr   x22, [x20]
    add   x22, x22, #1
    str   x22, [x20]
    movz  x8, #(NR_TICK & 0xffff)
    movk  x8, #(NR_TICK >> 16), lsl #16
    mov   x0, x21
    mov   x1, x22
    SENTINEL                        // a0 = register count, a1 = RAM count
    b     1b
