# Guest SDK test start stub, MIPS o32 (mips, mipsel) and n64 (--defsym N64=1:
# mips64, mips64el) (tests/test_guest_sdk.py). -M malta -kernel: QEMU's boot stub
# jumps to the ELF entry in kernel mode, interrupts off. The C code is built with
# -mno-abicalls -G0 (-msym32 for n64), so it needs no $gp.
    .set noreorder

# PADDIU, SDK_STACK (common.inc)
    .include "mips.inc"

    .text
    .globl _start
_start:
    lui     $sp, %hi(stack_top)
    PADDIU  $sp, $sp, %lo(stack_top)
    jal     penguin_main
    nop
1:  b       1b
    nop

    SDK_STACK
