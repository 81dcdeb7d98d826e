/*
 * Edge coverage: AFL's map, written by TCG ops at the start of every
 * instrumented block, with no helper call.
 *
 * Each vCPU keeps its own previous location (a cache line of its own,
 * indexed by cpu_index, which translated code loads from its CPUState), so
 * vCPUs running in parallel (MTTCG) or in turn (-smp without MTTCG) each
 * record their own edges. A machine of one vCPU uses its slot's address as
 * a constant. The map sits at an address aligned to its size, and a slot
 * holds the map's address with the previous location's bits set, so that
 * the counter of an edge is that value with the current id xor'ed in: one
 * op. Hit counters wrap from 255 to 1 (AFL++'s NeverZero), so an edge once
 * hit never reads as missing; two vCPUs adding to one counter at the same
 * moment may lose one of the two counts, never the edge.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/lockable.h"
#include "qemu/thread.h"
#include "hw/boards.h"
#include "hw/core/cpu.h"
#include "tcg/tcg.h"
#include "tcg/tcg-op-common.h"
#include "penguin/penguin.h"
#include "penguin/coverage-engine.h"
#include "penguin/error.h"

#define SLOTS 4096                      /* vCPUs with a slot of their own */
#define SLOT_WORDS 8                    /* 64 bytes: one cache line each */

typedef struct EdgeMap {
    QemuMutex lock;                     /* allocation and size */
    uint8_t *base;                      /* set once, never freed */
    uint64_t size;
    int fd;                             /* its memfd, or -1 */
    uint64_t instrumented, filtered;    /* blocks since the last flush */
} EdgeMap;

static EdgeMap edges = { .size = PENGUIN_COVERAGE_MAP_DEFAULT, .fd = -1 };
/* map | previous location, per vCPU; set to the map before it is used. */
static uintptr_t prev_slots[SLOTS * SLOT_WORDS] QEMU_ALIGNED(64);

static void __attribute__((constructor)) penguin_coverage_edges_init(void)
{
    qemu_mutex_init(&edges.lock);
}

uint8_t *penguin_cov_edges_map(void)
{
    return qatomic_load_acquire(&edges.base);
}

uint64_t penguin_cov_edges_size(void)
{
    return qatomic_read(&edges.size);
}

int penguin_coverage_set_map_size(uint64_t size)
{
    QEMU_LOCK_GUARD(&edges.lock);
    if (size < PENGUIN_COVERAGE_MAP_MIN || size > PENGUIN_COVERAGE_MAP_MAX ||
        !is_power_of_2(size)) {
        return penguin_error(-EINVAL, "coverage map size %" PRIu64 ": not a "
                             "power of two from %d to %d bytes", size,
                             PENGUIN_COVERAGE_MAP_MIN,
                             PENGUIN_COVERAGE_MAP_MAX);
    }
    if (edges.base && size != edges.size) {
        return penguin_error(-EBUSY, "coverage map size %" PRIu64 ": the map "
                             "has %" PRIu64 " bytes since coverage was first "
                             "armed (translated code holds its address and "
                             "mask)", size, edges.size);
    }
    qatomic_set(&edges.size, size);
    return 0;
}

/* Every vCPU's previous location back to 0 (the map's address). */
static void reset_slots(uint8_t *base, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        qatomic_set(&prev_slots[i * SLOT_WORDS], (uintptr_t)base);
    }
}

int penguin_cov_edges_prepare(void)
{
    int err = 0;
    uint8_t *base;

    QEMU_LOCK_GUARD(&edges.lock);
    if (edges.base) {
        return 0;
    }
    base = penguin_cov_shm_map("penguin-coverage", "__AFL_SHM_ID", edges.size,
                               edges.size, &edges.fd, &err);
    if (!base) {
        return err;
    }
    reset_slots(base, SLOTS);
    qatomic_store_release(&edges.base, base);
    return 0;
}

uint8_t *penguin_coverage_map(void)
{
    return penguin_cov_edges_map();
}

uint64_t penguin_coverage_map_size(void)
{
    return penguin_cov_edges_size();
}

int penguin_coverage_map_fd(void)
{
    QEMU_LOCK_GUARD(&edges.lock);
    return penguin_cov_shm_dup(edges.fd, "coverage map");
}

/* The vCPUs that can exist: every slot before the machine does. */
static int cpu_slots(void)
{
    MachineState *ms = current_machine;

    return ms ? MIN(ms->smp.max_cpus, SLOTS) : SLOTS;
}

void penguin_cov_edges_clear(void)
{
    uint8_t *base = penguin_cov_edges_map();

    if (base) {
        memset(base, 0, penguin_cov_edges_size());
        reset_slots(base, cpu_slots());
    }
}

int penguin_coverage_clear(void)
{
    penguin_cov_edges_clear();
    penguin_cov_lap_cleared();
    return 0;
}

void penguin_cov_edges_count(bool instrumented)
{
    qatomic_inc(instrumented ? &edges.instrumented : &edges.filtered);
}

void penguin_cov_edges_counts(uint64_t *instrumented, uint64_t *filtered)
{
    *instrumented = qatomic_read(&edges.instrumented);
    *filtered = qatomic_read(&edges.filtered);
}

void penguin_cov_edges_reset_counts(void)
{
    qatomic_set(&edges.instrumented, 0);
    qatomic_set(&edges.filtered, 0);
}

/* Branch to @skip unless the vCPU runs in the address space followed. */
static void gen_space_check(const PenguinCovSpace *s, TCGLabel *skip)
{
    TCGv_i64 now = tcg_temp_new_i64();
    TCGv_i64 want = tcg_temp_new_i64();

    if (s->size == 4) {
        tcg_gen_ld32u_i64(now, tcg_env, s->offset);
    } else {
        tcg_gen_ld_i64(now, tcg_env, s->offset);
    }
    if (s->mask != UINT64_MAX) {
        tcg_gen_andi_i64(now, now, s->mask);
    }
    tcg_gen_ld_i64(want, tcg_constant_ptr(penguin_cov_space_value()), 0);
    tcg_gen_brcond_i64(TCG_COND_NE, now, want, skip);
}

/* The running vCPU's previous-location slot. */
static TCGv_ptr gen_slot(void)
{
    TCGv_i32 index;
    TCGv_ptr slot;

    if (cpu_slots() == 1) {
        return tcg_constant_ptr(prev_slots);
    }
    index = tcg_temp_new_i32();
    slot = tcg_temp_new_ptr();
    /* Every ArchCPU has its env right after CPUState (exec/cpu-all.h). */
    tcg_gen_ld_i32(index, tcg_env,
                   offsetof(CPUState, cpu_index) - (long)sizeof(CPUState));
    tcg_gen_andi_i32(index, index, SLOTS - 1);
    tcg_gen_shli_i32(index, index, ctz32(SLOT_WORDS * sizeof(uintptr_t)));
    tcg_gen_ext_i32_ptr(slot, index);
    tcg_gen_addi_ptr(slot, slot, (intptr_t)prev_slots);
    return slot;
}

/* map[prev ^ cur] += 1 (255 wraps to 1); prev = cur >> 1. */
static void gen_edge(uint8_t *map, uint32_t cur)
{
    TCGv_ptr slot = gen_slot();
    TCGv_i64 value = tcg_temp_new_i64();
    TCGv_ptr cell = temp_tcgv_ptr(tcgv_i64_temp(value));
    TCGv_i32 count = tcg_temp_new_i32();
    TCGv_i32 carry = tcg_temp_new_i32();

    QEMU_BUILD_BUG_ON(sizeof(uintptr_t) != sizeof(uint64_t));
    tcg_gen_ld_i64(value, slot, 0);                 /* map | prev */
    tcg_gen_xori_i64(value, value, cur);
    tcg_gen_ld8u_i32(count, cell, 0);
    tcg_gen_addi_i32(count, count, 1);
    tcg_gen_shri_i32(carry, count, 8);
    tcg_gen_add_i32(count, count, carry);
    tcg_gen_st8_i32(count, cell, 0);
    tcg_gen_st_i64(tcg_constant_i64((uintptr_t)map | cur >> 1), slot, 0);
}

void penguin_cov_edges_gen(CPUState *cpu, uint64_t pc,
                           const PenguinCovConfig *c)
{
    uint8_t *map = penguin_cov_edges_map();
    TCGLabel *skip = NULL;

    if (!map || !penguin_cov_in_ranges(c, pc) ||
        !penguin_cov_mode_passes(c, cpu)) {
        penguin_cov_edges_count(false);
        return;
    }
    penguin_cov_edges_count(true);
    if (c->space_on) {
        skip = gen_new_label();
        gen_space_check(&c->space, skip);
    }
    gen_edge(map, penguin_cov_mix(pc) & (penguin_cov_edges_size() - 1));
    if (skip) {
        gen_set_label(skip);
    }
}
