/*
 * The main loop's queue of snapshot work (include/penguin/work-queue.h).
 *
 * One bottom half runs the queue. A snapshot polls the main loop while it
 * writes, which can run the bottom half again: the busy flag makes that
 * nested run return at once, and the outer loop takes the new item, so items
 * never overlap and always run in order.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "penguin/work-queue.h"

typedef struct PenguinWork {
    PenguinWorkFn *fn;
    void *opaque;
} PenguinWork;

static QemuMutex queue_lock;
static GQueue queue = G_QUEUE_INIT;     /* of PenguinWork */
static QEMUBH *queue_bh;                /* created with the first item */
static unsigned busy;                   /* main loop only (BQL) */

static void __attribute__((constructor)) penguin_work_queue_init(void)
{
    qemu_mutex_init(&queue_lock);
}

bool penguin_snapshot_busy(void)
{
    return busy > 0;
}

void penguin_snapshot_busy_enter(void)
{
    busy++;
}

/*
 * A synchronous operation from another thread may have held "busy" while the
 * queue's bottom half ran (pausing the vCPUs drops the BQL): that run left
 * its items queued, so start the queue again.
 */
void penguin_snapshot_busy_leave(void)
{
    if (--busy == 0 && queue_bh) {
        qemu_bh_schedule(queue_bh);
    }
}

static PenguinWork *queue_pop(void)
{
    QEMU_LOCK_GUARD(&queue_lock);
    return g_queue_pop_head(&queue);
}

static void run_queue(void *opaque)
{
    PenguinWork *work;

    if (busy) {
        return;     /* a nested poll: the running loop below takes the item */
    }
    while ((work = queue_pop())) {
        busy++;
        work->fn(work->opaque);
        busy--;
        g_free(work);
    }
}

void penguin_work_queue_drain(void)
{
    run_queue(NULL);
}

void penguin_work_queue_push(PenguinWorkFn *fn, void *opaque)
{
    PenguinWork *work = g_new(PenguinWork, 1);

    work->fn = fn;
    work->opaque = opaque;
    QEMU_LOCK_GUARD(&queue_lock);
    g_queue_push_tail(&queue, work);
    if (!queue_bh) {
        queue_bh = qemu_bh_new(run_queue, NULL);
    }
    qemu_bh_schedule(queue_bh);
}
