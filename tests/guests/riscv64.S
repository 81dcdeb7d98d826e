# penguin-qemu hypercall test guest: RV64, machine mode, no firmware.
#   qemu-system-riscv64 -M virt -bios none -kernel prog.elf
# QEMU's reset stub enters at 0x80000000 in M-mode with interrupts off, so the
# program is linked there (ld -N keeps _start at the lowest address).
# Protocol: tests/guests/PROTOCOL.md.  Sentinel: xori x0,x0,0 = 0x00004013,
# nr = a7, a0..a5 = args, ret = a0, "a3" = a3 (x13).
#
# Register discipline (nothing else is live across the steps):
#   s0 = fail mask, s1 = trap count, s2/s3 = reserved for the trap handler,
#   t0..t6 and ra are free scratch for the checks and the print routines.

    .option norvc               # every instruction must be 4 bytes: the trap
                                # handler and the near-miss list rely on knowing
                                # which encodings were emitted

# SENTINEL, UART_THR; NR_*, A*_64, RET64, WVAL64, WRET, SRET, STATE_*, FAIL_*
# (common.inc)
    .include "riscv64.inc"

    # Exactly one near miss is architecturally reserved (OP-IMM-32 funct3=100)
    # and must raise an illegal-instruction trap; every other one is a no-op.
    .equ EXPECTED_TRAPS, 1

    .equ FAIL_EXC, 0x10         # unexpected exception (not in PROTOCOL.md's
                                # list, but any nonzero verdict fails the test)

# Loads nr and all six args explicitly, so that no step depends on what a
# previous hypercall or near miss left behind.
.macro LOADARGS nr
    li    a7, \nr
    li    a0, A0_64
    li    a1, A1_64
    li    a2, A2_64
    li    a3, A3_64
    li    a4, A4_64
    li    a5, A5_64
.endm

.macro CHECK reg, val, bit
    li    t0, \val
    beq   \reg, t0, .Lok\@
    ori   s0, s0, \bit
.Lok\@:
.endm

    .text
    .globl _start
_start:
    la    t0, trap
    csrw  mtvec, t0             # direct mode: t0 is 4-byte aligned
    li    s0, 0
    li    s1, 0

    la    t1, msg_start
    jal   puts

# ---- 2. Args (one mode: 64-bit code) ----
    LOADARGS NR_ARGS64
    SENTINEL
    CHECK a0, RET64, FAIL_ARGS

# ---- 3. Near misses: each field of 0x00004013 changed alone ----
    # imm changed: xori x0,x0,1 is still a HINT (rd = x0), so a no-op.
    LOADARGS NR_NEARMISS
    .word 0x00104013
    # imm all ones: xori x0,x0,-1; a recognizer masking only low imm bits
    # would misfire here.
    LOADARGS NR_NEARMISS
    .word 0xfff04013
    # rd changed: xori t0,x0,0 writes 0 to t0, which is scratch here.
    LOADARGS NR_NEARMISS
    .word 0x00004293
    # rs1 changed: xori x0,t0,0 only reads t0; rd = x0 keeps it a HINT.
    LOADARGS NR_NEARMISS
    .word 0x0002c013
    # funct3 variant ori x0,x0,0: same format, different ALU op; HINT.
    LOADARGS NR_NEARMISS
    .word 0x00006013
    # funct3 variant andi x0,x0,0: HINT.
    LOADARGS NR_NEARMISS
    .word 0x00007013
    # major-opcode variant OP (reg-reg): xor x0,x0,x0, same funct3; HINT.
    LOADARGS NR_NEARMISS
    .word 0x00004033
    # major-opcode variant OP-IMM-32 with funct3=100: reserved on RV64, so an
    # illegal-instruction trap; the handler counts it and skips 4 bytes.
    LOADARGS NR_NEARMISS
    .word 0x0000401b
    # Compressed space: the sentinel has no 16-bit form, and any halfword whose
    # low two bits are 11 starts a 32-bit instruction, so no 16-bit encoding
    # can alias it.  Still check the two nearest 16-bit no-ops: c.nop, and
    # 0x4011 = c.li x0,4 (HINT), which is the sentinel's low halfword with only
    # the length bits changed.  Two halfwords keep the code 4-byte aligned.
    LOADARGS NR_NEARMISS
    .hword 0x0001
    .hword 0x4011
    CHECK s1, EXPECTED_TRAPS, FAIL_TRAPS

# ---- 4. Unregistered: the fallback declines, nothing may change ----
    LOADARGS NR_UNREG
    SENTINEL
    CHECK a7, NR_UNREG, FAIL_UNREG
    CHECK a0, A0_64, FAIL_UNREG
    CHECK a1, A1_64, FAIL_UNREG
    CHECK a2, A2_64, FAIL_UNREG
    CHECK a3, A3_64, FAIL_UNREG
    CHECK a4, A4_64, FAIL_UNREG
    CHECK a5, A5_64, FAIL_UNREG

# ---- 5. Write-back into a3 ----
    LOADARGS NR_WRITE
    SENTINEL
    CHECK a3, WVAL64, FAIL_WRITE
    CHECK a0, WRET, FAIL_WRITE

# ---- 6. State: a0 = the run-time address of the sentinel (lla is
# auipc+addi, PC-relative); the host writes a4, a5 and a2, returns 0x5354 ----
    LOADARGS NR_STATE
    lla   a0, penguin_state_sentinel
    .globl penguin_state_sentinel
penguin_state_sentinel:
    SENTINEL
    CHECK a4, STATE_A4_64, FAIL_STATE
    CHECK a5, STATE_A5_64, FAIL_STATE
    CHECK a2, STATE_A2_64, FAIL_STATE
    CHECK a0, SRET, FAIL_STATE

# ---- 7. User mode: mret into U-mode, hypercall there, ecall back ----
# With no PMP entry U-mode may access nothing; entry 0 as NAPOT over the whole
# address space (pmpaddr all ones) with R|W|X lets it reach everything.
    li    t0, -1
    csrw  pmpaddr0, t0
    li    t0, 0x1f              # pmp0cfg = NAPOT | X | W | R, not locked
    csrw  pmpcfg0, t0
    li    t0, 0x1800            # mstatus.MPP
    csrc  mstatus, t0           # MPP = 0: mret drops to U-mode
    la    t0, user_code
    csrw  mepc, t0
    mret

# Runs in U-mode.  Nothing here touches memory; the check only writes s0.
user_code:
    LOADARGS NR_USER
    SENTINEL
    CHECK a0, RET64, FAIL_USER
    ecall                       # mcause 8: the trap handler resumes at user_done

# Back in M-mode (the trap handler's mret restored MPP = M).
user_done:

# ---- 8. Verdict ----
verdict:
    la    t1, msg_verdict
    jal   puts
    mv    t3, s0
    jal   puthex
    la    t1, msg_crlf
    jal   puts
    li    a7, NR_VERDICT
    mv    a0, s0
    li    a1, 0
    li    a2, 0
    li    a3, 0
    li    a4, 0
    li    a5, 0
    SENTINEL
1:  j     1b                    # the host stops the VM

# puts: t1 = NUL-terminated string.  Clobbers t0, t1, t2.
puts:
    li    t0, UART_THR
1:  lbu   t2, 0(t1)
    beqz  t2, 2f
    sb    t2, 0(t0)
    addi  t1, t1, 1
    j     1b
2:  ret

# puthex: prints t3 as "0x" + 8 hex digits (the mask fits in 32 bits).
# Clobbers t0, t2, t4, t5.
puthex:
    li    t0, UART_THR
    li    t2, '0'
    sb    t2, 0(t0)
    li    t2, 'x'
    sb    t2, 0(t0)
    li    t4, 28
1:  srl   t2, t3, t4
    andi  t2, t2, 0xf
    li    t5, 10
    blt   t2, t5, 2f
    addi  t2, t2, 'a' - '0' - 10
2:  addi  t2, t2, '0'
    sb    t2, 0(t0)
    addi  t4, t4, -4
    bgez  t4, 1b
    ret

# Trap handler.  A trap from step 7's U-mode code (mstatus.MPP = 0) goes back to M-mode
# at user_done: an ecall from U (mcause 8) is the expected way back, anything
# else sets FAIL_USER.  Otherwise illegal-instruction traps (mcause 2) are the
# trapping near misses: count them and resume after the faulting instruction,
# whose length comes from its low two bits.  Anything else is unexpected:
# report it.  Uses only s2/s3, which the main program never touches.
    .balign 4
trap:
    csrr  s2, mstatus
    srli  s2, s2, 11
    andi  s2, s2, 3             # MPP: the mode the trap came from
    beqz  s2, trap_user
    csrr  s2, mcause
    addi  s2, s2, -2
    bnez  s2, fatal
    csrr  s2, mepc
    lhu   s3, 0(s2)
    andi  s3, s3, 3
    addi  s3, s3, -3            # zero iff a 32-bit instruction
    addi  s2, s2, 2
    bnez  s3, 1f
    addi  s2, s2, 2
1:  csrw  mepc, s2
    addi  s1, s1, 1
    mret
fatal:
    ori   s0, s0, FAIL_EXC
    j     verdict
trap_user:
    csrr  s2, mcause
    addi  s2, s2, -8            # 8 = environment call from U-mode
    beqz  s2, 1f
    ori   s0, s0, FAIL_USER
1:  li    s2, 0x1800
    csrs  mstatus, s2           # MPP = M: mret stays in M-mode
    la    s2, user_done
    csrw  mepc, s2
    mret

msg_start:   .asciz "PENGUIN-GUEST riscv64 start\r\n"
msg_verdict: .asciz "PENGUIN-GUEST riscv64 verdict "
msg_crlf:    .asciz "\r\n"
