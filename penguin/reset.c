/*
 * Penguin's reset-request callback: every reset request, whoever makes it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "penguin/penguin.h"
#include "penguin/hooks.h"

typedef struct PenguinResetHook {
    penguin_reset_request_cb_t cb;
    void *opaque;
} PenguinResetHook;

/* Replaced whole so a request on another thread never pairs a callback with a stale
 * opaque; the old one is kept, since a request may be reading it (callbacks are set a
 * handful of times per run). */
static PenguinResetHook *reset_hook;

void set_penguin_reset_request_callback(penguin_reset_request_cb_t cb, void *opaque)
{
    PenguinResetHook *hook = g_new(PenguinResetHook, 1);

    hook->cb = cb;
    hook->opaque = opaque;
    qatomic_store_release(&reset_hook, hook);
}

void penguin_reset_requested(ShutdownCause cause)
{
    PenguinResetHook *hook = qatomic_load_acquire(&reset_hook);

    if (hook && hook->cb) {
        hook->cb(cause, hook->opaque);
    }
}
