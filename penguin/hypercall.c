/*
 * Penguin hypercall dispatch: the one place every architecture's door calls.
 *
 * The callbacks and the set of registered numbers live in one immutable
 * snapshot, replaced as a whole under a mutex and read under RCU, so a vCPU
 * never takes a lock on the hypercall path and registration is safe while
 * vCPUs run.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/rcu.h"
#include "qemu/thread.h"
#include "qemu/lockable.h"
#include "penguin/penguin.h"
#include "penguin/hypercall-abi.h"
#include "penguin/lifecycle.h"

typedef struct PenguinHypercallState {
    struct rcu_head rcu;
    penguin_guest_hypercall_cb_t guest_cb;
    void *guest_opaque;
    kvm_penguin_hypercall_cb_t fallback_cb;
    size_t count;
    uint64_t numbers[]; /* sorted, unique */
} PenguinHypercallState;

static PenguinHypercallState *penguin_state;
static QemuMutex penguin_state_lock;

/* How many callbacks run on this thread now (one, unless a door nests). */
static __thread unsigned callbacks_running;

bool penguin_hypercall_running(void)
{
    return callbacks_running != 0;
}

static void __attribute__((constructor)) penguin_hypercall_init(void)
{
    qemu_mutex_init(&penguin_state_lock);
    penguin_state = g_malloc0(sizeof(*penguin_state));
}

/* Binary search; returns the index of nr or of the first larger number. */
static size_t state_find(const PenguinHypercallState *s, uint64_t nr)
{
    size_t lo = 0, hi = s->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->numbers[mid] < nr) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

static bool state_has(const PenguinHypercallState *s, uint64_t nr)
{
    size_t i = state_find(s, nr);
    return i < s->count && s->numbers[i] == nr;
}

/* A copy of the current state with room for @extra more numbers; lock held. */
static PenguinHypercallState *state_copy(size_t extra)
{
    const PenguinHypercallState *old = penguin_state;
    PenguinHypercallState *s;

    s = g_malloc(sizeof(*s) + (old->count + extra) * sizeof(uint64_t));
    *s = *old;
    memcpy(s->numbers, old->numbers, old->count * sizeof(uint64_t));
    return s;
}

/*
 * Publish @s and free the old state once no reader can see it; lock held.
 * Before qemu_init() there are no readers and no RCU thread may run (it takes
 * the BQL), so penguin_retire() frees at once then.
 */
static void state_publish(PenguinHypercallState *s)
{
    PenguinHypercallState *old = penguin_state;

    qatomic_rcu_set(&penguin_state, s);
    penguin_retire_g_free(old, rcu);
}

void set_penguin_guest_hypercall_callback(penguin_guest_hypercall_cb_t cb,
                                          void *opaque)
{
    QEMU_LOCK_GUARD(&penguin_state_lock);
    PenguinHypercallState *s = state_copy(0);

    s->guest_cb = cb;
    s->guest_opaque = opaque;
    state_publish(s);
}

void set_kvm_penguin_hypercall_callback(kvm_penguin_hypercall_cb_t cb)
{
    QEMU_LOCK_GUARD(&penguin_state_lock);
    PenguinHypercallState *s = state_copy(0);

    s->fallback_cb = cb;
    state_publish(s);
}

void penguin_register_guest_hypercall(uint64_t nr)
{
    QEMU_LOCK_GUARD(&penguin_state_lock);
    size_t i = state_find(penguin_state, nr);
    PenguinHypercallState *s;

    if (state_has(penguin_state, nr)) {
        return;
    }
    s = state_copy(1);
    memmove(&s->numbers[i + 1], &s->numbers[i],
            (s->count - i) * sizeof(uint64_t));
    s->numbers[i] = nr;
    s->count++;
    state_publish(s);
}

void penguin_unregister_guest_hypercall(uint64_t nr)
{
    QEMU_LOCK_GUARD(&penguin_state_lock);
    size_t i = state_find(penguin_state, nr);
    PenguinHypercallState *s;

    if (!state_has(penguin_state, nr)) {
        return;
    }
    s = state_copy(0);
    s->count--;
    memmove(&s->numbers[i], &s->numbers[i + 1],
            (s->count - i) * sizeof(uint64_t));
    state_publish(s);
}

void penguin_clear_guest_hypercalls(void)
{
    QEMU_LOCK_GUARD(&penguin_state_lock);
    PenguinHypercallState *s = state_copy(0);

    s->count = 0;
    state_publish(s);
}

bool penguin_guest_hypercall_registered(uint64_t nr)
{
    /* The lock, not RCU: callers need not be RCU-registered threads. */
    QEMU_LOCK_GUARD(&penguin_state_lock);
    return state_has(penguin_state, nr);
}

bool penguin_handle_guest_hypercall(CPUState *cs, uint64_t nr,
                                    uint64_t a0, uint64_t a1, uint64_t a2,
                                    uint64_t a3, uint64_t a4, uint64_t a5,
                                    uint64_t *ret)
{
    penguin_guest_hypercall_cb_t guest_cb = NULL;
    kvm_penguin_hypercall_cb_t fallback_cb = NULL;
    void *opaque = NULL;
    uint64_t unused;
    bool handled;

    if (!ret) {
        ret = &unused;
    }
    *ret = 0;

    /* Copy what to call out of the snapshot: a callback may run for long. */
    WITH_RCU_READ_LOCK_GUARD() {
        const PenguinHypercallState *s = qatomic_rcu_read(&penguin_state);

        if (s->guest_cb && state_has(s, nr)) {
            guest_cb = s->guest_cb;
            opaque = s->guest_opaque;
        } else {
            fallback_cb = s->fallback_cb;
        }
    }

    if (!guest_cb && !fallback_cb) {
        return false;
    }
    callbacks_running++;
    handled = guest_cb ?
        guest_cb(cs, nr, a0, a1, a2, a3, a4, a5, ret, opaque) == 0 :
        fallback_cb(cs, nr, a0, a1, a2, a3, a4, a5, ret) == 0;
    callbacks_running--;
    return handled;
}
