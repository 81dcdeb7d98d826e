# Guest SDK test start stub, RV64 (tests/test_guest_sdk.py). -M virt -bios none
# -kernel: QEMU's reset stub enters at 0x80000000 in M-mode, interrupts off.
# Linked with --no-relax, so nothing needs gp.

# SDK_STACK (common.inc)
    .include "riscv64.inc"

    .text
    .globl _start
_start:
    la      sp, stack_top
    call    penguin_main
1:  j       1b

    SDK_STACK
