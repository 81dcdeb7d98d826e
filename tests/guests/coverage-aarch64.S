// Coverage test guest for AArch64 on -M virt (tests/guests/COVERAGE.md).
// QEMU loads the ELF at 0x40000000 and enters _start at EL1, MMU off.
//
// x19 = the input, x20 = i, x21 = the sum; x0..x5, x8 carry the hypercalls. With
// --defsym SMP=1: CPU 0 starts CPU 1 (PSCI CPU_ON through hvc) and each runs its own
// copy of the graph RUNS times on its own input, then reports.

// SENTINEL; NR_COV_* (common.inc)
    .include "aarch64.inc"

    .equ PSCI_CPU_ON,  0xc4000003
    .equ RUNS,         200
    .equ INPUT0,       0x0000b38d
    .equ INPUT1,       0x00005a61

// The graph: six blocks, each ended by a branch (COVERAGE.md).
.macro COV_CFG p
    .balign 64
\p\()_start:
    mov     x20, #0
    mov     x21, #0
    b       \p\()_loop
\p\()_loop:
    tbnz    x19, #0, \p\()_odd
\p\()_even:
    add     x21, x21, #1
    b       \p\()_join
\p\()_odd:
    add     x21, x21, #2
    b       \p\()_join
\p\()_join:
    lsr     x19, x19, #1
    add     x20, x20, #1
    cmp     x20, #16
    b.ne    \p\()_loop
\p\()_exit:
    b       \p\()_done
.endm

    .text
    .globl _start
_start:
    msr     daifset, #0xf
.ifdef SMP
    ldr     x0, =PSCI_CPU_ON
    mov     x1, #1
    ldr     x2, =cpu1
    mov     x3, #0
    hvc     #0
    ldr     x22, =RUNS
run0:
    ldr     x19, =INPUT0
    b       cfg_start
    COV_CFG cfg
cfg_done:
    subs    x22, x22, #1
    b.ne    run0
    mov     x0, #0
    mov     x1, x21
    ldr     x8, =NR_COV_DONE
    SENTINEL
1:  b       1b

cpu1:
    msr     daifset, #0xf
    ldr     x22, =RUNS
run1:
    ldr     x19, =INPUT1
    b       two_start
    COV_CFG two
two_done:
    subs    x22, x22, #1
    b.ne    run1
    mov     x0, #1
    mov     x1, x21
    ldr     x8, =NR_COV_DONE
    SENTINEL
2:  b       2b
.else
    ldr     x0, =cfg_start
    ldr     x1, =cfg_loop
    ldr     x2, =cfg_even
    ldr     x3, =cfg_odd
    ldr     x4, =cfg_join
    ldr     x5, =cfg_exit
    ldr     x8, =NR_COV_HELLO
    SENTINEL
loop:
    ldr     x8, =NR_COV_READY
    SENTINEL
    mov     x19, x0
    b       cfg_start
    COV_CFG cfg
cfg_done:
    mov     x0, x21
    ldr     x8, =NR_COV_DONE
    SENTINEL
    b       loop
.endif

    .ltorg
