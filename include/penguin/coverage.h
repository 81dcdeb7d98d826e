/*
 * Where upstream code calls into Penguin's coverage and compare tracking,
 * and the hook the fast-snapshot restore path calls.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_COVERAGE_H
#define PENGUIN_COVERAGE_H

#include "exec/translator.h"
#include "tcg/tcg.h"

/*
 * accel/tcg/translator.c, at the start of every translation block, after
 * the target's tb_start: emits the block's edge-coverage ops and routine
 * hook, and starts compare tracking for the block. Emits nothing while
 * coverage and compare tracking are off.
 */
void penguin_coverage_tb_start(CPUState *cpu, DisasContextBase *db);

/*
 * tcg/tcg-op.c, first thing where a brcond, setcond, negsetcond or movcond
 * op of @cond on @a and @b is about to be emitted: logs the operands while
 * compare tracking translates a guest instruction; otherwise nothing.
 */
void penguin_cmplog_i32(TCGCond cond, TCGv_i32 a, TCGv_i32 b);
void penguin_cmplog_i64(TCGCond cond, TCGv_i64 a, TCGv_i64 b);

/*
 * The fast-snapshot restore path, after a restore completed (vCPUs
 * stopped, BQL held): with clear-on-restore set, ends the lap that ran
 * (unless it was ended already) and clears the edge map, every vCPU's
 * previous location and the compare log, so the next run starts as the
 * first did. Nothing otherwise.
 */
void penguin_coverage_fast_restore_hook(void);

/*
 * penguin/guest-init.c, once the machine's CPUs exist and before the guest
 * runs: applies coverage or compare tracking armed before qemu_init().
 */
void penguin_coverage_machine_ready(void);

#endif /* PENGUIN_COVERAGE_H */
