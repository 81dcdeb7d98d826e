/*
 * Guest SDK test program (tests/test_guest_sdk.py): bare metal, entered from the
 * per-architecture start stub with a stack and nothing else. It uses only the stack
 * (the x86 image runs from ROM), so no globals.
 *
 * Host side: tests/helpers/hypercall_guest.py (numbers in tests/guests/PROTOCOL.md).
 * NR_WRITE makes the host write a3's register and NR_STATE a2's, a4's and a5's; the
 * NR_ARGS calls after them pass the same argument values again, so an argument the
 * header declared input-only (the compiler then reuses the register it believes still
 * holds the value) reaches the host changed. Eight values read from volatile slots
 * stay live across every call: a register the header fails to declare may be chosen
 * for one of them, and the host's writes then corrupt it.
 */
#include <penguin-hypercall.h>

#define NR_ARGS32  0x50454e01u
#define NR_ARGS64  0x50454e11u
#define NR_WRITE   0x50454e02u
#define NR_VERDICT 0x50454e03u
#define NR_STATE   0x50454e06u

#if PENGUIN_HYPERCALL_REG_BITS == 64
#define NR_ARGS NR_ARGS64
#define A(i)    (0x1111111111111111ull * (i))
#define RET     0xfedcba9876543210ull
#else
#define NR_ARGS NR_ARGS32
#define A(i)    (0x11111111ull * (i))
#define RET     0x76543210ull   /* RET truncated to the guest word, zero-extended */
#endif

#define LIVE(i) (0x0123456789abcdefull * (i) + 0x9e3779b9ull)

void penguin_main(void);

void penguin_main(void)
{
    volatile penguin_hypercall_reg_t slot[8];
    penguin_hypercall_reg_t l0, l1, l2, l3, l4, l5, l6, l7;
    uint64_t fail = 0;

    slot[0] = (penguin_hypercall_reg_t)LIVE(1);
    slot[1] = (penguin_hypercall_reg_t)LIVE(2);
    slot[2] = (penguin_hypercall_reg_t)LIVE(3);
    slot[3] = (penguin_hypercall_reg_t)LIVE(4);
    slot[4] = (penguin_hypercall_reg_t)LIVE(5);
    slot[5] = (penguin_hypercall_reg_t)LIVE(6);
    slot[6] = (penguin_hypercall_reg_t)LIVE(7);
    slot[7] = (penguin_hypercall_reg_t)LIVE(8);
    l0 = slot[0]; l1 = slot[1]; l2 = slot[2]; l3 = slot[3];
    l4 = slot[4]; l5 = slot[5]; l6 = slot[6]; l7 = slot[7];

    if (penguin_hypercall6(NR_WRITE, A(1), A(2), A(3), A(4), A(5), A(6)) != 0x1234)
        fail |= 0x1;
    if (penguin_hypercall6(NR_STATE, A(1), A(2), A(3), A(4), A(5), A(6)) != 0x5354)
        fail |= 0x2;
    if (penguin_hypercall6(NR_ARGS, A(1), A(2), A(3), A(4), A(5), A(6)) != RET)
        fail |= 0x4;
    if (penguin_hypercall5(NR_ARGS, A(1), A(2), A(3), A(4), A(5)) != RET)
        fail |= 0x8;
    if (penguin_hypercall4(NR_ARGS, A(1), A(2), A(3), A(4)) != RET)
        fail |= 0x10;
    if (penguin_hypercall3(NR_ARGS, A(1), A(2), A(3)) != RET)
        fail |= 0x20;
    if (penguin_hypercall2(NR_ARGS, A(1), A(2)) != RET)
        fail |= 0x40;
    if (penguin_hypercall1(NR_ARGS, A(1)) != RET)
        fail |= 0x80;
    if (penguin_hypercall0(NR_ARGS) != RET)
        fail |= 0x100;

    if (l0 != (penguin_hypercall_reg_t)LIVE(1) || l1 != (penguin_hypercall_reg_t)LIVE(2) ||
        l2 != (penguin_hypercall_reg_t)LIVE(3) || l3 != (penguin_hypercall_reg_t)LIVE(4) ||
        l4 != (penguin_hypercall_reg_t)LIVE(5) || l5 != (penguin_hypercall_reg_t)LIVE(6) ||
        l6 != (penguin_hypercall_reg_t)LIVE(7) || l7 != (penguin_hypercall_reg_t)LIVE(8))
        fail |= 0x200;

    penguin_hypercall1(NR_VERDICT, fail);
    for (;;) {
    }
}
