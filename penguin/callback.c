/*
 * Settable callback pairs: published whole, read whole, retired after their
 * readers (include/penguin/callback.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/lockable.h"
#include "qemu/thread.h"
#include "penguin/callback.h"
#include "penguin/lifecycle.h"

/* One lock for every hook: sets are rare and a read copies two words. */
static QemuMutex hooks_lock;

static void __attribute__((constructor)) penguin_callback_init(void)
{
    qemu_mutex_init(&hooks_lock);
}

void penguin_hook_set(PenguinHook *hook, PenguinFn fn, void *opaque)
{
    PenguinCallback *pair = NULL;
    PenguinCallback *old;

    if (fn) {
        pair = g_new0(PenguinCallback, 1);
        pair->fn = fn;
        pair->opaque = opaque;
    }
    WITH_QEMU_LOCK_GUARD(&hooks_lock) {
        old = hook->current;
        hook->current = pair;
    }
    if (old) {
        penguin_retire_g_free(old, rcu);
    }
}

bool penguin_hook_get(PenguinHook *hook, PenguinFn *fn, void **opaque)
{
    QEMU_LOCK_GUARD(&hooks_lock);
    *fn = hook->current ? hook->current->fn : NULL;
    *opaque = hook->current ? hook->current->opaque : NULL;
    return *fn != NULL;
}
