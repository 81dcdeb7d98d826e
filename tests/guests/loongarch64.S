# Hypercall test guest for loongarch64 (protocol: tests/guests/PROTOCOL.md).
#
# qemu-system-loongarch64 -M virt -cpu la464 -kernel prog.elf: QEMU loads the
# ELF and starts it at PLV0 in direct-address (DA) mode with interrupts off,
# so the UART is reached by its physical address.  Nothing at PLV0 may trap:
# the exception entry (EENTRY = exc_entry) exists for step 7, whose PLV3 code
# returns with syscall; a PLV0 exception only reports 0x100 and the verdict.
# DA mode holds at every PLV, so the PLV3 code runs on physical addresses too.
#
# Register use: a7 ($r11) nr, $r4..$r9 the six arguments, a0 the return
# value, $r23 fail mask, $r24 expected value, $r12..$r16 scratch for the
# near misses, the UART routines and the exception entry.
#
# Fail mask bits: PROTOCOL's 0x1 args, 0x4 unregistered, 0x8 write-back,
# 0x40 state, 0x80 user mode, and 0x100 for an exception at PLV0 (a guest bug).

# SENTINEL, UART; NR_*, A*_64, RET64, WVAL64, WRET, SRET, STATE_*, FAIL_*
# (common.inc)
    .include "loongarch64.inc"

    .equ FAIL_EXC,    0x100         # an exception at PLV0

    .equ CSR_PRMD,    0x1
    .equ CSR_ESTAT,   0x5
    .equ CSR_ERA,     0x6
    .equ CSR_EENTRY,  0xc
    .equ ECODE_SYS,   0xb

    .macro LOAD_CALL nr
    li.d    $r11, \nr
    li.d    $r4, A0_64
    li.d    $r5, A1_64
    li.d    $r6, A2_64
    li.d    $r7, A3_64
    li.d    $r8, A4_64
    li.d    $r9, A5_64
    .endm

# Set \bit in the fail mask unless \reg == $r24.
    .macro EXPECT reg, bit
    beq     \reg, $r24, .Lok\@
    ori     $r23, $r23, \bit
.Lok\@:
    .endm

    .macro EXPECT_D reg, val, bit
    li.d    $r24, \val
    EXPECT  \reg, \bit
    .endm

# Near miss: reload nr and the args first, since some near misses write
# registers, and a wrongly matched one would overwrite a0 with RET.
# \idx is loaded into $r12 and $r16, the registers the rj near misses use as
# their cpucfg index.
    .macro NEARMISS word, idx=0
    LOAD_CALL NR_NEARMISS
    li.d    $r12, \idx
    li.d    $r16, \idx
    .word   \word
    .endm

    .macro PRINT label
    la.local $r12, \label
    bl      puts
    .endm

    .text
    .globl _start
_start:
    # The direct-boot path sets a0..a2 (boot arguments); start from a known
    # state so that nothing depends on it.
    .irp r, 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    or      $r\r, $r0, $r0
    .endr

    # All exceptions share one entry (ECFG.VS = 0 after reset).
    la.local $r12, exc_entry
    csrwr   $r12, CSR_EENTRY

    PRINT   s_start

# ---- 2. Args (one mode: the sentinel has a single form) ------------------
    LOAD_CALL NR_ARGS64
    SENTINEL
    EXPECT_D $r4, RET64, FAIL_ARGS

# ---- 3. Near misses: each field of 0x00006c00 changed alone --------------
# cpucfg never traps (an out-of-range index reads 0) and the rdtime family
# only traps at a PLV whose CSR.MISC.DRDTL bit is set, which is clear after
# reset; so no near miss traps and no trap count is kept.
    NEARMISS 0x00006c0c         # rd=$r12: cpucfg $r12,$r0 writes PRID into scratch $r12
    NEARMISS 0x00006c10         # rd=$r16 (top rd bit): writes PRID into scratch $r16
    NEARMISS 0x00006c01         # rd=$r1 (low rd bit): writes ra, reloaded by the next bl
    NEARMISS 0x00006d80         # rj=$r12: cpucfg $r0,$r12, index 0, result discarded
    NEARMISS 0x00006e00         # rj=$r16 (top rj bit): cpucfg $r0,$r16, index 0
    NEARMISS 0x00006d80, 0x40   # rj=$r12 with an index past the table: reads 0, discarded
    NEARMISS 0x00006800         # opcode bit 10: rdtime.d $r0,$r0, counter and ID discarded
    NEARMISS 0x00006400         # opcode bit 11: rdtimeh.w $r0,$r0, discarded
    NEARMISS 0x00006000         # opcode neighbour: rdtimel.w $r0,$r0, discarded
    # Not covered: other opcode bits give unallocated encodings (INE trap)
    # or the asrt* bound checks, which trap by design.

# ---- 4. Unregistered nr: the fallback declines, registers stay as they were
    LOAD_CALL NR_UNREG
    SENTINEL
    li.d    $r24, NR_UNREG
    EXPECT  $r11, FAIL_UNREG
    EXPECT_D $r4, A0_64, FAIL_UNREG     # a0 is also the return register
    EXPECT_D $r5, A1_64, FAIL_UNREG
    EXPECT_D $r6, A2_64, FAIL_UNREG
    EXPECT_D $r7, A3_64, FAIL_UNREG
    EXPECT_D $r8, A4_64, FAIL_UNREG
    EXPECT_D $r9, A5_64, FAIL_UNREG

# ---- 5. Write-back: the host writes WVAL into a3 ($r7), returns 0x1234 ---
    LOAD_CALL NR_WRITE
    SENTINEL
    EXPECT_D $r7, WVAL64, FAIL_WRITE
    EXPECT_D $r4, WRET, FAIL_WRITE

# ---- 6. State: a0 = the run-time address of the sentinel (PC-relative);
# the host writes a4 ($r8), a5 ($r9) and a2 ($r6) and returns 0x5354 -----
    LOAD_CALL NR_STATE
    la.pcrel $r4, penguin_state_sentinel
    .globl  penguin_state_sentinel
penguin_state_sentinel:
    SENTINEL
    EXPECT_D $r8, STATE_A4_64, FAIL_STATE
    EXPECT_D $r9, STATE_A5_64, FAIL_STATE
    EXPECT_D $r6, STATE_A2_64, FAIL_STATE
    EXPECT_D $r4, SRET, FAIL_STATE

# ---- 7. User mode: ertn to PLV3, hypercall there, syscall back -----------
    li.d    $r12, 3             # PRMD: PPLV = 3, PIE = 0
    csrwr   $r12, CSR_PRMD
    la.local $r12, user_code
    csrwr   $r12, CSR_ERA
    ertn

# Runs at PLV3; nothing here touches memory.
user_code:
    LOAD_CALL NR_USER
    SENTINEL
    EXPECT_D $r4, RET64, FAIL_USER
    syscall 0                   # exc_entry resumes at PLV0 at user_done

user_done:

# ---- 8. Verdict ----------------------------------------------------------
verdict:
    PRINT   s_verdict
    or      $r12, $r23, $r0
    bl      puthex
    PRINT   s_crlf

    li.d    $r11, NR_VERDICT
    or      $r4, $r23, $r0
    or      $r5, $r0, $r0
    or      $r6, $r0, $r0
    or      $r7, $r0, $r0
    or      $r8, $r0, $r0
    or      $r9, $r0, $r0
    SENTINEL
1:  b       1b                  # the host stops the VM here

# puts: print the NUL-terminated string at $r12.  Clobbers $r12..$r14.
puts:
    li.d    $r13, UART
1:  ld.bu   $r14, $r12, 0
    beqz    $r14, 2f
    st.b    $r14, $r13, 0
    addi.d  $r12, $r12, 1
    b       1b
2:  jirl    $r0, $r1, 0

# puthex: print the low 32 bits of $r12 as 8 hex digits.  Clobbers $r13..$r16.
puthex:
    li.d    $r13, UART
    li.d    $r15, 28
1:  srl.d   $r14, $r12, $r15
    andi    $r14, $r14, 0xf
    addi.d  $r14, $r14, 0x30
    slti    $r16, $r14, 0x3a
    bnez    $r16, 2f
    addi.d  $r14, $r14, 7       # 'A'..'F'
2:  st.b    $r14, $r13, 0
    addi.d  $r15, $r15, -4
    bge     $r15, $r0, 1b
    jirl    $r0, $r1, 0

# Exception entry (4 KiB aligned, as EENTRY requires).  From PLV3 (step 7):
# the syscall exception (ESTAT.Ecode 0xb) is the way back, any other sets 0x80;
# either way ertn returns to PLV0 at user_done.  From PLV0: 0x100, verdict.
    .balign 4096
exc_entry:
    csrrd   $r12, CSR_PRMD
    andi    $r12, $r12, 3       # PPLV: the level the exception came from
    beqz    $r12, 2f
    csrrd   $r12, CSR_ESTAT
    bstrpick.d $r12, $r12, 21, 16   # Ecode
    li.d    $r13, ECODE_SYS
    beq     $r12, $r13, 1f
    ori     $r23, $r23, FAIL_USER
1:  la.local $r12, user_done
    csrwr   $r12, CSR_ERA
    csrwr   $r0, CSR_PRMD       # PPLV = 0, PIE = 0
    ertn
2:  ori     $r23, $r23, FAIL_EXC
    b       verdict

    .data
s_start:
    .asciz "PENGUIN-GUEST loongarch64 start\r\n"
s_verdict:
    .asciz "PENGUIN-GUEST loongarch64 verdict "
s_crlf:
    .asciz "\r\n"
