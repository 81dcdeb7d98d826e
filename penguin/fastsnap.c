/*
 * Penguin fast snapshots: a VM's state kept in host memory, restored by
 * copying back only what changed.
 *
 * A snapshot holds a copy of every RAM block and the device state (QEMU's
 * vmstate of every device but RAM, CPUs included) in a memory buffer.
 * Changes are found with QEMU's own dirty-memory machinery: while snapshots
 * exist, global dirty logging is on, so every write by a TCG vCPU (through
 * the TLB's not-dirty trap) and every DMA write by a device model sets the
 * page's bit in the DIRTY_MEMORY_MIGRATION bitmap. That is exact for TCG on
 * every target, which the TLB alone is not (device DMA bypasses it).
 *
 * At every take and restore ("sync point") the bits set since the previous
 * one are harvested and cleared, and each snapshot accumulates them in its
 * own bitmap: the pages that may differ from its copy. A restore copies back
 * exactly those pages and invalidates their translated code (a guest that
 * rewrote its own code must run the original again), and the pages it wrote
 * are added to every other snapshot's bitmap. Blocks shared with another
 * process (memory-backend-file,share=on, which a vhost-user backend writes
 * without telling QEMU) count as wholly changed at every sync point.
 *
 * Take and restore stop the VM and start it again (vm_stop()), as a load
 * does, but translated code is dropped page by page, only where RAM was
 * restored: the full TB flush that loading a CPU's vmstate does
 * (cpu_common_post_load) is skipped while a restore runs
 * (penguin_fast_restore_running()), so the guest keeps every translation of
 * the pages it did not change. Drives must be read-only: a drive's writes
 * would outlive a restore of RAM.
 *
 * While snapshots exist a migration blocker keeps savevm and migration away
 * (both clear the same dirty bitmap); a loadvm makes every snapshot restore
 * all of its RAM next time.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qemu/units.h"
#include "exec/ram_addr.h"
#include "exec/ramblock.h"
#include "exec/exec-all.h"
#include "exec/tb-flush.h"
#include "exec/cputlb.h"
#include "hw/core/cpu.h"
#include "io/channel-buffer.h"
#include "migration/blocker.h"
#include "migration/global_state.h"
#include "migration/misc.h"
#include "migration/qemu-file.h"
#include "migration/savevm.h"
#include "qom/object.h"
#include "block/block.h"
#include "system/block-backend.h"
#include "system/cpus.h"
#include "system/runstate.h"
#include "system/tcg.h"
#include "penguin/penguin.h"
#include "penguin/callback.h"
#include "penguin/error.h"
#include "penguin/hooks.h"
#include "penguin/lifecycle.h"
#include "penguin/work-queue.h"

typedef struct FastSnapBlock {
    RAMBlock *rb;
    ram_addr_t offset;          /* in ram_addr space, at take time */
    ram_addr_t length;
    uint8_t *copy;              /* the block's bytes at take time */
    unsigned long *changed;     /* pages that may differ from copy */
} FastSnapBlock;

typedef struct FastSnap {
    int handle;
    unsigned nblocks;
    FastSnapBlock *blocks;
    GByteArray *devices;        /* qemu_save_device_state() output */
} FastSnap;

typedef struct FastSnapRequest {
    int op;
    int handle;
} FastSnapRequest;

static GHashTable *snapshots;   /* handle -> FastSnap; main loop, BQL */
static int last_handle;
static bool stopping_ourselves; /* our own vm_stop(): not a loadvm */
static bool restoring;          /* loading a snapshot's device state */
static Error *blocker;
static PenguinHook done_hook;
static VMChangeStateEntry *loadvm_watch;

static FastSnap *find(int handle)
{
    return snapshots ? g_hash_table_lookup(snapshots, GINT_TO_POINTER(handle))
                     : NULL;
}

static unsigned long block_pages(ram_addr_t length)
{
    return length >> TARGET_PAGE_BITS;
}

/* Mark every page of every snapshot changed (after a loadvm, for one). */
static void mark_all_changed(void)
{
    GHashTableIter it;
    FastSnap *snap;

    if (!snapshots) {
        return;
    }
    g_hash_table_iter_init(&it, snapshots);
    while (g_hash_table_iter_next(&it, NULL, (void **)&snap)) {
        for (unsigned i = 0; i < snap->nblocks; i++) {
            bitmap_fill(snap->blocks[i].changed,
                        block_pages(snap->blocks[i].length));
        }
    }
}

static void loadvm_seen(void *opaque, bool running, RunState state)
{
    if (!stopping_ourselves &&
        (state == RUN_STATE_RESTORE_VM || state == RUN_STATE_INMIGRATE)) {
        mark_all_changed();
    }
}

/* OR pages [first, first + n) of the block at @offset into every snapshot. */
static void note_changed(ram_addr_t offset, unsigned long first,
                         unsigned long n)
{
    GHashTableIter it;
    FastSnap *snap;

    g_hash_table_iter_init(&it, snapshots);
    while (g_hash_table_iter_next(&it, NULL, (void **)&snap)) {
        for (unsigned i = 0; i < snap->nblocks; i++) {
            if (snap->blocks[i].offset == offset) {
                bitmap_set(snap->blocks[i].changed, first, n);
            }
        }
    }
}

/* Whether page @page (ram_addr >> TARGET_PAGE_BITS) is dirty for migration. */
static bool page_dirty(DirtyMemoryBlocks *blocks, unsigned long page)
{
    return test_bit(page % DIRTY_MEMORY_BLOCK_SIZE,
                    blocks->blocks[page / DIRTY_MEMORY_BLOCK_SIZE]);
}

/*
 * Move the dirty bits set since the last sync point into every snapshot's
 * changed bitmap and clear them (which also re-arms the TLB's not-dirty
 * traps of those pages).
 */
static int harvest_block(RAMBlock *rb, void *opaque)
{
    ram_addr_t offset = qemu_ram_get_offset(rb);
    unsigned long first = offset >> TARGET_PAGE_BITS;
    unsigned long n = block_pages(qemu_ram_get_used_length(rb));
    DirtyMemoryBlocks *blocks;
    unsigned long page = 0;

    if (qemu_ram_is_shared(rb)) {
        note_changed(offset, 0, n);
        return 0;
    }
    while (page < n) {
        unsigned long run;
        bool dirty;

        WITH_RCU_READ_LOCK_GUARD() {
            blocks = qatomic_rcu_read(&ram_list.dirty_memory[
                                          DIRTY_MEMORY_MIGRATION]);
            dirty = page_dirty(blocks, first + page);
            for (run = 1; page + run < n &&
                 page_dirty(blocks, first + page + run) == dirty; run++) {
                /* count the run */
            }
        }
        if (dirty) {
            note_changed(offset, page, run);
            cpu_physical_memory_test_and_clear_dirty(
                offset + ((ram_addr_t)page << TARGET_PAGE_BITS),
                (ram_addr_t)run << TARGET_PAGE_BITS, DIRTY_MEMORY_MIGRATION);
        }
        page += run;
    }
    return 0;
}

static void harvest(void)
{
    qemu_ram_foreach_block(harvest_block, NULL);
}

static void free_snap(FastSnap *snap)
{
    for (unsigned i = 0; i < snap->nblocks; i++) {
        g_free(snap->blocks[i].copy);
        g_free(snap->blocks[i].changed);
    }
    g_free(snap->blocks);
    if (snap->devices) {
        g_byte_array_unref(snap->devices);
    }
    g_free(snap);
}

static int count_block(RAMBlock *rb, void *opaque)
{
    (*(unsigned *)opaque)++;
    return 0;
}

static int copy_block(RAMBlock *rb, void *opaque)
{
    FastSnap *snap = opaque;
    FastSnapBlock *b = &snap->blocks[snap->nblocks];

    b->rb = rb;
    b->offset = qemu_ram_get_offset(rb);
    b->length = qemu_ram_get_used_length(rb);
    b->copy = g_try_malloc(b->length);
    b->changed = bitmap_try_new(block_pages(b->length));
    if (!b->copy || !b->changed) {
        g_free(b->copy);
        g_free(b->changed);
        return -ENOMEM;
    }
    memcpy(b->copy, qemu_ram_get_host_addr(rb), b->length);
    snap->nblocks++;
    return 0;
}

/*
 * Take and restore with the VM stopped (vm_stop()): devices save and load
 * their state as they do for migration, with their run-state handlers seen
 * through (pflash, for one, writes itself back when the VM starts again after
 * a load, and a vhost device stops its backend while its rings are read).
 * Stopping only the vCPUs was measured no faster and broke those devices.
 */
static RunState stop_guest(void)
{
    RunState state = runstate_get();

    stopping_ourselves = true;
    vm_stop(RUN_STATE_RESTORE_VM);
    stopping_ourselves = false;
    return state;
}

static void start_guest(RunState state)
{
    if (state == RUN_STATE_RUNNING) {
        vm_start();
    } else {
        runstate_set(state);
    }
}

/*
 * Why the VM cannot have fast snapshots now, or NULL. Scheduled requests run
 * one at a time from the work queue, so only synchronous calls also check
 * that no other snapshot operation runs.
 */
static const char *refusal(void)
{
    BlockBackend *blk;

    if (!tcg_enabled()) {
        return "fast snapshots need TCG";
    }
    if (migration_is_running()) {
        return "a migration or savevm is running";
    }
    if (qemu_savevm_state_blocked(NULL)) {
        return "a device of this machine cannot be saved (unmigratable)";
    }
    /*
     * Ask each drive's node, not its BlockBackend: a drive no device uses
     * yet holds no write permission, but a device may write it later.
     */
    for (blk = blk_all_next(NULL); blk; blk = blk_all_next(blk)) {
        BlockDriverState *bs = blk_bs(blk);

        if (bs && !bdrv_is_read_only(bs)) {
            return "a writable drive is attached (its writes would outlive a "
                   "restore of RAM): attach drives with readonly=on";
        }
    }
    return NULL;
}

static int check_call(bool scheduled)
{
    const char *why;

    if (!penguin_vm_exists()) {
        return penguin_error(-ENODEV, "fast snapshot: no VM yet (call "
                             "qemu_init() first)");
    }
    if (scheduled) {
        return 0;
    }
    if (qemu_in_vcpu_thread()) {
        return penguin_error(-EDEADLK, "fast snapshot from a vCPU thread: use "
                             "penguin_fast_snapshot_schedule()");
    }
    if (!bql_locked()) {
        return penguin_error(-EPERM, "fast snapshots need the BQL");
    }
    why = penguin_snapshot_busy() ? "another snapshot operation is running"
                                  : refusal();
    return why ? penguin_error(-EBUSY, "fast snapshot: %s", why) : 0;
}

static int start_tracking(void)
{
    Error *err = NULL;

    if (blocker) {
        return 0;
    }
    error_setg(&blocker, "Penguin fast snapshots exist (drop them first)");
    if (migrate_add_blocker(&blocker, &err) < 0) {
        return penguin_error_from(-EBUSY, err, "fast snapshot: ");
    }
    if (!memory_global_dirty_log_start(GLOBAL_DIRTY_DIRTY_RATE, &err)) {
        migrate_del_blocker(&blocker);
        return penguin_error_from(-EIO, err, "fast snapshot: dirty logging: ");
    }
    snapshots = g_hash_table_new(NULL, NULL);
    loadvm_watch = qemu_add_vm_change_state_handler(loadvm_seen, NULL);
    return 0;
}

static void stop_tracking(void)
{
    memory_global_dirty_log_stop(GLOBAL_DIRTY_DIRTY_RATE);
    migrate_del_blocker(&blocker);
    qemu_del_vm_change_state_handler(loadvm_watch);
    loadvm_watch = NULL;
    g_hash_table_destroy(snapshots);
    snapshots = NULL;
}

/*
 * The device state goes through a buffer channel; closing the QEMUFile closes
 * the channel, which frees its buffer, so the bytes are kept apart.
 */
static int save_devices(FastSnap *snap)
{
    QIOChannelBuffer *bioc = qio_channel_buffer_new(64 * KiB);
    QEMUFile *f = qemu_file_new_output(QIO_CHANNEL(bioc));   /* takes a ref */
    int ret;

    /* As migration does: globalstate carries the run state, set first. */
    global_state_store_running();
    ret = qemu_save_device_state(f);
    qemu_fflush(f);
    if (ret == 0) {
        ret = qemu_file_get_error(f);
    }
    snap->devices = g_byte_array_sized_new(bioc->usage);
    g_byte_array_append(snap->devices, bioc->data, bioc->usage);
    qemu_fclose(f);
    object_unref(OBJECT(bioc));
    return ret;
}

static int load_devices(FastSnap *snap)
{
    QIOChannelBuffer *bioc = qio_channel_buffer_new(snap->devices->len);
    QEMUFile *f;
    int ret;

    memcpy(bioc->data, snap->devices->data, snap->devices->len);
    bioc->usage = snap->devices->len;
    f = qemu_file_new_input(QIO_CHANNEL(bioc));
    object_unref(OBJECT(bioc));
    /* qemu_save_device_state() starts with the file magic and version. */
    if (qemu_get_be32(f) != QEMU_VM_FILE_MAGIC ||
        qemu_get_be32(f) != QEMU_VM_FILE_VERSION) {
        ret = -EINVAL;
    } else {
        ret = qemu_load_device_state(f);
    }
    qemu_fclose(f);
    return ret;
}

static int do_take(void)
{
    FastSnap *snap;
    RunState stopped;
    unsigned nblocks = 0;
    int ret;

    ret = start_tracking();
    if (ret < 0) {
        return ret;
    }
    stopped = stop_guest();
    harvest();
    qemu_ram_foreach_block(count_block, &nblocks);
    snap = g_new0(FastSnap, 1);
    snap->blocks = g_new0(FastSnapBlock, nblocks);
    ret = qemu_ram_foreach_block(copy_block, snap);
    if (ret == 0) {
        ret = save_devices(snap);
    }
    start_guest(stopped);
    if (ret < 0) {
        free_snap(snap);
        if (!g_hash_table_size(snapshots)) {
            stop_tracking();
        }
        return penguin_error(ret == -ENOMEM ? -ENOMEM : -EIO, "fast snapshot: "
                             "%s", ret == -ENOMEM ? "out of memory for the RAM "
                             "copy" : "saving device state failed");
    }
    snap->handle = ++last_handle;
    g_hash_table_insert(snapshots, GINT_TO_POINTER(snap->handle), snap);
    return snap->handle;
}

/* Copy back @b's changed pages and forget their translated code. */
static void restore_block(FastSnapBlock *b)
{
    uint8_t *host = qemu_ram_get_host_addr(b->rb);
    unsigned long n = block_pages(b->length);
    unsigned long page = find_first_bit(b->changed, n);

    while (page < n) {
        unsigned long end = find_next_zero_bit(b->changed, n, page);
        ram_addr_t start = (ram_addr_t)page << TARGET_PAGE_BITS;
        ram_addr_t len = (ram_addr_t)(end - page) << TARGET_PAGE_BITS;

        memcpy(host + start, b->copy + start, len);
        tb_invalidate_phys_range(b->offset + start,
                                 b->offset + start + len - 1);
        note_changed(b->offset, page, end - page);  /* for the others */
        page = find_next_bit(b->changed, n, end);
    }
    bitmap_zero(b->changed, n);
}

static int find_block(RAMBlock *rb, void *opaque)
{
    FastSnapBlock *b = opaque;

    return rb == b->rb && qemu_ram_get_offset(rb) == b->offset &&
           qemu_ram_get_used_length(rb) == b->length;
}

/* The snapshot's blocks must still be the machine's, where they were. */
static bool blocks_unchanged(FastSnap *snap)
{
    unsigned now = 0;

    qemu_ram_foreach_block(count_block, &now);
    if (now != snap->nblocks) {
        return false;
    }
    for (unsigned i = 0; i < snap->nblocks; i++) {
        if (!qemu_ram_foreach_block(find_block, &snap->blocks[i])) {
            return false;
        }
    }
    return true;
}

static int do_restore(int handle)
{
    FastSnap *snap = find(handle);
    RunState stopped;
    CPUState *cpu;
    int ret;

    if (!snap) {
        return penguin_error(-ENOENT, "fast snapshot %d does not exist "
                             "(dropped, or never taken)", handle);
    }
    if (!blocks_unchanged(snap)) {
        return penguin_error(-ESTALE, "fast snapshot %d: the machine's RAM "
                             "changed shape since it was taken", handle);
    }
    stopped = stop_guest();
    harvest();
    for (unsigned i = 0; i < snap->nblocks; i++) {
        restore_block(&snap->blocks[i]);
    }
    restoring = true;
    ret = load_devices(snap);
    restoring = false;
    CPU_FOREACH(cpu) {
        tlb_flush(cpu);
    }
    start_guest(stopped);
    if (ret < 0) {
        return penguin_error(-EIO, "fast snapshot %d: loading device state "
                             "failed (%d)", handle, ret);
    }
    return 0;
}

bool penguin_fast_restore_running(void)
{
    return restoring;
}

static int do_drop(int handle)
{
    FastSnap *snap = find(handle);

    if (!snap) {
        return penguin_error(-ENOENT, "fast snapshot %d does not exist "
                             "(dropped, or never taken)", handle);
    }
    g_hash_table_remove(snapshots, GINT_TO_POINTER(handle));
    free_snap(snap);
    if (!g_hash_table_size(snapshots)) {
        stop_tracking();
    }
    return 0;
}

int penguin_fast_snapshot_take(void)
{
    int ret = check_call(false);

    return ret < 0 ? ret : do_take();
}

int penguin_fast_snapshot_restore(int handle)
{
    int ret = check_call(false);

    return ret < 0 ? ret : do_restore(handle);
}

int penguin_fast_snapshot_drop(int handle)
{
    if (!penguin_vm_exists()) {
        return penguin_error(-ENODEV, "fast snapshot: no VM yet");
    }
    if (qemu_in_vcpu_thread() || !bql_locked()) {
        return penguin_error(-EPERM, "dropping a fast snapshot needs the BQL "
                             "off the vCPU threads: use "
                             "penguin_fast_snapshot_schedule()");
    }
    return do_drop(handle);
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
    FastSnapRequest *r = opaque;
    const char *why = r->op == PENGUIN_FAST_SNAPSHOT_DROP ? NULL : refusal();
    int result;

    if (why) {
        result = penguin_error(-EBUSY, "fast snapshot: %s", why);
    } else if (r->op == PENGUIN_FAST_SNAPSHOT_TAKE) {
        result = do_take();
    } else if (r->op == PENGUIN_FAST_SNAPSHOT_RESTORE) {
        result = do_restore(r->handle);
    } else {
        result = do_drop(r->handle);
    }
    complete(r->op, r->handle, result);
    g_free(r);
}

int penguin_fast_snapshot_schedule(int op, int handle)
{
    FastSnapRequest *r;
    int ret;

    if (op < PENGUIN_FAST_SNAPSHOT_TAKE || op > PENGUIN_FAST_SNAPSHOT_DROP) {
        ret = penguin_error(-EINVAL, "fast snapshot: unknown operation %d", op);
        complete(op, handle, ret);
        return ret;
    }
    ret = check_call(true);
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
