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

# SENTINEL, LI32, PPC64_FIXUP_ENDIAN, FASTSNAP_START, FASTSNAP_CODE, FASTSNAP_RAM,
# FASTSNAP_POINT; NR_FS_*, FASTSNAP_LAYOUT (common.inc)
    .include "ppc.inc"

    FASTSNAP_LAYOUT 0, 0x100000, 0x101000, 0x110000  # MEM, SLOT, GO, BUF
    .equ H_RTAS,       0xf000
    .equ RTAS_NVRAM_FETCH, 0x2012
    .equ RTAS_NVRAM_STORE, 0x2013
    .equ RTAS_ARGS,    0x102000     # token, nargs 3, nret 2, offset, buffer, length, 2 rets
    .equ NV_OUT,       0x102100     # the byte nvram-store takes
    .equ NV_IN,        0x102200     # where nvram-fetch puts it

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
    PPC64_FIXUP_ENDIAN          # with --defsym LE=1: switch to little-endian
    FASTSNAP_START

loop:
    # 1. slot = li r3, (i & 0xff); call it once
    FASTSNAP_CODE

    # 2. device: NVRAM byte 0 = DEV(i)
    xori  3, 14, 0x5a
    andi. 3, 3, 0xff
    LI32  4, NV_OUT
    stb   3, 0(4)
    RTAS_NVRAM RTAS_NVRAM_STORE, NV_OUT

    # 3. RAM
    FASTSNAP_RAM

    # 4. registers
    addi  18, 14, 0x66
    sldi  19, 14, 37
    not   20, 14

    # 5. point
    FASTSNAP_POINT

    # 6. report
    LI32  4, NV_IN
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
    SENTINEL
    addi  14, 14, 1
    b     loop
