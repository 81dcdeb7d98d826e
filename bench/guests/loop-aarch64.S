// Hypercall-rate benchmark guest for AArch64 (bench/hypercall_rate.py).
//
// Boots bare metal on `-M virt -cpu cortex-a57 -kernel` (EL1, MMU off) and makes:
//   NR_START once, then ITER x NR_LOOP in a tight loop, then NR_DONE once, then spins.
// Assembled with --defsym ITER=<n>; with --defsym NOOP=1 the loop's sentinel
// (0xd500501f) is replaced by `nop` (0xd503201f): same length, not the sentinel.
//
// x8 = nr, x0..x5 = a0..a5, x0 = return value; x19 = counter, x20 = a0.

// SENTINEL, load_a1_a5; NR_LOOP, NR_DONE, NR_START, A*_64 (common.inc)
    .include "aarch64.inc"

    .text
    .globl _start
_start:
    msr     daifset, #0xf
    ldr     x20, =A0_64
    load_a1_a5
    ldr     x19, =ITER

    mov     x0, x20
    ldr     x8, =NR_START
    SENTINEL                            // the host's clock starts here

    ldr     x8, =NR_LOOP
    // Four instructions per iteration.
loop:
    mov     x0, x20                     // a0 (the previous return value overwrote x0)
    .ifdef NOOP
    nop
    .else
    SENTINEL
    .endif
    subs    x19, x19, #1
    b.ne    loop

    ldr     x8, =NR_DONE                // a0 = the last return value (still in x0)
    SENTINEL                            // the host stops its clock and the VM
1:  b       1b

    .ltorg
