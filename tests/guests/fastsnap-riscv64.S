# Fast-snapshot test guest for RV64 on -M virt -bios none (tests/guests/FASTSNAP.md).
# QEMU's reset stub enters _start at 0x80000000 in M-mode with interrupts off.
#
# s1 = i, s2 = GO, s3 = BUF, s4 = SLOT, s5 = the 16550; s6..s9 are the registers step 4
# changes; a0..a5, a7 carry the hypercalls.

# SENTINEL, UART, UART_SCR; NR_FS_*, FS_BUF_LEN, FASTSNAP_LAYOUT (common.inc)
    .include "riscv64.inc"

    FASTSNAP_LAYOUT 0x80000000, 0x80100000, 0x80101000, 0x80110000  # MEM, SLOT, GO, BUF
    .equ ADDI_A0,      0x00000513   # addi a0, zero, imm12 (imm at bit 20)
    .equ RET,          0x00008067   # jalr zero, 0(ra)

    .text
    .globl _start
_start:
    li    s2, GO
    li    s3, BUF
    li    s4, SLOT
    li    s5, UART
    sw    zero, 0(s2)
    li    t0, RET
    sw    t0, 4(s4)
    li    s1, 1

loop:
    # 1. slot = addi a0, zero, (i & 0xff); call it once
    andi  t0, s1, 0xff
    slli  t0, t0, 20
    ori   t0, t0, ADDI_A0
    sw    t0, 0(s4)
    fence.i
    jalr  ra, 0(s4)

    # 2. device
    xori  t0, s1, 0x5a
    andi  t0, t0, 0xff
    sb    t0, UART_SCR(s5)

    # 3. RAM
    mv    t0, s3
    li    t1, FS_BUF_LEN
    add   t1, t1, s3
1:  sw    s1, 0(t0)
    addi  t0, t0, 4
    bne   t0, t1, 1b

    # 4. registers
    addi  s6, s1, 0x66
    slli  s7, s1, 37
    not   s8, s1
    xor   s9, s6, s7

    # 5. point
    li    a7, NR_FS_POINT
    mv    a0, s1
    mv    a1, s2
    mv    a2, s3
    li    a3, FS_BUF_LEN
    li    a4, MEM
    li    a5, MEM_LEN
    SENTINEL
    bnez  a0, 3f
2:  lw    t0, 0(s2)
    beqz  t0, 2b
    sw    zero, 0(s2)

    # 6. report
3:  jalr  ra, 0(s4)
    mv    a1, a0
    lbu   a2, UART_SCR(s5)
    mv    a0, s1
    li    a7, NR_FS_REPORT
    SENTINEL
    addi  s1, s1, 1
    j     loop
