/*
 * Penguin's view of the VM's life: set-up calls may come long before
 * qemu_init() (Penguin loads its plugins in between), so nothing they do may
 * need QEMU machinery that qemu_init() creates.
 *
 * The switch happens under a lock that penguin_retire() also takes, so a free
 * decided before the switch completes before any reader (a vCPU, the main
 * loop) can exist.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/lockable.h"
#include "qemu/thread.h"
#include "penguin/hooks.h"
#include "penguin/lifecycle.h"

static QemuMutex lifecycle_lock;
static bool vm_exists;

static void __attribute__((constructor)) penguin_lifecycle_init(void)
{
    qemu_mutex_init(&lifecycle_lock);
}

bool penguin_vm_exists(void)
{
    return qatomic_load_acquire(&vm_exists);
}

void penguin_vm_starting(void)
{
    QEMU_LOCK_GUARD(&lifecycle_lock);
    qatomic_store_release(&vm_exists, true);
}

void penguin_retire(struct rcu_head *head, RCUCBFunc *free_fn)
{
    WITH_QEMU_LOCK_GUARD(&lifecycle_lock) {
        if (!vm_exists) {
            free_fn(head);
            return;
        }
    }
    call_rcu1(head, free_fn);
}
