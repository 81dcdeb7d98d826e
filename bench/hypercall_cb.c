/*
 * C hypercall callback for bench/hypercall_rate.py, built with
 * `gcc -O2 -shared -fPIC` and loaded after libqemu-system-<name>.so (which is opened
 * RTLD_GLOBAL, so qemu_system_shutdown_request resolves against it).
 *
 * NR_LOOP: count, return a0 + 1, handled. NR_START / NR_DONE: timestamp
 * (CLOCK_MONOTONIC, the clock Python's perf_counter uses); NR_DONE also records its a0
 * (the guest's last return value) and asks the main loop to stop.
 */

#include <stdint.h>
#include <time.h>

#define NR_LOOP  0x50454e42u
#define NR_DONE  0x50454e43u
#define NR_START 0x50454e44u

typedef struct CPUState CPUState;

extern void qemu_system_shutdown_request(int reason);   /* SHUTDOWN_CAUSE_HOST_QMP_QUIT */

static uint64_t calls, t_start_ns, t_done_ns, done_a0, done;

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_hypercall_cb(CPUState *cs, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t *ret, void *opaque)
{
    (void)cs; (void)a1; (void)a2; (void)a3; (void)a4; (void)a5; (void)opaque;
    if (__builtin_expect(nr == NR_LOOP, 1)) {
        calls++;
        *ret = a0 + 1;
        return 0;
    }
    if (nr == NR_START) {
        t_start_ns = now_ns();
        return 0;
    }
    if (nr == NR_DONE) {
        t_done_ns = now_ns();
        done_a0 = a0;
        done = 1;
        qemu_system_shutdown_request(2);
        return 0;
    }
    return 1;
}

/* out[0..4] = calls, t_start_ns, t_done_ns, done_a0, done. */
void bench_results(uint64_t *out)
{
    out[0] = calls;
    out[1] = t_start_ns;
    out[2] = t_done_ns;
    out[3] = done_a0;
    out[4] = done;
}
