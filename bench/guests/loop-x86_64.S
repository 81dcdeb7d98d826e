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
# Build: as --32 -I tests/guests/include --defsym ITER=<n> [--defsym NOOP=1];
#        ld -m elf_i386 -N -Ttext=0; objcopy -O binary (exactly 65536 bytes).

# SENTINEL, X86_PROTECTED_MODE, X86_GDT, X86_GDTR, X86_RESET_VECTOR; NR_*, A*_32
# (common.inc)
    .include "x86.inc"

    .text
    .globl _start
_start:
    X86_PROTECTED_MODE ds, es, ss, fs, gs

    mov   $A0_32, %ebx
    mov   $A1_32, %ecx
    mov   $A2_32, %edx
    mov   $A3_32, %esi
    mov   $A4_32, %edi
    mov   $A5_32, %ebp
    mov   $ITER, %esp                 # the loop counter (see above)

    mov   $NR_START, %eax
    SENTINEL                          # the host's clock starts here

    # Four instructions per iteration.
loop:
    mov   $NR_LOOP, %eax              # nr (the previous return value overwrote eax)
    .ifdef NOOP
    .byte 0x66, 0x90                  # xchg %ax,%ax
    .else
    SENTINEL                          # outl %eax,$0x88
    .endif
    dec   %esp
    jnz   loop

    mov   %eax, %ebx                  # a0 of NR_DONE: the last return value
    mov   $NR_DONE, %eax
    SENTINEL                          # the host stops its clock and the VM
1:  hlt
    jmp   1b

    X86_GDT
    X86_GDTR
    X86_RESET_VECTOR
