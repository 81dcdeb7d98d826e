# Hypercall-rate benchmark guest for x86_64 (bench/hypercall_rate.py).
#
# A raw 64 KiB "BIOS" image for qemu-system-x86_64 -M pc -nodefaults -bios loop.bin.
# The CPU resets in real mode; we switch to 32-bit protected mode (as tests/guests/x86.S
# does) and run the loop there: NR_START once, ITER x NR_LOOP, NR_DONE once, then halt.
# 32-bit convention: nr = eax, a0..a5 = ebx ecx edx esi edi ebp, return value in eax.
# The sentinel is `outl %eax,$0x88` (e7 88). With --defsym NOOP=1 it is replaced by the
# 2-byte no-op `xchg %ax,%ax` (66 90): same length, touches no state. (An OUT to another
# port would not be a no-op: it goes through QEMU's I/O dispatch, so it would measure
# "hypercall vs. port write" rather than the hypercall's cost over doing nothing.)
#
# All six argument registers are taken, so the loop counter lives in esp: nothing here
# uses the stack, interrupts are off and no exception is expected.
#
# Build: as --32 --defsym ITER=<n> [--defsym NOOP=1]; ld -m elf_i386 -N -Ttext=0;
#        objcopy -O binary (exactly 65536 bytes).

    .set ROM,         0xf0000        # linear address of the image's first byte
    .set SEL_CODE32,  0x08
    .set SEL_DATA,    0x10

    .set NR_LOOP,     0x50454e42
    .set NR_DONE,     0x50454e43
    .set NR_START,    0x50454e44

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
    mov   %ax, %fs
    mov   %ax, %gs

    mov   $0x11111111, %ebx
    mov   $0x22222222, %ecx
    mov   $0x33333333, %edx
    mov   $0x44444444, %esi
    mov   $0x55555555, %edi
    mov   $0x66666666, %ebp
    mov   $ITER, %esp                 # the loop counter (see above)

    mov   $NR_START, %eax
    .byte 0xe7, 0x88                  # SENTINEL: the host's clock starts here

    # Four instructions per iteration.
loop:
    mov   $NR_LOOP, %eax              # nr (the previous return value overwrote eax)
    .ifdef NOOP
    .byte 0x66, 0x90                  # xchg %ax,%ax
    .else
    .byte 0xe7, 0x88                  # SENTINEL outl %eax,$0x88
    .endif
    dec   %esp
    jnz   loop

    mov   %eax, %ebx                  # a0 of NR_DONE: the last return value
    mov   $NR_DONE, %eax
    .byte 0xe7, 0x88                  # SENTINEL: the host stops its clock and the VM
1:  hlt
    jmp   1b

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
    jmp   _start                      # f000:fff0 (phys 0xfffffff0)
    .org 0x10000
