# Guest SDK test start stub, 64-bit PowerPC on pseries, big- or little-endian
# (--defsym LE=1) (tests/test_guest_sdk.py). pseries without firmware loads the -bios
# image raw at 0 and enters it at 0x100 in real mode, big-endian, MSR[SF] = 0.

# PPC64_FIXUP_ENDIAN, PPC64_MODE
    .include "ppc.inc"

    .text
    .globl _start
_start:
    .org    0x100
    PPC64_FIXUP_ENDIAN
    PPC64_MODE
    lis     2, .TOC.@ha          # TOC pointer (both ABIs); the image is linked at 0
    addi    2, 2, .TOC.@l
    lis     1, stack_top@ha
    addi    1, 1, stack_top@l
    li      0, 0
    stdu    0, -256(1)           # terminating back chain, room for any ABI's frame
    bl      penguin_main
    nop
2:  b       2b

    # Exception vectors 0x200..0x1fff: spin (no exception is expected; the test then
    # times out instead of running into the C code). The C code starts at 0x2000.
    .org    0x180
    .rept   (0x2000 - 0x180) / 4
    b       .
    .endr
    .balign 16
    .space  16384
stack_top:
