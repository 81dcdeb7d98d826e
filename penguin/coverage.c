/*
 * Penguin's coverage and compare tracking: the configuration translation
 * reads, and what a change of it does to translated code.
 *
 * The configuration (what is armed, the filters) is one immutable object,
 * replaced whole under a mutex and read under RCU (translation runs inside
 * cpu_exec()'s RCU read-side section), as penguin/hypercall.c keeps its
 * registry. A change that translated code depends on flushes all of it, in
 * an exclusive section of the vCPUs, where PC-relative translation
 * (CF_PCREL, on Arm, x86 and RISC-V) is also switched off while anything is
 * armed: a PC-relative block is shared by every virtual address its page is
 * mapped at, so its block id and filters would be those of whichever
 * address translated it first.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/lockable.h"
#include "qemu/thread.h"
#include "hw/core/cpu.h"
#include "exec/translation-block.h"
#include "exec/tb-flush.h"
#include "system/tcg.h"
#include "penguin/penguin.h"
#include "penguin/coverage.h"
#include "penguin/coverage-engine.h"
#include "penguin/error.h"
#include "penguin/lifecycle.h"

static PenguinCovConfig *config;
static QemuMutex config_lock;
/* Set while a flush is queued; cleared by the flush. */
static bool flush_queued;
/* Whether the flush took CF_PCREL away from the CPUs (to give it back). */
static bool pcrel_taken;

/* The followed space's register value; translated code loads it. */
static uint64_t space_value;

static void __attribute__((constructor)) penguin_coverage_init(void)
{
    qemu_mutex_init(&config_lock);
    config = g_new0(PenguinCovConfig, 1);
}

const uint64_t *penguin_cov_space_value(void)
{
    return &space_value;
}

const PenguinCovConfig *penguin_cov_config(void)
{
    return qatomic_rcu_read(&config);
}

/* One allocation: the header, then the ranges, then the routines. */
static PenguinCovConfig *config_new(const PenguinCovConfig *from,
                                    size_t nranges, size_t nroutines)
{
    size_t size = sizeof(*from) + nranges * sizeof(PenguinCovRange) +
                  nroutines * sizeof(uint64_t);
    PenguinCovConfig *c = g_malloc0(size);

    *c = *from;
    c->nranges = nranges;
    c->ranges = (PenguinCovRange *)(c + 1);
    c->nroutines = nroutines;
    c->routines = (uint64_t *)(c->ranges + nranges);
    return c;
}

/* A copy of the configuration now, with room for its lists; lock held. */
static PenguinCovConfig *config_copy(void)
{
    PenguinCovConfig *c = config_new(config, config->nranges,
                                     config->nroutines);

    memcpy(c->ranges, config->ranges, config->nranges * sizeof(*c->ranges));
    memcpy(c->routines, config->routines,
           config->nroutines * sizeof(*c->routines));
    return c;
}

static bool translated_alike(const PenguinCovConfig *a,
                             const PenguinCovConfig *b)
{
    return a->edges == b->edges && a->cmplog == b->cmplog &&
           a->mode == b->mode && a->space_on == b->space_on &&
           (!a->space_on || (a->space.offset == b->space.offset &&
                             a->space.size == b->space.size &&
                             a->space.mask == b->space.mask)) &&
           a->nranges == b->nranges && a->nroutines == b->nroutines &&
           !memcmp(a->ranges, b->ranges, a->nranges * sizeof(*a->ranges)) &&
           !memcmp(a->routines, b->routines,
                   a->nroutines * sizeof(*a->routines));
}

static bool armed(const PenguinCovConfig *c)
{
    return c->edges || c->cmplog;
}

/*
 * In the vCPUs' exclusive section: PC-relative translation off while
 * anything is armed (back on after), then every block goes.
 */
static void flush_exclusive(CPUState *cpu, run_on_cpu_data unused)
{
    bool take;
    CPUState *cs;

    qatomic_set(&flush_queued, false);
    WITH_RCU_READ_LOCK_GUARD() {
        take = armed(penguin_cov_config());
        CPU_FOREACH(cs) {
            if (take && (cs->tcg_cflags & CF_PCREL)) {
                cs->tcg_cflags &= ~CF_PCREL;
                pcrel_taken = true;
            } else if (!take && pcrel_taken) {
                cs->tcg_cflags |= CF_PCREL;
            }
        }
    }
    if (!take) {
        pcrel_taken = false;
    }
    penguin_cov_edges_reset_counts();
    tb_flush(cpu);
}

/*
 * Queue a flush on a vCPU. Before the machine has CPUs there is no
 * translated code; the first block translated PC-relative while armed
 * queues the flush that takes CF_PCREL away (penguin_coverage_tb_start).
 */
static void flush_translations(void)
{
    CPUState *cpu = first_cpu;

    if (!cpu || !tcg_enabled() || qatomic_xchg(&flush_queued, true)) {
        return;
    }
    async_safe_run_on_cpu(cpu, flush_exclusive, RUN_ON_CPU_NULL);
}

/* Publish @c (lock held); flush when translated code depends on the change. */
static void config_publish(PenguinCovConfig *c)
{
    PenguinCovConfig *old = config;
    bool flush = (armed(old) || armed(c)) && !translated_alike(old, c);

    qatomic_rcu_set(&config, c);
    penguin_retire_g_free(old, rcu);
    if (flush) {
        flush_translations();
    }
}

int penguin_cov_need_tcg(void)
{
    if (penguin_vm_exists() && !tcg_enabled()) {
        return penguin_error(-ENOTSUP, "coverage and compare tracking need "
                             "TCG (this VM runs another accelerator)");
    }
    return 0;
}

typedef enum { EDGES, CMPLOG } Tracker;

static int set_armed(Tracker which, bool on)
{
    QEMU_LOCK_GUARD(&config_lock);
    PenguinCovConfig *c = config_copy();

    if (which == EDGES) {
        c->edges = on;
    } else {
        c->cmplog = on;
    }
    config_publish(c);
    return 0;
}

int penguin_coverage_arm(void)
{
    int err = penguin_cov_need_tcg();

    if (!err) {
        err = penguin_cov_edges_prepare();
    }
    return err ? err : set_armed(EDGES, true);
}

int penguin_coverage_disarm(void)
{
    return set_armed(EDGES, false);
}

bool penguin_coverage_armed(void)
{
    QEMU_LOCK_GUARD(&config_lock);
    return config->edges;
}

int penguin_cmplog_arm(void)
{
    int err = penguin_cov_need_tcg();

    if (!err) {
        err = penguin_cov_cmplog_prepare();
    }
    return err ? err : set_armed(CMPLOG, true);
}

int penguin_cmplog_disarm(void)
{
    return set_armed(CMPLOG, false);
}

bool penguin_cmplog_armed(void)
{
    QEMU_LOCK_GUARD(&config_lock);
    return config->cmplog;
}

static int range_cmp(const void *a, const void *b)
{
    const PenguinCovRange *x = a, *y = b;

    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

int penguin_coverage_add_range(uint64_t lo, uint64_t hi)
{
    PenguinCovConfig *c;

    if (lo >= hi) {
        return penguin_error(-EINVAL, "coverage range [0x%" PRIx64 ", 0x%"
                             PRIx64 "): its start must be below its end",
                             lo, hi);
    }
    QEMU_LOCK_GUARD(&config_lock);
    if (config->nranges >= PENGUIN_COVERAGE_MAX_RANGES) {
        return penguin_error(-ENOSPC, "coverage ranges: at most %d",
                             PENGUIN_COVERAGE_MAX_RANGES);
    }
    c = config_new(config, config->nranges + 1, config->nroutines);
    memcpy(c->ranges, config->ranges, config->nranges * sizeof(*c->ranges));
    memcpy(c->routines, config->routines,
           config->nroutines * sizeof(*c->routines));
    c->ranges[config->nranges] = (PenguinCovRange){ lo, hi };
    qsort(c->ranges, c->nranges, sizeof(*c->ranges), range_cmp);
    config_publish(c);
    return 0;
}

int penguin_coverage_clear_ranges(void)
{
    QEMU_LOCK_GUARD(&config_lock);
    PenguinCovConfig *c = config_new(config, 0, config->nroutines);

    memcpy(c->routines, config->routines,
           config->nroutines * sizeof(*c->routines));
    config_publish(c);
    return 0;
}

int penguin_cov_set_one_range(uint64_t lo, uint64_t hi)
{
    PenguinCovConfig *c;

    if (hi && lo >= hi) {
        return penguin_error(-EINVAL, "coverage filter [0x%" PRIx64 ", 0x%"
                             PRIx64 "): its start must be below its end",
                             lo, hi);
    }
    QEMU_LOCK_GUARD(&config_lock);
    c = config_new(config, hi ? 1 : 0, config->nroutines);
    memcpy(c->routines, config->routines,
           config->nroutines * sizeof(*c->routines));
    if (hi) {
        c->ranges[0] = (PenguinCovRange){ lo, hi };
    }
    config_publish(c);
    return 0;
}

bool penguin_cov_one_range(uint64_t *lo, uint64_t *hi)
{
    QEMU_LOCK_GUARD(&config_lock);
    *lo = config->nranges == 1 ? config->ranges[0].lo : 0;
    *hi = config->nranges == 1 ? config->ranges[0].hi : 0;
    return config->nranges <= 1;
}

bool penguin_cov_in_ranges(const PenguinCovConfig *c, uint64_t pc)
{
    size_t i;

    if (!c->nranges) {
        return true;
    }
    for (i = 0; i < c->nranges && c->ranges[i].lo <= pc; i++) {
        if (pc < c->ranges[i].hi) {
            return true;
        }
    }
    return false;
}

int penguin_coverage_set_mode(int mode)
{
    PenguinCovConfig *c;

    if (mode != PENGUIN_COVERAGE_ANY_MODE && mode != PENGUIN_COVERAGE_KERNEL
        && mode != PENGUIN_COVERAGE_USER) {
        return penguin_error(-EINVAL, "coverage mode %d: not "
                             "PENGUIN_COVERAGE_ANY_MODE, _KERNEL or _USER",
                             mode);
    }
    QEMU_LOCK_GUARD(&config_lock);
    c = config_copy();
    c->mode = mode;
    config_publish(c);
    return 0;
}

bool penguin_cov_mode_passes(const PenguinCovConfig *c, CPUState *cs)
{
    if (c->mode == PENGUIN_COVERAGE_ANY_MODE) {
        return true;
    }
    return penguin_cov_arch_user_mode(cs) == (c->mode == PENGUIN_COVERAGE_USER);
}

static uint64_t space_read(const PenguinCovSpace *s, const void *env)
{
    const uint8_t *p = (const uint8_t *)env + s->offset;

    return (s->size == 4 ? *(const uint32_t *)p : *(const uint64_t *)p) &
           s->mask;
}

bool penguin_cov_space_passes(const PenguinCovConfig *c, const void *env)
{
    return !c->space_on ||
           space_read(&c->space, env) == qatomic_read(&space_value);
}

int penguin_coverage_current_space(CPUState *cs, uint64_t *space)
{
    PenguinCovSpace s;

    if (!cs || !space) {
        return penguin_error(-EINVAL, "coverage space: NULL %s",
                             cs ? "result" : "CPU");
    }
    penguin_cov_arch_space(cs, &s);
    *space = space_read(&s, cpu_env(cs));
    return 0;
}

/* Follow @value of the register @cs describes (any CPU of the machine). */
static int follow(CPUState *cs, uint64_t value)
{
    PenguinCovConfig *c;

    QEMU_LOCK_GUARD(&config_lock);
    c = config_copy();
    penguin_cov_arch_space(cs, &c->space);
    c->space_on = true;
    qatomic_set(&space_value, value & c->space.mask);
    config_publish(c);
    return 0;
}

int penguin_coverage_follow(CPUState *cs)
{
    uint64_t value;
    int err = penguin_coverage_current_space(cs, &value);

    return err ? err : follow(cs, value);
}

int penguin_coverage_follow_space(uint64_t space)
{
    CPUState *cs = first_cpu;

    if (!cs) {
        return penguin_error(-ENODEV, "coverage space: the machine has no "
                             "CPU yet (follow one after qemu_init())");
    }
    return follow(cs, space);
}

int penguin_coverage_unfollow(void)
{
    QEMU_LOCK_GUARD(&config_lock);
    PenguinCovConfig *c = config_copy();

    c->space_on = false;
    config_publish(c);
    return 0;
}

static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

int penguin_cmplog_add_routine(uint64_t addr)
{
    PenguinCovConfig *c;

    QEMU_LOCK_GUARD(&config_lock);
    if (bsearch(&addr, config->routines, config->nroutines,
                sizeof(uint64_t), u64_cmp)) {
        return 0;
    }
    if (config->nroutines >= PENGUIN_CMPLOG_MAX_ROUTINES) {
        return penguin_error(-ENOSPC, "compare-tracking routines: at most %d",
                             PENGUIN_CMPLOG_MAX_ROUTINES);
    }
    c = config_new(config, config->nranges, config->nroutines + 1);
    memcpy(c->ranges, config->ranges, config->nranges * sizeof(*c->ranges));
    memcpy(c->routines, config->routines,
           config->nroutines * sizeof(*c->routines));
    c->routines[config->nroutines] = addr;
    qsort(c->routines, c->nroutines, sizeof(uint64_t), u64_cmp);
    config_publish(c);
    return 0;
}

int penguin_cmplog_clear_routines(void)
{
    QEMU_LOCK_GUARD(&config_lock);
    PenguinCovConfig *c = config_new(config, config->nranges, 0);

    memcpy(c->ranges, config->ranges, config->nranges * sizeof(*c->ranges));
    config_publish(c);
    return 0;
}

void penguin_coverage_tb_start(CPUState *cpu, DisasContextBase *db)
{
    const PenguinCovConfig *c = penguin_cov_config();

    /* The last block's compare tracking ends here, armed or not. */
    penguin_cov_cmplog_stop();
    if (likely(!armed(c))) {
        return;
    }
    if (tb_cflags(db->tb) & CF_PCREL) {
        /* Translated before this CPU's flush took CF_PCREL away. */
        flush_translations();
    }
    if (c->edges) {
        penguin_cov_edges_gen(cpu, db->pc_first, c);
    }
    if (c->cmplog) {
        penguin_cov_cmplog_tb_start(cpu, db->pc_first, c);
    }
}
