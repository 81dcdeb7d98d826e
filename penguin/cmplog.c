/*
 * Compare tracking at run time: the helpers translated compares and
 * routine entries call, writing AFL++'s cmplog map in shared memory.
 *
 * Headers written since the last clear are listed as they are first
 * written, so a clear zeroes only those (AFL++ zeroes every header, 512 KiB,
 * for each run) and a reader finds them without scanning. Two vCPUs writing
 * one entry at the same moment may lose one of the two logs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/lockable.h"
#include "qemu/thread.h"
#include "hw/core/cpu.h"
#include "exec/cpu-common.h"
#include "penguin/penguin.h"
#include "penguin/cmplog.h"
#include "penguin/coverage-engine.h"
#include "penguin/error.h"

#define HELPER_H "penguin/coverage-helper.h"
#include "exec/helper-proto.h.inc"
#undef HELPER_H

typedef struct Cmplog {
    QemuMutex lock;                 /* allocation */
    CmplogMap *map;                 /* set once, never freed */
    int fd;                         /* its memfd, or -1 */
    uint64_t sites[PENGUIN_CMPLOG_MAP_W];
    uint32_t written[PENGUIN_CMPLOG_MAP_W];
    uint32_t nwritten;              /* past MAP_W: the list overflowed */
} Cmplog;

static Cmplog cmplog = { .fd = -1 };

static void __attribute__((constructor)) penguin_cmplog_init(void)
{
    qemu_mutex_init(&cmplog.lock);
}

static CmplogMap *cmplog_map(void)
{
    return qatomic_load_acquire(&cmplog.map);
}

int penguin_cov_cmplog_prepare(void)
{
    int err = 0;
    CmplogMap *map;

    QEMU_LOCK_GUARD(&cmplog.lock);
    if (cmplog.map) {
        return 0;
    }
    map = penguin_cov_shm_map("penguin-cmplog", "__AFL_CMPLOG_SHM_ID",
                              sizeof(CmplogMap), qemu_real_host_page_size(),
                              &cmplog.fd, &err);
    if (!map) {
        return err;
    }
    qatomic_store_release(&cmplog.map, map);
    return 0;
}

void *penguin_cmplog_map(void)
{
    return cmplog_map();
}

int penguin_cmplog_map_fd(void)
{
    QEMU_LOCK_GUARD(&cmplog.lock);
    return penguin_cov_shm_dup(cmplog.fd, "compare log");
}

void penguin_cov_cmplog_site(uint32_t index, uint64_t pc)
{
    qatomic_set(&cmplog.sites[index], pc);
}

uint64_t penguin_cmplog_site(uint32_t index)
{
    return index < PENGUIN_CMPLOG_MAP_W ? qatomic_read(&cmplog.sites[index])
                                        : 0;
}

void penguin_cov_cmplog_clear(void)
{
    CmplogMap *map = cmplog_map();
    uint32_t i, n = qatomic_xchg(&cmplog.nwritten, 0);

    if (!map) {
        return;
    }
    if (n > PENGUIN_CMPLOG_MAP_W) {
        memset(map->headers, 0, sizeof(map->headers));
        return;
    }
    for (i = 0; i < n; i++) {
        qatomic_set(&map->headers[cmplog.written[i]], 0);
    }
}

int penguin_cmplog_clear(void)
{
    penguin_cov_cmplog_clear();
    return 0;
}

/* After an overflow of the list: every header with hits, by scanning. */
static int written_by_scan(const CmplogMap *map, uint32_t *indices, int max)
{
    int n = 0;
    uint32_t i;

    for (i = 0; i < PENGUIN_CMPLOG_MAP_W; i++) {
        if (qatomic_read(&map->headers[i]) & CMPLOG_HITS_MASK) {
            if (n < max) {
                indices[n] = i;
            }
            n++;
        }
    }
    return n;
}

int penguin_cmplog_written(uint32_t *indices, int max)
{
    CmplogMap *map = cmplog_map();
    uint32_t n = qatomic_read(&cmplog.nwritten);

    if (max < 0 || (max > 0 && !indices)) {
        return penguin_error(-EINVAL, "compare log: %d indices into %s", max,
                             indices ? "an array" : "NULL");
    }
    if (!map) {
        return 0;
    }
    if (n > PENGUIN_CMPLOG_MAP_W) {
        return written_by_scan(map, indices, max);
    }
    memcpy(indices, cmplog.written, MIN(n, (uint32_t)max) * sizeof(uint32_t));
    return n;
}

/* List @index among the written headers (its hits were 0). */
static void note_written(uint32_t index)
{
    uint32_t n = qatomic_fetch_inc(&cmplog.nwritten);

    if (n < PENGUIN_CMPLOG_MAP_W) {
        cmplog.written[n] = index;
    }
}

/*
 * The header of @index for one more log of @type, @shape and @attr; the
 * slot the log goes into (hits before it, modulo @height, a power of 2) in
 * *slot.
 */
static inline void header_add(CmplogMap *map, uint32_t index, unsigned type,
                       unsigned shape, unsigned attr, unsigned height,
                       unsigned *slot)
{
    uint64_t hdr = qatomic_read(&map->headers[index]);
    uint64_t hits = hdr & CMPLOG_HITS_MASK;

    QEMU_BUILD_BUG_ON(PENGUIN_CMPLOG_MAP_H & (PENGUIN_CMPLOG_MAP_H - 1));
    QEMU_BUILD_BUG_ON(PENGUIN_CMPLOG_RTN_H & (PENGUIN_CMPLOG_RTN_H - 1));
    if (hits == 0 || ((hdr >> CMPLOG_TYPE_SHIFT) & 3) != type) {
        if (hits == 0) {
            note_written(index);
        }
        hits = 0;
        hdr = (uint64_t)type << CMPLOG_TYPE_SHIFT |
              (uint64_t)attr << CMPLOG_ATTR_SHIFT |
              (uint64_t)shape << CMPLOG_SHAPE_SHIFT;
    } else if (shape > ((hdr >> CMPLOG_SHAPE_SHIFT) & 31)) {
        hdr = (hdr & ~(31ULL << CMPLOG_SHAPE_SHIFT)) |
              (uint64_t)shape << CMPLOG_SHAPE_SHIFT;
    }
    *slot = hits & (height - 1);
    if (hits < CMPLOG_HITS_MASK) {
        hits++;
    }
    qatomic_set(&map->headers[index], (hdr & ~CMPLOG_HITS_MASK) | hits);
}

static bool in_space(const void *env, uint32_t meta)
{
    return !(meta & CMPLOG_META_SPACE) ||
           penguin_cov_space_passes(penguin_cov_config(), env);
}

static void log_ins(const void *env, uint64_t a, uint64_t b, uint32_t meta)
{
    CmplogMap *map = cmplog_map();
    unsigned shape = CMPLOG_META_SHAPE(meta), slot;
    uint64_t mask = shape == 7 ? UINT64_MAX : (1ULL << (8 * shape + 8)) - 1;
    CmplogOperands *entry;

    /*
     * Equal operands tell a fuzzer nothing its input does not already
     * satisfy; AFL++'s own instruction hooks skip them too.
     */
    if (!map || ((a ^ b) & mask) == 0 || !in_space(env, meta)) {
        return;
    }
    header_add(map, CMPLOG_META_INDEX(meta), CMPLOG_TYPE_INS, shape,
               CMPLOG_META_ATTR(meta), PENGUIN_CMPLOG_MAP_H, &slot);
    entry = &map->log[CMPLOG_META_INDEX(meta)][slot];
    entry->v0 = a & mask;
    entry->v1 = b & mask;
    entry->v0_128 = 0;
    entry->v1_128 = 0;
}

void HELPER(penguin_cmplog_i32)(CPUArchState *env, uint32_t a, uint32_t b,
                                uint32_t meta)
{
    log_ins(env, a, b, meta);
}

void HELPER(penguin_cmplog_i64)(CPUArchState *env, uint64_t a, uint64_t b,
                                uint32_t meta)
{
    log_ins(env, a, b, meta);
}

/* Up to CMPLOG_RTN_LEN bytes at @addr, as many as are mapped. */
static uint8_t read_guest(CPUState *cs, uint64_t addr, uint8_t *buf)
{
    uint8_t n;

    if (cpu_memory_rw_debug(cs, addr, buf, CMPLOG_RTN_LEN, false) == 0) {
        return CMPLOG_RTN_LEN;
    }
    for (n = 0; n < CMPLOG_RTN_LEN; n++) {
        if (cpu_memory_rw_debug(cs, addr + n, buf + n, 1, false) != 0) {
            break;
        }
    }
    return n;
}

void HELPER(penguin_cmplog_rtn)(CPUArchState *env, uint32_t meta)
{
    /* Every ArchCPU has its env right after CPUState (exec/cpu-all.h). */
    CPUState *cs = (CPUState *)env - 1;
    CmplogMap *map = cmplog_map();
    CmplogFnOperands ops = { 0 };
    uint64_t a0, a1;
    unsigned slot, len;

    if (!map || !in_space(env, meta) ||
        !penguin_cov_arch_routine_args(cs, &a0, &a1)) {
        return;
    }
    ops.v0_len = read_guest(cs, a0, ops.v0);
    ops.v1_len = read_guest(cs, a1, ops.v1);
    len = MAX(MAX(ops.v0_len, ops.v1_len), 1);
    header_add(map, CMPLOG_META_INDEX(meta), CMPLOG_TYPE_RTN, len - 1, 0,
               PENGUIN_CMPLOG_RTN_H, &slot);
    ((CmplogFnOperands *)map->log[CMPLOG_META_INDEX(meta)])[slot] = ops;
}
