# Fast-snapshot test guest for the MIPS targets on -M malta (tests/guests/FASTSNAP.md).
# One source, four builds as mips.S: o32 for mips and mipsel, n64 (--defsym N64=1,
# -msym32) for mips64 and mips64el. The malta boot stub enters _start in kernel mode
# (Status.ERL set, interrupts off); everything runs in KSEG0, the UART through KSEG1.
#
# $16 = i, $17 = GO, $18 = BUF, $19 = SLOT, $20 = COM1; $21..$23 and $30 are the
# registers step 4 changes; v0 and $4..$9 carry the hypercalls.

    .set noreorder          # every delay slot below is filled by hand

# SENTINEL, PADDIU, PLA, UART_HI, UART_LO; NR_FS_*, FS_BUF_LEN, FASTSNAP_LAYOUT
# (common.inc)
    .include "mips.inc"

    .equ COM1_SCR,     7            # from UART_HI/UART_LO (COM1's THR)
    # MEM, SLOT, GO, BUF in KSEG0 (sign-extended in n64 code)
    .ifdef N64
    FASTSNAP_LAYOUT 0xffffffff80100000, 0xffffffff80200000, 0xffffffff80201000, 0xffffffff80210000
    .else
    FASTSNAP_LAYOUT 0x80100000, 0x80200000, 0x80201000, 0x80210000
    .endif
    .equ ORI_V0,       0x34020000   # ori $2, $0, imm16
    .equ JR_RA,        0x03e00008

    .text
    .globl _start
_start:
    PLA  $17, GO
    PLA  $18, BUF
    PLA  $19, SLOT
    lui  $20, UART_HI
    ori  $20, $20, UART_LO
    sw   $0, 0($17)
    li   $3, JR_RA
    sw   $3, 4($19)
    sw   $0, 8($19)                 # its delay slot: nop
    li   $16, 1

loop:
    # 1. slot = ori $2, $0, (i & 0xff); call it once
    andi $3, $16, 0xff
    li   $4, ORI_V0
    or   $3, $3, $4
    sw   $3, 0($19)
    sync
    synci 0($19)
    sync
    jalr $19
    nop

    # 2. device
    xori $3, $16, 0x5a
    andi $3, $3, 0xff
    sb   $3, COM1_SCR($20)

    # 3. RAM
    move $8, $18
    PADDIU $9, $18, FS_BUF_LEN
1:  sw   $16, 0($8)
    PADDIU $8, $8, 4
    bne  $8, $9, 1b
    nop

    # 4. registers
    addiu $21, $16, 0x21
    sll  $22, $16, 22
    nor  $23, $16, $0
    xor  $30, $21, $22

    # 5. point
    li   $2, NR_FS_POINT
    move $4, $16
    move $5, $17
    move $6, $18
    li   $7, FS_BUF_LEN
    PLA  $8, MEM
    li   $9, MEM_LEN
    SENTINEL
    bne  $2, $0, 3f
    nop
2:  lw   $3, 0($17)
    beq  $3, $0, 2b
    nop
    sw   $0, 0($17)

    # 6. report
3:  jalr $19
    nop
    move $5, $2
    lbu  $6, COM1_SCR($20)
    move $4, $16
    li   $2, NR_FS_REPORT
    SENTINEL
    b    loop
    PADDIU $16, $16, 1              # delay slot
