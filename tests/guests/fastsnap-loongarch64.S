# Fast-snapshot test guest for loongarch64 on -M virt (tests/guests/FASTSNAP.md).
# QEMU loads the ELF (linked at 0x200000) and starts it at PLV0 in direct-address mode
# with interrupts off, so every address below is physical.
#
# $r23 = i, $r24 = GO, $r25 = BUF, $r26 = SLOT, $r27 = the 16550; $r28..$r31 are the
# registers step 4 changes; a0..a5 ($r4..$r9) and a7 ($r11) carry the hypercalls.

# SENTINEL, UART, UART_SCR; NR_FS_*, FS_BUF_LEN, FASTSNAP_LAYOUT (common.inc)
    .include "loongarch64.inc"

    FASTSNAP_LAYOUT 0x200000, 0x300000, 0x301000, 0x310000  # MEM, SLOT, GO, BUF
    .equ ORI_A0,       0x03800004   # ori $r4, $r0, imm12 (imm at bit 10)
    .equ RET,          0x4c000020   # jirl $r0, $r1, 0

    .text
    .globl _start
_start:
    li.d    $r24, GO
    li.d    $r25, BUF
    li.d    $r26, SLOT
    li.d    $r27, UART
    st.w    $r0, $r24, 0
    li.w    $r12, RET
    st.w    $r12, $r26, 4
    li.d    $r23, 1

loop:
    # 1. slot = ori $r4, $r0, (i & 0xff); call it once
    andi    $r12, $r23, 0xff
    slli.d  $r12, $r12, 10
    li.w    $r13, ORI_A0
    or      $r12, $r12, $r13
    st.w    $r12, $r26, 0
    ibar    0
    jirl    $r1, $r26, 0

    # 2. device
    xori    $r12, $r23, 0x5a
    andi    $r12, $r12, 0xff
    st.b    $r12, $r27, UART_SCR

    # 3. RAM
    move    $r12, $r25
    li.d    $r13, FS_BUF_LEN
    add.d   $r13, $r13, $r25
1:  st.w    $r23, $r12, 0
    addi.d  $r12, $r12, 4
    bne     $r12, $r13, 1b

    # 4. registers
    addi.d  $r28, $r23, 0x66
    slli.d  $r29, $r23, 37
    nor     $r30, $r23, $r0
    xor     $r31, $r28, $r29

    # 5. point
    li.d    $r11, NR_FS_POINT
    move    $r4, $r23
    move    $r5, $r24
    move    $r6, $r25
    li.d    $r7, FS_BUF_LEN
    li.d    $r8, MEM
    li.d    $r9, MEM_LEN
    SENTINEL
    bnez    $r4, 3f
2:  ld.w    $r12, $r24, 0
    beqz    $r12, 2b
    st.w    $r0, $r24, 0

    # 6. report
3:  jirl    $r1, $r26, 0
    move    $r5, $r4
    ld.bu   $r6, $r27, UART_SCR
    move    $r4, $r23
    li.d    $r11, NR_FS_REPORT
    SENTINEL
    addi.d  $r23, $r23, 1
    b       loop
