/*
 * Penguin's view of the VM's life: set-up calls may come long before
 * qemu_init() (Penguin loads its plugins in between), so nothing they do may
 * need QEMU machinery that qemu_init() creates; and a careless caller may
 * call the lifecycle functions twice or out of order, which upstream QEMU
 * answers with an abort. Each stage is entered once, in order:
 *
 *   none --qemu_init()--> starting --main loop exists--> running
 *        --qemu_cleanup()--> ended
 *
 * and a call that does not fit is refused with a reason
 * (penguin_last_error()) instead of running.
 *
 * The switch to running happens under a lock that penguin_retire() also
 * takes, so a free decided before it completes before any reader (a vCPU,
 * the main loop) can exist.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "qemu/thread.h"
#include "penguin/error.h"
#include "penguin/hooks.h"
#include "penguin/lifecycle.h"
#include "penguin/qmp-events.h"
#include "penguin/work-queue.h"

typedef enum PenguinVmStage {
    PENGUIN_VM_NONE,        /* qemu_init() not called yet */
    PENGUIN_VM_STARTING,    /* inside qemu_init(), no main loop yet */
    PENGUIN_VM_RUNNING,     /* the BQL, the monitor and the main loop exist */
    PENGUIN_VM_ENDED,       /* qemu_cleanup() ran or runs */
} PenguinVmStage;

static QemuMutex lifecycle_lock;
static PenguinVmStage stage;
static bool main_loop_running;

static void __attribute__((constructor)) penguin_lifecycle_init(void)
{
    qemu_mutex_init(&lifecycle_lock);
}

static PenguinVmStage stage_now(void)
{
    return qatomic_load_acquire(&stage);
}

bool penguin_vm_exists(void)
{
    return stage_now() == PENGUIN_VM_RUNNING;
}

const char *penguin_vm_absent_reason(void)
{
    switch (stage_now()) {
    case PENGUIN_VM_RUNNING:
        return NULL;
    case PENGUIN_VM_ENDED:
        return "the VM has ended (qemu_cleanup() ran)";
    default:
        return "no VM yet (call qemu_init() first)";
    }
}

/* Move from @from to @to; false (and nothing changes) in any other stage. */
static bool stage_move(PenguinVmStage from, PenguinVmStage to)
{
    QEMU_LOCK_GUARD(&lifecycle_lock);
    if (stage != from) {
        return false;
    }
    qatomic_store_release(&stage, to);
    return true;
}

bool penguin_qemu_init_allowed(void)
{
    if (stage_move(PENGUIN_VM_NONE, PENGUIN_VM_STARTING)) {
        return true;
    }
    penguin_error(-EALREADY, "qemu_init() was already called in this "
                  "process: QEMU runs one VM per process (start a new "
                  "process for the next one); this call did nothing");
    return false;
}

void penguin_vm_starting(void)
{
    stage_move(PENGUIN_VM_STARTING, PENGUIN_VM_RUNNING);
}

/* Why qemu_main_loop() cannot run now, with its errno; NULL if it can. */
static const char *main_loop_refusal(int *err)
{
    const char *why = penguin_vm_absent_reason();

    if (why) {
        *err = -ENODEV;
        return why;
    }
    if (!bql_locked()) {
        *err = -EPERM;
        return "it needs the BQL (bql_lock_impl() after qemu_init())";
    }
    if (qatomic_xchg(&main_loop_running, true)) {
        *err = -EBUSY;
        return "it already runs on another thread";
    }
    return NULL;
}

bool penguin_main_loop_allowed(void)
{
    int err = 0;
    const char *why = main_loop_refusal(&err);

    if (why) {
        penguin_error(err, "qemu_main_loop(): %s; it returns %d at once",
                      why, EXIT_FAILURE);
        return false;
    }
    return true;
}

/*
 * What callers handed to the main loop before it stopped running it; the
 * events last, so that those a snapshot's done callback emits go out too.
 */
static void finish_queued_work(void)
{
    penguin_work_queue_drain();
    penguin_qmp_events_flush();
}

void penguin_main_loop_ending(void)
{
    finish_queued_work();
    qatomic_set(&main_loop_running, false);
}

bool penguin_qemu_cleanup_allowed(void)
{
    if (stage_now() == PENGUIN_VM_RUNNING && !bql_locked()) {
        penguin_error(-EPERM, "qemu_cleanup() needs the BQL (the thread "
                      "that ran qemu_main_loop() holds it); this call did "
                      "nothing");
        return false;
    }
    if (qatomic_read(&main_loop_running)) {
        penguin_error(-EBUSY, "qemu_cleanup() while qemu_main_loop() runs: "
                      "request a shutdown and clean up after it returns; "
                      "this call did nothing");
        return false;
    }
    if (stage_move(PENGUIN_VM_RUNNING, PENGUIN_VM_ENDED)) {
        /* Requests made after qemu_main_loop() returned: still complete. */
        finish_queued_work();
        return true;
    }
    penguin_error(-EALREADY, "qemu_cleanup(): %s; this call did nothing",
                  stage_now() == PENGUIN_VM_ENDED ?
                  "it already ran" : "no VM (qemu_init() did not run)");
    return false;
}

void penguin_retire(struct rcu_head *head, RCUCBFunc *free_fn)
{
    WITH_QEMU_LOCK_GUARD(&lifecycle_lock) {
        if (stage < PENGUIN_VM_RUNNING) {
            free_fn(head);
            return;
        }
    }
    call_rcu1(head, free_fn);
}
