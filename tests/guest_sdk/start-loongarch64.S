# Guest SDK test start stub, loongarch64 (tests/test_guest_sdk.py). -M virt -cpu la464
# -kernel: QEMU starts the ELF at PLV0 in direct-address mode, interrupts off.

# SDK_STACK (common.inc)
    .include "loongarch64.inc"

    .text
    .globl _start
_start:
    la.local $sp, stack_top
    bl      penguin_main
1:  b       1b

    SDK_STACK
