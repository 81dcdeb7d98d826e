# Hypercall test guest for loongarch64 (protocol: tests/guests/PROTOCOL.md).
#
# qemu-system-loongarch64 -M virt -cpu la464 -kernel prog.elf: QEMU loads the
# ELF and starts it at PLV0 in direct-address (DA) mode with interrupts off,
# so the UART is reached by its physical address.  Nothing here may trap:
# there is no exception handler (EENTRY is not set up).
#
# Register use: a7 ($r11) nr, $r4..$r9 the six arguments, a0 the return
# value, $r23 fail mask, $r24 expected value, $r12..$r16 scratch for the
# near misses and the UART routines.

    .equ NR_ARGS64,   0x50454e11
    .equ NR_WRITE,    0x50454e02
    .equ NR_VERDICT,  0x50454e03
    .equ NR_UNREG,    0x50454e04
    .equ NR_NEARMISS, 0x50454e05
    .equ NR_STATE,    0x50454e06

    .equ UART,        0x1fe001e0    # virt NS16550 THR

# The hypercall sentinel, emitted as a raw word so the encoding cannot drift
# with assembler versions: cpucfg $r0,$r0.
    .macro SENTINEL
    .word 0x00006c00
    .endm

    .macro LOAD_CALL nr
    li.d    $r11, \nr
    li.d    $r4, 0x1111111111111111
    li.d    $r5, 0x2222222222222222
    li.d    $r6, 0x3333333333333333
    li.d    $r7, 0x4444444444444444
    li.d    $r8, 0x5555555555555555
    li.d    $r9, 0x6666666666666666
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

    PRINT   s_start

# ---- 2. Args (one mode: the sentinel has a single form) ------------------
    LOAD_CALL NR_ARGS64
    SENTINEL
    EXPECT_D $r4, 0xfedcba9876543210, 0x1

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
    EXPECT  $r11, 0x4
    EXPECT_D $r4, 0x1111111111111111, 0x4   # a0 is also the return register
    EXPECT_D $r5, 0x2222222222222222, 0x4
    EXPECT_D $r6, 0x3333333333333333, 0x4
    EXPECT_D $r7, 0x4444444444444444, 0x4
    EXPECT_D $r8, 0x5555555555555555, 0x4
    EXPECT_D $r9, 0x6666666666666666, 0x4

# ---- 5. Write-back: the host writes WVAL into a3 ($r7), returns 0x1234 ---
    LOAD_CALL NR_WRITE
    SENTINEL
    EXPECT_D $r7, 0x5a5a5a5a5a5a5a5a, 0x8
    EXPECT_D $r4, 0x1234, 0x8

# ---- 6. State: a0 = the run-time address of the sentinel (PC-relative);
# the host writes a4 ($r8), a5 ($r9) and a2 ($r6) and returns 0x5354 -----
    LOAD_CALL NR_STATE
    la.pcrel $r4, penguin_state_sentinel
    .globl  penguin_state_sentinel
penguin_state_sentinel:
    SENTINEL
    EXPECT_D $r8, 0x0a0a0a0a0a0a0a0a, 0x40
    EXPECT_D $r9, 0x0b0b0b0b0b0b0b0b, 0x40
    EXPECT_D $r6, 0x0c0c0c0c0c0c0c0c, 0x40
    EXPECT_D $r4, 0x5354, 0x40

# ---- 7. Verdict ----------------------------------------------------------
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

    .data
s_start:
    .asciz "PENGUIN-GUEST loongarch64 start\r\n"
s_verdict:
    .asciz "PENGUIN-GUEST loongarch64 verdict "
s_crlf:
    .asciz "\r\n"
