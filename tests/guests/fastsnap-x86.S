# Fast-snapshot test guest for x86 on -M pc (tests/guests/FASTSNAP.md): a raw 64 KiB
# "BIOS" image, as x86.S. The CPU resets in real mode at f000:fff0; the guest goes to
# 32-bit protected mode with flat segments and runs there from ROM, with the code slot,
# GO, i and BUF in RAM below 640 KiB. 32-bit hypercall convention: eax = nr, a0..a5 =
# ebx ecx edx esi edi ebp, so i lives in RAM (I) across the calls.
#
# Step 4 changes st0 (x87, loaded with i) and fs (null or the data segment by i's parity).
#
# Build: as --32 -I include; ld -m elf_i386 -N -Ttext=0; objcopy -O binary (exactly
# 65536 bytes).

# COM1_SCR, SENTINEL, X86_PROTECTED_MODE, X86_GDT, X86_GDTR, X86_RESET_VECTOR;
# NR_FS_*, FS_BUF_LEN, FASTSNAP_LAYOUT (common.inc)
    .include "x86.inc"

    .set STACK,        0x7000
    .set I,            0x9004
    FASTSNAP_LAYOUT 0, 0x8000, 0x9000, 0x10000   # MEM, SLOT, GO, BUF

    .text
    .globl _start
_start:
    X86_PROTECTED_MODE ds, es, ss, gs   # fs is a register step 4 changes
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
    mov   $(FS_BUF_LEN / 4), %ecx
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
    mov   $FS_BUF_LEN, %esi
    mov   $MEM, %edi
    mov   $MEM_LEN, %ebp
    SENTINEL
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
    SENTINEL
    incl  I
    jmp   loop

    X86_GDT
    X86_GDTR
    X86_RESET_VECTOR
