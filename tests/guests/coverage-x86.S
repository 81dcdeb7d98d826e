# Coverage test guest for x86 on -M pc (tests/guests/COVERAGE.md): a raw 64 KiB "BIOS"
# image, as x86.S. The CPU resets in real mode at f000:fff0; the guest goes to flat
# 32-bit protected mode and runs from ROM (linear ROM + offset). 32-bit hypercall
# convention: eax = nr, a0..a5 = ebx ecx edx esi edi ebp.
#
# esi = the input, edi = i, ebp = the sum.

# SENTINEL, X86_PROTECTED_MODE, X86_GDT, X86_GDTR, X86_RESET_VECTOR; NR_COV_*
# (common.inc)
    .include "x86.inc"

    .set STACK,        0x7000

# The graph: six blocks, each ended by a jump (COVERAGE.md).
.macro COV_CFG p
    .balign 64
\p\()_start:
    xor   %edi, %edi
    xor   %ebp, %ebp
    jmp   \p\()_loop
\p\()_loop:
    test  $1, %esi
    jnz   \p\()_odd
\p\()_even:
    inc   %ebp
    jmp   \p\()_join
\p\()_odd:
    add   $2, %ebp
    jmp   \p\()_join
\p\()_join:
    shr   $1, %esi
    inc   %edi
    cmp   $16, %edi
    jne   \p\()_loop
\p\()_exit:
    jmp   \p\()_done
.endm

    .text
    .globl _start
_start:
    X86_PROTECTED_MODE ds, es, ss
    mov   $STACK, %esp
    mov   $(ROM + cfg_start - _start), %ebx
    mov   $(ROM + cfg_loop - _start), %ecx
    mov   $(ROM + cfg_even - _start), %edx
    mov   $(ROM + cfg_odd - _start), %esi
    mov   $(ROM + cfg_join - _start), %edi
    mov   $(ROM + cfg_exit - _start), %ebp
    mov   $NR_COV_HELLO, %eax
    SENTINEL
loop:
    mov   $NR_COV_READY, %eax
    SENTINEL
    mov   %eax, %esi
    jmp   cfg_start
    COV_CFG cfg
cfg_done:
    mov   %ebp, %ebx
    mov   $NR_COV_DONE, %eax
    SENTINEL
    jmp   loop

    X86_GDT
    X86_GDTR
    X86_RESET_VECTOR
