# Fast-snapshot test guest for 32-bit PowerPC e500v2 on -M ppce500
# (tests/guests/FASTSNAP.md). QEMU loads the ELF (linked at 0x100000), maps EA 0.. to
# PA 0 in TLB1[0] and enters _start in supervisor mode with external interrupts off.
#
# r14 = i, r15 = GO, r16 = BUF, r17 = SLOT, r18 = the 16550; r19..r22 are the registers
# step 4 changes; r0, r3..r8 carry the hypercalls.

    .equ NR_FS_POINT,  0x50454e40
    .equ NR_FS_REPORT, 0x50454e41
    .equ SENTINEL,     0x694a0000   # xori r10,r10,0
    .equ CCSR_EA,      0xE0000000   # where TLB1[1] below maps CCSR
    .equ UART,         CCSR_EA + 0x4500
    .equ UART_SCR,     7
    .equ MEM,          0x100000
    .equ SLOT,         0x200000
    .equ GO,           0x201000
    .equ BUF,          0x210000
    .equ BUF_LEN,      0x4000
    .equ MEM_LEN,      BUF + BUF_LEN - MEM
    .equ LI_R3,        0x38600000   # li r3, imm16
    .equ BLR,          0x4e800020
    .equ SPR_MAS0, 624
    .equ SPR_MAS1, 625
    .equ SPR_MAS2, 626
    .equ SPR_MAS3, 627
    .equ SPR_MAS7, 944

.macro LI32 r, v
    lis   \r, ((\v) >> 16) & 0xffff
    ori   \r, \r, (\v) & 0xffff
.endm

    .text
    .globl _start
_start:
    # TLB1[1]: EA 0xE0000000 -> PA 0xF_E000_0000 (CCSR), 1 MiB, cache-inhibited and
    # guarded, supervisor RW (as ppce500.S).
    lis   3, 0x1001
    mtspr SPR_MAS0, 3
    LI32  3, 0xC0000500
    mtspr SPR_MAS1, 3
    LI32  3, 0xE000000A
    mtspr SPR_MAS2, 3
    LI32  3, 0xE0000015
    mtspr SPR_MAS3, 3
    li    3, 0xF
    mtspr SPR_MAS7, 3
    isync
    tlbwe
    isync

    # The decrementer at its maximum (10 s at 400 MHz): expiring, it would set TSR[DIS]
    # at a moment that depends on the host's timing.
    li    3, -1
    mtdec 3

    LI32  15, GO
    LI32  16, BUF
    LI32  17, SLOT
    LI32  18, UART
    li    3, 0
    stw   3, 0(15)
    LI32  3, BLR
    stw   3, 4(17)
    li    14, 1

loop:
    # 1. slot = li r3, (i & 0xff); call it once
    andi. 3, 14, 0xff
    oris  3, 3, LI_R3 >> 16
    stw   3, 0(17)
    dcbst 0, 17
    sync
    icbi  0, 17
    isync
    mtctr 17
    bctrl

    # 2. device
    xori  3, 14, 0x5a
    andi. 3, 3, 0xff
    stb   3, UART_SCR(18)

    # 3. RAM
    mr    3, 16
    addi  4, 16, BUF_LEN
1:  stw   14, 0(3)
    addi  3, 3, 4
    cmplw 3, 4
    bne   1b

    # 4. registers
    addi  19, 14, 0x66
    slwi  20, 14, 20
    not   21, 14
    xor   22, 19, 20

    # 5. point
    LI32  0, NR_FS_POINT
    mr    3, 14
    mr    4, 15
    mr    5, 16
    li    6, BUF_LEN
    LI32  7, MEM
    LI32  8, MEM_LEN
    .long SENTINEL
    cmpwi 3, 0
    bne   3f
2:  lwz   3, 0(15)
    cmpwi 3, 0
    beq   2b
    li    3, 0
    stw   3, 0(15)

    # 6. report
3:  mtctr 17
    bctrl
    mr    4, 3
    lbz   5, UART_SCR(18)
    mr    3, 14
    LI32  0, NR_FS_REPORT
    .long SENTINEL
    addi  14, 14, 1
    b     loop
