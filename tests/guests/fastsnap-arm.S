@ Fast-snapshot test guest for 32-bit ARM on -M virt (tests/guests/FASTSNAP.md).
@ QEMU loads the ELF at 0x40000000 and enters _start in SVC mode, ARM state, MMU off.
@
@ r8 = i, r9 = GO, r10 = BUF, r11 = SLOT, r12 = the PL011; r6 and sp are the registers
@ step 4 changes (nothing here uses a stack); r0..r5, r7 carry the hypercalls.

    .syntax unified
    .arch armv7-a
    .arm

@ SENTINEL, li, PL011, PL011_ILPR; NR_FS_*, FS_BUF_LEN, FASTSNAP_LAYOUT (common.inc)
    .include "arm.inc"

    FASTSNAP_LAYOUT 0x40000000, 0x40100000, 0x40101000, 0x40110000  @ MEM, SLOT, GO, BUF
    .equ MOV_R0,       0xe3a00000          @ mov r0, #imm8
    .equ BX_LR,        0xe12fff1e

    .text
    .globl _start
_start:
    li      r9, GO
    li      r10, BUF
    li      r11, SLOT
    li      r12, PL011
    mov     r0, #0
    str     r0, [r9]
    li      r0, BX_LR
    str     r0, [r11, #4]
    mov     r8, #1

loop:
    @ 1. slot = mov r0, #(i & 0xff); call it once
    and     r0, r8, #0xff
    li      r1, MOV_R0
    orr     r0, r0, r1
    str     r0, [r11]
    mcr     p15, 0, r11, c7, c11, 1     @ DCCMVAU
    dsb
    mcr     p15, 0, r11, c7, c5, 1      @ ICIMVAU
    dsb
    isb
    blx     r11

    @ 2. device
    eor     r0, r8, #0x5a
    and     r0, r0, #0xff
    str     r0, [r12, #PL011_ILPR]

    @ 3. RAM
    mov     r0, r10
    add     r1, r10, #FS_BUF_LEN
1:  str     r8, [r0], #4
    cmp     r0, r1
    bne     1b

    @ 4. registers
    add     r6, r8, #0x66
    mvn     sp, r8

    @ 5. point
    li      r7, NR_FS_POINT
    mov     r0, r8
    mov     r1, r9
    mov     r2, r10
    mov     r3, #FS_BUF_LEN
    li      r4, MEM
    li      r5, MEM_LEN
    SENTINEL
    cmp     r0, #0
    bne     3f
2:  ldr     r0, [r9]
    cmp     r0, #0
    beq     2b
    mov     r0, #0
    str     r0, [r9]

    @ 6. report
3:  blx     r11
    mov     r1, r0
    ldr     r2, [r12, #PL011_ILPR]
    mov     r0, r8
    li      r7, NR_FS_REPORT
    SENTINEL
    add     r8, r8, #1
    b       loop
