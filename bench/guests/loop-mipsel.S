# Hypercall-rate benchmark guest for mipsel (bench/hypercall_rate.py).
#
# Boots bare metal on `-M malta -kernel` (o32, kernel mode, interrupts off) and makes:
#   NR_START once, then ITER x NR_LOOP in a tight loop, then NR_DONE once, then spins.
# Assembled with --defsym ITER=<n>; with --defsym NOOP=1 the loop's sentinel is
# replaced by `or $zero,$zero,$zero` (0x00000025): same length, architecturally a
# no-op, and not the sentinel (0x0000000a), so the loop is otherwise identical.
#
# v0 ($2) = nr and return value, $4..$9 = a0..a5 (a4/a5 are not passed on o32,
# but are set anyway). $16 = counter, $17 = NR_LOOP, $18 = 1.

    .set noreorder
    .set noat

# SENTINEL; NR_LOOP, NR_DONE, NR_START, A*_32 (common.inc)
    .include "mips.inc"

    .text
    .globl _start
_start:
    li   $4, A0_32
    li   $5, A1_32
    li   $6, A2_32
    li   $7, A3_32
    li   $8, A4_32
    li   $9, A5_32
    li   $16, ITER
    li   $17, NR_LOOP
    li   $18, 1

    li   $2, NR_START
    SENTINEL                    # the host's clock starts here

    # Four instructions per iteration: the bne tests the count before the
    # delay slot's decrement, so the body runs exactly ITER times.
loop:
    move $2, $17                # nr (the previous return value overwrote v0)
    .ifdef NOOP
    .word 0x00000025            # or $zero,$zero,$zero
    .else
    SENTINEL
    .endif
    bne  $16, $18, loop
    addiu $16, $16, -1          # delay slot

    move $4, $2                 # a0 of NR_DONE: the last return value
    li   $2, NR_DONE
    SENTINEL                    # the host stops its clock and the VM
1:  b    1b
    nop
