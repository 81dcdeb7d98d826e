/*
 * Where a Penguin library is in its life: before qemu_init(), when no QEMU
 * machinery may run, or after it has the BQL, the monitor and the main loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_LIFECYCLE_H
#define PENGUIN_LIFECYCLE_H

#include "qemu/rcu.h"

/*
 * True once qemu_init() has set up the BQL, the monitor and the main loop:
 * only then may Penguin code take the BQL, schedule bottom halves or hand
 * work to QEMU's RCU thread (which takes the BQL to run callbacks).
 */
bool penguin_vm_exists(void);

/*
 * Why the VM cannot be used now ("no VM yet ...", "the VM has ended ..."),
 * or NULL when it can: for the reasons of refused calls.
 */
const char *penguin_vm_absent_reason(void);

/*
 * Free what @head is embedded in with @free_fn once no reader can still see
 * it. Before the VM exists there are no readers (vCPUs, the main loop and the
 * monitor do not exist yet), so it is freed at once; from then on, also after
 * qemu_cleanup() (the vCPU threads are paused, not gone), it goes through
 * call_rcu1(). Callers publish the replacement first.
 */
void penguin_retire(struct rcu_head *head, RCUCBFunc *free_fn);

/* penguin_retire() of a g_malloc'd @obj whose rcu_head @field comes first. */
#define penguin_retire_g_free(obj, field)                                  \
    do {                                                                   \
        QEMU_BUILD_BUG_ON(offsetof(typeof(*(obj)), field) != 0);           \
        penguin_retire(&(obj)->field, (RCUCBFunc *)g_free);                \
    } while (0)

#endif /* PENGUIN_LIFECYCLE_H */
