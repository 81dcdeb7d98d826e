/*
 * Penguin's after-guest-init callback: the moment the machine and its devices exist
 * and no guest instruction has run, e.g. to add MMIO regions.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "penguin/penguin.h"
#include "penguin/hooks.h"

static kvm_penguin_after_guest_init_cb_t after_guest_init_cb;
static void *after_guest_init_opaque;

void set_kvm_penguin_after_guest_init_callback(kvm_penguin_after_guest_init_cb_t cb,
                                               void *opaque)
{
    after_guest_init_opaque = opaque;
    after_guest_init_cb = cb;
}

bool penguin_after_guest_init(MachineState *ms, Error **errp)
{
    int ret;

    if (!after_guest_init_cb) {
        return true;
    }
    ret = after_guest_init_cb(ms, after_guest_init_opaque);
    if (ret != 0) {
        error_setg(errp, "Penguin's after-guest-init callback failed (returned %d)", ret);
        return false;
    }
    return true;
}
