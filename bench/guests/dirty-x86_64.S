# Fast-snapshot benchmark guest for x86_64 on -M pc (bench/fast_snapshot.py): a raw
# 64 KiB "BIOS" image that switches to 32-bit protected mode with flat segments (as
# bench/guests/loop-x86_64.S) and runs from ROM. Protocol as bench/guests/dirty-aarch64.S;
# 32-bit hypercall convention: eax = nr, ebx = a0, ecx = a1, ret in eax.
#
# Build: as --32; ld -m elf_i386 -N -Ttext=0; objcopy -O binary (exactly 65536 bytes).

    .set ROM,         0xf0000
    .set SEL_CODE32,  0x08
    .set SEL_DATA,    0x10
    .set NR_HELLO,    0x50454e60
    .set NR_READY,    0x50454e61
    .set NR_DIRTIED,  0x50454e62
    .set CMD,         0x100000
    .set BASE,        0x200000
    .set PAGE,        4096

    .macro HYPERCALL
    .byte 0xe7, 0x88                  # outl %eax,$0x88
    .endm

    .text
    .globl _start
    .code16
_start:
    cli
    cld
    lgdtl %cs:(gdtr - _start)
    mov   %cr0, %eax
    or    $1, %eax                    # CR0.PE
    mov   %eax, %cr0
    ljmpl $SEL_CODE32, $(ROM + pm32 - _start)

    .code32
pm32:
    mov   $SEL_DATA, %ax
    mov   %ax, %ds
    mov   %ax, %es
    mov   %ax, %ss
    movl  $0, CMD
    mov   $1, %ebp                    # the round
    mov   $NR_HELLO, %eax
    mov   $CMD, %ebx
    mov   $BASE, %ecx
    HYPERCALL                         # eax = bytes to fill
    mov   $BASE, %edi
    lea   BASE(%eax), %esi
1:  cmp   %esi, %edi
    jae   2f
    mov   %ebp, (%edi)
    add   $PAGE, %edi
    jmp   1b
2:  mov   $NR_READY, %eax
    HYPERCALL

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
3:  cmp   %esi, %edi
    jae   4f
    mov   %ebp, (%edi)
    add   $PAGE, %edi
    jmp   3b
4:  mov   $NR_DIRTIED, %eax
    HYPERCALL                         # a0 (ebx) = n
    jmp   wait

    .balign 8
gdt:
    .quad 0
    .quad 0x00cf9b000000ffff          # 0x08: 32-bit code, base 0, 4 GiB
    .quad 0x00cf93000000ffff          # 0x10: data, base 0, 4 GiB
gdt_end:
    .balign 8
    .word 0
gdtr:
    .word gdt_end - gdt - 1
    .long ROM + gdt - _start

    .code16
    .org 0xfff0
    jmp   _start
    .org 0x10000
