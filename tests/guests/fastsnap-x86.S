# Fast-snapshot test guest for x86 on -M pc (tests/guests/FASTSNAP.md): a raw 64 KiB
# "BIOS" image, as x86.S. The CPU resets in real mode at f000:fff0; the guest goes to
# 32-bit protected mode with flat segments and runs there from ROM, with the code slot,
# GO, i and BUF in RAM below 640 KiB. 32-bit hypercall convention: eax = nr, a0..a5 =
# ebx ecx edx esi edi ebp, so i lives in RAM (I) across the calls.
#
# Step 4 changes st0 (x87, loaded with i) and fs (null or the data segment by i's parity).
#
# Build: as --32; ld -m elf_i386 -N -Ttext=0; objcopy -O binary (exactly 65536 bytes).

    .set ROM,          0xf0000      # linear address of the image's first byte
    .set COM1_SCR,     0x3ff
    .set STACK,        0x7000
    .set SLOT,         0x8000
    .set GO,           0x9000
    .set I,            0x9004
    .set BUF,          0x10000
    .set BUF_LEN,      0x4000
    .set MEM,          0
    .set MEM_LEN,      BUF + BUF_LEN - MEM
    .set SEL_CODE32,   0x08
    .set SEL_DATA,     0x10
    .set NR_FS_POINT,  0x50454e40
    .set NR_FS_REPORT, 0x50454e41

    .macro HYPERCALL
    .byte 0xe7, 0x88                # outl %eax,$0x88
    .endm

    .text
    .globl _start
    .code16
_start:
    cli
    cld
    lgdtl %cs:(gdtr - _start)       # CS base is 0xffff0000 here: this image's high alias
    mov   %cr0, %eax
    or    $1, %eax                  # CR0.PE
    mov   %eax, %cr0
    ljmpl $SEL_CODE32, $(ROM + pm32 - _start)

    .code32
pm32:
    mov   $SEL_DATA, %ax
    mov   %ax, %ds
    mov   %ax, %es
    mov   %ax, %ss
    mov   %ax, %gs
    mov   $STACK, %esp
    movl  $0, GO
    movb  $0xb8, SLOT               # mov $imm32, %eax
    movb  $0xc3, SLOT + 5           # ret
    movl  $1, I

loop:
    # 1. slot = mov $(i & 0xff), %eax; call it once
    movzbl I, %eax
    mov   %eax, SLOT + 1
    mov   $SLOT, %eax
    call  *%eax

    # 2. device
    mov   I, %eax
    xor   $0x5a, %al
    mov   $COM1_SCR, %dx
    out   %al, %dx

    # 3. RAM
    mov   I, %eax
    mov   $BUF, %edi
    mov   $(BUF_LEN / 4), %ecx
    rep stosl

    # 4. registers
    fninit
    fildl I
    mov   I, %eax
    and   $1, %eax
    shl   $4, %eax                  # 0 or SEL_DATA
    mov   %ax, %fs

    # 5. point
    mov   $NR_FS_POINT, %eax
    mov   I, %ebx
    mov   $GO, %ecx
    mov   $BUF, %edx
    mov   $BUF_LEN, %esi
    mov   $MEM, %edi
    mov   $MEM_LEN, %ebp
    HYPERCALL
    test  %eax, %eax
    jnz   3f
2:  cmpl  $0, GO
    je    2b
    movl  $0, GO

    # 6. report
3:  mov   $SLOT, %eax
    call  *%eax
    mov   %eax, %ecx
    mov   $COM1_SCR, %dx
    xor   %eax, %eax
    in    %dx, %al
    mov   %eax, %edx
    mov   I, %ebx
    mov   $NR_FS_REPORT, %eax
    HYPERCALL
    incl  I
    jmp   loop

    .balign 8
# Accessed bits preset (type 9b/93): the CPU would otherwise try to set them in ROM.
gdt:
    .quad 0
    .quad 0x00cf9b000000ffff        # 0x08: 32-bit code, base 0, 4 GiB
    .quad 0x00cf93000000ffff        # 0x10: data, base 0, 4 GiB
gdt_end:
    .balign 8
    .word 0
gdtr:
    .word gdt_end - gdt - 1
    .long ROM + gdt - _start

    .code16
    .org 0xfff0
    jmp   _start                    # f000:fff0
    .org 0x10000
