# Guest SDK test start stub, x86 (tests/test_guest_sdk.py): a raw 64 KiB "BIOS" image
# for -M pc -nodefaults -no-reboot -bios, linked by x86.ld at 0xf0000 (the isa-bios
# alias of the image; the reset vector is the image's last 16 bytes). The CPU resets in
# real mode; this stub goes to flat 32-bit protected mode and calls the i386
# penguin_main, or (--defsym LONG=1, assembled --64) on to long mode with the first
# 1 GiB identity-mapped and calls the x86_64 penguin_main. The mode switches are those
# of tests/guests/x86.S. The image is read-only: the C code uses only the stack.
# No IDT: a fault triple-faults, and -no-reboot then ends the run.

    .set STACK,  0x7000
    .set PML4,   0x1000
    .set PDPT,   0x2000
    .set PD,     0x3000
    .set SEL_CODE32, 0x08
    .set SEL_DATA,   0x10
    .set SEL_CODE64, 0x18

    .section .text.start, "ax"
    .globl _start
    .code16
_start:
    cli
    cld
    # CS base is still 0xffff0000 (reset value), the high alias of this image, so a
    # CS-relative offset from _start reaches gdtr.
    lgdtl   %cs:(gdtr - _start)
    mov     %cr0, %eax
    or      $1, %eax                    # CR0.PE
    mov     %eax, %cr0
    ljmpl   $SEL_CODE32, $pm32

    .code32
pm32:
    mov     $SEL_DATA, %ax
    mov     %ax, %ds
    mov     %ax, %es
    mov     %ax, %ss
    mov     %ax, %fs
    mov     %ax, %gs
    mov     $STACK, %esp
    .ifndef LONG
    call    penguin_main
1:  hlt
    jmp     1b
    .else
    mov     $PML4, %edi
    mov     $(3 * 4096 / 4), %ecx
    xor     %eax, %eax
    rep stosl                           # PML4, PDPT and PD start zeroed
    movl    $(PDPT | 3), PML4
    movl    $(PD | 3), PDPT
    mov     $PD, %edi
    mov     $0x83, %eax                 # present, writable, 2 MiB page
    mov     $512, %ecx
1:  mov     %eax, (%edi)
    add     $0x200000, %eax
    add     $8, %edi
    loop    1b
    mov     $PML4, %eax
    mov     %eax, %cr3
    mov     %cr4, %eax
    or      $0x20, %eax                 # CR4.PAE
    mov     %eax, %cr4
    mov     $0xc0000080, %ecx           # IA32_EFER
    rdmsr
    or      $0x100, %eax                # EFER.LME
    wrmsr
    mov     %cr0, %eax
    or      $0x80000000, %eax           # CR0.PG
    mov     %eax, %cr0
    ljmp    $SEL_CODE64, $lm64

    .code64
lm64:
    mov     $STACK, %esp                # zero-extends into rsp
    call    penguin_main
1:  hlt
    jmp     1b
    .endif

    .balign 8
# Accessed bits preset: the CPU would otherwise try to set them in ROM.
gdt:
    .quad   0
    .quad   0x00cf9b000000ffff          # 0x08: 32-bit code, base 0, 4 GiB
    .quad   0x00cf93000000ffff          # 0x10: data, base 0, 4 GiB
    .quad   0x00af9b000000ffff          # 0x18: 64-bit code (L=1)
gdt_end:
    .balign 8
    .word   0
gdtr:
    .word   gdt_end - gdt - 1
    .long   gdt

    .section .reset, "ax"
    .code16
    jmp     _start                      # f000:fff0 (phys 0xfffffff0)
    .balign 16, 0xf4
