/*
 * Which migration blockers an internal snapshot, or a migration of a stopped
 * VM, may pass: those that only guard live migration's dirty tracking.
 *
 * Live migration copies RAM while the guest and every vhost backend keep
 * running, so it needs the backend's dirty log; without one, vhost adds a
 * blocker. An internal snapshot (savevm, Penguin's snapshot calls) stops the
 * VM first, and stopping the VM stops each vhost device (its rings are
 * fetched back with GET_VRING_BASE), so nothing writes guest memory while
 * the snapshot is taken and those blockers do not apply. The same holds for
 * a migration that starts while the VM is stopped (Penguin's file snapshots:
 * stop, then migrate to a file with mapped-ram), as long as the VM stays
 * stopped until it ends: a VM started during such a migration cancels it, so
 * it can never complete with RAM a backend changed behind it. Every other
 * blocker still applies, and so do these to a migration of a running VM.
 *
 * The blockers are recognised by upstream's exact messages: if a QEMU update
 * rewords one, snapshots are refused again (tests/test_vsock_snapshot.py
 * notices), never silently allowed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "migration/migration.h"
#include "migration/misc.h"
#include "system/runstate.h"
#include "penguin/hooks.h"

/* Whether the outgoing migration began with the VM stopped (BQL). */
static bool migration_began_stopped;
static VMChangeStateEntry *start_guard;

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

/*
 * A VM started during a migration that passed the live-only blockers: the
 * backends run again without a dirty log, so the migration cannot be
 * consistent any more. Cancel it (it then fails, as a cancelled one does).
 */
static void vm_started(void *opaque, bool running, RunState state)
{
    if (running && migration_began_stopped && migration_is_running()) {
        warn_report("Penguin: the VM started during a migration that began "
                    "with it stopped and passed the live-only migration "
                    "blockers; cancelling the migration");
        migration_cancel();
    }
}

bool penguin_migration_passes_live_only_blockers(void)
{
    if (!start_guard) {
        start_guard = qemu_add_vm_change_state_handler(vm_started, NULL);
    }
    /*
     * Not live: a suspended guest's vCPUs are paused but its devices (and
     * vhost backends) still run.
     */
    migration_began_stopped = !runstate_is_live(runstate_get());
    return migration_began_stopped;
}
