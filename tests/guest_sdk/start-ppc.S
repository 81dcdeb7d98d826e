# Guest SDK test start stub, 32-bit PowerPC e500 (tests/test_guest_sdk.py).
# -M ppce500 -kernel: QEMU loads the ELF (linked at 0x100000), maps EA 0 -> PA 0 in
# TLB1[0] and enters _start in supervisor mode, external interrupts off.
    .text
    .globl _start
_start:
    lis     1, stack_top@ha
    addi    1, 1, stack_top@l
    li      0, 0
    stwu    0, -16(1)            # terminating back chain
    bl      penguin_main
1:  b       1b

    .bss
    .balign 16
    .space  16384
stack_top:
