/*
 * Penguin's fastsnap lane's coverage accessors (penguin_fastsnap_cov_*),
 * over the same engine as penguin_coverage_*: Penguin's shim finds them by
 * name and reads booleans and figures, so failures are false or 0 with the
 * reason in penguin_last_error().
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "penguin/penguin.h"
#include "penguin/coverage-engine.h"

bool penguin_fastsnap_cov_set_filter(uint64_t lo, uint64_t hi)
{
    return penguin_cov_set_one_range(lo, hi) == 0;
}

bool penguin_fastsnap_cov_set_map_size(uint64_t size)
{
    return penguin_coverage_set_map_size(size) == 0;
}

void penguin_fastsnap_cov_set_clear_on_reset(bool on)
{
    penguin_coverage_set_clear_on_restore(on);
}

bool penguin_fastsnap_cov_clear_on_reset(void)
{
    return penguin_cov_clear_on_restore();
}

uint64_t penguin_fastsnap_cov_map_addr(void)
{
    return (uintptr_t)penguin_coverage_map();
}

uint64_t penguin_fastsnap_cov_map_size(void)
{
    return penguin_coverage_map_size();
}

int penguin_fastsnap_cov_map_fd(void)
{
    return penguin_coverage_map_fd();
}

bool penguin_fastsnap_cov_armed(void)
{
    return penguin_coverage_armed();
}

bool penguin_fastsnap_cov_arm(void)
{
    return penguin_coverage_arm() == 0;
}

bool penguin_fastsnap_cov_disarm(void)
{
    return penguin_coverage_disarm() == 0;
}

bool penguin_fastsnap_cov_clear(void)
{
    return penguin_coverage_clear() == 0;
}

bool penguin_fastsnap_cov_lap_end(void)
{
    return penguin_coverage_lap_end(NULL, 0) == 0;
}

uint64_t penguin_fastsnap_cov_laps(void)
{
    return penguin_cov_lap_count();
}

uint64_t penguin_fastsnap_cov_filter_lo(void)
{
    uint64_t lo, hi;

    penguin_cov_one_range(&lo, &hi);
    return lo;
}

uint64_t penguin_fastsnap_cov_filter_hi(void)
{
    uint64_t lo, hi;

    penguin_cov_one_range(&lo, &hi);
    return hi;
}

uint64_t penguin_fastsnap_cov_edges(void)
{
    return penguin_coverage_last_lap(PENGUIN_COVERAGE_EDGES);
}

uint64_t penguin_fastsnap_cov_hits(void)
{
    return penguin_coverage_last_lap(PENGUIN_COVERAGE_HITS);
}

uint64_t penguin_fastsnap_cov_new_edges(void)
{
    return penguin_coverage_last_lap(PENGUIN_COVERAGE_NEW_EDGES);
}

uint64_t penguin_fastsnap_cov_new_buckets(void)
{
    return penguin_coverage_last_lap(PENGUIN_COVERAGE_NEW_BUCKETS);
}

uint64_t penguin_fastsnap_cov_total_edges(void)
{
    return penguin_coverage_last_lap(PENGUIN_COVERAGE_TOTAL_EDGES);
}

uint64_t penguin_fastsnap_cov_tbs_instrumented(void)
{
    return penguin_coverage_last_lap(PENGUIN_COVERAGE_TBS_INSTRUMENTED);
}

uint64_t penguin_fastsnap_cov_tbs_filtered(void)
{
    return penguin_coverage_last_lap(PENGUIN_COVERAGE_TBS_FILTERED);
}

int64_t penguin_fastsnap_cov_scan_us(void)
{
    return penguin_coverage_last_lap(PENGUIN_COVERAGE_SCAN_NS) / 1000;
}
