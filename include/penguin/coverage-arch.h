/*
 * What each architecture tells Penguin's coverage and compare tracking:
 * whether a CPU runs user code, which register names the address space it
 * runs in, and where a routine finds its first two arguments. Each
 * target/<arch>/penguin-coverage.c defines these; the engine is shared.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_COVERAGE_ARCH_H
#define PENGUIN_COVERAGE_ARCH_H

/*
 * The address-space register: @size bytes at @offset in CPUArchState, of
 * which the bits in @mask name one address space (a page-table root or an
 * ASID). Translated code compares (field & mask) with the value followed.
 */
typedef struct PenguinCovSpace {
    uint32_t offset;
    uint8_t size;       /* 4 or 8 */
    uint64_t mask;
} PenguinCovSpace;

/*
 * Whether @cs runs in user mode now. Called while translating a block, when
 * the mode is the block's own: every target keeps the privilege level in
 * its translation-block flags, so a block never runs in another mode.
 */
bool penguin_cov_arch_user_mode(CPUState *cs);

/* The address-space register of @cs as it runs now (mask included). */
void penguin_cov_arch_space(CPUState *cs, PenguinCovSpace *space);

/*
 * The first two arguments of a routine whose first instruction @cs is
 * about to run, by the architecture's C calling convention; false when
 * they cannot be read.
 */
bool penguin_cov_arch_routine_args(CPUState *cs, uint64_t *a0, uint64_t *a1);

#endif /* PENGUIN_COVERAGE_ARCH_H */
