# Coverage test guest for RV64 on -M virt -bios none (tests/guests/COVERAGE.md).
# QEMU's reset stub enters _start at 0x80000000 in M-mode with a0 = the hart id, on
# every hart at once.
#
# s1 = the input, s2 = i, s3 = the sum, t0 scratch; a0..a5, a7 carry the hypercalls.
# With --defsym SMP=1 (-smp 2): each hart runs its own copy of the graph RUNS times on
# its own input, then reports.

# SENTINEL; NR_COV_* (common.inc)
    .include "riscv64.inc"

    .equ RUNS,         200
    .equ INPUT0,       0x0000b38d
    .equ INPUT1,       0x00005a61

# The graph: six blocks, each ended by a branch (COVERAGE.md).
.macro COV_CFG p
    .balign 64
\p\()_start:
    li   s2, 0
    li   s3, 0
    j    \p\()_loop
\p\()_loop:
    andi t0, s1, 1
    bnez t0, \p\()_odd
\p\()_even:
    addi s3, s3, 1
    j    \p\()_join
\p\()_odd:
    addi s3, s3, 2
    j    \p\()_join
\p\()_join:
    srli s1, s1, 1
    addi s2, s2, 1
    li   t0, 16
    bne  s2, t0, \p\()_loop
\p\()_exit:
    j    \p\()_done
.endm

    .text
    .globl _start
_start:
.ifdef SMP
    bnez a0, hart1
    li   s4, RUNS
run0:
    li   s1, INPUT0
    j    cfg_start
    COV_CFG cfg
cfg_done:
    addi s4, s4, -1
    bnez s4, run0
    li   a0, 0
    mv   a1, s3
    li   a7, NR_COV_DONE
    SENTINEL
1:  j    1b

hart1:
    li   s4, RUNS
run1:
    li   s1, INPUT1
    j    two_start
    COV_CFG two
two_done:
    addi s4, s4, -1
    bnez s4, run1
    li   a0, 1
    mv   a1, s3
    li   a7, NR_COV_DONE
    SENTINEL
2:  j    2b
.else
    bnez a0, 1f                 # one hart
    la   a0, cfg_start
    la   a1, cfg_loop
    la   a2, cfg_even
    la   a3, cfg_odd
    la   a4, cfg_join
    la   a5, cfg_exit
    li   a7, NR_COV_HELLO
    SENTINEL
loop:
    li   a7, NR_COV_READY
    SENTINEL
    mv   s1, a0
    j    cfg_start
    COV_CFG cfg
cfg_done:
    mv   a0, s3
    li   a7, NR_COV_DONE
    SENTINEL
    j    loop
1:  wfi
    j    1b
.endif
