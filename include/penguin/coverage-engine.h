/*
 * The parts of Penguin's coverage and compare tracking that share state:
 * the configuration every translation reads (published whole under RCU),
 * the shared-memory maps, the edge map and the compare log.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_COVERAGE_ENGINE_H
#define PENGUIN_COVERAGE_ENGINE_H

#include "qemu/rcu.h"
#include "penguin/coverage-arch.h"

typedef struct PenguinCovRange {
    uint64_t lo, hi;                /* [lo, hi) */
} PenguinCovRange;

/*
 * What translation reads. Immutable once published; a change publishes a
 * new one and, when translated code depends on the change, flushes it.
 */
typedef struct PenguinCovConfig {
    struct rcu_head rcu;
    bool edges;                     /* edge coverage armed */
    bool cmplog;                    /* compare tracking armed */
    int mode;                       /* PENGUIN_COVERAGE_ANY_MODE, ... */
    bool space_on;                  /* follow one address space */
    PenguinCovSpace space;          /* its register, when space_on */
    size_t nranges;                 /* 0: every address */
    PenguinCovRange *ranges;        /* sorted by lo; same allocation */
    size_t nroutines;
    uint64_t *routines;             /* sorted; same allocation */
} PenguinCovConfig;

/* The configuration now. The caller is in an RCU read-side section. */
const PenguinCovConfig *penguin_cov_config(void);

/*
 * Where the value the followed address space's register holds (masked) is
 * kept. Translated code loads it at run time, so following another process
 * needs no retranslation.
 */
const uint64_t *penguin_cov_space_value(void);

/* 0, or -ENOTSUP (recorded) when the VM runs without TCG. */
int penguin_cov_need_tcg(void);

/* The ranges become [@lo, @hi) alone, or none when @hi is 0. */
int penguin_cov_set_one_range(uint64_t lo, uint64_t hi);
/* The one range (0, 0 for none); false when there are several. */
bool penguin_cov_one_range(uint64_t *lo, uint64_t *hi);

/* Whether code at @pc passes @c's address ranges. */
bool penguin_cov_in_ranges(const PenguinCovConfig *c, uint64_t pc);

/* Whether a block @cs translates now passes @c's kernel/user selection. */
bool penguin_cov_mode_passes(const PenguinCovConfig *c, CPUState *cs);

/* At run time: whether @env runs in the address space @c follows. */
bool penguin_cov_space_passes(const PenguinCovConfig *c, const void *env);

/*
 * Shared memory for a map of @size bytes at an address aligned to @align (a
 * power of two): the System V segment named by the environment variable
 * @afl_env when it is set (AFL's way), otherwise a new memfd called @name,
 * whose descriptor goes to *fd (-1 for System V). NULL with the reason in
 * penguin_last_error() (and the errno in *err) when it cannot be had.
 */
void *penguin_cov_shm_map(const char *name, const char *afl_env,
                          uint64_t size, uint64_t align, int *fd, int *err);

/* A new descriptor of the map's memfd @fd for the caller, or -errno. */
int penguin_cov_shm_dup(int fd, const char *what);

/* Edge coverage (penguin/coverage-edges.c). */
int penguin_cov_edges_prepare(void);
void penguin_cov_edges_gen(CPUState *cpu, uint64_t pc,
                           const PenguinCovConfig *c);
void penguin_cov_edges_clear(void);
/* The map once allocated (NULL before), its size. */
uint8_t *penguin_cov_edges_map(void);
uint64_t penguin_cov_edges_size(void);
/* Blocks translated with and without instrumentation since the last flush. */
void penguin_cov_edges_count(bool instrumented);
void penguin_cov_edges_counts(uint64_t *instrumented, uint64_t *filtered);
void penguin_cov_edges_reset_counts(void);

/* Compare tracking (penguin/cmplog.c, penguin/cmplog-gen.c). */
int penguin_cov_cmplog_prepare(void);
void penguin_cov_cmplog_clear(void);
/* At every block's start: the last block's compares are done. */
void penguin_cov_cmplog_stop(void);
/* At an armed block's start: its routine hook, then its compares. */
void penguin_cov_cmplog_tb_start(CPUState *cpu, uint64_t pc,
                                 const PenguinCovConfig *c);
/* Record that the compare at @pc logs into entry @index. */
void penguin_cov_cmplog_site(uint32_t index, uint64_t pc);

/* Laps (penguin/coverage-lap.c): a clear starts a new one. */
void penguin_cov_lap_cleared(void);
uint64_t penguin_cov_lap_count(void);
bool penguin_cov_clear_on_restore(void);

/* The hash every map index starts from: a fixed mix of a guest address. */
static inline uint64_t penguin_cov_mix(uint64_t pc)
{
    pc ^= pc >> 33;
    pc *= 0xff51afd7ed558ccdULL;
    pc ^= pc >> 33;
    pc *= 0xc4ceb9fe1a85ec53ULL;
    pc ^= pc >> 33;
    return pc;
}

#endif /* PENGUIN_COVERAGE_ENGINE_H */
