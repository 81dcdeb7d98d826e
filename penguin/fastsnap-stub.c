/*
 * Fast snapshots in a library without TCG (the KVM library): the ABI is
 * there, every call says why it cannot work.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "penguin/penguin.h"
#include "penguin/hooks.h"
#include "penguin/callback.h"
#include "penguin/error.h"

static PenguinHook done_hook;

bool penguin_fast_restore_running(void)
{
    return false;
}

static int unsupported(void)
{
    return penguin_error(-ENOTSUP, "fast snapshots need TCG; this library "
                         "has none");
}

int penguin_fast_snapshot_take(void)
{
    return unsupported();
}

int penguin_fast_snapshot_restore(int handle)
{
    return unsupported();
}

int penguin_fast_snapshot_drop(int handle)
{
    return unsupported();
}

int penguin_fast_snapshot_schedule(int op, int handle)
{
    int ret = unsupported();
    PenguinFn fn;
    void *opaque;

    if (penguin_hook_get(&done_hook, &fn, &opaque)) {
        ((penguin_fast_snapshot_done_cb_t)fn)(op, handle, ret, opaque);
    }
    return ret;
}

void set_penguin_fast_snapshot_done_callback(penguin_fast_snapshot_done_cb_t cb,
                                             void *opaque)
{
    penguin_hook_set(&done_hook, (PenguinFn)cb, opaque);
}
