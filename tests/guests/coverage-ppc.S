# Coverage test guest for PowerPC (tests/guests/COVERAGE.md): 32-bit e500 on -M ppce500
# (linked at 0x100000: QEMU maps EA 0.. to PA 0 and enters _start in supervisor mode),
# and with --defsym PPC64=1 64-bit big-endian on -M pseries (the -bios image raw at 0,
# entered at 0x100 in real mode).
#
# r20 = the input, r21 = i, r22 = the sum, r23 scratch; r0, r3..r8 carry the hypercalls.

# SENTINEL, LI32, LA; NR_COV_* (common.inc)
    .include "ppc.inc"

# The graph: six blocks, each ended by a branch (COVERAGE.md).
.macro COV_CFG p
    .balign 64
\p\()_start:
    li      21, 0
    li      22, 0
    b       \p\()_loop
\p\()_loop:
    andi.   23, 20, 1
    bne     0, \p\()_odd
\p\()_even:
    addi    22, 22, 1
    b       \p\()_join
\p\()_odd:
    addi    22, 22, 2
    b       \p\()_join
\p\()_join:
    srwi    20, 20, 1
    addi    21, 21, 1
    cmpwi   21, 16
    bne     0, \p\()_loop
\p\()_exit:
    b       \p\()_done
.endm

    .text
    .globl _start
_start:
.ifdef PPC64
    .org  0x100
.else
    li    3, -1                 # the decrementer at its maximum (FASTSNAP's reason)
    mtdec 3
.endif
    LA      3, cfg_start
    LA      4, cfg_loop
    LA      5, cfg_even
    LA      6, cfg_odd
    LA      7, cfg_join
    LA      8, cfg_exit
    LI32    0, NR_COV_HELLO
    SENTINEL
loop:
    LI32    0, NR_COV_READY
    SENTINEL
    mr      20, 3
    b       cfg_start
    COV_CFG cfg
cfg_done:
    mr      3, 22
    LI32    0, NR_COV_DONE
    SENTINEL
    b       loop
