/*
 * Penguin fast snapshots: guest RAM kept copy-on-write.
 *
 * A take copies nothing of the guest's main RAM. Every path in QEMU that
 * writes guest RAM calls penguin_cow_copy() first (include/penguin/hooks.h:
 * TCG's not-dirty trap before a store, mapped DMA, device stores, ROM
 * loads), and the first write to a page after a take keeps the page's
 * content in every snapshot that does not hold it yet. Memory grows by the
 * pages that change, and a take costs what pausing the guest costs.
 *
 * Which pages a restore copies back comes from QEMU's dirty bitmap: while
 * snapshots exist, global dirty logging is on, so every guest write (TCG's
 * TLB traps the first write to each clean page) and every DMA write sets the
 * page's bit in DIRTY_MEMORY_MIGRATION. At each sync point (take, restore,
 * dirty count) the bits are harvested into each snapshot's "changed" bitmap
 * and cleared, and every vCPU's TLB is flushed so the next write traps again.
 * The harvest also checks copy-on-write: a dirty page that a snapshot does
 * not hold was written by a path that bypassed the hooks, and that snapshot
 * can no longer be restored exactly; its restore then fails with the page's
 * address instead of restoring something else.
 *
 * Small blocks (ROM blobs QEMU rewrites through its own pointers) and blocks
 * shared with another process (memory-backend-file, share=on: a vhost-user
 * backend writes them without telling QEMU) are copied whole at the take
 * instead; a shared block counts as wholly changed at every sync point, and
 * a restore compares its pages and writes back only those that differ. A
 * device that owns RAM (pflash's ROM device, VGA's video RAM) and writes it
 * from its MMIO handlers keeps its blocks whole at its first MMIO write after
 * a take.
 *
 * While snapshots exist a migration blocker keeps savevm and migration away
 * (both consume the same dirty bitmap). Another loadvm keeps every page in
 * every snapshot first and then counts all of RAM changed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/lockable.h"
#include "qemu/rcu.h"
#include "qemu/units.h"
#include "exec/ram_addr.h"
#include "exec/ramblock.h"
#include "exec/exec-all.h"
#include "exec/cputlb.h"
#include "hw/core/cpu.h"
#include "migration/blocker.h"
#include "system/runstate.h"
#include "penguin/fastsnap.h"
#include "penguin/hooks.h"
#include "penguin/lifecycle.h"

/*
 * Blocks up to this size are copied whole at the take (ROM blobs that QEMU
 * rewrites through its own pointers, such as the ACPI tables); bigger ones
 * are kept page by page. Fresh copies cost page faults, which a virtual
 * machine makes expensive: 8 MiB of them took 40 ms here.
 */
#define EAGER_BLOCK_MAX (1 * MiB)
/* Dirty pages named in Penguin's dirty report. */
#define DIRTY_REPORT_PAGES 8

/* One RAM block as the engine found it when tracking started. */
typedef struct EngineBlock {
    RAMBlock *rb;
    ram_addr_t offset;
    ram_addr_t length;
    unsigned long pages;
    uint8_t *host;
    bool eager;                 /* copied whole at each take */
    bool shared;                /* written behind the dirty bitmap's back */
    unsigned long *kept_by_all; /* copy-on-write: pages every snapshot holds */
    bool all_kept;              /* every page of it, by its owner's MMIO */
    unsigned long *dirty;       /* dirty accounting: pages since arm/count */
} EngineBlock;

/* The block table the hooks read (RCU); replaced only while unarmed. */
typedef struct EngineTable {
    struct rcu_head rcu;
    unsigned n;
    EngineBlock b[];
} EngineTable;

/* One snapshot's view of one block. */
typedef struct SnapBlock {
    uint8_t *copy;              /* eager: the whole block at the take */
    uint8_t **saved;            /* copy-on-write: each page, or NULL */
    unsigned long *changed;     /* pages that may differ from the take */
} SnapBlock;

struct FastSnapRam {
    uint64_t bytes;             /* host memory held */
    char *poison;               /* why it cannot be restored, or NULL */
    unsigned n;
    SnapBlock b[];
};

bool penguin_cow_armed;
static EngineTable *table;      /* RCU; writers hold lock */
static QemuMutex lock;          /* snapshots' pages: hooks vs the engine */
static GPtrArray *snaps;        /* FastSnapRam *; lock */
static Error *blocker;
static VMChangeStateEntry *loadvm_watch;
static bool dirty_armed;

static void __attribute__((constructor)) fastsnap_ram_init(void)
{
    qemu_mutex_init(&lock);
    snaps = g_ptr_array_new();
}

static inline unsigned long block_first_page(const EngineBlock *eb)
{
    return eb->offset >> TARGET_PAGE_BITS;
}

static inline uint8_t *page_host(const EngineBlock *eb, unsigned long page)
{
    return eb->host + ((ram_addr_t)page << TARGET_PAGE_BITS);
}

/* --- Keeping pages before they are written --- */

/* Keep @page of block @i in every snapshot that lacks it. lock held. */
static void keep_page_locked(EngineTable *t, unsigned i, unsigned long page)
{
    EngineBlock *eb = &t->b[i];

    if (test_bit(page, eb->kept_by_all)) {
        return;
    }
    for (guint s = 0; s < snaps->len; s++) {
        FastSnapRam *snap = g_ptr_array_index(snaps, s);
        uint8_t **slot = &snap->b[i].saved[page];

        if (!*slot) {
            *slot = g_memdup2(page_host(eb, page), TARGET_PAGE_SIZE);
            snap->bytes += TARGET_PAGE_SIZE;
        }
    }
    set_bit_atomic(page, eb->kept_by_all);
}

static void keep_range_locked(EngineTable *t, unsigned i, unsigned long first,
                              unsigned long n)
{
    for (unsigned long p = first; p < first + n; p++) {
        keep_page_locked(t, i, p);
    }
}

static int find_block(EngineTable *t, ram_addr_t addr)
{
    for (unsigned i = 0; i < t->n; i++) {
        if (addr - t->b[i].offset < t->b[i].length) {
            return i;
        }
    }
    return -1;
}

void penguin_cow_copy(uint64_t addr, uint64_t len)
{
    EngineTable *t;
    ram_addr_t end = addr + len;

    if (!len) {
        return;
    }
    RCU_READ_LOCK_GUARD();
    t = qatomic_rcu_read(&table);
    while (t && addr < end) {
        int i = find_block(t, addr);
        EngineBlock *eb;
        unsigned long first, last;

        if (i < 0) {
            addr = QEMU_ALIGN_UP(addr + 1, TARGET_PAGE_SIZE);
            continue;
        }
        eb = &t->b[i];
        first = (addr - eb->offset) >> TARGET_PAGE_BITS;
        last = (MIN(end, eb->offset + eb->length) - 1 - eb->offset)
               >> TARGET_PAGE_BITS;
        if (!eb->eager &&
            find_next_zero_bit(eb->kept_by_all, last + 1, first) <= last) {
            QEMU_LOCK_GUARD(&lock);
            keep_range_locked(t, i, first, last - first + 1);
        }
        addr = eb->offset + ((ram_addr_t)(last + 1) << TARGET_PAGE_BITS);
    }
}

void penguin_cow_mmio_write(MemoryRegion *mr)
{
    Object *owner = memory_region_owner(mr);
    EngineTable *t;

    if (!owner) {
        return;
    }
    RCU_READ_LOCK_GUARD();
    t = qatomic_rcu_read(&table);
    for (unsigned i = 0; t && i < t->n; i++) {
        EngineBlock *eb = &t->b[i];

        if (!eb->eager && !qatomic_read(&eb->all_kept) &&
            memory_region_owner(eb->rb->mr) == owner) {
            QEMU_LOCK_GUARD(&lock);
            keep_range_locked(t, i, 0, eb->pages);
            qatomic_set(&eb->all_kept, true);
        }
    }
}

/* --- The block table --- */

static int count_block(RAMBlock *rb, void *opaque)
{
    (*(unsigned *)opaque)++;
    return 0;
}

static int add_block(RAMBlock *rb, void *opaque)
{
    EngineTable *t = opaque;
    EngineBlock *eb = &t->b[t->n++];

    eb->rb = rb;
    eb->offset = qemu_ram_get_offset(rb);
    eb->length = qemu_ram_get_used_length(rb);
    eb->pages = eb->length >> TARGET_PAGE_BITS;
    eb->host = qemu_ram_get_host_addr(rb);
    /* Not migratable: the dirty bitmap does not follow it either. */
    eb->shared = qemu_ram_is_shared(rb) || !qemu_ram_is_migratable(rb);
    eb->eager = eb->shared || eb->length <= EAGER_BLOCK_MAX;
    eb->kept_by_all = bitmap_new(eb->pages);
    eb->dirty = bitmap_new(eb->pages);
    return 0;
}

static EngineTable *table_new(void)
{
    unsigned n = 0;
    EngineTable *t;

    qemu_ram_foreach_block(count_block, &n);
    t = g_malloc0(sizeof(*t) + n * sizeof(EngineBlock));
    qemu_ram_foreach_block(add_block, t);
    return t;
}

static void table_free(EngineTable *t)
{
    for (unsigned i = 0; i < t->n; i++) {
        g_free(t->b[i].kept_by_all);
        g_free(t->b[i].dirty);
    }
    g_free(t);
}

static void table_free_rcu(struct rcu_head *head)
{
    table_free(container_of(head, EngineTable, rcu));
}

/* Whether the machine's RAM blocks are still the table's, where they were. */
static bool table_current(EngineTable *t)
{
    EngineTable *now = table_new();
    bool same = now->n == t->n;

    for (unsigned i = 0; same && i < t->n; i++) {
        same = now->b[i].rb == t->b[i].rb &&
               now->b[i].offset == t->b[i].offset &&
               now->b[i].length == t->b[i].length;
    }
    table_free(now);
    return same;
}

bool fastsnap_ram_has_shared_block(void)
{
    EngineTable *t = table_new();
    bool shared = false;

    for (unsigned i = 0; i < t->n; i++) {
        shared |= t->b[i].shared;
    }
    table_free(t);
    return shared;
}

/* --- Harvesting the dirty bitmap --- */

static void mark_changed(unsigned i, unsigned long first, unsigned long n)
{
    for (guint s = 0; s < snaps->len; s++) {
        FastSnapRam *snap = g_ptr_array_index(snaps, s);

        bitmap_set(snap->b[i].changed, first, n);
    }
}

/* A dirty page that @snap does not hold: it lost the page's old content. */
static void check_kept(EngineBlock *eb, unsigned i, unsigned long page)
{
    for (guint s = 0; s < snaps->len; s++) {
        FastSnapRam *snap = g_ptr_array_index(snaps, s);

        if (!snap->poison && !snap->b[i].saved[page]) {
            snap->poison = g_strdup_printf(
                "RAM block %s page +0x" RAM_ADDR_FMT " was written by a "
                "path that bypasses copy-on-write, so its content at the "
                "take is lost", qemu_ram_get_idstr(eb->rb),
                (ram_addr_t)page << TARGET_PAGE_BITS);
        }
    }
}

static void note_dirty_page(EngineBlock *eb, unsigned i, unsigned long page)
{
    mark_changed(i, page, 1);
    if (!eb->eager) {
        check_kept(eb, i, page);
    }
    if (dirty_armed) {
        set_bit(page, eb->dirty);
    }
}

/*
 * Move the block's dirty bits into the snapshots and clear them. Block
 * offsets are aligned to a word of the bitmap (find_ram_offset()), so the
 * block's pages are whole words but for the last. Returns the pages looked
 * at; *harvested says whether a bit was cleared.
 */
static unsigned long harvest_block(EngineBlock *eb, unsigned i,
                                   bool *harvested)
{
    unsigned long first = block_first_page(eb);
    DirtyMemoryBlocks *blocks;

    if (eb->shared) {
        mark_changed(i, 0, eb->pages);
        if (dirty_armed) {
            bitmap_set(eb->dirty, 0, eb->pages);
        }
        return eb->pages;
    }
    blocks = qatomic_rcu_read(&ram_list.dirty_memory[DIRTY_MEMORY_MIGRATION]);
    for (unsigned long page = 0; page < eb->pages; page += BITS_PER_LONG) {
        unsigned long abs = first + page;
        unsigned long *word = &blocks->blocks[abs / DIRTY_MEMORY_BLOCK_SIZE]
                                   [(abs % DIRTY_MEMORY_BLOCK_SIZE) /
                                    BITS_PER_LONG];
        unsigned long n = MIN(BITS_PER_LONG, eb->pages - page);
        unsigned long mask = n == BITS_PER_LONG ? ~0UL : (1UL << n) - 1;
        unsigned long bits;

        if (!(qatomic_read(word) & mask)) {
            continue;
        }
        bits = qatomic_fetch_and(word, ~mask) & mask;
        *harvested = true;
        while (bits) {
            unsigned bit = ctzl(bits);

            bits &= bits - 1;
            note_dirty_page(eb, i, page + bit);
        }
    }
    return eb->pages;
}

static void rearm_tlbs(void)
{
    CPUState *cpu;

    CPU_FOREACH(cpu) {
        tlb_flush(cpu);
    }
}

/* A sync point: every write since the last one is accounted for. */
static unsigned long harvest(EngineTable *t)
{
    bool harvested = false;
    unsigned long scanned = 0;

    WITH_RCU_READ_LOCK_GUARD() {
        QEMU_LOCK_GUARD(&lock);
        for (unsigned i = 0; i < t->n; i++) {
            scanned += harvest_block(&t->b[i], i, &harvested);
        }
    }
    if (harvested) {
        rearm_tlbs();
    }
    return scanned;
}

/* --- Tracking on and off --- */

static void keep_everything(void)
{
    EngineTable *t = table;

    QEMU_LOCK_GUARD(&lock);
    for (unsigned i = 0; i < t->n; i++) {
        if (!t->b[i].eager) {
            keep_range_locked(t, i, 0, t->b[i].pages);
        }
        mark_changed(i, 0, t->b[i].pages);
    }
}

/*
 * Someone else's loadvm or incoming migration is about to write all of RAM
 * behind the hooks: keep every page first, then count all of it changed.
 */
static void loadvm_seen(void *opaque, bool running, RunState state)
{
    if (!running && table &&
        (state == RUN_STATE_RESTORE_VM || state == RUN_STATE_INMIGRATE)) {
        keep_everything();
    }
}

/*
 * TCG's dirty tracking is QEMU's migration bitmap kept up to date, which the
 * global_dirty_tracking flag turns on. memory_global_dirty_log_start() would
 * also tell every memory listener, and vhost's then asks its backend for a
 * dirty log, which a vhost-user backend without one (Penguin's vsock) answers
 * by stopping its rings. TCG has no listener that needs telling and shared
 * blocks count as wholly changed anyway, so the flag is set alone.
 */
static void set_dirty_tracking(bool on)
{
    if (on) {
        global_dirty_tracking |= GLOBAL_DIRTY_DIRTY_RATE;
    } else {
        global_dirty_tracking &= ~GLOBAL_DIRTY_DIRTY_RATE;
    }
}

static int add_blocker(Error **errp)
{
    error_setg(&blocker, "Penguin fast snapshots exist or count dirty pages "
               "(drop them first)");
    return migrate_add_blocker(&blocker, errp);
}

bool fastsnap_blocked_by_others(Error **errp)
{
    bool ours = blocker != NULL;
    bool blocked;

    if (ours) {
        migrate_del_blocker(&blocker);
    }
    blocked = migration_is_blocked_for_snapshot(errp);
    if (ours) {
        add_blocker(NULL);  /* it was there a moment ago: it fits again */
    }
    return blocked;
}

static int start_tracking(Error **errp)
{
    if (table) {
        return 0;
    }
    if (add_blocker(errp) < 0) {
        return -EBUSY;
    }
    set_dirty_tracking(true);
    qatomic_rcu_set(&table, table_new());
    loadvm_watch = qemu_add_vm_change_state_handler(loadvm_seen, NULL);
    /* Everything dirty so far belongs to no one. */
    harvest(table);
    return 0;
}

static void stop_tracking_if_unused(void)
{
    EngineTable *t = table;

    if (!t || snaps->len || dirty_armed) {
        return;
    }
    qatomic_set(&penguin_cow_armed, false);
    qatomic_rcu_set(&table, NULL);
    penguin_retire(&t->rcu, table_free_rcu);
    qemu_del_vm_change_state_handler(loadvm_watch);
    loadvm_watch = NULL;
    set_dirty_tracking(false);
    migrate_del_blocker(&blocker);
}

/* --- Snapshots --- */

static FastSnapRam *snap_new(EngineTable *t)
{
    FastSnapRam *snap = g_malloc0(sizeof(*snap) + t->n * sizeof(SnapBlock));

    snap->n = t->n;
    for (unsigned i = 0; i < t->n; i++) {
        EngineBlock *eb = &t->b[i];
        SnapBlock *sb = &snap->b[i];

        sb->changed = bitmap_try_new(eb->pages);
        if (eb->eager) {
            sb->copy = g_try_malloc(eb->length);
            if (sb->copy) {
                memcpy(sb->copy, eb->host, eb->length);
                snap->bytes += eb->length;
            }
        } else {
            sb->saved = g_try_new0(uint8_t *, eb->pages);
        }
        if (!sb->changed || (eb->eager ? !sb->copy : !sb->saved)) {
            fastsnap_ram_free(snap);
            return NULL;
        }
    }
    return snap;
}

FastSnapRam *fastsnap_ram_take(Error **errp)
{
    FastSnapRam *snap;

    if (start_tracking(errp) < 0) {
        return NULL;
    }
    if (!table_current(table)) {
        error_setg(errp, "the machine's RAM blocks changed since the other "
                   "fast snapshots were taken (drop them first)");
        stop_tracking_if_unused();
        return NULL;
    }
    harvest(table);
    snap = snap_new(table);
    if (!snap) {
        error_setg(errp, "out of memory for the snapshot's RAM state");
        stop_tracking_if_unused();
        return NULL;
    }
    WITH_QEMU_LOCK_GUARD(&lock) {
        g_ptr_array_add(snaps, snap);
        for (unsigned i = 0; i < table->n; i++) {
            bitmap_zero(table->b[i].kept_by_all, table->b[i].pages);
            table->b[i].all_kept = false;
        }
    }
    qatomic_set(&penguin_cow_armed, true);
    fastsnap_keep_virtio_rings();
    return snap;
}

/* Copy page run [page, end) of block @i back from @sb. lock held. */
static void restore_run(EngineTable *t, unsigned i, SnapBlock *sb,
                        unsigned long page, unsigned long end,
                        FastSnapRamStats *stats)
{
    EngineBlock *eb = &t->b[i];

    /* The other snapshots keep what is there before it is overwritten. */
    if (!eb->eager) {
        keep_range_locked(t, i, page, end - page);
    }
    mark_changed(i, page, end - page);
    for (unsigned long p = page; p < end; p++) {
        ram_addr_t addr = eb->offset + ((ram_addr_t)p << TARGET_PAGE_BITS);
        const uint8_t *saved = eb->eager
            ? sb->copy + ((ram_addr_t)p << TARGET_PAGE_BITS) : sb->saved[p];

        /*
         * A shared block counts as wholly changed, but the backend writes
         * few of its pages: reading costs less than writing a page that did
         * not change (a file-backed one would be dirtied and written back),
         * and its translated code stays valid.
         */
        if (eb->shared && !memcmp(page_host(eb, p), saved, TARGET_PAGE_SIZE)) {
            continue;
        }
        memcpy(page_host(eb, p), saved, TARGET_PAGE_SIZE);
        stats->restored_pages++;
        /* A page with translated code has its CODE dirty bit clear. */
        if (!cpu_physical_memory_get_dirty_flag(addr, DIRTY_MEMORY_CODE)) {
            tb_invalidate_phys_range(addr, addr + TARGET_PAGE_SIZE - 1);
            stats->restored_code_pages++;
        }
    }
}

static int restore_block(EngineTable *t, unsigned i, SnapBlock *sb,
                         FastSnapRamStats *stats)
{
    unsigned long n = t->b[i].pages;
    unsigned long page = find_first_bit(sb->changed, n);

    while (page < n) {
        unsigned long end = find_next_zero_bit(sb->changed, n, page);

        restore_run(t, i, sb, page, end, stats);
        page = find_next_bit(sb->changed, n, end);
    }
    bitmap_zero(sb->changed, n);
    return 0;
}

int fastsnap_ram_restore(FastSnapRam *snap, FastSnapRamStats *stats,
                         Error **errp)
{
    memset(stats, 0, sizeof(*stats));
    if (!table || !table_current(table)) {
        error_setg(errp, "the machine's RAM blocks changed since the take");
        return -ESTALE;
    }
    stats->scanned_pages = harvest(table);
    if (snap->poison) {
        error_setg(errp, "%s", snap->poison);
        return -EIO;
    }
    WITH_QEMU_LOCK_GUARD(&lock) {
        for (unsigned i = 0; i < table->n; i++) {
            restore_block(table, i, &snap->b[i], stats);
        }
    }
    return 0;
}

void fastsnap_ram_free(FastSnapRam *snap)
{
    if (!snap) {
        return;
    }
    WITH_QEMU_LOCK_GUARD(&lock) {
        g_ptr_array_remove(snaps, snap);
        if (!snaps->len) {
            qatomic_set(&penguin_cow_armed, false);
        }
    }
    for (unsigned i = 0; i < snap->n; i++) {
        SnapBlock *sb = &snap->b[i];

        if (sb->saved) {
            for (unsigned long p = 0; p < table->b[i].pages; p++) {
                g_free(sb->saved[p]);
            }
        }
        g_free(sb->saved);
        g_free(sb->copy);
        g_free(sb->changed);
    }
    g_free(snap->poison);
    g_free(snap);
    stop_tracking_if_unused();
}

uint64_t fastsnap_ram_bytes(FastSnapRam *snap)
{
    QEMU_LOCK_GUARD(&lock);
    return snap->bytes;
}

/* --- Dirty accounting --- */

int fastsnap_dirty_arm(Error **errp)
{
    int ret = start_tracking(errp);

    if (ret < 0) {
        return ret;
    }
    harvest(table);
    for (unsigned i = 0; i < table->n; i++) {
        bitmap_zero(table->b[i].dirty, table->b[i].pages);
    }
    dirty_armed = true;
    return 0;
}

void fastsnap_dirty_stop(void)
{
    dirty_armed = false;
    stop_tracking_if_unused();
}

bool fastsnap_dirty_armed(void)
{
    return dirty_armed;
}

static void report_block_pages(GString *report, EngineBlock *eb,
                               unsigned *named)
{
    unsigned long p = find_first_bit(eb->dirty, eb->pages);

    for (; p < eb->pages && *named < DIRTY_REPORT_PAGES;
         p = find_next_bit(eb->dirty, eb->pages, p + 1)) {
        g_string_append_printf(report, "%s%s+0x" RAM_ADDR_FMT,
                               *named ? " " : "", qemu_ram_get_idstr(eb->rb),
                               (ram_addr_t)p << TARGET_PAGE_BITS);
        (*named)++;
    }
}

uint64_t fastsnap_dirty_count(FastSnapRamStats *stats, GString *report,
                              GString *blocks)
{
    uint64_t total = 0;
    unsigned named = 0;

    memset(stats, 0, sizeof(*stats));
    if (!table || !dirty_armed) {
        return 0;
    }
    stats->scanned_pages = harvest(table);
    for (unsigned i = 0; i < table->n; i++) {
        EngineBlock *eb = &table->b[i];
        unsigned long n = bitmap_count_one(eb->dirty, eb->pages);

        total += n;
        report_block_pages(report, eb, &named);
        /* Shared blocks are written where no one can count: all, marked. */
        g_string_append_printf(blocks, "%s%s%s:%lu", blocks->len ? "," : "",
                               eb->shared ? "!" : "",
                               qemu_ram_get_idstr(eb->rb), n);
        bitmap_zero(eb->dirty, eb->pages);
    }
    return total;
}

/* --- Digest of all RAM --- */

static int digest_block(RAMBlock *rb, void *opaque)
{
    uint64_t *h = opaque;
    const char *name = qemu_ram_get_idstr(rb);
    uint64_t len = qemu_ram_get_used_length(rb);

    *h = fastsnap_hash(*h, name, strlen(name));
    *h = fastsnap_hash(*h, &len, sizeof(len));
    *h = fastsnap_hash(*h, qemu_ram_get_host_addr(rb), len);
    return 0;
}

uint64_t fastsnap_ram_digest(void)
{
    uint64_t h = 0;

    qemu_ram_foreach_block(digest_block, &h);
    return h;
}

/*
 * A 64-bit hash of 8-byte words (a multiply-xorshift mix per word): fast
 * enough for a gigabyte in well under a second, equal bytes give equal
 * digests. Not for adversaries.
 */
uint64_t fastsnap_hash(uint64_t seed, const void *data, size_t len)
{
    const uint8_t *p = data;
    uint64_t h = seed ^ (len * 0x9e3779b97f4a7c15ULL);

    for (; len >= 8; p += 8, len -= 8) {
        h = (h ^ ldq_he_p(p)) * 0xff51afd7ed558ccdULL;
        h ^= h >> 32;
    }
    for (; len; p++, len--) {
        h = (h ^ *p) * 0xc4ceb9fe1a85ec53ULL;
        h ^= h >> 29;
    }
    return h;
}
