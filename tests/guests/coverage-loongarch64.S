# Coverage test guest for loongarch64 on -M virt (tests/guests/COVERAGE.md).
# QEMU loads the ELF (linked at 0x200000) and starts it at PLV0 in direct-address mode.
#
# $r23 = the input, $r24 = i, $r25 = the sum, $r12 scratch; a0..a5 ($r4..$r9) and a7
# ($r11) carry the hypercalls.

# SENTINEL; NR_COV_* (common.inc)
    .include "loongarch64.inc"

# The graph: six blocks, each ended by a branch (COVERAGE.md).
.macro COV_CFG p
    .balign 64
\p\()_start:
    li.d    $r24, 0
    li.d    $r25, 0
    b       \p\()_loop
\p\()_loop:
    andi    $r12, $r23, 1
    bnez    $r12, \p\()_odd
\p\()_even:
    addi.d  $r25, $r25, 1
    b       \p\()_join
\p\()_odd:
    addi.d  $r25, $r25, 2
    b       \p\()_join
\p\()_join:
    srli.d  $r23, $r23, 1
    addi.d  $r24, $r24, 1
    li.d    $r12, 16
    bne     $r24, $r12, \p\()_loop
\p\()_exit:
    b       \p\()_done
.endm

    .text
    .globl _start
_start:
    la.abs  $r4, cfg_start
    la.abs  $r5, cfg_loop
    la.abs  $r6, cfg_even
    la.abs  $r7, cfg_odd
    la.abs  $r8, cfg_join
    la.abs  $r9, cfg_exit
    li.w    $r11, NR_COV_HELLO
    SENTINEL
loop:
    li.w    $r11, NR_COV_READY
    SENTINEL
    move    $r23, $r4
    b       cfg_start
    COV_CFG cfg
cfg_done:
    move    $r4, $r25
    li.w    $r11, NR_COV_DONE
    SENTINEL
    b       loop
