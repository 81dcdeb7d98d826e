@ Guest SDK test start stub, 32-bit ARM (tests/test_guest_sdk.py).
@ -M virt -kernel: QEMU loads the ELF at its link address (0x40000000, start of RAM) and
@ enters _start in SVC mode, ARM state, MMU off. penguin_main may be A32 or T32 code:
@ the linker turns the bl into blx for a Thumb target.
    .syntax unified
    .arch armv7-a

@ SDK_STACK (common.inc)
    .include "arm.inc"

    .arm
    .text
    .globl _start
_start:
    cpsid   aif
    ldr     sp, =stack_top
    bl      penguin_main
1:  b       1b
    .ltorg

    SDK_STACK
