# Coverage test guest for the MIPS targets on -M malta (tests/guests/COVERAGE.md).
# One source, four builds as mips.S: o32 for mips and mipsel, n64 (--defsym N64=1,
# -msym32) for mips64 and mips64el. The malta boot stub enters _start in kernel mode.
#
# $16 = the input, $17 = i, $18 = the sum, $8 scratch; v0 and $4..$9 carry the
# hypercalls.

    .set noreorder          # every delay slot below is filled by hand

# SENTINEL, PLA; NR_COV_* (common.inc)
    .include "mips.inc"

# The graph: six blocks, each ended by a branch and its delay slot (COVERAGE.md).
.macro COV_CFG p
    .balign 64
\p\()_start:
    li   $17, 0
    b    \p\()_loop
    li   $18, 0
\p\()_loop:
    andi $8, $16, 1
    bnez $8, \p\()_odd
    nop
\p\()_even:
    b    \p\()_join
    addiu $18, $18, 1
\p\()_odd:
    b    \p\()_join
    addiu $18, $18, 2
\p\()_join:
    srl  $16, $16, 1
    addiu $17, $17, 1
    li   $8, 16
    bne  $17, $8, \p\()_loop
    nop
\p\()_exit:
    b    \p\()_done
    nop
.endm

    .text
    .globl _start
_start:
    PLA  $4, cfg_start
    PLA  $5, cfg_loop
    PLA  $6, cfg_even
    PLA  $7, cfg_odd
    PLA  $8, cfg_join
    PLA  $9, cfg_exit
    li   $2, NR_COV_HELLO
    SENTINEL
loop:
    li   $2, NR_COV_READY
    SENTINEL
    move $16, $2
    b    cfg_start
    nop
    COV_CFG cfg
cfg_done:
    move $4, $18
    li   $2, NR_COV_DONE
    SENTINEL
    b    loop
    nop
