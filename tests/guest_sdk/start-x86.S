# Guest SDK test start stub, x86 (tests/test_guest_sdk.py): a raw 64 KiB "BIOS" image
# for -M pc -nodefaults -no-reboot -bios, linked by x86.ld at 0xf0000 (the isa-bios
# alias of the image; the reset vector is the image's last 16 bytes). The CPU resets in
# real mode; this stub goes to flat 32-bit protected mode and calls the i386
# penguin_main, or (--defsym LONG=1, assembled --64) on to long mode with the first
# 1 GiB identity-mapped and calls the x86_64 penguin_main, with the boot code of
# tests/guests/include/x86.inc. The image is read-only: the C code uses only the stack.
# No IDT: a fault triple-faults, and -no-reboot then ends the run.

# X86_PROTECTED_MODE, X86_LONG_MODE, X86_GDT, X86_GDTR
    .include "x86.inc"

    .set STACK,  0x7000

    .section .text.start, "ax"
    .globl _start
_start:
    X86_PROTECTED_MODE ds, es, ss, fs, gs
    mov     $STACK, %esp
    .ifndef LONG
    call    penguin_main
1:  hlt
    jmp     1b
    .else
    X86_LONG_MODE lm64

    .code64
lm64:
    mov     $STACK, %esp                # zero-extends into rsp
    call    penguin_main
1:  hlt
    jmp     1b
    .endif

    X86_GDT long=1
    X86_GDTR

    .section .reset, "ax"
    .code16
    jmp     _start                      # f000:fff0 (phys 0xfffffff0)
    .balign 16, 0xf4
