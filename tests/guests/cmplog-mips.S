# Compare-tracking test guest for 32-bit MIPS on -M malta (tests/guests/CMPLOG.md),
# built as mips.S's o32 builds. The malta boot stub enters _start in kernel mode.

    .set noreorder          # every delay slot below is filled by hand

# SENTINEL, PLA; NR_CMP_*, NR_COV_READY (common.inc)
    .include "mips.inc"

    .text
    .globl _start
_start:
    PLA  $4, rtn
    PLA  $5, cmps
    PLA  $6, cmps_end
    PLA  $7, left
    PLA  $8, right
    li   $2, NR_CMP_HELLO
    SENTINEL
loop:
    li   $2, NR_COV_READY
    SENTINEL
    li   $16, 0x11223344
    li   $17, 0x55667788
    li   $18, 0x1000
    jal  cmps
    nop
    li   $19, 0xdeadbeef
    beq  $19, $18, 1f           # outside the range: never logged
    nop
1:  PLA  $4, left
    PLA  $5, right
    jal  rtn
    nop
    li   $2, NR_CMP_DONE
    SENTINEL
    b    loop
    nop

    .balign 64
cmps:
    beq  $16, $17, 1f           # 4 bytes: 0x11223344, 0x55667788
    nop
1:  slti $8, $18, 0x123         # 4 bytes, immediate: 0x1000, 0x123
    li   $9, 0x41
    bne  $16, $9, 2f            # 4 bytes: 0x11223344, 0x41
    nop
2:  li   $11, 0x600d600d
    move $12, $11
    beq  $11, $12, 3f           # equal operands: never logged
    nop
3:  jr   $31
    nop
cmps_end:

# A strcmp-like routine: the host logs what a0 and a1 point to at its entry.
rtn:
    move $10, $4
0:  lbu  $8, 0($10)
    lbu  $9, 0($5)
    bne  $8, $9, 1f
    addiu $10, $10, 1
    bnez $8, 0b
    addiu $5, $5, 1
1:  jr   $31
    subu $2, $8, $9

left:   .asciz  "penguin-routine-left"
right:  .asciz  "penguin-routine-right"
