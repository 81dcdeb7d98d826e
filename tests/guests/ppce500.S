# penguin-qemu hypercall test guest: 32-bit big-endian PowerPC e500v2.
#   qemu-system-ppc -M ppce500 -kernel prog.elf
# QEMU loads the ELF (linked at 0x100000), maps EA 0.. -> PA 0 in TLB1[0] and
# enters _start in supervisor mode with external interrupts off.
# Protocol: tests/guests/PROTOCOL.md.  Sentinel: xori r10,r10,0 = 0x694a0000,
# nr = r0, a0..a5 = r3..r8, ret = r3, "a3" = r6.  32-bit code: NR_ARGS32.
#
# Register discipline (nothing else is live across the steps):
#   r28 = fail mask, r31 = trap count, r30 = reserved for the trap handler,
#   r20..r27 and LR are scratch for the checks and the print routines,
#   r10/r11 are the near misses' scratch targets.

# SENTINEL, LI32, LA, E500_MAP_CCSR, UART, PPC_WIDTH, LOADARGS, CHECK, NEARMISSES,
# HEX_DIGITS, UNREG_WRITE_STATE (steps 4-6), REPORT_VERDICT; NR_*, FAIL_* (common.inc)
    .include "ppc.inc"
    PPC_WIDTH 32

    # Every near miss is a valid D-form logical instruction: none may trap.
    .equ EXPECTED_TRAPS, 0

    .equ FAIL_EXC,  0x10        # unexpected exception (not in PROTOCOL.md's
                                # list, but any nonzero verdict fails the test)

    .equ SPR_IVPR,  63
    .equ SPR_IVOR0, 400
    .equ SPR_IVOR32, 528

    .text
    .globl _start
_start:
    E500_MAP_CCSR               # the UART's page

    # Exceptions: IVPR holds the upper 16 bits of every vector and IVORn the
    # low 16, so the image must be linked at a 64 KiB boundary (0x100000),
    # making each IVOR the handler's offset from _start.  Only IVOR6
    # (program: illegal instruction) is an expected kind; every other vector
    # goes to a handler that reports an unexpected exception.
    LA    3, _start
    mtspr SPR_IVPR, 3
    li    3, excp_fatal - _start
    .irp n, 0,1,2,3,4,5,7,9,10,11,12,13,14,15
    mtspr SPR_IVOR0 + \n, 3
    .endr
    li    3, excp_syscall - _start  # IVOR8: sc, the way back from user mode
    mtspr SPR_IVOR0 + 8, 3
    .irp n, 0,1,2,3             # e500v2 SPE / embedded FP vectors
    mtspr SPR_IVOR32 + \n, 3
    .endr
    li    3, excp_program - _start
    mtspr SPR_IVOR0 + 6, 3
    isync

    li    28, 0
    li    31, 0

    LA    21, msg_start
    bl    puts

# ---- 2. Args (one mode: 32-bit code) ----
    LOADARGS NR_ARGS32
    SENTINEL
    CHECK 3, RET, FAIL_ARGS

# ---- 3. Near misses: each field of 0x694a0000 changed alone ----
    NEARMISSES
    CHECK 31, EXPECTED_TRAPS, FAIL_TRAPS

# ---- 4. Unregistered, 5. write-back, 6. state (ppc.inc) ----
    UNREG_WRITE_STATE

# ---- 7. User mode: rfi with MSR[PR] set, hypercall there, sc back ----
# QEMU's initial TLB1[0] (EA 0 -> PA 0) grants UR/UW/UX as well as the
# supervisor permissions, so the user code runs in place.  The system-call
# interrupt (IVOR8) clears PR and resumes at user_done; any other interrupt
# from user mode lands in excp_fatal.
    mfmsr 20
    ori   20, 20, 0x4000        # MSR[PR]
    mtsrr1 20
    LA    20, user_code
    mtsrr0 20
    rfi

user_code:
    LOADARGS NR_USER
    SENTINEL
    CHECK 3, RET, FAIL_USER
    sc                          # IVOR8: excp_syscall resumes at user_done
    ori   28, 28, FAIL_USER     # not reached
user_done:

# ---- 8. Verdict ----
verdict:
    REPORT_VERDICT

# puts: r21 = NUL-terminated string.  Clobbers r20, r21, r23.
puts:
    LI32  20, UART
1:  lbz   23, 0(21)
    cmpwi 23, 0
    beqlr
    stb   23, 0(20)
    addi  21, 21, 1
    b     1b

# puthex: prints r22 as "0x" + 8 hex digits.  Clobbers r20, r22..r25, CTR.
puthex:
    LI32  20, UART
    li    23, '0'
    stb   23, 0(20)
    li    23, 'x'
    stb   23, 0(20)
    HEX_DIGITS "stb 23, 0(20)"
    blr

# IVOR offsets must be 16-byte aligned.
    .balign 16
# Program interrupt: a trapping near miss.  Count it and resume after the
# faulting instruction (SRR0 points at it).  Uses only r30 and r31.
excp_program:
    mfsrr0 30
    addi  30, 30, 4
    mtsrr0 30
    addi  31, 31, 1
    rfi

    .balign 16
# System call: only the user-mode step issues sc.  Return to user_done in
# supervisor mode (SRR1 without PR).  Uses only r30.
excp_syscall:
    mfsrr1 30
    rlwinm 30, 30, 0, 18, 16    # clear MSR[PR] (0x4000)
    mtsrr1 30
    LA    30, user_done
    mtsrr0 30
    rfi

    .balign 16
excp_fatal:
    ori   28, 28, FAIL_EXC
    b     verdict

msg_start:   .asciz "PENGUIN-GUEST ppce500 start\r\n"
msg_verdict: .asciz "PENGUIN-GUEST ppce500 verdict "
msg_crlf:    .asciz "\r\n"
