// MMIO-region test guest for AArch64 (tests/guests/PROTOCOL.md for the hypercall
// sentinel and registers; the MMIO steps are described below).
//
// Runs bare metal on `-M virt -cpu cortex-a57 -nodefaults -kernel mmio-aarch64.elf`:
// QEMU loads the ELF at its link address (0x40000000, start of RAM) and enters _start
// at EL1, MMU off, so every data access is Device-nGnRnE at its physical address.
//
// The host adds an MMIO region (penguin_qemu_add_mmio_region) at physical MMIO_BASE,
// size 0x1000, before the guest runs. 0x0b000000 is unclaimed on QEMU 10.0 virt: the
// virtio-mmio transports end at 0x0a004000 and the platform bus starts at 0x0c000000.
//
//   1. writes: strb 0x11 @0x10, strh 0x2233 @0x20, str w 0x44556677 @0x40,
//      str x 0x8899aabbccddeeff @0x80
//   2. reads: ldrb @0x101, ldrh @0x102, ldr w @0x104, ldr x @0x108; the host answers
//      (0x0102030405060708 + offset) truncated to the access size. Mismatch: 0x1.
//   3. NR_MMIO_REMOVE (a0 = 0): the host removes the region.
//   4. str w 0xdeadbeef @0x40 and ldr w @0x104: unassigned memory now, so each may raise
//      a synchronous external abort (EC 0x25), which the handler counts and skips.
//   5. NR_VERDICT, a0 = fail mask, a1 = the number of aborts in step 4; then spin.
//
// Register use: x8 = nr, x0..x5 = a0..a5, x20 = fail mask, x21 = data-abort count,
// x22 = MMIO_BASE, x9/x10 scratch.
// Fail mask bits: 0x1 read value mismatch, 0x2 a data abort in steps 1-2 (an access
// the region should have caught), 0x100 an exception other than a data abort.

// SENTINEL, expect, el1_entry, report_verdict, eret_next, pl011_routines, el1_vectors;
// NR_VERDICT, NR_MMIO_REMOVE (common.inc)
    .include "aarch64.inc"

    .equ MMIO_BASE,     0x0b000000

    .equ READ_BASE,     0x0102030405060708  // the host's answer: READ_BASE + offset

    .equ FAIL_READ,     0x1
    .equ FAIL_ABORT,    0x2
    .equ FAIL_EXC,      0x100

    .equ EC_DABT_CUR,   0x25                // data abort taken without a change in EL

    .text
    .globl _start
_start:
    el1_entry

    mov     x20, #0
    mov     x21, #0
    ldr     x22, =MMIO_BASE

    ldr     x0, =msg_start
    bl      puts

    // 1. writes of each size
    mov     w10, #0x11
    strb    w10, [x22, #0x10]
    mov     w10, #0x2233
    strh    w10, [x22, #0x20]
    ldr     w10, =0x44556677
    str     w10, [x22, #0x40]
    ldr     x10, =0x8899aabbccddeeff
    str     x10, [x22, #0x80]

    // 2. reads of each size (ldrb/ldrh/ldr w zero-extend into x10)
    mov     x10, #0
    ldrb    w10, [x22, #0x101]
    expect  x10, (READ_BASE + 0x101) & 0xff, FAIL_READ
    mov     x10, #0
    ldrh    w10, [x22, #0x102]
    expect  x10, (READ_BASE + 0x102) & 0xffff, FAIL_READ
    mov     x10, #0
    ldr     w10, [x22, #0x104]
    expect  x10, (READ_BASE + 0x104) & 0xffffffff, FAIL_READ
    mov     x10, #0
    ldr     x10, [x22, #0x108]
    expect  x10, READ_BASE + 0x108, FAIL_READ

    // While the region exists no access may fault.
    cbz     x21, 2f
    orr     x20, x20, #FAIL_ABORT
2:

    // 3. the host removes the region
    ldr     x8, =NR_MMIO_REMOVE
    mov     x0, #0
    mov     x1, #0
    mov     x2, #0
    mov     x3, #0
    mov     x4, #0
    mov     x5, #0
    SENTINEL

    // 4. the same addresses again: nothing may reach the host now
    mov     x21, #0
    ldr     w10, =0xdeadbeef
    str     w10, [x22, #0x40]
    ldr     w10, [x22, #0x104]

verdict:
    // 5. verdict
    report_verdict x21

    pl011_routines

// Synchronous exception at EL1: a data abort (EC 0x25, the external abort an access to
// unassigned memory raises) is counted in x21; any other class (e.g. an UNDEFINED
// sentinel on a QEMU without the hypercall path) sets FAIL_EXC. Either way execution
// resumes after the faulting instruction (ELR_EL1 holds it; all instructions are 4 bytes).
sync_handler:
    stp     x0, x1, [sp, #-16]!
    mrs     x0, esr_el1
    lsr     x0, x0, #26
    cmp     x0, #EC_DABT_CUR
    b.ne    7f
    add     x21, x21, #1
    b       8f
7:  orr     x20, x20, #FAIL_EXC
8:  eret_next

unexpected:
    orr     x20, x20, #FAIL_EXC
    b       verdict

    .ltorg

msg_start:   .asciz "PENGUIN-GUEST mmio-aarch64 start\r\n"
msg_verdict: .asciz "PENGUIN-GUEST mmio-aarch64 verdict "
msg_crlf:    .asciz "\r\n"

// We stay at EL1, so no lower-EL entry is expected.
    el1_vectors

    .data
    .balign 16
stack:
    .space  512
stack_top:
