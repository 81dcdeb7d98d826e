/*
 * Penguin's after-guest-init callback: the moment the machine and its devices
 * exist and no guest instruction has run, e.g. to add MMIO regions.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "penguin/penguin.h"
#include "penguin/callback.h"
#include "penguin/hooks.h"

static PenguinHook after_guest_init_hook;

void set_kvm_penguin_after_guest_init_callback(
    kvm_penguin_after_guest_init_cb_t cb, void *opaque)
{
    penguin_hook_set(&after_guest_init_hook, (PenguinFn)cb, opaque);
}

bool penguin_after_guest_init(MachineState *ms, Error **errp)
{
    PenguinFn fn;
    void *opaque;
    int ret;

    if (!penguin_hook_get(&after_guest_init_hook, &fn, &opaque)) {
        return true;
    }
    ret = ((kvm_penguin_after_guest_init_cb_t)fn)(ms, opaque);
    if (ret != 0) {
        error_setg(errp, "Penguin's after-guest-init callback failed "
                   "(returned %d)", ret);
        return false;
    }
    return true;
}
