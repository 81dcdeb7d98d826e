// Hypercall test guest for AArch64 (tests/guests/PROTOCOL.md).
//
// Runs bare metal on `-M virt -cpu cortex-a57 -kernel aarch64.elf`: QEMU loads the ELF at
// its link address (0x40000000, start of RAM) and enters _start at EL1, MMU off.
//
// One sentinel form (0xd500501f), so a correct run makes exactly 1 NR_ARGS64 call and no
// NR_ARGS32 call. With --defsym DOORBELL=1 every hypercall goes through the virt board's
// doorbell instead (aarch64.inc), the form a guest under KVM uses, and four doorbell
// near misses (other sizes and offsets) are added. Near misses: 7, each one field of the sentinel changed, all UNDEFINED
// on cortex-a57 (unallocated system-instruction space, QEMU raises EC 0 "unknown").
//
// Register use: x8 = nr, x0..x5 = a0..a5, x0 = ret, x20 = fail mask, x9 scratch.
// Fail mask bits: 0x1 args, 0x2 trap count, 0x4 unregistered, 0x8 write-back, 0x40 state,
// 0x80 user mode (PROTOCOL), and 0x100 for an exception that is not an UNDEFINED-instruction trap (a guest bug).

// SENTINEL, load_a1_a5, expect, el1_entry, report_verdict, eret_next, pl011_routines,
// el1_vectors; NR_*, A*_64, RET64, WVAL64, WRET, SRET, FAIL_* (common.inc)
    .include "aarch64.inc"

    .equ N_TRAPS,      7
    .equ FAIL_EXC,     0x100

// Every hypercall and near miss starts from freshly loaded nr and A_0..A_5, so a near
// miss that wrongly reached the host would be recognisable by its arguments.
.macro load_args nr
    ldr     x8, =\nr
    ldr     x0, =A0_64
    load_a1_a5
.endm

    .text
    .globl _start
_start:
    el1_entry

    mov     x20, #0
    ldr     x0, =trap_count             // never rely on the loaded image's data
    str     xzr, [x0]

    // 1. start marker
    ldr     x0, =msg_start
    bl      puts

    // 2. args (the doorbell form first reads the doorbell's magic)
.ifdef DOORBELL
    ldr     w9, [x16]
    expect  x9, DOORBELL_MAGIC, FAIL_ARGS
.endif
    load_args NR_ARGS64
    SENTINEL
    expect  x0, RET64, FAIL_ARGS

    // 3. near misses: op0=0 with CRn other than 2/3/4 (hints, barriers, PSTATE) and
    // op0=1 with CRn=5 are unallocated on cortex-a57, so each traps. None is the
    // sentinel, so the library must leave them to the architecture.
    ldr     x0, =trap_count
    str     xzr, [x0]

    load_args NR_NEARMISS
    .inst   0xd5005000                  // Rt=x0:  msr S0_0_C5_C0_0, x0
    load_args NR_NEARMISS
    .inst   0xd500503f                  // op2=1:  msr S0_0_C5_C0_1, xzr
    load_args NR_NEARMISS
    .inst   0xd500511f                  // CRm=1:  msr S0_0_C5_C1_0, xzr
    load_args NR_NEARMISS
    .inst   0xd500601f                  // CRn=6:  msr S0_0_C6_C0_0, xzr
    load_args NR_NEARMISS
    .inst   0xd501501f                  // op1=1:  msr S0_1_C5_C0_0, xzr
    load_args NR_NEARMISS
    .inst   0xd520501f                  // L=1:    mrs xzr, S0_0_C5_C0_0
    load_args NR_NEARMISS
    .inst   0xd508501f                  // op0=1:  sys #0, C5, C0, #0, xzr

.ifdef DOORBELL
    // The doorbell's near misses: other sizes and offsets are ignored, no trap.
    load_args NR_NEARMISS
    strb    wzr, [x16]
    load_args NR_NEARMISS
    strh    wzr, [x16]
    load_args NR_NEARMISS
    str     wzr, [x16, #4]
    load_args NR_NEARMISS
    str     xzr, [x16, #8]
    isb
.endif

    ldr     x0, =trap_count
    ldr     x1, [x0]
    expect  x1, N_TRAPS, FAIL_TRAPS

    // 4. unregistered: the fallback declines, so every register must survive. The check
    // does not care whether a declined sentinel traps (the handler preserves registers
    // and the trap count is no longer looked at).
    load_args NR_UNREG
    SENTINEL
    expect  x8, NR_UNREG,           FAIL_UNREG
    expect  x0, A0_64,              FAIL_UNREG
    expect  x1, A1_64,              FAIL_UNREG
    expect  x2, A2_64,              FAIL_UNREG
    expect  x3, A3_64,              FAIL_UNREG
    expect  x4, A4_64,              FAIL_UNREG
    expect  x5, A5_64,              FAIL_UNREG

    // 5. write-back: the host writes WVAL into a3 (x3) and returns 0x1234.
    load_args NR_WRITE
    SENTINEL
    expect  x3, WVAL64, FAIL_WRITE
    expect  x0, WRET,   FAIL_WRITE

    // 6. state: a0 (x0) = the run-time address of the sentinel (adr is PC-relative);
    // the host writes a4 (x4), a5 (x5) and a2 (x2) and returns 0x5354.
    load_args NR_STATE
    adr     x0, penguin_state_sentinel
    .globl  penguin_state_sentinel
penguin_state_sentinel:
    SENTINEL
    expect  x4, STATE_A4_64,        FAIL_STATE
    expect  x5, STATE_A5_64,        FAIL_STATE
    expect  x2, STATE_A2_64,        FAIL_STATE
    expect  x0, SRET,               FAIL_STATE

    // 7. user mode: eret to EL0 (MMU off: EL0 may execute and access everything), make
    // the hypercall there, svc back. The lower-EL synchronous vector (VBAR+0x400)
    // resumes at EL1 at user_done.
    adr     x9, user_code
    msr     elr_el1, x9
    mov     x9, #0x3c0                  // SPSR: EL0t, D, A, I, F masked
    msr     spsr_el1, x9
    isb
    eret

// Runs at EL0 (the literal-pool loads are the only memory accesses).
user_code:
    load_args NR_USER
    SENTINEL
    expect  x0, RET64, FAIL_USER
    svc     #0                          // EC 0x15: lower_sync resumes at user_done

user_done:                              // at EL1 again, on SP_EL1

verdict:
    // 8. verdict
    report_verdict #0

    pl011_routines

// Counts the trap and resumes at the next instruction (ELR_EL1 holds the faulting one).
// An UNDEFINED encoding reports EC 0 ("unknown reason"); any other class means this
// program went wrong, so it is flagged but still skipped to reach the verdict.
sync_handler:
    stp     x0, x1, [sp, #-16]!
    mrs     x0, esr_el1
    lsr     x0, x0, #26
    cbz     x0, 6f
    orr     x20, x20, #FAIL_EXC
6:  ldr     x0, =trap_count
    ldr     x1, [x0]
    add     x1, x1, #1
    str     x1, [x0]
    eret_next

unexpected:
    orr     x20, x20, #FAIL_EXC
    b       verdict

// Any exception from EL0 (step 7) ends the user-mode part: an SVC from AArch64 (EC 0x15)
// is the expected way back, anything else sets FAIL_USER. Either way execution goes on
// at EL1 at user_done (the exception already put us at EL1 on SP_EL1, DAIF masked).
lower_sync:
    mrs     x9, esr_el1
    lsr     x9, x9, #26
    cmp     x9, #0x15
    b.eq    user_done
lower_other:
    orr     x20, x20, #FAIL_USER
    b       user_done

    .ltorg

msg_start:   .asciz "PENGUIN-GUEST aarch64 start\r\n"
msg_verdict: .asciz "PENGUIN-GUEST aarch64 verdict "
msg_crlf:    .asciz "\r\n"

// Only step 7's EL0 code takes exceptions to the lower-EL entries.
    el1_vectors lower_sync, lower_other

    .data
    .balign 16
trap_count:
    .quad   0
    .balign 16
stack:
    .space  512
stack_top:
