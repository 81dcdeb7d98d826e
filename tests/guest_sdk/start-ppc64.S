# Guest SDK test start stub, 64-bit PowerPC on pseries, big- or little-endian
# (--defsym LE=1) (tests/test_guest_sdk.py). pseries without firmware loads the -bios
# image raw at 0 and enters it at 0x100 in real mode, big-endian, MSR[SF] = 0.
    .text
    .globl _start
_start:
    .org    0x100
    .ifdef LE
    # FIXUP_ENDIAN (Linux arch/powerpc/include/asm/ppc_asm.h), as tests/guests/ppc64.S.
    tdi     0, 0, 0x48
    b       191f
    .long   0xa600607d, 0x01006b69, 0x00004039, 0x6401417d, 0x05009f42
    .long   0xa602487d, 0x14004a39, 0xa6035a7d, 0xa6037b7d, 0x2400004c
191:
    .endif
    # 64-bit mode: set MSR[SF] through rfid.
    mfmsr   11
    li      12, 1
    sldi    12, 12, 63
    or      11, 11, 12
    lis     10, 1f@ha
    addi    10, 10, 1f@l
    mtsrr0  10
    mtsrr1  11
    rfid
1:
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
