# penguin-qemu hypercall test guest: 64-bit PowerPC on pseries, big- or
# little-endian (assemble with --defsym LE=1 for the LE build).  No firmware:
#   qemu-system-ppc64 -M pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off \
#       -cpu power9 -bios prog.bin -serial <chardev>
# spapr loads the -bios file raw at guest physical 0 and enters it at
# SPAPR_ENTRY_POINT = 0x100 in real mode, big-endian, with MSR[SF] = 0
# (include/ppc.inc).  The image is therefore linked at 0 (so link address =
# physical address) and laid out as the exception vector table: 0x100 is the
# entry, the other vectors up to 0x2000 are stubs, and the program proper
# starts at 0x2000.
# The console is the spapr-vty that spapr creates for serial_hd(0): with no
# -serial chardev the H_PUT_TERM_CHAR hcalls just return H_PARAMETER, which is
# harmless (the output is a debugging aid only).
# Protocol: tests/guests/PROTOCOL.md.  Sentinel: xori r10,r10,0 = 0x694a0000,
# nr = r0, a0..a5 = r3..r8, ret = r3, "a3" = r6.  64-bit code: NR_ARGS64.
#
# Register discipline (nothing else is live across the steps):
#   r28 = fail mask, r31 = trap count, r30 = reserved for the trap handler,
#   r20..r27 and LR/CTR are scratch for the checks and the print routines,
#   r10/r11 are the near misses' scratch targets.

# SENTINEL, LA, PPC64_FIXUP_ENDIAN, PPC64_MODE, PPC_WIDTH, LOADARGS, CHECK,
# NEARMISSES, HEX_DIGITS, UNREG_WRITE_STATE (steps 4-6), REPORT_VERDICT; NR_*, FAIL_*
# (common.inc)
    .include "ppc.inc"
    PPC_WIDTH 64

    # Every near miss is a valid D-form logical instruction: none may trap.
    .equ EXPECTED_TRAPS, 0

    .equ FAIL_EXC,   0x10       # unexpected exception (not in PROTOCOL.md's
                                # list, but any nonzero verdict fails the test)
    .equ FAIL_SETUP, 0x20       # H_SET_MODE (interrupt endianness) refused

    .equ H_PUT_TERM_CHAR, 0x58
    .equ H_SET_MODE,      0x31c
    .equ H_SET_MODE_RESOURCE_LE, 4
    .equ VTY_REG, 0x71000000    # first spapr-vio reg; spapr creates the vty
                                # for serial_hd(0) before any other vio device

    .text
    .globl _start
    .org  0x100
_start:
    PPC64_FIXUP_ENDIAN          # with --defsym LE=1: switch to little-endian
    b     start

# Every Book3S vector offset (0x200 .. 0x1800) is a multiple of 0x20, so a
# stub every 0x20 bytes catches them all.  Only 0x700 (program: illegal
# instruction) is an expected kind.
    .org  0x180
    .rept (0x700 - 0x180) / 0x20
    b     excp_fatal
    .balign 0x20
    .endr
    .org  0x700
    b     excp_program
    .balign 0x20
    .rept (0x2000 - 0x720) / 0x20
    b     excp_fatal
    .balign 0x20
    .endr

    .org  0x2000
start:
    li    28, 0
    li    31, 0

    PPC64_MODE                  # 64-bit code: the entry state has MSR[SF] = 0
    # Take interrupts in the program's own endianness (LPCR[ILE]); a guest
    # cannot write LPCR under pseries, so ask through H_SET_MODE.
    li    3, H_SET_MODE
    .ifdef LE
    li    4, 1                  # H_SET_MODE_ENDIAN_LITTLE
    .else
    li    4, 0                  # H_SET_MODE_ENDIAN_BIG
    .endif
    li    5, H_SET_MODE_RESOURCE_LE
    li    6, 0
    li    7, 0
    sc    1
    cmpdi 3, 0                  # H_SUCCESS
    beq   2f
    ori   28, 28, FAIL_SETUP
2:
    LA    21, msg_start
    bl    puts

# ---- 2. Args (one mode: 64-bit code) ----
    LOADARGS NR_ARGS64
    SENTINEL
    CHECK 3, RET, FAIL_ARGS

# ---- 3. Near misses: each field of 0x694a0000 changed alone ----
    NEARMISSES
    CHECK 31, EXPECTED_TRAPS, FAIL_TRAPS

# ---- 4. Unregistered, 5. write-back, 6. state (ppc.inc) ----
    UNREG_WRITE_STATE

# ---- 7. Verdict ----
verdict:
    REPORT_VERDICT

# putc: r23 = character.  H_PUT_TERM_CHAR takes up to 16 characters packed
# big-endian from the top of r6:r7, whatever the guest's endianness.
# Clobbers r0, r3..r12 (hcall-volatile).
putc:
    li    3, H_PUT_TERM_CHAR
    lis   4, VTY_REG@h
    li    5, 1
    sldi  6, 23, 56
    li    7, 0
    sc    1
    blr

# puts: r21 = NUL-terminated string.  Clobbers r21, r23, r27, putc's set.
puts:
    mflr  27
1:  lbz   23, 0(21)
    cmpdi 23, 0
    beq   2f
    bl    putc
    addi  21, 21, 1
    b     1b
2:  mtlr  27
    blr

# puthex: prints the low 32 bits of r22 as "0x" + 8 hex digits.
# Clobbers r22..r24, r26, CTR, putc's set.
puthex:
    mflr  26
    li    23, '0'
    bl    putc
    li    23, 'x'
    bl    putc
    HEX_DIGITS "bl putc"
    mtlr  26
    blr

# Program interrupt: a trapping near miss.  Count it and resume after the
# faulting instruction (SRR0 points at it).  Uses only r30 and r31.
excp_program:
    mfsrr0 30
    addi  30, 30, 4
    mtsrr0 30
    addi  31, 31, 1
    rfid

excp_fatal:
    ori   28, 28, FAIL_EXC
    b     verdict

    .ifdef LE
msg_start:   .asciz "PENGUIN-GUEST ppc64le start\r\n"
msg_verdict: .asciz "PENGUIN-GUEST ppc64le verdict "
    .else
msg_start:   .asciz "PENGUIN-GUEST ppc64 start\r\n"
msg_verdict: .asciz "PENGUIN-GUEST ppc64 verdict "
    .endif
msg_crlf:    .asciz "\r\n"
