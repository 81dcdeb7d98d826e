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

    .equ UART_DR,       0x09000000          // PL011 data register on virt
    .equ MMIO_BASE,     0x0b000000

    .equ NR_VERDICT,    0x50454e03
    .equ NR_MMIO_REMOVE, 0x50454e20

    .equ READ_BASE,     0x0102030405060708  // the host's answer: READ_BASE + offset

    .equ FAIL_READ,     0x1
    .equ FAIL_ABORT,    0x2
    .equ FAIL_EXC,      0x100

    .equ EC_DABT_CUR,   0x25                // data abort taken without a change in EL

// reg != val sets bit in the fail mask.
.macro expect reg, val, bit
    ldr     x9, =\val
    cmp     \reg, x9
    b.eq    1f
    orr     x20, x20, #\bit
1:
.endm

    .text
    .globl _start
_start:
    msr     daifset, #0xf               // deterministic: nothing asynchronous may arrive
    msr     spsel, #1                   // run on SP_EL1, so traps use the VBAR+0x200 entry
    ldr     x0, =stack_top
    mov     sp, x0
    ldr     x0, =vectors
    msr     vbar_el1, x0
    isb

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
    .inst   0xd500501f                  // SENTINEL msr S0_0_C5_C0_0, xzr

    // 4. the same addresses again: nothing may reach the host now
    mov     x21, #0
    ldr     w10, =0xdeadbeef
    str     w10, [x22, #0x40]
    ldr     w10, [x22, #0x104]

verdict:
    // 5. verdict
    ldr     x0, =msg_verdict
    bl      puts
    mov     x0, x20
    bl      puthex
    ldr     x0, =msg_crlf
    bl      puts

    ldr     x8, =NR_VERDICT
    mov     x0, x20
    mov     x1, x21
    mov     x2, #0
    mov     x3, #0
    mov     x4, #0
    mov     x5, #0
    .inst   0xd500501f                  // SENTINEL
3:  b       3b                          // the host stops the VM

// puts: x0 = NUL-terminated string. Leaf, clobbers x0-x2.
puts:
    ldr     x1, =UART_DR
4:  ldrb    w2, [x0], #1
    cbz     w2, 5f
    strb    w2, [x1]
    b       4b
5:  ret

// puthex: x0 printed as 0x + 8 hex digits (the mask fits in 32 bits). Leaf, clobbers
// x0-x3 and x9.
puthex:
    ldr     x1, =UART_DR
    mov     w2, #'0'
    strb    w2, [x1]
    mov     w2, #'x'
    strb    w2, [x1]
    lsl     x0, x0, #32
    mov     x3, #8
6:  lsr     x2, x0, #60
    cmp     x2, #10
    add     x9, x2, #'0'
    add     x2, x2, #('a' - 10)
    csel    x2, x9, x2, lo
    strb    w2, [x1]
    lsl     x0, x0, #4
    subs    x3, x3, #1
    b.ne    6b
    ret

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
8:  mrs     x0, elr_el1
    add     x0, x0, #4
    msr     elr_el1, x0
    ldp     x0, x1, [sp], #16
    eret

unexpected:
    orr     x20, x20, #FAIL_EXC
    b       verdict

    .ltorg

msg_start:   .asciz "PENGUIN-GUEST mmio-aarch64 start\r\n"
msg_verdict: .asciz "PENGUIN-GUEST mmio-aarch64 verdict "
msg_crlf:    .asciz "\r\n"

// VBAR_EL1 needs 2 KiB alignment; 16 entries of 0x80 bytes. We stay at EL1 on SP_EL1
// with interrupts masked, so only "current EL, SP_ELx, synchronous" (0x200) is expected.
    .balign 2048
vectors:
    .rept 4                             // current EL, SP_EL0
    .balign 0x80
    b       unexpected
    .endr
    .balign 0x80                        // 0x200: current EL, SP_ELx, synchronous
    b       sync_handler
    .rept 11                            // SP_ELx irq/fiq/serror, lower EL (never)
    .balign 0x80
    b       unexpected
    .endr

    .data
    .balign 16
stack:
    .space  512
stack_top:
