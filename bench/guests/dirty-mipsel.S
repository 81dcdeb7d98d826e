# Fast-snapshot benchmark guest for mipsel on -M malta (bench/fast_snapshot.py).
# Bare metal in kernel mode; code, CMD and the pages it writes in KSEG0, so it reaches
# malta's low 256 MiB of RAM only. Protocol as bench/guests/dirty-aarch64.S.
#
# $16 = CMD, $17 = BASE, $18 = the round (the value written).

    .set noreorder

# SENTINEL; NR_HELLO, NR_READY, NR_DIRTIED (common.inc)
    .include "mips.inc"

    .equ CMD,        0x80200000
    .equ BASE,       0x80400000
    .equ PAGE,       4096

# Writes the round ($18) into one word of each page in [$8, $9). Clobbers $8, $10.
    .macro DIRTY_PAGES
1:  sltu $10, $8, $9
    beq  $10, $0, 2f
    nop
    sw   $18, 0($8)
    b    1b
    addiu $8, $8, PAGE
2:
    .endm

    .text
    .globl _start
_start:
    li   $16, CMD
    li   $17, BASE
    sw   $0, 0($16)
    li   $18, 1
    li   $2, NR_HELLO
    move $4, $16
    move $5, $17
    SENTINEL                        # v0 = bytes to fill
    move $8, $17
    addu $9, $17, $2
    DIRTY_PAGES
    li   $2, NR_READY
    SENTINEL

wait:
    lw   $4, 0($16)
    beq  $4, $0, wait
    nop
    sw   $0, 0($16)
    addiu $18, $18, 1
    move $8, $17
    sll  $9, $4, 12
    addu $9, $9, $17
    DIRTY_PAGES
    li   $2, NR_DIRTIED
    SENTINEL                        # a0 = n
    b    wait
    nop
