# MMIO-region test guest for mips64 (tests/guests/PROTOCOL.md for the hypercall
# sentinel and registers; the MMIO steps are described below).
#
# n64 build only (--defsym N64=1, -msym32, -march=mips64r2, linked at
# 0xffffffff80100000), booted with -M malta -cpu MIPS64R2-generic -vga none
# -nic none -nodefaults -kernel.  QEMU's malta boot stub jumps to the ELF entry in
# kernel mode with Status.ERL and BEV set.
#
# The host adds an MMIO region (penguin_qemu_add_mmio_region) at physical
# MMIO_PHYS = 0x1e400000, size 0x1000, before the guest runs.  On QEMU 10.0 malta
# 0x1e000000-0x1e3fffff is the boot flash (mips_malta.bios); 0x1e400000 is claimed
# only by the GT64120's catch-all empty-slot (0..0x1fffffff, priority -10000, below
# Penguin's regions), and it lies in the 0x1e000000-0x1f100000 range the GT64120
# never maps PCI windows into.  The guest reaches it through KSEG1 (uncached,
# unmapped): 0xffffffffa0000000 | 0x1e400000 = 0xffffffffbe400000, which one lui
# 0xbe40 yields sign-extended.
#
#   1. writes: sb 0x11 @0x10, sh 0x2233 @0x20, sw 0x44556677 @0x40,
#      sd 0x8899aabbccddeeff @0x80
#   2. reads: lbu @0x101, lhu @0x102, lwu @0x104, ld @0x108; the host answers
#      (0x0102030405060708 + offset) truncated to the access size.  Mismatch: 0x1.
#   3. NR_MMIO_REMOVE (a0 = 0): the host removes the region.
#   4. sw 0xdeadbeef @0x40 and lw @0x104.  On malta these now hit the empty-slot
#      (writes ignored, reads 0); a bus error (DBE), should one be raised, is
#      counted by the exception handler, which resumes after the faulting load/store.
#   5. NR_VERDICT, a0 = fail mask, a1 = the number of exceptions in step 4; spin.
#
# Exceptions: the BEV=1 vectors are in the boot ROM, so the guest points EBase
# (CP0 15,1) at a 4 KiB aligned KSEG0 page of its own, then clears BEV, ERL and
# EXL (ERL must go: eret with ERL set would return to ErrorEPC).  The general
# exception vector is EBase + 0x180.  No access below sits in a delay slot, so the
# handler resumes at EPC + 4.
#
# Register use: v0 ($2) nr and return value, $4..$9 a0..a5, $16 fail mask,
# $17 expected value, $19 exception count, $20 MMIO base (KSEG1), $10/$11 scratch,
# $12..$15/$24 the UART routines, $26/$27 (k0/k1) the exception handler.
# Fail mask bits: 0x1 read value mismatch, 0x2 an exception in steps 1-2 (an access
# the region should have caught), 0x100 an exception other than a data bus error.

    .ifndef N64
    .error "mmio-mips64.S is an n64 guest: assemble with --defsym N64=1"
    .endif

    .set noreorder          # every delay slot below is filled by hand
    .set noat

# SENTINEL, PADDIU, PLA, PRINT, ZERO_GPRS, REPORT_VERDICT, COM1_ROUTINES;
# NR_VERDICT, NR_MMIO_REMOVE (common.inc)
    .include "mips.inc"

    .equ MMIO_HI,     0xbe40        # KSEG1 0xffffffffbe400000 = physical 0x1e400000

    .equ READ_BASE,   0x0102030405060708

    .equ FAIL_READ,   0x1
    .equ FAIL_EXC12,  0x2
    .equ FAIL_EXC,    0x100

    .equ EXC_DBE,     7             # Cause.ExcCode of a bus error on a load or store

# Set \bit in the fail mask unless \reg == \val (64-bit compare).
    .macro EXPECT reg, val, bit
    dli  $17, \val
    beq  \reg, $17, .Lok\@
    nop
    ori  $16, $16, \bit
.Lok\@:
    .endm

    .text
    .globl _start
_start:
    ZERO_GPRS

    # Exception vectors in RAM: EBase first (while BEV still selects the ROM),
    # then BEV = ERL = EXL = IE = 0 (kernel mode, interrupts off).
    dla  $10, ebase
    mtc0 $10, $15, 1                # EBase: bits 29..12 of the KSEG0 address
    ehb
    mfc0 $10, $12                   # Status
    ins  $10, $0, 22, 1             # BEV
    ins  $10, $0, 0, 3              # IE, EXL, ERL
    mtc0 $10, $12
    ehb

    lui  $20, MMIO_HI               # 0xffffffffbe400000

    PRINT s_start

# ---- 1. writes of each size ------------------------------------------------
    li   $10, 0x11
    sb   $10, 0x10($20)
    li   $10, 0x2233
    sh   $10, 0x20($20)
    li   $10, 0x44556677
    sw   $10, 0x40($20)
    dli  $10, 0x8899aabbccddeeff
    sd   $10, 0x80($20)

# ---- 2. reads of each size (lbu/lhu/lwu zero-extend) -----------------------
    move $10, $0
    lbu  $10, 0x101($20)
    EXPECT $10, (READ_BASE + 0x101) & 0xff, FAIL_READ
    move $10, $0
    lhu  $10, 0x102($20)
    EXPECT $10, (READ_BASE + 0x102) & 0xffff, FAIL_READ
    move $10, $0
    lwu  $10, 0x104($20)
    EXPECT $10, (READ_BASE + 0x104) & 0xffffffff, FAIL_READ
    move $10, $0
    ld   $10, 0x108($20)
    EXPECT $10, READ_BASE + 0x108, FAIL_READ

    # While the region exists no access may trap.
    beq  $19, $0, 1f
    nop
    ori  $16, $16, FAIL_EXC12
1:

# ---- 3. the host removes the region ----------------------------------------
    li   $2, NR_MMIO_REMOVE
    move $4, $0
    move $5, $0
    move $6, $0
    move $7, $0
    move $8, $0
    move $9, $0
    SENTINEL

# ---- 4. the same addresses again: nothing may reach the host now -----------
    move $19, $0
    li   $10, 0xdeadbeef
    sw   $10, 0x40($20)             # sw stores the low 32 bits
    lw   $11, 0x104($20)
    nop

# ---- 5. verdict --------------------------------------------------------------
verdict:
    PRINT s_verdict
    REPORT_VERDICT $19

    COM1_ROUTINES

# ---- exception vectors: EBase page, general exception at +0x180 -------------
    .balign 4096
ebase:
    .space 0x180
# Counts a data bus error in $19; any other cause sets FAIL_EXC.  Either way it
# resumes after the faulting instruction (none of ours is in a delay slot).
gen_exception:
    mfc0  $26, $13                  # Cause
    andi  $26, $26, 0x7c            # ExcCode << 2
    xori  $26, $26, EXC_DBE << 2
    bne   $26, $0, 1f
    nop
    b     2f
    daddiu $19, $19, 1              # delay slot: count the bus error
1:  ori   $16, $16, FAIL_EXC
2:  dmfc0 $26, $14                  # EPC
    daddiu $26, $26, 4
    dmtc0 $26, $14
    ehb
    eret

    .data
    .align 3
s_start:
    .asciz "PENGUIN-GUEST mmio-mips64 start\r\n"
s_verdict:
    .asciz "PENGUIN-GUEST mmio-mips64 verdict "
s_crlf:
    .asciz "\r\n"
