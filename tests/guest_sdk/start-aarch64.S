// Guest SDK test start stub, AArch64 (tests/test_guest_sdk.py).
// -M virt -cpu cortex-a57 -kernel: QEMU loads the ELF at 0x40000000 and enters _start
// at EL1, MMU off. The C code is built with -mgeneral-regs-only (FP/SIMD stays trapped).

// SDK_STACK (common.inc)
    .include "aarch64.inc"

    .text
    .globl _start
_start:
    msr     daifset, #0xf
    ldr     x0, =stack_top
    mov     sp, x0
    bl      penguin_main
1:  b       1b
    .ltorg

    SDK_STACK
