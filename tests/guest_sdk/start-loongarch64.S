# Guest SDK test start stub, loongarch64 (tests/test_guest_sdk.py). -M virt -cpu la464
# -kernel: QEMU starts the ELF at PLV0 in direct-address mode, interrupts off.
    .text
    .globl _start
_start:
    la.local $sp, stack_top
    bl      penguin_main
1:  b       1b

    .bss
    .balign 16
    .space  16384
stack_top:
