/*
 * A settable {callback, opaque} pair, the one way Penguin keeps a caller's
 * callback: each set publishes a new immutable pair whole and retires the old
 * one through penguin_retire(), so a reader never sees a callback with
 * another's opaque and nothing is freed under a reader.
 *
 * The hypercall registry (penguin/hypercall.c) is the same idiom with numbers
 * added to the pair; its readers are vCPUs, which read under RCU. The hooks
 * here are read on any thread (a reset may be requested by a thread QEMU never
 * registered with RCU), so their readers copy the pair under a lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_CALLBACK_H
#define PENGUIN_CALLBACK_H

#include "qemu/rcu.h"

typedef void (*PenguinFn)(void);

typedef struct PenguinCallback {
    struct rcu_head rcu;
    PenguinFn fn;
    void *opaque;
} PenguinCallback;

typedef struct PenguinHook {
    PenguinCallback *current;   /* NULL until first set */
} PenguinHook;

/* Replace @hook's pair; any thread, any time (before qemu_init() too). */
void penguin_hook_set(PenguinHook *hook, PenguinFn fn, void *opaque);

/* Copy @hook's pair; false (and *fn NULL) when no callback is set. */
bool penguin_hook_get(PenguinHook *hook, PenguinFn *fn, void **opaque);

#endif /* PENGUIN_CALLBACK_H */
