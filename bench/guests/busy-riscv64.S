# CPU-bound benchmark guest for riscv64 (bench/guest_speed.py), bare metal on -M virt
# -bios none (M-mode): ITER iterations of a load, add, xor, store loop, then the
# sifive_test finisher's PASS, which exits QEMU. Stock QEMU and the library run it
# unchanged: it makes no hypercall.
    .text
    .globl _start
_start:
    li    s0, ITER
    la    s1, scratch
    li    a2, 0
1:  ld    t0, 0(s1)
    add   t0, t0, s0
    xor   a2, a2, t0
    sd    t0, 0(s1)
    addi  s0, s0, -1
    bnez  s0, 1b
    li    t0, 0x100000           # sifive_test
    li    t1, 0x5555             # FINISHER_PASS
    sw    t1, 0(t0)
2:  j     2b
    .data
    .balign 4096                 # a page of its own: a store to the code's page is
scratch: .quad 0                 # self-modifying code to QEMU, which retranslates
