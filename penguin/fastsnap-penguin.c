/*
 * Penguin's fastsnap interface (penguin_fastsnap_*): the op codes, the
 * completion counter and the result accessors its fuzzing lane calls, over
 * the same engine as our handle API.
 *
 * penguin_fastsnap_schedule(op) queues the op on the work queue (in order
 * with every other snapshot request) and returns; the op runs on the main
 * loop with the guest paused, publishes its results whole, then counts
 * itself in penguin_fastsnap_seq(). The results are one slot: each op
 * replaces what it computes and keeps the rest. A string accessor's pointer
 * stays valid until the op after next completes (the old results are freed
 * after an RCU grace period and one more op); Penguin copies each string at
 * once with ffi.string.
 *
 * Our mapping of its model: the device block (TAKE/RESTORE) is our device
 * part alone, the RAM snapshot (RAM_SNAPSHOT/RAM_RESTORE) our RAM part,
 * LOOP_ARM/LOOP_RESET all three parts (the drives too, which Penguin's own
 * lane leaves alone), restored RAM first: a virtio device's load checks its
 * ring indices against guest RAM.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include "qapi/error.h"
#include "qemu/lockable.h"
#include "qemu/rcu.h"
#include "exec/cpu-common.h"
#include "exec/target_page.h"
#include "penguin/penguin.h"
#include "penguin/coverage.h"
#include "penguin/error.h"
#include "penguin/fastsnap.h"
#include "penguin/lifecycle.h"
#include "penguin/work-queue.h"

#define FORK_DIFF_REPORT_PAGES 8
#define FORK_DIFF_CHUNK (1 << 20)

/* What the accessors read; replaced whole after each op. */
typedef struct Results {
    struct rcu_head rcu;
    int last_rc;
    int64_t last_us;
    int64_t bh_done_us;
    uint64_t last_digest;
    uint64_t last_ram_digest;
    char *section_names;
    int section_count;
    uint64_t block_size;
    uint64_t diff_pages;
    int64_t diff_us;
    uint64_t diff_bytes_checked;
    char *diff_report;
    uint64_t ram_restored_pages;
    uint64_t ram_restored_code_pages;
    uint64_t ram_snapshot_bytes;
    uint64_t dirty_pages;
    uint64_t dirty_pages_scanned;
    char *dirty_report;
    char *dirty_blocks;
    int dev_diff_sections;
    int dev_unrestorable_sections;
    char *dev_diff_report;
} Results;

static const Results initial_results = {
    .dev_diff_sections = -1, .dev_unrestorable_sections = -1,
    .diff_pages = UINT64_MAX,
};

/* The lane's state: main loop only (its ops run from the work queue). */
typedef struct Lane {
    FastSnapDevices *block;     /* TAKE, LOOP_ARM */
    FastSnapDevices *before;    /* whole device state at LOOP_ARM */
    FastSnapRam *ram;           /* RAM_SNAPSHOT, LOOP_ARM */
    FastSnapDrives *drives;     /* LOOP_ARM */
    FastSnapScope scope;        /* applied at the next TAKE/LOOP_ARM */
    pid_t fork_ref;             /* 0: none */
} Lane;

static Lane lane;
static Results *results;        /* RCU */
static Results *retiring;       /* the previous results, freed next time */
static uint64_t seq;
static QemuMutex results_lock;  /* results, retiring, seq: any thread */
static QemuMutex scope_lock;    /* lane.scope: set from any thread */

static void __attribute__((constructor)) fastsnap_penguin_init(void)
{
    qemu_mutex_init(&results_lock);
    qemu_mutex_init(&scope_lock);
}

static void results_free(struct rcu_head *head)
{
    Results *r = container_of(head, Results, rcu);

    g_free(r->section_names);
    g_free(r->diff_report);
    g_free(r->dirty_report);
    g_free(r->dirty_blocks);
    g_free(r->dev_diff_report);
    g_free(r);
}

/* A copy of the current results for an op to change. */
static Results *results_copy(void)
{
    QEMU_LOCK_GUARD(&results_lock);
    const Results *old = results ? results : &initial_results;
    Results *r = g_memdup2(old, sizeof(*r));

    r->section_names = g_strdup(old->section_names ?: "");
    r->diff_report = g_strdup(old->diff_report ?: "");
    r->dirty_report = g_strdup(old->dirty_report ?: "");
    r->dirty_blocks = g_strdup(old->dirty_blocks ?: "");
    r->dev_diff_report = g_strdup(old->dev_diff_report ?: "");
    return r;
}

static void results_publish(Results *r)
{
    QEMU_LOCK_GUARD(&results_lock);
    Results *old = results;

    qatomic_rcu_set(&results, r);
    if (retiring) {
        penguin_retire(&retiring->rcu, results_free);
    }
    retiring = old;
    qatomic_store_release(&seq, seq + 1);
}

static void set_string(char **field, char *value)
{
    g_free(*field);
    *field = value;
}

/* --- The fork reference --- */

static void fork_drop(void)
{
    if (lane.fork_ref > 0) {
        kill(lane.fork_ref, SIGKILL);
        waitpid(lane.fork_ref, NULL, 0);
    }
    lane.fork_ref = 0;
}

/*
 * QEMU keeps guest RAM out of forked children (MADV_DONTFORK), so that a
 * helper it forks does not copy it; the reference needs exactly that copy.
 */
static int inherit_block(RAMBlock *rb, void *opaque)
{
    madvise(qemu_ram_get_host_addr(rb), qemu_ram_get_max_length(rb),
            GPOINTER_TO_INT(opaque));
    return 0;
}

/*
 * A child that holds the paused guest's memory as it is and does nothing
 * else: no descriptors, dies with us. Only async-signal-safe calls after
 * fork() in a process with threads.
 */
static int fork_ref(Error **errp)
{
    pid_t pid;
    int ret;

    if (fastsnap_ram_has_shared_block()) {
        error_setg(errp, "a RAM block is shared with another process "
                   "(share=on): a forked reference would see its later "
                   "writes");
        return -EBUSY;
    }
    fork_drop();
    qemu_ram_foreach_block(inherit_block, GINT_TO_POINTER(MADV_DOFORK));
    pid = fork();
    ret = -errno;
    qemu_ram_foreach_block(inherit_block, GINT_TO_POINTER(MADV_DONTFORK));
    if (pid < 0) {
        error_setg_errno(errp, -ret, "fork");
        return ret;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() == 1) {
            _exit(0);       /* the parent is gone already */
        }
        close_range(0, ~0U, 0);
        for (;;) {
            pause();
        }
    }
    lane.fork_ref = pid;
    return 0;
}

typedef struct DiffState {
    uint64_t pages;
    uint64_t bytes;
    GString *report;
    uint8_t *buf;
    bool failed;
} DiffState;

static void diff_chunk(DiffState *d, RAMBlock *rb, uint8_t *host,
                       size_t off, size_t len)
{
    struct iovec local = { d->buf, len };
    struct iovec remote = { host + off, len };

    if (process_vm_readv(lane.fork_ref, &local, 1, &remote, 1, 0) !=
        (ssize_t)len) {
        d->failed = true;
        return;
    }
    d->bytes += len;
    for (size_t p = 0; p < len; p += qemu_target_page_size()) {
        if (memcmp(d->buf + p, host + off + p, qemu_target_page_size())) {
            if (d->pages++ < FORK_DIFF_REPORT_PAGES) {
                g_string_append_printf(d->report, "%s%s+0x%zx",
                                       d->report->len ? " " : "",
                                       qemu_ram_get_idstr(rb), off + p);
            }
        }
    }
}

static int diff_block(RAMBlock *rb, void *opaque)
{
    DiffState *d = opaque;
    uint8_t *host = qemu_ram_get_host_addr(rb);
    size_t len = qemu_ram_get_used_length(rb);

    for (size_t off = 0; off < len && !d->failed; off += FORK_DIFF_CHUNK) {
        diff_chunk(d, rb, host, off, MIN(FORK_DIFF_CHUNK, len - off));
    }
    return d->failed;
}

/* Guest RAM against the reference, page by page. */
static int fork_diff(Results *r, Error **errp)
{
    g_autoptr(GString) report = g_string_new("");
    DiffState d = { .report = report };
    int64_t start = fastsnap_now_us();

    r->diff_pages = UINT64_MAX;
    if (lane.fork_ref <= 0) {
        error_setg(errp, "no fork reference (FORK_REF or LOOP_ARM first)");
        return -ENOENT;
    }
    d.buf = g_malloc(FORK_DIFF_CHUNK);
    qemu_ram_foreach_block(diff_block, &d);
    g_free(d.buf);
    r->diff_us = fastsnap_now_us() - start;
    r->diff_bytes_checked = d.bytes;
    if (d.failed) {
        error_setg(errp, "reading the fork reference's memory failed");
        return -EIO;
    }
    r->diff_pages = d.pages;
    set_string(&r->diff_report, g_string_free(g_steal_pointer(&report),
                                              false));
    return 0;
}

/* --- The ops --- */

static FastSnapScope scope_now(void)
{
    FastSnapScope s;

    QEMU_LOCK_GUARD(&scope_lock);
    s.allow = g_strdup(lane.scope.allow);
    s.deny = g_strdup(lane.scope.deny);
    return s;
}

static void scope_clear(FastSnapScope *s)
{
    g_free(s->allow);
    g_free(s->deny);
}

static void describe_block(Results *r)
{
    r->section_count = lane.block ? fastsnap_devices_count(lane.block) : 0;
    r->block_size = lane.block ? fastsnap_devices_bytes(lane.block) : 0;
    set_string(&r->section_names, lane.block ?
               fastsnap_devices_names(lane.block) : g_strdup(""));
    r->last_digest = lane.block ? fastsnap_devices_digest(lane.block) : 0;
}

static int take_block(Results *r, Error **errp)
{
    FastSnapScope scope = scope_now();
    FastSnapDevices *block = fastsnap_devices_take(&scope, errp);

    scope_clear(&scope);
    if (!block) {
        return -EIO;
    }
    fastsnap_devices_free(lane.block);
    lane.block = block;
    describe_block(r);
    return 0;
}

static int restore_block(Results *r, Error **errp)
{
    FastSnapDevStats stats;
    int ret;

    if (!lane.block) {
        error_setg(errp, "no device block (TAKE or LOOP_ARM first)");
        return -ENOENT;
    }
    ret = fastsnap_devices_restore(lane.block, &stats, errp);
    return ret;
}

/* The digest of the device state now, in the scope of the next take. */
static int probe(Results *r, Error **errp)
{
    FastSnapScope scope = scope_now();
    FastSnapDevices *now = fastsnap_devices_take(&scope, errp);

    scope_clear(&scope);
    if (!now) {
        return -EIO;
    }
    r->last_digest = fastsnap_devices_digest(now);
    fastsnap_devices_free(now);
    return 0;
}

static int ram_snapshot(Results *r, Error **errp)
{
    FastSnapRam *ram = fastsnap_ram_take(errp);

    if (!ram) {
        return -ENOMEM;
    }
    fastsnap_ram_free(lane.ram);
    lane.ram = ram;
    r->ram_snapshot_bytes = fastsnap_ram_bytes(ram);
    return 0;
}

static int ram_restore(Results *r, Error **errp)
{
    FastSnapRamStats stats;
    int ret;

    if (!lane.ram) {
        error_setg(errp, "no RAM snapshot (RAM_SNAPSHOT or LOOP_ARM first)");
        return -ENOENT;
    }
    ret = fastsnap_ram_restore(lane.ram, &stats, errp);
    r->ram_restored_pages = stats.restored_pages;
    r->ram_restored_code_pages = stats.restored_code_pages;
    r->ram_snapshot_bytes = fastsnap_ram_bytes(lane.ram);
    return ret;
}

static void ram_release(void)
{
    fastsnap_ram_free(lane.ram);
    lane.ram = NULL;
}

static int dirty_count(Results *r)
{
    FastSnapRamStats stats;
    g_autoptr(GString) report = g_string_new("");
    g_autoptr(GString) blocks = g_string_new("");

    if (!fastsnap_dirty_armed()) {
        return penguin_error(-ENOENT, "penguin_fastsnap: dirty accounting is "
                             "not armed (DIRTY_ARM first)");
    }
    r->dirty_pages = fastsnap_dirty_count(&stats, report, blocks);
    r->dirty_pages_scanned = stats.scanned_pages;
    set_string(&r->dirty_report, g_string_free(g_steal_pointer(&report),
                                                false));
    set_string(&r->dirty_blocks, g_string_free(g_steal_pointer(&blocks),
                                               false));
    return 0;
}

static void loop_release(void)
{
    fastsnap_drives_free(lane.drives, true);
    lane.drives = NULL;
    fastsnap_devices_free(lane.before);
    lane.before = NULL;
}

/* Device block, RAM and drives, and a fork reference where RAM allows. */
static int loop_arm(Results *r, Error **errp)
{
    int ret = take_block(r, errp);

    if (ret == 0) {
        ret = ram_snapshot(r, errp);
    }
    if (ret < 0) {
        return ret;
    }
    loop_release();
    lane.drives = fastsnap_drives_take(errp);
    lane.before = lane.drives ? fastsnap_devices_now(errp) : NULL;
    if (!lane.before) {
        return -EIO;
    }
    fork_drop();
    if (!fastsnap_ram_has_shared_block()) {
        ret = fork_ref(errp);
    }
    return ret;
}

static int loop_reset(Results *r, Error **errp)
{
    int ret;

    if (!lane.drives) {
        error_setg(errp, "the loop is not armed (LOOP_ARM first)");
        return -ENOENT;
    }
    ret = fastsnap_drives_restore(lane.drives, errp);
    if (ret == 0) {
        ret = ram_restore(r, errp);
    }
    if (ret == 0) {
        ret = restore_block(r, errp);
    }
    if (ret == 0) {
        penguin_coverage_fast_restore_hook();   /* Penguin's clear-on-reset */
    }
    return ret;
}

/* After a reset, with the guest still paused: RAM and devices compared. */
static int loop_verify(Results *r, Error **errp)
{
    g_autoptr(GString) report = g_string_new("");
    int64_t start = fastsnap_now_us();
    FastSnapDevices *now;
    int ret = 0;

    if (lane.fork_ref > 0) {
        ret = fork_diff(r, errp);
    }
    now = fastsnap_devices_now(errp);
    if (!now) {
        return -EIO;
    }
    fastsnap_devices_compare(lane.block, lane.before, now,
                             &r->dev_unrestorable_sections,
                             &r->dev_diff_sections, report);
    fastsnap_devices_free(now);
    set_string(&r->dev_diff_report, g_string_free(g_steal_pointer(&report),
                                                  false));
    r->diff_us = fastsnap_now_us() - start;
    return ret;
}

static int run_op(int op, Results *r, Error **errp)
{
    int ret;

    switch (op) {
    case PENGUIN_FASTSNAP_TAKE:
        return take_block(r, errp);
    case PENGUIN_FASTSNAP_RESTORE:
        return restore_block(r, errp);
    case PENGUIN_FASTSNAP_RELEASE:
        fastsnap_devices_free(lane.block);
        lane.block = NULL;
        describe_block(r);
        return 0;
    case PENGUIN_FASTSNAP_PROBE:
        return probe(r, errp);
    case PENGUIN_FASTSNAP_RESTORE_VERIFY:
        ret = restore_block(r, errp);
        return ret ? ret : probe(r, errp);
    case PENGUIN_FASTSNAP_STATE_DIGEST:
        r->last_ram_digest = fastsnap_ram_digest();
        return probe(r, errp);
    case PENGUIN_FASTSNAP_FORK_REF:
        return fork_ref(errp);
    case PENGUIN_FASTSNAP_FORK_DIFF:
        return fork_diff(r, errp);
    case PENGUIN_FASTSNAP_FORK_DROP:
        fork_drop();
        return 0;
    case PENGUIN_FASTSNAP_DIRTY_ARM:
        return fastsnap_dirty_arm(errp);
    case PENGUIN_FASTSNAP_DIRTY_COUNT:
        return dirty_count(r);
    case PENGUIN_FASTSNAP_DIRTY_STOP:
        fastsnap_dirty_stop();
        return 0;
    case PENGUIN_FASTSNAP_RAM_SNAPSHOT:
        return ram_snapshot(r, errp);
    case PENGUIN_FASTSNAP_RAM_RESTORE:
        return ram_restore(r, errp);
    case PENGUIN_FASTSNAP_RAM_RELEASE:
        ram_release();
        return 0;
    case PENGUIN_FASTSNAP_LOOP_ARM:
        return loop_arm(r, errp);
    case PENGUIN_FASTSNAP_LOOP_RESET:
    case PENGUIN_FASTSNAP_LOOP_RESET_VERIFY:
        return loop_reset(r, errp);
    default:
        error_setg(errp, "unknown op %d", op);
        return -EINVAL;
    }
}

/* Ops that never touch the guest run without pausing it. */
static bool pauses(int op)
{
    return op != PENGUIN_FASTSNAP_RELEASE && op != PENGUIN_FASTSNAP_FORK_DROP &&
           op != PENGUIN_FASTSNAP_DIRTY_STOP;
}

static void run_scheduled(void *opaque)
{
    int op = GPOINTER_TO_INT(opaque);
    Results *r = results_copy();
    FastSnapPause pause;
    Error *err = NULL;
    int64_t start = fastsnap_now_us();
    int ret = fastsnap_check_scheduled("penguin_fastsnap");

    if (op == PENGUIN_FASTSNAP_TAKE || op == PENGUIN_FASTSNAP_RAM_SNAPSHOT ||
        op == PENGUIN_FASTSNAP_LOOP_ARM) {
        fastsnap_find_virtio_devices();
    }
    if (ret == 0 && pauses(op)) {
        fastsnap_pause(&pause, fastsnap_needs_full_stop());
        ret = run_op(op, r, &err);
        r->last_us = fastsnap_now_us() - start;
        if (op == PENGUIN_FASTSNAP_LOOP_RESET_VERIFY && ret == 0) {
            ret = loop_verify(r, &err);
        }
        fastsnap_resume(&pause);
    } else if (ret == 0) {
        ret = run_op(op, r, &err);
        r->last_us = fastsnap_now_us() - start;
    }
    if (err) {
        ret = penguin_error_from(ret, err, "penguin_fastsnap op %d: ", op);
    }
    r->last_rc = ret;
    r->bh_done_us = fastsnap_now_us();
    results_publish(r);
}

void penguin_fastsnap_schedule(int op)
{
    int ret = 0;

    if (op < PENGUIN_FASTSNAP_TAKE || op > PENGUIN_FASTSNAP_LOOP_RESET_VERIFY) {
        ret = penguin_error(-EINVAL, "penguin_fastsnap: unknown op %d", op);
    } else if (penguin_vm_absent_reason()) {
        ret = penguin_error(-ENODEV, "penguin_fastsnap: %s",
                            penguin_vm_absent_reason());
    }
    if (ret < 0) {
        /* Completed at once, as the op would have: seq moves, rc says why. */
        Results *r = results_copy();

        r->last_rc = ret;
        r->last_us = 0;
        r->bh_done_us = fastsnap_now_us();
        results_publish(r);
        return;
    }
    penguin_work_queue_push(run_scheduled, GINT_TO_POINTER(op));
}

uint64_t penguin_fastsnap_seq(void)
{
    return qatomic_load_acquire(&seq);
}

static void set_list(char **field, char **other, const char *csv)
{
    QEMU_LOCK_GUARD(&scope_lock);
    g_free(*field);
    *field = g_strdup(csv ?: "");
    g_free(*other);
    *other = NULL;
}

void penguin_fastsnap_set_denylist(const char *csv)
{
    set_list(&lane.scope.deny, &lane.scope.allow, csv);
}

void penguin_fastsnap_set_allowlist(const char *csv)
{
    set_list(&lane.scope.allow, &lane.scope.deny, csv);
}

/* The accessors: one field of the published results each. */
#define RESULT(type, name, field)                                       \
    type penguin_fastsnap_##name(void)                                  \
    {                                                                   \
        RCU_READ_LOCK_GUARD();                                          \
        const Results *r = qatomic_rcu_read(&results);                  \
        return (r ? r : &initial_results)->field;                       \
    }
#define RESULT_STRING(name, field)                                      \
    const char *penguin_fastsnap_##name(void)                           \
    {                                                                   \
        RCU_READ_LOCK_GUARD();                                          \
        const Results *r = qatomic_rcu_read(&results);                  \
        return r && r->field ? r->field : "";                           \
    }

RESULT(int, last_rc, last_rc)
RESULT(int64_t, last_us, last_us)
RESULT(int64_t, bh_done_us, bh_done_us)
RESULT(uint64_t, last_digest, last_digest)
RESULT(uint64_t, last_ram_digest, last_ram_digest)
RESULT_STRING(section_names, section_names)
RESULT(int, section_count, section_count)
RESULT(uint64_t, block_size, block_size)
RESULT(uint64_t, diff_pages, diff_pages)
RESULT(int64_t, diff_us, diff_us)
RESULT(uint64_t, diff_bytes_checked, diff_bytes_checked)
RESULT_STRING(diff_report, diff_report)
RESULT(uint64_t, ram_restored_pages, ram_restored_pages)
RESULT(uint64_t, ram_restored_code_pages, ram_restored_code_pages)
RESULT(uint64_t, ram_snapshot_bytes, ram_snapshot_bytes)
RESULT(uint64_t, dirty_pages, dirty_pages)
RESULT(uint64_t, dirty_pages_scanned, dirty_pages_scanned)
RESULT_STRING(dirty_report, dirty_report)
RESULT_STRING(dirty_blocks, dirty_blocks)
RESULT(int, dev_diff_sections, dev_diff_sections)
RESULT(int, dev_unrestorable_sections, dev_unrestorable_sections)
RESULT_STRING(dev_diff_report, dev_diff_report)

uint64_t penguin_fastsnap_dirty_page_size(void)
{
    return qemu_target_page_size();
}
