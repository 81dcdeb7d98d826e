# Fast-snapshot test guest for 64-bit PowerPC on -M pseries, big- or little-endian
# (--defsym LE=1) (tests/guests/FASTSNAP.md). spapr loads the -bios image raw at 0 and
# enters it at 0x100 in real mode, big-endian (see ppc64.S).
#
# The device is the spapr-nvram (pseries has no 16550): byte 0 written with RTAS
# nvram-store and read back with nvram-fetch, through the H_RTAS hcall (sc 1). RTAS
# arguments are big-endian words whatever the guest's byte order.
#
# r14 = i, r15 = GO, r16 = BUF, r17 = SLOT; r18..r20 are the registers step 4 changes,
# r21/r22 the RTAS calls' scratch; r0, r3..r8 carry the hypercalls.

    .equ NR_FS_POINT,  0x50454e40
    .equ NR_FS_REPORT, 0x50454e41
    .equ SENTINEL,     0x694a0000   # xori r10,r10,0
    .equ H_RTAS,       0xf000
    .equ RTAS_NVRAM_FETCH, 0x2012
    .equ RTAS_NVRAM_STORE, 0x2013
    .equ MEM,          0
    .equ SLOT,         0x100000
    .equ GO,           0x101000
    .equ RTAS_ARGS,    0x102000     # token, nargs 3, nret 2, offset, buffer, length, 2 rets
    .equ NV_OUT,       0x102100     # the byte nvram-store takes
    .equ NV_IN,        0x102200     # where nvram-fetch puts it
    .equ BUF,          0x110000
    .equ BUF_LEN,      0x4000
    .equ MEM_LEN,      BUF + BUF_LEN - MEM
    .equ LI_R3,        0x38600000   # li r3, imm16
    .equ BLR,          0x4e800020

.macro LI32 r, v
    lis   \r, ((\v) >> 16) & 0xffff
    ori   \r, \r, (\v) & 0xffff
.endm

# Store r3 as a big-endian word at RTAS_ARGS + \offset (r21 = RTAS_ARGS).
.macro RTAS_WORD offset
    addi  22, 21, \offset
    .ifdef LE
    stwbrx 3, 0, 22
    .else
    stw   3, 0(22)
    .endif
.endm

# RTAS nvram-store or nvram-fetch of one byte at NVRAM offset 0 from/to \buffer.
.macro RTAS_NVRAM token, buffer
    LI32  21, RTAS_ARGS
    LI32  3, \token
    RTAS_WORD 0
    li    3, 3
    RTAS_WORD 4
    li    3, 2
    RTAS_WORD 8
    li    3, 0
    RTAS_WORD 12
    LI32  3, \buffer
    RTAS_WORD 16
    li    3, 1
    RTAS_WORD 20
    LI32  3, H_RTAS
    mr    4, 21
    sc    1
.endm

    .text
    .globl _start
_start:
    .org  0x100
    .ifdef LE
    # FIXUP_ENDIAN, as ppc64.S: switch to little-endian with rfid and come back here.
    tdi   0, 0, 0x48
    b     191f
    .long 0xa600607d, 0x01006b69, 0x00004039, 0x6401417d, 0x05009f42
    .long 0xa602487d, 0x14004a39, 0xa6035a7d, 0xa6037b7d, 0x2400004c
191:
    .endif
    LI32  15, GO
    LI32  16, BUF
    LI32  17, SLOT
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

    # 2. device: NVRAM byte 0 = DEV(i)
    xori  3, 14, 0x5a
    andi. 3, 3, 0xff
    LI32  4, NV_OUT
    stb   3, 0(4)
    RTAS_NVRAM RTAS_NVRAM_STORE, NV_OUT

    # 3. RAM
    mr    3, 16
    addi  4, 16, BUF_LEN
1:  stw   14, 0(3)
    addi  3, 3, 4
    cmplw 3, 4
    bne   1b

    # 4. registers
    addi  18, 14, 0x66
    sldi  19, 14, 37
    not   20, 14

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
3:  LI32  4, NV_IN
    li    3, 0
    stb   3, 0(4)
    RTAS_NVRAM RTAS_NVRAM_FETCH, NV_IN
    mtctr 17
    bctrl
    mr    4, 3
    LI32  5, NV_IN
    lbz   5, 0(5)
    mr    3, 14
    LI32  0, NR_FS_REPORT
    .long SENTINEL
    addi  14, 14, 1
    b     loop
