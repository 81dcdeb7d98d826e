# CPU-bound benchmark guest for mipsel (bench/guest_speed.py), bare metal on -M malta:
# ITER iterations of a load, add, xor, store loop, then a reset request through the
# FPGA's SOFTRES register, which -no-reboot turns into an exit. Stock QEMU and the
# library run it unchanged: it makes no hypercall.
    .set noreorder
    .text
    .globl _start
_start:
    li    $16, ITER
    la    $17, scratch
    li    $2, 0
1:  lw    $3, 0($17)
    addu  $3, $3, $16
    xor   $2, $2, $3
    sw    $3, 0($17)
    addiu $16, $16, -1
    bnez  $16, 1b
    nop
    lui   $8, 0xbf00             # SOFTRES at 0x1f000500 through KSEG1
    ori   $8, $8, 0x0500
    li    $9, 0x42               # GORESET
    sw    $9, 0($8)
2:  b     2b
    nop
    .data
    .balign 4096                 # a page of its own: a store to the code's page is
scratch: .word 0                 # self-modifying code to QEMU, which retranslates
