/*
 * Penguin's reset-request callback: every reset request, whoever makes it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "penguin/penguin.h"
#include "penguin/callback.h"
#include "penguin/hooks.h"

static PenguinHook reset_hook;

void set_penguin_reset_request_callback(penguin_reset_request_cb_t cb,
                                        void *opaque)
{
    penguin_hook_set(&reset_hook, (PenguinFn)cb, opaque);
}

void penguin_reset_requested(ShutdownCause cause)
{
    PenguinFn fn;
    void *opaque;

    if (penguin_hook_get(&reset_hook, &fn, &opaque)) {
        ((penguin_reset_request_cb_t)fn)(cause, opaque);
    }
}
