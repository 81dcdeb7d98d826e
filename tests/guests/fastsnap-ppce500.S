# Fast-snapshot test guest for 32-bit PowerPC e500v2 on -M ppce500
# (tests/guests/FASTSNAP.md). QEMU loads the ELF (linked at 0x100000), maps EA 0.. to
# PA 0 in TLB1[0] and enters _start in supervisor mode with external interrupts off.
#
# r14 = i, r15 = GO, r16 = BUF, r17 = SLOT, r18 = the 16550; r19..r22 are the registers
# step 4 changes; r0, r3..r8 carry the hypercalls.

# SENTINEL, LI32, E500_MAP_CCSR, UART, FASTSNAP_START, FASTSNAP_CODE, FASTSNAP_RAM,
# FASTSNAP_POINT; NR_FS_*, FASTSNAP_LAYOUT (common.inc)
    .include "ppc.inc"

    .equ UART_SCR,     7
    FASTSNAP_LAYOUT 0x100000, 0x200000, 0x201000, 0x210000  # MEM, SLOT, GO, BUF

    .text
    .globl _start
_start:
    E500_MAP_CCSR               # the UART's page

    # The decrementer at its maximum (10 s at 400 MHz): expiring, it would set TSR[DIS]
    # at a moment that depends on the host's timing.
    li    3, -1
    mtdec 3

    LI32  18, UART
    FASTSNAP_START

loop:
    # 1. slot = li r3, (i & 0xff); call it once
    FASTSNAP_CODE

    # 2. device
    xori  3, 14, 0x5a
    andi. 3, 3, 0xff
    stb   3, UART_SCR(18)

    # 3. RAM
    FASTSNAP_RAM

    # 4. registers
    addi  19, 14, 0x66
    slwi  20, 14, 20
    not   21, 14
    xor   22, 19, 20

    # 5. point
    FASTSNAP_POINT

    # 6. report
    mtctr 17
    bctrl
    mr    4, 3
    lbz   5, UART_SCR(18)
    mr    3, 14
    LI32  0, NR_FS_REPORT
    SENTINEL
    addi  14, 14, 1
    b     loop
