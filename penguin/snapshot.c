/*
 * Penguin snapshots: internal snapshots (savevm/loadvm) by name, synchronous from the
 * main loop or scheduled from any thread, with a completion signal.
 *
 * A load that fails leaves the VM running as it was: the name and the devices are
 * checked before anything is loaded, and the VM is resumed whatever the outcome
 * (upstream's loadvm leaves it stopped).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "block/aio.h"
#include "migration/snapshot.h"
#include "system/runstate.h"
#include "penguin/penguin.h"

typedef struct PenguinSnapshotDone {
    penguin_snapshot_done_cb_t cb;
    void *opaque;
} PenguinSnapshotDone;

typedef struct PenguinScheduledSnapshot {
    char *name;
    bool load;
} PenguinScheduledSnapshot;

static PenguinSnapshotDone *snapshot_done;
static uint64_t snapshots_completed;
static bool last_snapshot_ok;

static bool snapshot_request_ok(const char *name)
{
    if (!name || !*name) {
        error_report("penguin: a snapshot needs a name");
        return false;
    }
    if (!bql_locked()) {
        /* Not error_report(): it may run before qemu_init() set up the monitor. */
        fprintf(stderr, "penguin: snapshot '%s' needs the BQL (use "
                "penguin_schedule_snapshot from other threads)\n", name);
        return false;
    }
    return true;
}

bool penguin_save_snapshot(const char *name)
{
    Error *err = NULL;

    if (!snapshot_request_ok(name)) {
        return false;
    }
    if (!save_snapshot(name, true, NULL, false, NULL, &err)) {
        error_reportf_err(err, "penguin: saving snapshot '%s': ", name);
        return false;
    }
    return true;
}

bool penguin_load_snapshot(const char *name)
{
    RunState saved_state;
    Error *err = NULL;
    bool ok;

    if (!snapshot_request_ok(name)) {
        return false;
    }
    saved_state = runstate_get();
    vm_stop(RUN_STATE_RESTORE_VM);
    ok = load_snapshot(name, NULL, false, NULL, &err);
    if (!ok) {
        error_reportf_err(err, "penguin: loading snapshot '%s': ", name);
    }
    load_snapshot_resume(saved_state);
    return ok;
}

static void penguin_snapshot_bh(void *opaque)
{
    PenguinScheduledSnapshot *s = opaque;
    PenguinSnapshotDone *done;
    bool ok;

    ok = s->load ? penguin_load_snapshot(s->name) : penguin_save_snapshot(s->name);
    qatomic_set(&last_snapshot_ok, ok);
    qatomic_inc(&snapshots_completed);
    done = qatomic_load_acquire(&snapshot_done);
    if (done && done->cb) {
        done->cb(s->name, s->load, ok, done->opaque);
    }
    g_free(s->name);
    g_free(s);
}

void penguin_schedule_snapshot(const char *name, bool load)
{
    PenguinScheduledSnapshot *s;

    if (!name || !*name) {
        fprintf(stderr, "penguin: a scheduled snapshot needs a name\n");
        return;
    }
    s = g_new(PenguinScheduledSnapshot, 1);
    s->name = g_strdup(name);
    s->load = load;
    aio_bh_schedule_oneshot(qemu_get_aio_context(), penguin_snapshot_bh, s);
}

void set_penguin_snapshot_done_callback(penguin_snapshot_done_cb_t cb, void *opaque)
{
    PenguinSnapshotDone *done = g_new(PenguinSnapshotDone, 1);

    /* The old one is kept: a completion on the main loop may be reading it. */
    done->cb = cb;
    done->opaque = opaque;
    qatomic_store_release(&snapshot_done, done);
}

uint64_t penguin_snapshots_completed(bool *last_ok)
{
    if (last_ok) {
        *last_ok = qatomic_read(&last_snapshot_ok);
    }
    return qatomic_read(&snapshots_completed);
}
