// CPU-bound benchmark guest for aarch64 (bench/guest_speed.py), bare metal on -M virt:
// ITER iterations of a load, add, xor, store loop, then PSCI SYSTEM_OFF. Stock QEMU
// and the library run it unchanged: it makes no hypercall.
    .text
    .globl _start
_start:
    ldr   x16, =ITER
    adr   x17, scratch
    mov   x2, #0
1:  ldr   x3, [x17]
    add   x3, x3, x16
    eor   x2, x2, x3
    str   x3, [x17]
    subs  x16, x16, #1
    b.ne  1b
    ldr   x0, =0x84000008        // PSCI SYSTEM_OFF through the HVC conduit
    hvc   #0
2:  wfi
    b     2b
    .data
    .balign 4096                 // a page of its own: a store to the code's page is
scratch: .quad 0                 // self-modifying code to QEMU, which retranslates
