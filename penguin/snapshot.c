/*
 * Penguin snapshots: internal snapshots (savevm/loadvm) by name, synchronous
 * from the main loop or scheduled from any thread, with a completion signal.
 *
 * Scheduled requests go through Penguin's work queue (penguin/work-queue.c),
 * one at a time in the order requested: a snapshot polls the main loop while
 * it writes, and a second operation started from that poll would find the
 * first one's migration state in use. Synchronous calls made while a snapshot
 * runs are refused for the same reason.
 *
 * A load that fails leaves the VM running as it was: the name and the
 * devices are checked before anything is loaded, and the VM is resumed
 * whatever the outcome (upstream's loadvm leaves it stopped).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "block/snapshot.h"
#include "hw/core/cpu.h"
#include "migration/snapshot.h"
#include "system/cpus.h"
#include "system/runstate.h"
#include "penguin/penguin.h"
#include "penguin/callback.h"
#include "penguin/error.h"
#include "penguin/lifecycle.h"
#include "penguin/work-queue.h"

typedef struct PenguinScheduledSnapshot {
    char *name;
    bool load;
} PenguinScheduledSnapshot;

static PenguinHook snapshot_done_hook;
static uint64_t snapshots_completed;
static bool last_snapshot_ok;

/* A name the qcow2 snapshot table stores exactly as given. */
static bool name_ok(const char *name)
{
    QEMUSnapshotInfo *sn;

    if (!name || !*name) {
        penguin_error(-EINVAL, "a snapshot needs a name");
        return false;
    }
    if (strlen(name) >= sizeof(sn->name)) {
        penguin_error(-ENAMETOOLONG, "snapshot name '%.32s...' is %zu bytes; "
                      "at most %zu fit", name, strlen(name),
                      sizeof(sn->name) - 1);
        return false;
    }
    return true;
}

/* Whether a synchronous save or load may run on this thread now. */
static bool sync_call_ok(const char *name)
{
    const char *why = penguin_vm_absent_reason();

    if (!name_ok(name)) {
        return false;
    }
    if (why) {
        penguin_error(-ENODEV, "snapshot '%s': %s", name, why);
        return false;
    }
    if (qemu_in_vcpu_thread()) {
        penguin_error(-EDEADLK, "snapshot '%s' from a vCPU thread: the VM "
                      "stops while it runs, so use penguin_schedule_snapshot()",
                      name);
        return false;
    }
    if (!bql_locked()) {
        penguin_error(-EPERM, "snapshot '%s' needs the BQL (use "
                      "penguin_schedule_snapshot() from other threads)", name);
        return false;
    }
    if (penguin_snapshot_busy()) {
        penguin_error(-EBUSY, "snapshot '%s': another snapshot operation is "
                      "running", name);
        return false;
    }
    return true;
}

static bool save(const char *name)
{
    Error *err = NULL;
    bool ok;

    penguin_snapshot_busy_enter();
    ok = save_snapshot(name, true, NULL, false, NULL, &err);
    penguin_snapshot_busy_leave();
    if (!ok) {
        penguin_error_from(-EIO, err, "saving snapshot '%s': ", name);
    }
    return ok;
}

static bool load(const char *name)
{
    RunState saved_state = runstate_get();
    Error *err = NULL;
    bool ok;

    penguin_snapshot_busy_enter();
    vm_stop(RUN_STATE_RESTORE_VM);
    ok = load_snapshot(name, NULL, false, NULL, &err);
    load_snapshot_resume(saved_state);
    penguin_snapshot_busy_leave();
    if (!ok) {
        penguin_error_from(-EIO, err, "loading snapshot '%s': ", name);
    }
    return ok;
}

bool penguin_save_snapshot(const char *name)
{
    return sync_call_ok(name) && save(name);
}

bool penguin_load_snapshot(const char *name)
{
    return sync_call_ok(name) && load(name);
}

/* Count a finished request and tell the done callback, on this thread. */
static void complete(const char *name, bool load, bool ok)
{
    PenguinFn fn;
    void *opaque;

    qatomic_set(&last_snapshot_ok, ok);
    qatomic_inc(&snapshots_completed);
    if (penguin_hook_get(&snapshot_done_hook, &fn, &opaque)) {
        ((penguin_snapshot_done_cb_t)fn)(name, load, ok, opaque);
    }
}

static void run_scheduled(void *opaque)
{
    PenguinScheduledSnapshot *s = opaque;
    bool ok = s->load ? load(s->name) : save(s->name);

    complete(s->name, s->load, ok);
    g_free(s->name);
    g_free(s);
}

void penguin_schedule_snapshot(const char *name, bool load)
{
    const char *why = penguin_vm_absent_reason();
    PenguinScheduledSnapshot *s;

    if (!name_ok(name)) {
        complete(name ? name : "", load, false);
        return;
    }
    if (why) {
        penguin_error(-ENODEV, "snapshot '%s': %s", name, why);
        complete(name, load, false);
        return;
    }
    s = g_new(PenguinScheduledSnapshot, 1);
    s->name = g_strdup(name);
    s->load = load;
    penguin_work_queue_push(run_scheduled, s);
}

void set_penguin_snapshot_done_callback(penguin_snapshot_done_cb_t cb,
                                        void *opaque)
{
    penguin_hook_set(&snapshot_done_hook, (PenguinFn)cb, opaque);
}

uint64_t penguin_snapshots_completed(bool *last_ok)
{
    if (last_ok) {
        *last_ok = qatomic_read(&last_snapshot_ok);
    }
    return qatomic_read(&snapshots_completed);
}
