# Hypercall test guest for the MIPS targets (protocol: tests/guests/PROTOCOL.md).
#
# One source, four builds:
#   o32 (default)                  -> mips (BE) and mipsel (LE), -M malta
#   n64 (--defsym N64=1, -msym32)  -> mips64 (BE) and mips64el (LE),
#                                     -M malta -cpu MIPS64R2-generic
# QEMU's malta boot stub jumps to the ELF entry in kernel mode (Status.ERL
# set, interrupts off).  Only step 7 traps on purpose (syscall from user
# mode); it first points EBase at exc_base (a page of this image) and clears
# BEV and ERL, so that the general exception vector is exc_base + 0x180.
#
# Register use: v0 ($2) nr and return value, $4..$9 the six arguments,
# $16 fail mask, $17 expected value, $18 1 on a little-endian build,
# $10..$15/$24 scratch for checks and the UART routines.

    .set noreorder          # every delay slot below is filled by hand
    .set noat               # $1 is a near-miss destination, gas must not use it

# SENTINEL, PADDIU, PLA, PRINT, ZERO_GPRS, REPORT_VERDICT, COM1_ROUTINES;
# NR_*, A*, RET*, WVAL*, WRET, SRET, STATE_*, FAIL_* (common.inc)
    .include "mips.inc"

# Register-width constant.  o32 can only hold the low 32 bits.
    .macro LIW reg, v64, v32
    .ifdef N64
    dli \reg, \v64
    .else
    li  \reg, \v32
    .endif
    .endm

# A_0..A_5 into $4..$9 (64-bit values in n64 code, 32-bit in o32 code).
    .macro LOAD_ARGS
    LIW $4, A0_64, A0_32
    LIW $5, A1_64, A1_32
    LIW $6, A2_64, A2_32
    LIW $7, A3_64, A3_32
    LIW $8, A4_64, A4_32
    LIW $9, A5_64, A5_32
    .endm

    .macro LOAD_CALL nr
    li  $2, \nr
    LOAD_ARGS
    .endm

# Set \bit in the fail mask unless \reg == $17.
    .macro EXPECT reg, bit
    beq  \reg, $17, .Lok\@
    nop
    ori  $16, $16, \bit
.Lok\@:
    .endm

    .macro EXPECT_W reg, v64, v32, bit
    LIW  $17, \v64, \v32
    EXPECT \reg, \bit
    .endm

# Near miss: reload nr and the args first, since some near misses write
# registers, and a wrongly matched one would overwrite v0 with RET.
    .macro NEARMISS word
    LOAD_CALL NR_NEARMISS
    .word \word
    .endm

    .macro PRINT_NAME
    PRINT s_name
    beq  $18, $0, .Lbe\@
    nop
    PRINT s_el
.Lbe\@:
    .endm

    .text
    .globl _start
_start:
    ZERO_GPRS

    # One source serves both byte orders: tell them apart at run time so
    # the UART names the right target (mips vs mipsel, mips64 vs mips64el).
    PLA  $10, endian_probe
    lbu  $18, 0($10)            # 1 on little-endian, 0 on big-endian

    PRINT s_prefix
    PRINT_NAME
    PRINT s_start

# ---- 2. Args, mode 1: the sentinel in straight-line code -----------------
    .ifdef N64
    LOAD_CALL NR_ARGS64
    .else
    LOAD_CALL NR_ARGS32
    .endif
    SENTINEL
    EXPECT_W $2, RET64, RET32, FAIL_ARGS

# ---- 2. Args, mode 2: the sentinel in the delay slot of a taken branch ----
# The host must complete the branch after the call: resuming at the slot's
# successor would run the "not taken" ori, and re-running the branch would
# make a third NR_ARGS call (the host counts them).
    .ifdef N64
    LOAD_CALL NR_ARGS64
    .else
    LOAD_CALL NR_ARGS32
    .endif
    move $10, $0
    b    1f
    SENTINEL                    # delay slot
    ori  $10, $0, 1             # only reached if the branch was not taken
1:  beq  $10, $0, 2f
    nop
    ori  $16, $16, FAIL_ARGS
2:  EXPECT_W $2, RET64, RET32, FAIL_ARGS

# ---- 3. Near misses: each field of 0x0000000a changed alone --------------
# None of these traps on 24Kf / MIPS64R2-generic under QEMU 10.0
# (decode_opc_special_legacy -> gen_cond_move, which ignores sa and makes
# rd=0 a no-op), so no trap count is kept.
    NEARMISS 0x0000080a         # rd=$1:  movz $1,$0,$0 writes 0 to $at (scratch)
    NEARMISS 0x0000f80a         # rd=$31: movz $31,$0,$0 writes 0 to ra (scratch; every jal reloads it)
    NEARMISS 0x0020000a         # rs=$1:  movz $0,$1,$0, no-op (rd=0)
    NEARMISS 0x03e0000a         # rs=$31: movz $0,$31,$0, no-op
    NEARMISS 0x0001000a         # rt=$1:  movz $0,$0,$1, no-op
    NEARMISS 0x001f000a         # rt=$31: movz $0,$0,$31, no-op
    NEARMISS 0x0000004a         # sa=1:  MOVZ decoding ignores sa, so a no-op (no RI trap)
    NEARMISS 0x000007ca         # sa=31: same
    NEARMISS 0x0000000b         # function bit 0: movn $0,$0,$0, no-op
    NEARMISS 0x00000002         # function bit 3: srl $0,$0,0, no-op
    NEARMISS 0x0000002a         # function bit 5: slt $0,$0,$0, no-op
    NEARMISS 0x0082000a         # the live nr/arg registers as operands: movz $0,$4,$2, no-op
    # Not covered: changing the major opcode (bits 31..26) gives a different
    # instruction class, e.g. 0x0400000a is bltz $0 (a branch), not a no-op.

# ---- 4. Unregistered nr: the fallback declines, registers stay as they were
    LOAD_CALL NR_UNREG
    SENTINEL
    li   $17, NR_UNREG          # v0 is both nr and the return register
    EXPECT $2, FAIL_UNREG
    EXPECT_W $4, A0_64, A0_32, FAIL_UNREG
    EXPECT_W $5, A1_64, A1_32, FAIL_UNREG
    EXPECT_W $6, A2_64, A2_32, FAIL_UNREG
    EXPECT_W $7, A3_64, A3_32, FAIL_UNREG
    EXPECT_W $8, A4_64, A4_32, FAIL_UNREG
    EXPECT_W $9, A5_64, A5_32, FAIL_UNREG

# ---- 5. Write-back: the host writes WVAL into a3 ($7) and returns 0x1234 --
    LOAD_CALL NR_WRITE
    SENTINEL
    EXPECT_W $7, WVAL64, WVAL32, FAIL_WRITE
    li   $17, WRET
    EXPECT $2, FAIL_WRITE

# ---- 6. State: a0 ($4) = the address of the sentinel, which the boot stub
# runs at its link address (KSEG0); the host writes a4 ($8), a5 ($9) and
# a2 ($6) and returns 0x5354.
    LOAD_CALL NR_STATE
    PLA  $4, penguin_state_sentinel
    .globl penguin_state_sentinel
penguin_state_sentinel:
    SENTINEL
    EXPECT_W $8, STATE_A4_64, STATE_A4_32, FAIL_STATE
    EXPECT_W $9, STATE_A5_64, STATE_A5_32, FAIL_STATE
    EXPECT_W $6, STATE_A2_64, STATE_A2_32, FAIL_STATE
    li   $17, SRET
    EXPECT $2, FAIL_STATE

# ---- 7. User mode: eret into user mode (kuseg), hypercall there, syscall back
# User code can only run in kuseg, which is TLB-mapped: TLB entry 0 maps the
# 2 MiB at virtual 0 with a pair of 1 MiB pages, the odd one (virtual
# 0x00100000) onto physical 0x00100000, where the image (KSEG0 0x80100000)
# lies.  The user routine is position-independent and runs at its kuseg alias.
    PLA  $10, exc_base
    mtc0 $10, $15, 1            # EBase (BEV is cleared below)
    mtc0 $0, $0                 # Index 0
    li   $10, 0x001fe000        # PageMask: 1 MiB pages
    mtc0 $10, $5
    mtc0 $0, $10                # EntryHi: VPN2 0, ASID 0
    mtc0 $0, $2                 # EntryLo0: virtual 0..1M unmapped (V=0)
    li   $10, (0x00100000 >> 12) << 6 | (3 << 3) | 0x7  # PFN, C=3, D, V, G
    mtc0 $10, $3                # EntryLo1
    ehb
    tlbwi
    ehb
    # EPC = the kuseg alias of user_code (KSEG0 address & 0x1fffffff).
    PLA  $10, user_code
    li   $11, 0x1fffffff
    and  $10, $10, $11
    mtc0 $10, $14
    # Status: BEV=0, ERL=0, IE=0, KSU=user, EXL=1 (UX=1 for 64-bit user code).
    mfc0 $10, $12
    li   $11, 0x0040003f        # BEV | UX | KSU | ERL | EXL | IE
    or   $10, $10, $11
    xor  $10, $10, $11
    .ifdef N64
    ori  $10, $10, 0x0032       # UX | KSU=user | EXL
    .else
    ori  $10, $10, 0x0012       # KSU=user | EXL
    .endif
    mtc0 $10, $12
    ehb
    eret

user_code:
    LOAD_CALL NR_USER
    SENTINEL
    EXPECT_W $2, RET64, RET32, FAIL_USER
    syscall                     # ExcCode 8: exc_general resumes at user_done
    nop
    ori  $16, $16, FAIL_USER    # not reached
user_done:

# ---- 8. Verdict ----------------------------------------------------------
verdict:
    PRINT s_prefix
    PRINT_NAME
    PRINT s_verdict
    REPORT_VERDICT $0

    COM1_ROUTINES

# Exception vectors (EBase = exc_base, BEV = 0).  Only a syscall (ExcCode 8,
# from the user routine) is expected: return to user_done in kernel mode.
# Anything else sets FAIL_USER and goes to the verdict in kernel mode.
    .balign 4096
exc_base:
    b    exc_fatal              # +0x000: TLB refill
    nop
    .org exc_base + 0x080
    b    exc_fatal              # +0x080: XTLB refill
    nop
    .org exc_base + 0x100
    b    exc_fatal              # +0x100: cache error
    nop
    .org exc_base + 0x180       # +0x180: general exception
    mfc0 $26, $13               # Cause
    andi $26, $26, 0x7c         # ExcCode << 2
    li   $27, 8 << 2            # Sys
    bne  $26, $27, exc_fatal
    nop
    PLA  $26, user_done
    b    exc_return
    nop
exc_fatal:
    ori  $16, $16, FAIL_USER
    PLA  $26, verdict
exc_return:
    mtc0 $26, $14               # EPC
    mfc0 $27, $12
    ori  $27, $27, 0x18         # KSU = kernel (EXL stays set until eret)
    xori $27, $27, 0x18
    mtc0 $27, $12
    ehb
    eret

    .data
    .align 2
endian_probe:
    .word 1
s_prefix:
    .asciz "PENGUIN-GUEST "
s_name:
    .ifdef N64
    .asciz "mips64"
    .else
    .asciz "mips"
    .endif
s_el:
    .asciz "el"
s_start:
    .asciz " start\r\n"
s_verdict:
    .asciz " verdict "
s_crlf:
    .asciz "\r\n"
