# Fast-snapshot benchmark guest for x86_64 on -M pc (bench/fast_snapshot.py): a raw
# 64 KiB "BIOS" image that switches to 32-bit protected mode with flat segments (as
# bench/guests/loop-x86_64.S) and runs from ROM. Protocol as bench/guests/dirty-aarch64.S;
# 32-bit hypercall convention: eax = nr, ebx = a0, ecx = a1, ret in eax.
#
# Build: as --32 -I tests/guests/include; ld -m elf_i386 -N -Ttext=0; objcopy -O binary
# (exactly 65536 bytes).

# SENTINEL, X86_PROTECTED_MODE, X86_GDT, X86_GDTR, X86_RESET_VECTOR; NR_* (common.inc)
    .include "x86.inc"

    .set CMD,         0x100000
    .set BASE,        0x200000
    .set PAGE,        4096

# Writes the round (ebp) into one word of each page in [edi, esi). Clobbers edi.
    .macro DIRTY_PAGES
1:  cmp   %esi, %edi
    jae   2f
    mov   %ebp, (%edi)
    add   $PAGE, %edi
    jmp   1b
2:
    .endm

    .text
    .globl _start
_start:
    X86_PROTECTED_MODE ds, es, ss
    movl  $0, CMD
    mov   $1, %ebp                    # the round
    mov   $NR_HELLO, %eax
    mov   $CMD, %ebx
    mov   $BASE, %ecx
    SENTINEL                          # eax = bytes to fill
    mov   $BASE, %edi
    lea   BASE(%eax), %esi
    DIRTY_PAGES
    mov   $NR_READY, %eax
    SENTINEL

wait:
    mov   CMD, %ebx
    test  %ebx, %ebx
    jz    wait
    movl  $0, CMD
    inc   %ebp
    mov   $BASE, %edi
    mov   %ebx, %esi
    shl   $12, %esi
    add   $BASE, %esi
    DIRTY_PAGES
    mov   $NR_DIRTIED, %eax
    SENTINEL                          # a0 (ebx) = n
    jmp   wait

    X86_GDT
    X86_GDTR
    X86_RESET_VECTOR
