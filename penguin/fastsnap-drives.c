/*
 * Penguin fast snapshots: every writable drive behind an in-memory overlay.
 *
 * Penguin's root drive is always writable (cache=unsafe, with or without
 * snapshot=on), and what the guest writes to it after a take must be gone
 * after a restore. At the first take, a small block node of ours is put on
 * top of each writable drive's node (bdrv_append(), as mirror does with its
 * filter): from then on the guest's writes stay in host memory in 4 KiB
 * clusters, and reads take a cluster from there or from the drive below,
 * which is never written while fast snapshots exist. A take freezes what the
 * overlay holds (shared, reference-counted clusters); a restore drops what
 * was written since and reads through the frozen state again. Both run with
 * block I/O drained. When the last fast snapshot goes, the overlay's clusters
 * are written down to the drive, so the guest's writes since the take
 * persist as if nothing had been in between, and the overlay is removed.
 * When the process ends with snapshots alive, the overlays are dropped
 * without writing: the image keeps what it held at the take.
 *
 * Why in memory rather than a qcow2 overlay (snapshot=on's way): a restore
 * must forget the writes in microseconds, thousands of times; emptying a
 * hash table does, truncating and re-initialising an image does not.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "block/block_int.h"
#include "block/block-global-state.h"
#include "block/graph-lock.h"
#include "system/block-backend.h"
#include "system/runstate.h"
#include "penguin/fastsnap.h"

#define CLUSTER_SIZE 4096

/* A drive's content at a take: cluster index -> GBytes (CLUSTER_SIZE). */
typedef struct Frozen {
    int refs;
    GHashTable *clusters;
} Frozen;

/* The overlay node's state (bs->opaque). */
typedef struct Overlay {
    GHashTable *delta;          /* cluster index -> g_malloc'd cluster */
    Frozen *base;               /* read below delta, above the drive */
} Overlay;

/* One drive in a snapshot: its overlay node and what it held. */
typedef struct DriveState {
    BlockDriverState *overlay;  /* referenced */
    Frozen *frozen;
} DriveState;

struct FastSnapDrives {
    GArray *drives;             /* of DriveState */
};

static unsigned live_snapshots; /* FastSnapDrives that exist */
static GList *live;             /* of FastSnapDrives */
static Notifier shutdown_notifier;

static Frozen *frozen_new(void)
{
    Frozen *f = g_new0(Frozen, 1);

    f->refs = 1;
    f->clusters = g_hash_table_new_full(NULL, NULL, NULL,
                                        (GDestroyNotify)g_bytes_unref);
    return f;
}

static Frozen *frozen_ref(Frozen *f)
{
    f->refs++;
    return f;
}

static void frozen_unref(Frozen *f)
{
    if (f && --f->refs == 0) {
        g_hash_table_destroy(f->clusters);
        g_free(f);
    }
}

/* The cluster's bytes in the overlay, or NULL for the drive's. */
static const uint8_t *overlay_cluster(Overlay *o, uint64_t index)
{
    gpointer key = GSIZE_TO_POINTER(index);
    uint8_t *data = g_hash_table_lookup(o->delta, key);
    GBytes *bytes;

    if (data) {
        return data;
    }
    bytes = g_hash_table_lookup(o->base->clusters, key);
    return bytes ? g_bytes_get_data(bytes, NULL) : NULL;
}

static int coroutine_fn GRAPH_RDLOCK
overlay_preadv(BlockDriverState *bs, int64_t offset, int64_t bytes,
               QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    Overlay *o = bs->opaque;
    int64_t below = -1;         /* start of a run read from the drive */
    size_t done = 0;

    while (done < bytes) {
        int64_t pos = offset + done;
        size_t in = pos % CLUSTER_SIZE;
        size_t n = MIN(CLUSTER_SIZE - in, bytes - done);
        const uint8_t *data = overlay_cluster(o, pos / CLUSTER_SIZE);

        if (data && below >= 0) {
            int ret = bdrv_co_preadv_part(bs->backing, below, pos - below,
                                          qiov, below - offset, flags);
            if (ret < 0) {
                return ret;
            }
            below = -1;
        }
        if (data) {
            qemu_iovec_from_buf(qiov, done, data + in, n);
        } else if (below < 0) {
            below = pos;
        }
        done += n;
    }
    if (below >= 0) {
        return bdrv_co_preadv_part(bs->backing, below, offset + bytes - below,
                                   qiov, below - offset, flags);
    }
    return 0;
}

/* The cluster of delta to write into, read from below when partly written. */
static int coroutine_fn GRAPH_RDLOCK
writable_cluster(BlockDriverState *bs, uint64_t index, bool whole,
                 uint8_t **out)
{
    Overlay *o = bs->opaque;
    gpointer key = GSIZE_TO_POINTER(index);
    uint8_t *data = g_hash_table_lookup(o->delta, key);
    const uint8_t *old;
    int64_t start = index * CLUSTER_SIZE;

    if (!data) {
        data = g_malloc0(CLUSTER_SIZE);
        old = overlay_cluster(o, index);
        if (old) {
            memcpy(data, old, CLUSTER_SIZE);
        } else if (!whole) {
            int64_t len = MIN(CLUSTER_SIZE,
                              bs->total_sectors * BDRV_SECTOR_SIZE - start);
            int ret = len > 0 ? bdrv_co_pread(bs->backing, start, len, data,
                                              0) : 0;
            if (ret < 0) {
                g_free(data);
                return ret;
            }
        }
        g_hash_table_insert(o->delta, key, data);
    }
    *out = data;
    return 0;
}

/* Write @qiov (or zeroes, when NULL) at @offset into the overlay. */
static int coroutine_fn GRAPH_RDLOCK
overlay_write(BlockDriverState *bs, int64_t offset, int64_t bytes,
              QEMUIOVector *qiov)
{
    size_t done = 0;

    while (done < bytes) {
        int64_t pos = offset + done;
        size_t in = pos % CLUSTER_SIZE;
        size_t n = MIN(CLUSTER_SIZE - in, bytes - done);
        uint8_t *data;
        int ret = writable_cluster(bs, pos / CLUSTER_SIZE,
                                   n == CLUSTER_SIZE, &data);

        if (ret < 0) {
            return ret;
        }
        if (qiov) {
            qemu_iovec_to_buf(qiov, done, data + in, n);
        } else {
            memset(data + in, 0, n);
        }
        done += n;
    }
    return 0;
}

static int coroutine_fn GRAPH_RDLOCK
overlay_pwritev(BlockDriverState *bs, int64_t offset, int64_t bytes,
                QEMUIOVector *qiov, BdrvRequestFlags flags)
{
    return overlay_write(bs, offset, bytes, qiov);
}

static int coroutine_fn GRAPH_RDLOCK
overlay_pwrite_zeroes(BlockDriverState *bs, int64_t offset, int64_t bytes,
                      BdrvRequestFlags flags)
{
    return overlay_write(bs, offset, bytes, NULL);
}

/* Discarded data may read back as before: nothing to do. */
static int coroutine_fn GRAPH_RDLOCK
overlay_pdiscard(BlockDriverState *bs, int64_t offset, int64_t bytes)
{
    return 0;
}

/* Nothing of the overlay's is on disk, and the drive is not written. */
static int coroutine_fn GRAPH_RDLOCK overlay_flush(BlockDriverState *bs)
{
    return 0;
}

static void GRAPH_RDLOCK overlay_refresh_filename(BlockDriverState *bs)
{
    if (bs->backing) {
        pstrcpy(bs->exact_filename, sizeof(bs->exact_filename),
                bs->backing->bs->filename);
    }
}

static void overlay_close(BlockDriverState *bs)
{
    Overlay *o = bs->opaque;

    g_hash_table_destroy(o->delta);
    frozen_unref(o->base);
}

static BlockDriver overlay_driver = {
    .format_name            = "penguin-fastsnap-overlay",
    .instance_size          = sizeof(Overlay),
    .bdrv_co_preadv         = overlay_preadv,
    .bdrv_co_pwritev        = overlay_pwritev,
    .bdrv_co_pwrite_zeroes  = overlay_pwrite_zeroes,
    .bdrv_co_pdiscard       = overlay_pdiscard,
    .bdrv_co_flush          = overlay_flush,
    .bdrv_refresh_filename  = overlay_refresh_filename,
    .bdrv_child_perm        = bdrv_default_perms,
    .bdrv_close             = overlay_close,
    .is_filter              = true,
    .filtered_child_is_backing = true,
};

static const char *drive_name(BlockBackend *blk)
{
    const char *name = blk_name(blk);

    return *name ? name : bdrv_get_node_name(blk_bs(blk));
}

/* Put an overlay on top of @blk's node; it holds what the drive holds. */
static BlockDriverState *insert_overlay(BlockBackend *blk, Error **errp)
{
    BlockDriverState *bs = blk_bs(blk);
    BlockDriverState *top;
    Overlay *o;

    top = bdrv_new_open_driver(&overlay_driver, NULL, BDRV_O_RDWR, errp);
    if (!top) {
        return NULL;
    }
    top->implicit = true;
    top->never_freeze = true;
    top->total_sectors = bs->total_sectors;
    o = top->opaque;
    o->delta = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    o->base = frozen_new();
    if (bdrv_append(top, bs, errp) < 0) {
        error_prepend(errp, "drive %s: ", drive_name(blk));
        bdrv_unref(top);
        return NULL;
    }
    return top;
}

/* The overlay's content now, frozen; the overlay reads through it. */
static Frozen *freeze(Overlay *o)
{
    Frozen *f = frozen_new();
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, o->base->clusters);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        g_hash_table_insert(f->clusters, key, g_bytes_ref(value));
    }
    g_hash_table_iter_init(&it, o->delta);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        g_hash_table_insert(f->clusters, key,
                            g_bytes_new_take(value, CLUSTER_SIZE));
        g_hash_table_iter_steal(&it);
    }
    frozen_unref(o->base);
    o->base = frozen_ref(f);
    return f;
}

static bool is_overlay(BlockDriverState *bs)
{
    return bs && bs->drv == &overlay_driver;
}

/*
 * The process is going away with snapshots alive: the overlays go, without
 * writing anything down (the image keeps what it held at the take; drop the
 * snapshots first to keep the guest's writes), so that no block node is left
 * when QEMU closes them all. The snapshots keep no drive from then on.
 */
static void forget_overlays(Notifier *n, void *data)
{
    g_autoptr(GHashTable) overlays = g_hash_table_new(NULL, NULL);
    GHashTableIter it;
    gpointer bs;
    Error *err = NULL;

    for (GList *l = live; l; l = l->next) {
        FastSnapDrives *d = l->data;

        for (guint i = 0; i < d->drives->len; i++) {
            DriveState *ds = &g_array_index(d->drives, DriveState, i);

            if (g_hash_table_add(overlays, ds->overlay)) {
                bdrv_ref(ds->overlay);
            }
            frozen_unref(ds->frozen);
            bdrv_unref(ds->overlay);
        }
        g_array_set_size(d->drives, 0);
    }
    g_hash_table_iter_init(&it, overlays);
    while (g_hash_table_iter_next(&it, &bs, NULL)) {
        if (bdrv_drop_filter(bs, &err) < 0) {
            error_report_err(err);
            err = NULL;
        }
        bdrv_unref(bs);
    }
}

FastSnapDrives *fastsnap_drives_take(Error **errp)
{
    FastSnapDrives *d = g_new0(FastSnapDrives, 1);

    d->drives = g_array_new(false, false, sizeof(DriveState));
    live_snapshots++;
    live = g_list_prepend(live, d);
    if (!shutdown_notifier.notify) {
        shutdown_notifier.notify = forget_overlays;
        qemu_register_shutdown_notifier(&shutdown_notifier);
    }
    for (BlockBackend *blk = blk_all_next(NULL); blk;
         blk = blk_all_next(blk)) {
        BlockDriverState *bs = blk_bs(blk);
        DriveState ds;

        if (!bs || (!is_overlay(bs) && bdrv_is_read_only(bs))) {
            continue;
        }
        if (is_overlay(bs)) {
            bdrv_ref(bs);
        } else {
            bs = insert_overlay(blk, errp);     /* comes with our reference */
            if (!bs) {
                fastsnap_drives_free(d, false);
                return NULL;
            }
        }
        ds.overlay = bs;
        ds.frozen = freeze(bs->opaque);
        g_array_append_val(d->drives, ds);
    }
    return d;
}

static bool in_snapshot(FastSnapDrives *d, BlockDriverState *bs)
{
    for (guint i = 0; i < d->drives->len; i++) {
        if (g_array_index(d->drives, DriveState, i).overlay == bs) {
            return true;
        }
    }
    return false;
}

int fastsnap_drives_restore(FastSnapDrives *d, Error **errp)
{
    /* A writable drive the take did not see would keep its writes. */
    for (BlockBackend *blk = blk_all_next(NULL); blk;
         blk = blk_all_next(blk)) {
        BlockDriverState *bs = blk_bs(blk);

        if (bs && !bdrv_is_read_only(bs) && !in_snapshot(d, bs)) {
            error_setg(errp, "drive %s was attached after the take; its "
                       "writes would outlive the restore", drive_name(blk));
            return -EBUSY;
        }
    }
    for (guint i = 0; i < d->drives->len; i++) {
        DriveState *ds = &g_array_index(d->drives, DriveState, i);
        Overlay *o = ds->overlay->opaque;

        g_hash_table_remove_all(o->delta);
        frozen_unref(o->base);
        o->base = frozen_ref(ds->frozen);
    }
    return 0;
}

/* Write @all down to the drive below @top. */
static void write_down(BlockDriverState *top, Frozen *all)
{
    GRAPH_RDLOCK_GUARD_MAINLOOP();
    int64_t size = top->total_sectors * BDRV_SECTOR_SIZE;
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, all->clusters);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        int64_t start = GPOINTER_TO_SIZE(key) * CLUSTER_SIZE;
        int ret = bdrv_pwrite(top->backing, start,
                              MIN(CLUSTER_SIZE, size - start),
                              g_bytes_get_data(value, NULL), 0);

        if (ret < 0) {
            error_report("penguin fast snapshots: writing the guest's writes "
                         "back to %s failed: %s", top->filename,
                         strerror(-ret));
            return;
        }
    }
}

/* Write what the overlay holds down to its drive, then remove it. */
static void commit_and_remove(BlockDriverState *top)
{
    Frozen *all = freeze(top->opaque);
    Error *err = NULL;

    write_down(top, all);
    frozen_unref(all);
    if (bdrv_drop_filter(top, &err) < 0) {
        error_report_err(err);
    }
}

bool fastsnap_drives_empty(FastSnapDrives *d)
{
    return !d || !d->drives->len;
}

void fastsnap_drives_free(FastSnapDrives *d, bool last)
{
    if (!d) {
        return;
    }
    live_snapshots--;
    live = g_list_remove(live, d);
    for (guint i = 0; i < d->drives->len; i++) {
        DriveState *ds = &g_array_index(d->drives, DriveState, i);

        frozen_unref(ds->frozen);
        if (last && !live_snapshots) {
            commit_and_remove(ds->overlay);
        }
        bdrv_unref(ds->overlay);
    }
    g_array_unref(d->drives);
    g_free(d);
}
