/*
 * Which migration blockers an internal snapshot may pass: those that only
 * guard live migration's dirty tracking.
 *
 * Live migration copies RAM while the guest and every vhost backend keep
 * running, so it needs the backend's dirty log; without one, vhost adds a
 * blocker. An internal snapshot (savevm, Penguin's snapshot calls) stops the
 * VM first, and stopping the VM stops each vhost device (its rings are
 * fetched back with GET_VRING_BASE), so nothing writes guest memory while
 * the snapshot is taken and those blockers do not apply. Every other blocker
 * still stops a snapshot.
 *
 * The blockers are recognised by upstream's exact messages: if a QEMU update
 * rewords one, snapshots are refused again (tests/test_vsock_snapshot.py
 * notices), never silently allowed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "penguin/hooks.h"

static const char *const live_only_blockers[] = {
    /* hw/virtio/vhost.c: no VHOST_F_LOG_ALL, or no memory for a shared log */
    "Migration disabled: vhost lacks VHOST_F_LOG_ALL feature.",
    "Migration disabled: failed to allocate shared memory",
    /* hw/virtio/vhost-user.c: a backend without a shared dirty log */
    "Migration disabled: vhost-user backend lacks "
    "VHOST_USER_PROTOCOL_F_LOG_SHMFD feature.",
};

bool penguin_blocker_is_live_only(const Error *blocker)
{
    const char *message = error_get_pretty(blocker);

    for (size_t i = 0; i < ARRAY_SIZE(live_only_blockers); i++) {
        if (!strcmp(message, live_only_blockers[i])) {
            return true;
        }
    }
    return false;
}
