# Compare-tracking test guest for RV64 on -M virt -bios none (tests/guests/CMPLOG.md).
# QEMU's reset stub enters _start at 0x80000000 in M-mode.

# SENTINEL; NR_CMP_*, NR_COV_READY (common.inc)
    .include "riscv64.inc"

    .text
    .globl _start
_start:
    la   a0, rtn
    la   a1, cmps
    la   a2, cmps_end
    la   a3, left
    la   a4, right
    li   a7, NR_CMP_HELLO
    SENTINEL
loop:
    li   a7, NR_COV_READY
    SENTINEL
    li   s1, 0x1122334455667788
    li   s2, 0x1122334455667799
    li   s3, 0x1000
    call cmps
    li   s4, 0xdeadbeef
    beq  s4, s3, 1f             # outside the range: never logged
1:  la   a0, left
    la   a1, right
    call rtn
    li   a7, NR_CMP_DONE
    SENTINEL
    j    loop

    .balign 64
cmps:
    beq  s1, s2, 1f             # 8 bytes: 0x1122334455667788, ...99
1:  slti t0, s3, 0x123          # 8 bytes, immediate: 0x1000, 0x123
    li   t1, 0x41424344
    bne  s3, t1, 2f             # 8 bytes: 0x1000, 0x41424344
2:  li   t3, 0x600d600d
    mv   t4, t3
    beq  t3, t4, 3f             # equal operands: never logged
3:  ret
cmps_end:

# A strcmp-like routine: the host logs what a0 and a1 point to at its entry.
rtn:
    mv   t2, a0
0:  lbu  t0, 0(t2)
    lbu  t1, 0(a1)
    bne  t0, t1, 1f
    addi t2, t2, 1
    addi a1, a1, 1
    bnez t0, 0b
1:  sub  a0, t0, t1
    ret

left:   .asciz  "penguin-routine-left"
right:  .asciz  "penguin-routine-right"
