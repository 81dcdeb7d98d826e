/*
 * Penguin fast snapshots: the handle API of penguin.h over the engine.
 *
 * A snapshot is guest RAM (fastsnap-ram.c, copy-on-write), the device block
 * (fastsnap-devices.c) and the writable drives (fastsnap-drives.c), taken
 * and restored with the guest paused (fastsnap-vm.c). Several may exist at
 * once; each has a handle > 0.
 *
 * Synchronous calls pass one context check (fastsnap_check_context()) and
 * mark the snapshot machinery busy while they run, since pausing the vCPUs
 * drops the BQL for a moment and another thread could otherwise start a
 * second operation in the middle of the first. Scheduled requests run from
 * the work queue, one at a time, in order with internal snapshots.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "migration/misc.h"
#include "penguin/penguin.h"
#include "penguin/callback.h"
#include "penguin/coverage.h"
#include "penguin/error.h"
#include "penguin/fastsnap.h"
#include "penguin/hooks.h"
#include "penguin/lifecycle.h"
#include "penguin/work-queue.h"

typedef struct FastSnap {
    int handle;
    FastSnapRam *ram;
    FastSnapDevices *devices;
    FastSnapDrives *drives;
} FastSnap;

typedef struct FastSnapRequest {
    int op;
    int handle;
} FastSnapRequest;

static GHashTable *snapshots;   /* handle -> FastSnap */
static int last_handle;
static bool restoring;          /* loading a snapshot's device block */
static PenguinHook done_hook;

bool penguin_fast_restore_running(void)
{
    return restoring;
}

static FastSnap *find(int handle)
{
    return snapshots ? g_hash_table_lookup(snapshots, GINT_TO_POINTER(handle))
                     : NULL;
}

static void free_snap(FastSnap *snap, bool last)
{
    fastsnap_drives_free(snap->drives, last);
    fastsnap_devices_free(snap->devices);
    fastsnap_ram_free(snap->ram);
    g_free(snap);
}

/*
 * Devices whose state a snapshot cannot hold: an unmigratable one, or a
 * migration blocker that is not only about live migration (a mounted 9p
 * export: its open files live in QEMU, outside any vmstate).
 */
static bool restorable(Error **errp)
{
    return !fastsnap_blocked_by_others(errp);
}

/* With the guest paused: the three parts, or none of them. */
static int take_parts(FastSnap *snap, Error **errp)
{
    if (!restorable(errp)) {
        return -EBUSY;
    }
    snap->ram = fastsnap_ram_take(errp);
    if (!snap->ram) {
        return -ENOMEM;
    }
    snap->devices = fastsnap_devices_take(NULL, errp);
    if (!snap->devices) {
        return -EIO;
    }
    snap->drives = fastsnap_drives_take(errp);
    return snap->drives ? 0 : -EIO;
}

static int do_take(void)
{
    FastSnap *snap = g_new0(FastSnap, 1);
    FastSnapPause pause;
    Error *err = NULL;
    int ret;

    fastsnap_find_virtio_devices();
    fastsnap_pause(&pause, fastsnap_needs_full_stop());
    ret = take_parts(snap, &err);
    if (ret < 0) {
        free_snap(snap, !snapshots || !g_hash_table_size(snapshots));
    }
    fastsnap_resume(&pause);
    if (ret < 0) {
        return penguin_error_from(ret, err, "fast snapshot: ");
    }
    if (!snapshots) {
        snapshots = g_hash_table_new(NULL, NULL);
    }
    snap->handle = ++last_handle;
    g_hash_table_insert(snapshots, GINT_TO_POINTER(snap->handle), snap);
    return snap->handle;
}

/* With the guest paused: drives, then RAM, then the devices. */
static int restore_parts(FastSnap *snap, Error **errp)
{
    FastSnapRamStats ram_stats;
    FastSnapDevStats dev_stats;
    int ret;

    ret = fastsnap_drives_restore(snap->drives, errp);
    if (ret == 0) {
        ret = fastsnap_ram_restore(snap->ram, &ram_stats, errp);
    }
    if (ret == 0) {
        restoring = true;
        ret = fastsnap_devices_restore(snap->devices, &dev_stats, errp);
        restoring = false;
    }
    if (ret == 0) {
        penguin_coverage_fast_restore_hook();
    }
    return ret;
}

static int do_restore(int handle)
{
    FastSnap *snap = find(handle);
    FastSnapPause pause;
    Error *err = NULL;
    int ret;

    if (!snap) {
        return penguin_error(-ENOENT, "fast snapshot %d does not exist "
                             "(dropped, or never taken)", handle);
    }
    fastsnap_pause(&pause, fastsnap_needs_full_stop());
    ret = restore_parts(snap, &err);
    fastsnap_resume(&pause);
    if (ret < 0) {
        return penguin_error_from(ret, err, "fast snapshot %d: ", handle);
    }
    return 0;
}

static int do_drop(int handle)
{
    FastSnap *snap = find(handle);
    FastSnapPause pause;
    bool last;

    if (!snap) {
        return penguin_error(-ENOENT, "fast snapshot %d does not exist "
                             "(dropped, or never taken)", handle);
    }
    g_hash_table_remove(snapshots, GINT_TO_POINTER(handle));
    last = !g_hash_table_size(snapshots);
    if (!last || fastsnap_drives_empty(snap->drives)) {
        free_snap(snap, last);
        return 0;
    }
    /* The last one writes the drives' overlays down: no guest write then. */
    fastsnap_pause(&pause, false);
    free_snap(snap, last);
    fastsnap_resume(&pause);
    return 0;
}

static const char *const op_names[] = {
    [PENGUIN_FAST_SNAPSHOT_TAKE] = "fast snapshot take",
    [PENGUIN_FAST_SNAPSHOT_RESTORE] = "fast snapshot restore",
    [PENGUIN_FAST_SNAPSHOT_DROP] = "fast snapshot drop",
};

/* A synchronous call: checked, and the machinery busy while it runs. */
static int run_sync(const char *what, int (*fn)(int), int handle)
{
    int ret = fastsnap_check_context(what);

    if (ret < 0) {
        return ret;
    }
    penguin_snapshot_busy_enter();
    ret = fn(handle);
    penguin_snapshot_busy_leave();
    return ret;
}

static int take_op(int unused)
{
    return do_take();
}

int penguin_fast_snapshot_take(void)
{
    return run_sync(op_names[PENGUIN_FAST_SNAPSHOT_TAKE], take_op, 0);
}

int penguin_fast_snapshot_restore(int handle)
{
    return run_sync(op_names[PENGUIN_FAST_SNAPSHOT_RESTORE], do_restore,
                    handle);
}

int penguin_fast_snapshot_drop(int handle)
{
    return run_sync(op_names[PENGUIN_FAST_SNAPSHOT_DROP], do_drop, handle);
}

static void complete(int op, int handle, int result)
{
    PenguinFn fn;
    void *opaque;

    if (penguin_hook_get(&done_hook, &fn, &opaque)) {
        ((penguin_fast_snapshot_done_cb_t)fn)(op, handle, result, opaque);
    }
}


static void run_scheduled(void *opaque)
{
    g_autofree FastSnapRequest *r = opaque;
    int result;

    result = fastsnap_check_scheduled(op_names[r->op]);
    if (result == 0 && r->op == PENGUIN_FAST_SNAPSHOT_TAKE) {
        result = do_take();
    } else if (result == 0 && r->op == PENGUIN_FAST_SNAPSHOT_RESTORE) {
        result = do_restore(r->handle);
    } else if (result == 0) {
        result = do_drop(r->handle);
    }
    complete(r->op, r->handle, result);
}

int penguin_fast_snapshot_schedule(int op, int handle)
{
    FastSnapRequest *r;
    int ret = 0;

    if (op < PENGUIN_FAST_SNAPSHOT_TAKE || op > PENGUIN_FAST_SNAPSHOT_DROP) {
        ret = penguin_error(-EINVAL, "fast snapshot: unknown operation %d",
                            op);
    } else if (penguin_vm_absent_reason()) {
        ret = penguin_error(-ENODEV, "%s: %s", op_names[op],
                            penguin_vm_absent_reason());
    }
    if (ret < 0) {
        complete(op, handle, ret);
        return ret;
    }
    r = g_new(FastSnapRequest, 1);
    r->op = op;
    r->handle = handle;
    penguin_work_queue_push(run_scheduled, r);
    return 0;
}

void set_penguin_fast_snapshot_done_callback(penguin_fast_snapshot_done_cb_t cb,
                                             void *opaque)
{
    penguin_hook_set(&done_hook, (PenguinFn)cb, opaque);
}
