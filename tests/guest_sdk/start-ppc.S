# Guest SDK test start stub, 32-bit PowerPC e500 (tests/test_guest_sdk.py).
# -M ppce500 -kernel: QEMU loads the ELF (linked at 0x100000), maps EA 0 -> PA 0 in
# TLB1[0] and enters _start in supervisor mode, external interrupts off.

# LA, SDK_STACK (common.inc)
    .include "ppc.inc"

    .text
    .globl _start
_start:
    LA      1, stack_top
    li      0, 0
    stwu    0, -16(1)            # terminating back chain
    bl      penguin_main
1:  b       1b

    SDK_STACK
