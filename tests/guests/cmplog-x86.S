# Compare-tracking test guest for x86_64 on -M pc (tests/guests/CMPLOG.md): a raw
# 64 KiB "BIOS" image, as x86.S, that goes on to long mode (the first 1 GiB identity
# mapped) and runs 64-bit code from ROM. 64-bit hypercall convention: rax = nr,
# a0..a5 = rdi rsi rdx r10 r8 r9.

# SENTINEL, X86_PROTECTED_MODE, X86_LONG_MODE, X86_GDT, X86_GDTR, X86_RESET_VECTOR;
# NR_CMP_*, NR_COV_READY (common.inc)
    .include "x86.inc"

    .set STACK,        0x7000

    .text
    .globl _start
_start:
    X86_PROTECTED_MODE ds, es, ss
    mov   $STACK, %esp
    X86_LONG_MODE lm64

    .code64
lm64:
    mov   $STACK, %esp
    mov   $(ROM + rtn - _start), %edi
    mov   $(ROM + cmps - _start), %esi
    mov   $(ROM + cmps_end - _start), %edx
    mov   $(ROM + left - _start), %r10d
    mov   $(ROM + right - _start), %r8d
    mov   $NR_CMP_HELLO, %eax
    SENTINEL
loop:
    mov   $NR_COV_READY, %eax
    SENTINEL
    mov   $(ROM + cmps - _start), %eax
    call  *%rax
    mov   $0xdeadbeef, %ecx
    cmp   $0x1000, %ecx                 # outside the range: never logged
    je    1f
1:  mov   $(ROM + left - _start), %edi
    mov   $(ROM + right - _start), %esi
    mov   $(ROM + rtn - _start), %eax
    call  *%rax
    mov   $NR_CMP_DONE, %eax
    SENTINEL
    jmp   loop

    .balign 64
cmps:
    mov   $0x5a, %eax
    cmp   $0x41, %al                    # 1 byte: 0x5a, 0x41
    jne   1f
1:  mov   $0x6655, %eax
    cmp   $0x1234, %ax                  # 2 bytes: 0x6655, 0x1234
    je    2f
2:  mov   $0x11223344, %eax
    mov   $0x55667788, %ebx
    cmp   %ebx, %eax                    # 4 bytes: 0x11223344, 0x55667788
    jne   3f
3:  movabs $0x1122334455667788, %rax
    movabs $0x1122334455667799, %rbx
    cmp   %rbx, %rax                    # 8 bytes: 0x1122334455667788, ...99
    je    4f
4:  mov   $0x11223344, %eax
    cmp   $0x12345678, %eax             # 4 bytes, unsigned below: 0x11223344, ...
    jb    5f
5:  mov   $0x600d600d, %eax
    mov   %eax, %ebx
    cmp   %ebx, %eax                    # equal operands: never logged
    je    6f
6:  ret
cmps_end:

# A strcmp-like routine: the host logs what rdi and rsi point to at its entry.
rtn:
    mov   %rdi, %rdx
0:  movzbl (%rdx), %eax
    movzbl (%rsi), %ecx
    inc   %rdx
    inc   %rsi
    cmp   %ecx, %eax
    jne   1f
    test  %eax, %eax
    jnz   0b
1:  sub   %ecx, %eax
    ret

left:   .asciz  "penguin-routine-left"
right:  .asciz  "penguin-routine-right"

    X86_GDT long=1
    X86_GDTR
    X86_RESET_VECTOR
