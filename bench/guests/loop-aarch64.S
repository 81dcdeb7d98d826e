// Hypercall-rate benchmark guest for AArch64 (bench/hypercall_rate.py).
//
// Boots bare metal on `-M virt -cpu cortex-a57 -kernel` (EL1, MMU off) and makes:
//   NR_START once, then ITER x NR_LOOP in a tight loop, then NR_DONE once, then spins.
// Assembled with --defsym ITER=<n>; with --defsym NOOP=1 the loop's sentinel
// (0xd500501f) is replaced by `nop` (0xd503201f): same length, not the sentinel.
//
// x8 = nr, x0..x5 = a0..a5, x0 = return value; x19 = counter, x20 = a0.

    .equ NR_LOOP,  0x50454e42
    .equ NR_DONE,  0x50454e43
    .equ NR_START, 0x50454e44

    .text
    .globl _start
_start:
    msr     daifset, #0xf
    ldr     x20, =0x1111111111111111
    ldr     x1, =0x2222222222222222
    ldr     x2, =0x3333333333333333
    ldr     x3, =0x4444444444444444
    ldr     x4, =0x5555555555555555
    ldr     x5, =0x6666666666666666
    ldr     x19, =ITER

    mov     x0, x20
    ldr     x8, =NR_START
    .inst   0xd500501f                  // SENTINEL: the host's clock starts here

    ldr     x8, =NR_LOOP
    // Four instructions per iteration.
loop:
    mov     x0, x20                     // a0 (the previous return value overwrote x0)
    .ifdef NOOP
    nop
    .else
    .inst   0xd500501f                  // SENTINEL msr S0_0_C5_C0_0, xzr
    .endif
    subs    x19, x19, #1
    b.ne    loop

    ldr     x8, =NR_DONE                // a0 = the last return value (still in x0)
    .inst   0xd500501f                  // SENTINEL: the host stops its clock and the VM
1:  b       1b

    .ltorg
