/*
 * Laps: what one run left in the edge map, judged against every run before
 * it (AFL's "virgin" map, kept here as the hit-count buckets each edge has
 * shown), and the clearing that starts the next run at a fast-snapshot
 * restore.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/lockable.h"
#include "qemu/thread.h"
#include "qemu/timer.h"
#include "penguin/penguin.h"
#include "penguin/coverage.h"
#include "penguin/coverage-engine.h"
#include "penguin/error.h"

typedef struct Laps {
    QemuMutex lock;
    uint8_t *virgin;                /* bucket bits seen per counter */
    uint64_t total_edges;
    uint64_t last[PENGUIN_COVERAGE_FIGURES];
    uint64_t count;                 /* laps ended */
    bool ended;                     /* since the last clear */
    bool clear_on_restore;
} Laps;

static Laps laps;
static uint8_t bucket_of[256];

/* AFL's hit-count buckets: 1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128-255. */
static void __attribute__((constructor)) penguin_coverage_lap_init(void)
{
    int n;

    qemu_mutex_init(&laps.lock);
    for (n = 1; n < 256; n++) {
        bucket_of[n] = n <= 2 ? n : n == 3 ? 4 : n < 8 ? 8 : n < 16 ? 16 :
                       n < 32 ? 32 : n < 128 ? 64 : 128;
    }
}

/* One counter of the map: @n hits of the edge at @i. */
static void judge(uint64_t i, uint8_t n, uint64_t *f)
{
    uint8_t bucket = bucket_of[n];

    f[PENGUIN_COVERAGE_EDGES]++;
    f[PENGUIN_COVERAGE_HITS] += n;
    if (!laps.virgin[i]) {
        f[PENGUIN_COVERAGE_NEW_EDGES]++;
        laps.total_edges++;
    }
    if (bucket & ~laps.virgin[i]) {
        f[PENGUIN_COVERAGE_NEW_BUCKETS]++;
        laps.virgin[i] |= bucket;
    }
}

/* The map's figures into @f (zeroed); lock held. Each byte is read once. */
static void scan(const uint8_t *map, uint64_t size, uint64_t *f)
{
    uint64_t i, word;
    int j;

    for (i = 0; i < size; i += sizeof(word)) {
        memcpy(&word, map + i, sizeof(word));
        if (!word) {
            continue;
        }
        for (j = 0; j < sizeof(word); j++) {
            uint8_t n = qatomic_read(&map[i + j]);

            if (n) {
                judge(i + j, n, f);
            }
        }
    }
}

static int lap_end_locked(uint64_t *figures, int count)
{
    const uint8_t *map = penguin_cov_edges_map();
    uint64_t size = penguin_cov_edges_size();
    uint64_t f[PENGUIN_COVERAGE_FIGURES] = { 0 };
    int64_t start = get_clock();
    int err = penguin_cov_need_tcg();

    if (err) {
        return err;
    }
    if (!map) {
        return penguin_error(-ENOENT, "coverage lap: there is no map yet "
                             "(coverage was never armed)");
    }
    if (!laps.virgin) {
        laps.virgin = g_malloc0(size);
    }
    scan(map, size, f);
    f[PENGUIN_COVERAGE_TOTAL_EDGES] = laps.total_edges;
    penguin_cov_edges_counts(&f[PENGUIN_COVERAGE_TBS_INSTRUMENTED],
                             &f[PENGUIN_COVERAGE_TBS_FILTERED]);
    f[PENGUIN_COVERAGE_SCAN_NS] = get_clock() - start;
    memcpy(laps.last, f, sizeof(f));
    laps.count++;
    laps.ended = true;
    count = MIN(count, PENGUIN_COVERAGE_FIGURES);
    if (count) {
        memcpy(figures, f, count * sizeof(*f));
    }
    return count;
}

int penguin_coverage_lap_end(uint64_t *figures, int count)
{
    if (count < 0 || (count > 0 && !figures)) {
        return penguin_error(-EINVAL, "coverage lap: %d figures into %s",
                             count, figures ? "an array" : "NULL");
    }
    QEMU_LOCK_GUARD(&laps.lock);
    return lap_end_locked(figures, count);
}

uint64_t penguin_coverage_last_lap(int which)
{
    QEMU_LOCK_GUARD(&laps.lock);
    if (which < 0 || which >= PENGUIN_COVERAGE_FIGURES) {
        return 0;
    }
    return laps.last[which];
}

uint64_t penguin_cov_lap_count(void)
{
    QEMU_LOCK_GUARD(&laps.lock);
    return laps.count;
}

int penguin_coverage_reset_virgin(void)
{
    QEMU_LOCK_GUARD(&laps.lock);
    if (laps.virgin) {
        memset(laps.virgin, 0, penguin_cov_edges_size());
    }
    laps.total_edges = 0;
    return 0;
}

void penguin_cov_lap_cleared(void)
{
    QEMU_LOCK_GUARD(&laps.lock);
    laps.ended = false;
}

int penguin_coverage_set_clear_on_restore(bool on)
{
    qatomic_set(&laps.clear_on_restore, on);
    return 0;
}

bool penguin_cov_clear_on_restore(void)
{
    return qatomic_read(&laps.clear_on_restore);
}

void penguin_coverage_fast_restore_hook(void)
{
    if (!qatomic_read(&laps.clear_on_restore)) {
        return;
    }
    WITH_QEMU_LOCK_GUARD(&laps.lock) {
        if (penguin_cov_edges_map() && !laps.ended) {
            lap_end_locked(NULL, 0);
        }
        laps.ended = false;
    }
    penguin_cov_edges_clear();
    penguin_cov_cmplog_clear();
}
