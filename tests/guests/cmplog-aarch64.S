// Compare-tracking test guest for AArch64 on -M virt (tests/guests/CMPLOG.md).
// QEMU loads the ELF at 0x40000000 and enters _start at EL1, MMU off.

// SENTINEL; NR_CMP_*, NR_COV_READY (common.inc)
    .include "aarch64.inc"

    .text
    .globl _start
_start:
    msr     daifset, #0xf
    ldr     x0, =stack_top
    mov     sp, x0
    ldr     x0, =rtn
    ldr     x1, =cmps
    ldr     x2, =cmps_end
    ldr     x3, =left
    ldr     x4, =right
    ldr     x8, =NR_CMP_HELLO
    SENTINEL
loop:
    ldr     x8, =NR_COV_READY
    SENTINEL
    ldr     x1, =0x11223344
    ldr     x2, =0x55667788
    ldr     x3, =0x1122334455667788
    ldr     x4, =0x1122334455667799
    mov     x5, #0x1000
    ldr     x6, =0xdeadbeef
    bl      cmps
    cmp     x6, x5                      // outside the range: never logged
    b.eq    1f
1:  ldr     x0, =left
    ldr     x1, =right
    bl      rtn
    ldr     x8, =NR_CMP_DONE
    SENTINEL
    b       loop

    .balign 64
cmps:
    cmp     w1, w2                      // 4 bytes: 0x11223344, 0x55667788
    b.eq    1f
1:  cmp     x5, #0x123                  // 8 bytes, immediate: 0x1000, 0x123
    b.lo    2f
2:  cmp     x3, x4                      // 8 bytes: 0x1122334455667788, ...99
    b.ne    3f
3:  ldr     x7, =0x600d600d
    mov     x8, x7
    cmp     x7, x8                      // equal operands: never logged
    b.eq    4f
4:  ret
cmps_end:

// A strcmp-like routine: the host logs what x0 and x1 point to at its entry.
rtn:
    mov     x4, x0
0:  ldrb    w2, [x4], #1
    ldrb    w3, [x1], #1
    cmp     w2, w3
    b.ne    1f
    cbnz    w2, 0b
1:  sub     w0, w2, w3
    ret

    .ltorg
left:   .asciz  "penguin-routine-left"
right:  .asciz  "penguin-routine-right"

    .bss
    .balign 16
    .space  4096
stack_top:
