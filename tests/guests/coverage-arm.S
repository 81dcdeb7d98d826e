@ Coverage test guest for 32-bit ARM on -M virt (tests/guests/COVERAGE.md).
@ QEMU loads the ELF at 0x40000000 and enters _start in SVC mode, ARM state, MMU off.
@
@ r8 = the input, r9 = i, r10 = the sum; r0..r5, r7 carry the hypercalls.

    .syntax unified
    .arch armv7-a
    .arm

@ SENTINEL, li; NR_COV_* (common.inc)
    .include "arm.inc"

@ The graph: six blocks, each ended by a branch (COVERAGE.md).
.macro COV_CFG p
    .balign 64
\p\()_start:
    mov     r9, #0
    mov     r10, #0
    b       \p\()_loop
\p\()_loop:
    tst     r8, #1
    bne     \p\()_odd
\p\()_even:
    add     r10, r10, #1
    b       \p\()_join
\p\()_odd:
    add     r10, r10, #2
    b       \p\()_join
\p\()_join:
    lsr     r8, r8, #1
    add     r9, r9, #1
    cmp     r9, #16
    bne     \p\()_loop
\p\()_exit:
    b       \p\()_done
.endm

    .text
    .globl _start
_start:
    li      r0, cfg_start
    li      r1, cfg_loop
    li      r2, cfg_even
    li      r3, cfg_odd
    li      r4, cfg_join
    li      r5, cfg_exit
    li      r7, NR_COV_HELLO
    SENTINEL
loop:
    li      r7, NR_COV_READY
    SENTINEL
    mov     r8, r0
    b       cfg_start
    COV_CFG cfg
cfg_done:
    mov     r0, r10
    li      r7, NR_COV_DONE
    SENTINEL
    b       loop
