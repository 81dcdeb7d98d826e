// Fast-snapshot test guest for AArch64 on -M virt (tests/guests/FASTSNAP.md).
// QEMU loads the ELF at 0x40000000 and enters _start at EL1, MMU off.
//
// x19 = i, x20 = GO, x21 = BUF, x22 = SLOT, x23 = the PL011; x24..x28 are the registers
// step 4 changes; x0..x5, x8 carry the hypercalls.

// SENTINEL, PL011, PL011_ILPR; NR_FS_*, FS_BUF_LEN, FASTSNAP_LAYOUT (common.inc)
    .include "aarch64.inc"

    FASTSNAP_LAYOUT 0x40000000, 0x40100000, 0x40101000, 0x40110000  // MEM, SLOT, GO, BUF
    .equ MOVZ_X0,      0xd2800000          // movz x0, #imm16 (imm16 at bit 5)
    .equ RET,          0xd65f03c0

    .text
    .globl _start
_start:
    ldr     x20, =GO
    ldr     x21, =BUF
    ldr     x22, =SLOT
    ldr     x23, =PL011
    str     wzr, [x20]
    ldr     w0, =RET
    str     w0, [x22, #4]
    mov     x19, #1

loop:
    // 1. slot = movz x0, #(i & 0xff); call it once
    and     x0, x19, #0xff
    ldr     w1, =MOVZ_X0
    orr     w0, w1, w0, lsl #5
    str     w0, [x22]
    dc      cvau, x22
    dsb     ish
    ic      ivau, x22
    dsb     ish
    isb
    blr     x22

    // 2. device
    mov     x0, #0x5a
    eor     x0, x0, x19
    and     x0, x0, #0xff
    str     w0, [x23, #PL011_ILPR]

    // 3. RAM
    mov     x0, x21
    add     x1, x21, #FS_BUF_LEN
1:  str     w19, [x0], #4
    cmp     x0, x1
    b.ne    1b

    // 4. registers
    add     x24, x19, #0x24
    lsl     x25, x19, #25
    ror     x26, x19, #26
    mvn     x27, x19
    add     x28, x24, x25

    // 5. point
    ldr     x8, =NR_FS_POINT
    mov     x0, x19
    mov     x1, x20
    mov     x2, x21
    mov     x3, #FS_BUF_LEN
    ldr     x4, =MEM
    ldr     x5, =MEM_LEN
    SENTINEL
    cbnz    x0, 3f
2:  ldr     w9, [x20]
    cbz     w9, 2b
    str     wzr, [x20]

    // 6. report
3:  blr     x22
    mov     x1, x0
    ldr     w2, [x23, #PL011_ILPR]
    mov     x0, x19
    ldr     x8, =NR_FS_REPORT
    SENTINEL
    add     x19, x19, #1
    b       loop
