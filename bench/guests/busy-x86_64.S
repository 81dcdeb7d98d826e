# CPU-bound benchmark guest for x86_64 (bench/guest_speed.py): a 64 KiB raw -bios image
# that runs in real mode from the reset vector, ITER iterations of a load, add, xor,
# store loop on 32-bit registers, then writes isa-debug-exit (iobase 0xf4), which exits
# QEMU with status 33. Stock QEMU and the library run it unchanged: no hypercall.

# X86_RESET_VECTOR
    .include "x86.inc"

    .code16
    .text
    .globl _start
_start:
    cli
    xor   %ax, %ax
    mov   %ax, %ds
    mov   $ITER, %ecx
    mov   $0x1000, %bx           # scratch word in RAM (the image itself is ROM)
    xor   %edx, %edx
1:  mov   (%bx), %eax
    add   %ecx, %eax
    xor   %eax, %edx
    mov   %eax, (%bx)
    dec   %ecx
    jnz   1b
    mov   $0xf4, %dx
    mov   $0x10, %al             # exit status (0x10 << 1) | 1 = 33
    out   %al, %dx
2:  hlt
    jmp   2b
    X86_RESET_VECTOR
