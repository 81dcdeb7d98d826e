@ Hypercall test guest for 32-bit ARM (tests/guests/PROTOCOL.md).
@
@ Runs bare metal on `-M virt -kernel arm.elf` (cortex-a15) with the arm library, and on
@ `-M virt -cpu cortex-a15 -kernel arm.elf` with the aarch64 library (AArch32 at EL1).
@ QEMU loads the ELF at its link address (0x40000000, start of RAM) and enters _start in
@ SVC mode, ARM state, MMU off.
@
@ The sentinel `mcr p7, 0, r0, c0, c0, 0` exists in two encodings, so the args step runs
@ once in A32 and once in T32: a correct run makes exactly 2 NR_ARGS32 calls and no
@ NR_ARGS64 call. Near misses: 8 in A32, 7 in T32, all 15 trap as UNDEFINED (cortex-a15
@ is v7, where cp6/cp7 are "valid" coprocessor numbers with no registers behind them, so
@ QEMU raises UNDEF for every one of them).
@
@ Register use: r7 = nr, r0..r5 = a0..a5, r0 = ret, r10 = fail mask, r8/r9 scratch.
@ Fail mask bits: 0x1 args, 0x2 trap count, 0x4 unregistered, 0x8 write-back, 0x40 state,
@ 0x80 user mode (PROTOCOL), and 0x100 for an exception other than Undefined Instruction (a guest bug).

    .syntax unified
    .arch armv7-a

@ SENTINEL, SENTINEL_T32, li, UART_DR; NR_*, A*_32, RET32, WVAL32, WRET, SRET, FAIL_*
@ (common.inc)
    .include "arm.inc"

    .equ N_TRAPS,      15              @ 8 A32 + 7 T32 near misses, all UNDEFINED
    .equ FAIL_EXC,     0x100

    .equ MODE_USR,     0x10
    .equ MODE_SVC,     0x13
    .equ MODE_UND,     0x1b

@ Every hypercall and near miss starts from freshly loaded nr and A_0..A_5, so a near
@ miss that wrongly reached the host would be recognisable by its arguments.
.macro load_args nr
    li      r7, \nr
    li      r0, A0_32
    li      r1, A1_32
    li      r2, A2_32
    li      r3, A3_32
    li      r4, A4_32
    li      r5, A5_32
.endm

@ reg != val sets bit in the fail mask. The `it` is needed in T32 and emits nothing in
@ A32 (unified syntax), so one macro serves both states.
.macro expect reg, val, bit
    li      r9, \val
    cmp     \reg, r9
    it      ne
    orrne   r10, r10, #\bit
.endm

    .text
    .arm
    .globl _start
_start:
    cpsid   aif                 @ deterministic: nothing asynchronous may arrive

    @ The Undefined handler pushes registers, so it gets its own stack.
    cps     #MODE_UND
    li      sp, und_stack_top
    cps     #MODE_SVC

    @ SCTLR.V=0 so exceptions use VBAR (reset VBAR 0 is flash on virt, not writable);
    @ SCTLR.TE=0 so handlers run in ARM state even when the fault is in Thumb code.
    mrc     p15, 0, r0, c1, c0, 0
    bic     r0, r0, #(1 << 13)
    bic     r0, r0, #(1 << 30)
    mcr     p15, 0, r0, c1, c0, 0
    li      r0, vectors
    mcr     p15, 0, r0, c12, c0, 0      @ VBAR
    isb

    mov     r10, #0
    li      r0, trap_count              @ never rely on the loaded image's data
    mov     r1, #0
    str     r1, [r0]

    @ 1. start marker
    li      r0, msg_start
    bl      puts

    @ 2a. args, A32 form of the sentinel
    load_args NR_ARGS32
    SENTINEL                            @ A32
    expect  r0, RET32, FAIL_ARGS

    @ 2b. args, T32 form: bx to an odd address enters Thumb state.
    li      r0, t32_args
    orr     r0, r0, #1                  @ T bit, whether or not the reloc set it
    bx      r0

    .thumb
    .thumb_func
t32_args:
    load_args NR_ARGS32
    SENTINEL_T32
    expect  r0, RET32, FAIL_ARGS
    li      r0, a32_nearmiss            @ even address: bx returns to ARM state
    bx      r0

    .arm
    .balign 4
a32_nearmiss:
    @ 3. near misses: each changes one field of 0xee000710. None is the sentinel, so the
    @ library must leave them to the architecture, which makes all of them UNDEFINED here.
    li      r0, trap_count
    mov     r1, #0
    str     r1, [r0]

    load_args NR_NEARMISS
    .inst   0xee200710                  @ opc1=1:  mcr p7, 1, r0, c0, c0, 0
    load_args NR_NEARMISS
    .inst   0xee001710                  @ Rt=r1:   mcr p7, 0, r1, c0, c0, 0
    load_args NR_NEARMISS
    .inst   0xee010710                  @ CRn=c1:  mcr p7, 0, r0, c1, c0, 0
    load_args NR_NEARMISS
    .inst   0xee000711                  @ CRm=c1:  mcr p7, 0, r0, c0, c1, 0
    load_args NR_NEARMISS
    .inst   0xee000730                  @ opc2=1:  mcr p7, 0, r0, c0, c0, 1
    load_args NR_NEARMISS
    .inst   0xee000610                  @ coproc:  mcr p6, 0, r0, c0, c0, 0
    load_args NR_NEARMISS
    .inst   0xee100710                  @ L=1:     mrc p7, 0, r0, c0, c0, 0
    load_args NR_NEARMISS
    movs    r9, #1                      @ Z=0, so NE passes and the insn really executes
    .inst   0x1e000710                  @ cond=NE: mcrne p7, 0, r0, c0, c0, 0

    li      r0, t32_nearmiss
    orr     r0, r0, #1
    bx      r0

    .thumb
    .thumb_func
t32_nearmiss:
    @ Same single-field changes in T32 (no cond field there). 32-bit Thumb instructions;
    @ the handler resumes 4 bytes after each.
    load_args NR_NEARMISS
    .inst.w 0xee200710                  @ opc1=1:  mcr p7, 1, r0, c0, c0, 0
    load_args NR_NEARMISS
    .inst.w 0xee001710                  @ Rt=r1:   mcr p7, 0, r1, c0, c0, 0
    load_args NR_NEARMISS
    .inst.w 0xee010710                  @ CRn=c1:  mcr p7, 0, r0, c1, c0, 0
    load_args NR_NEARMISS
    .inst.w 0xee000711                  @ CRm=c1:  mcr p7, 0, r0, c0, c1, 0
    load_args NR_NEARMISS
    .inst.w 0xee000730                  @ opc2=1:  mcr p7, 0, r0, c0, c0, 1
    load_args NR_NEARMISS
    .inst.w 0xee000610                  @ coproc:  mcr p6, 0, r0, c0, c0, 0
    load_args NR_NEARMISS
    .inst.w 0xee100710                  @ L=1:     mrc p7, 0, r0, c0, c0, 0
    li      r0, a32_rest
    bx      r0

    .arm
    .balign 4
a32_rest:
    li      r0, trap_count
    ldr     r1, [r0]
    expect  r1, N_TRAPS, FAIL_TRAPS

    @ 4. unregistered: the fallback declines, so every register must survive. The check
    @ does not care whether a declined sentinel traps (the handler preserves registers
    @ and the trap count is no longer looked at).
    load_args NR_UNREG
    SENTINEL
    expect  r7, NR_UNREG,   FAIL_UNREG
    expect  r0, A0_32,      FAIL_UNREG
    expect  r1, A1_32,      FAIL_UNREG
    expect  r2, A2_32,      FAIL_UNREG
    expect  r3, A3_32,      FAIL_UNREG
    expect  r4, A4_32,      FAIL_UNREG
    expect  r5, A5_32,      FAIL_UNREG

    @ 5. write-back: the host writes WVAL into a3 (r3) and returns 0x1234.
    load_args NR_WRITE
    SENTINEL
    expect  r3, WVAL32, FAIL_WRITE
    expect  r0, WRET,   FAIL_WRITE

    @ 6. state, in A32: a0 (r0) = the run-time address of the sentinel (adr is
    @ PC-relative); the host writes a4 (r4), a5 (r5) and a2 (r2) and returns 0x5354.
    load_args NR_STATE
    adr     r0, penguin_state_sentinel
    .globl  penguin_state_sentinel
penguin_state_sentinel:
    SENTINEL
    expect  r4, STATE_A4_32, FAIL_STATE
    expect  r5, STATE_A5_32, FAIL_STATE
    expect  r2, STATE_A2_32, FAIL_STATE
    expect  r0, SRET,        FAIL_STATE

    @ 7. user mode, in A32: an exception return drops to USR mode (MMU off, so USR may
    @ execute and access everything), the hypercall runs there, and svc comes back to
    @ SVC mode through svc_handler, which resumes at user_done.
    li      r8, (MODE_USR | 0x1c0)      @ USR, ARM state, A, I and F masked
    msr     spsr_cxsf, r8
    li      lr, user_code
    movs    pc, lr                      @ CPSR = SPSR_svc, pc = user_code

@ Runs in USR mode; nothing here touches memory.
user_code:
    load_args NR_USER
    SENTINEL
    expect  r0, RET32, FAIL_USER
    svc     #0                          @ svc_handler resumes at user_done

user_done:                              @ SVC mode again

verdict:
    @ 8. verdict
    li      r0, msg_verdict
    bl      puts
    mov     r0, r10
    bl      puthex
    li      r0, msg_crlf
    bl      puts

    li      r7, NR_VERDICT
    mov     r0, r10
    mov     r1, #0
    mov     r2, #0
    mov     r3, #0
    mov     r4, #0
    mov     r5, #0
    SENTINEL
1:  b       1b                          @ the host stops the VM

@ puts: r0 = NUL-terminated string. Leaf, clobbers r0-r2 (no stack needed).
puts:
    li      r1, UART_DR
1:  ldrb    r2, [r0], #1
    cmp     r2, #0
    strbne  r2, [r1]
    bne     1b
    bx      lr

@ puthex: r0 printed as 0x + 8 hex digits. Leaf, clobbers r0-r3.
puthex:
    li      r1, UART_DR
    mov     r2, #'0'
    strb    r2, [r1]
    mov     r2, #'x'
    strb    r2, [r1]
    mov     r3, #8
1:  lsr     r2, r0, #28
    cmp     r2, #10
    addlo   r2, r2, #'0'
    addhs   r2, r2, #('a' - 10)
    strb    r2, [r1]
    lsl     r0, r0, #4
    subs    r3, r3, #1
    bne     1b
    bx      lr

@ Exception vectors. VBAR ignores bits [4:0], so 32-byte alignment.
    .balign 32
vectors:
    b       unexpected                  @ reset
    b       und_handler                 @ undefined instruction
    b       svc_handler                 @ supervisor call
    b       unexpected                  @ prefetch abort
    b       unexpected                  @ data abort
    b       unexpected                  @ (hyp trap, unused)
    b       unexpected                  @ irq
    b       unexpected                  @ fiq

@ Counts the trap and resumes after the faulting instruction. LR_und is the faulting
@ address + 4 in ARM state but + 2 in Thumb state (SPSR.T), and every trapping
@ instruction here is 32 bits wide, so Thumb needs 2 more. movs pc, lr restores CPSR
@ (mode, T bit, flags) from SPSR_und.
und_handler:
    push    {r0, r1}
    mrs     r0, spsr
    and     r0, r0, #0x1f
    cmp     r0, #MODE_USR
    pop     {r0, r1}
    beq     user_trap                   @ step 7's USR code is no near miss
    push    {r0, r1}
    li      r0, trap_count
    ldr     r1, [r0]
    add     r1, r1, #1
    str     r1, [r0]
    mrs     r0, spsr
    tst     r0, #(1 << 5)
    addne   lr, lr, #2
    pop     {r0, r1}
    movs    pc, lr

@ svc from step 7's USR code is the way back to SVC mode (we are in it now): go on at
@ user_done. From any other mode it is unexpected.
svc_handler:
    mrs     r8, spsr
    and     r8, r8, #0x1f
    cmp     r8, #MODE_USR
    beq     user_done
    b       unexpected

@ Any other exception is a bug in this program: report it instead of hanging silently.
@ Taken from step 7's USR code, it ends the user-mode part with FAIL_USER instead.
unexpected:
    mrs     r8, spsr
    and     r8, r8, #0x1f
    cmp     r8, #MODE_USR
    beq     user_trap
    cps     #MODE_SVC
    orr     r10, r10, #FAIL_EXC
    b       verdict

user_trap:
    cps     #MODE_SVC
    orr     r10, r10, #FAIL_USER
    b       user_done

msg_start:   .asciz "PENGUIN-GUEST arm start\r\n"
msg_verdict: .asciz "PENGUIN-GUEST arm verdict "
msg_crlf:    .asciz "\r\n"

    .data
    .balign 8
trap_count:
    .word   0
    .balign 8
und_stack:
    .space  256
und_stack_top:
