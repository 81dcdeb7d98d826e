/*
 * Counting guest for the save-then-stop test (tests/test_save_then_stop.py): bare
 * metal from the SDK's start stubs, it counts in a register-held variable and in a
 * RAM word and hands both to the host with every NR_TICK hypercall, forever. A
 * snapshot taken at a tick and loaded in a new process goes on with the next tick,
 * both counts one higher.
 */
#include <penguin-hypercall.h>

#define NR_TICK 0x50454e30u

/* A RAM word away from the image and the stack, on each machine's RAM. */
#if defined(__aarch64__)
#define COUNTER 0x40200000ul
#elif defined(__mips__)
#define COUNTER 0x80200000ul            /* KSEG0: physical 0x00200000 */
#elif defined(__x86_64__)
#define COUNTER 0x00200000ul            /* identity-mapped by the start stub */
#else
#error "tick.c: no counter address for this architecture"
#endif

void penguin_main(void);

void penguin_main(void)
{
    volatile penguin_hypercall_reg_t *ram =
        (volatile penguin_hypercall_reg_t *)(long)COUNTER;
    penguin_hypercall_reg_t count = 0;

    *ram = 0;
    for (;;) {
        count++;
        *ram = *ram + 1;
        penguin_hypercall2(NR_TICK, count, *ram);
    }
}
