/*
 * Penguin coverage facts for Arm (A32, T32 and A64): EL0 is user mode; the
 * address space is TTBR0's table address, which Linux gives each process
 * (its ASID lives in TTBR1 on AArch64, and is reassigned on rollover on
 * both, so it does not name a process for long).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "internals.h"
#include "penguin/coverage-arch.h"

/* TTBR0's table address: long descriptors (A64, LPAE), short ones. */
#define TTBR0_LONG_BADDR  0x0000fffffffffffeULL
#define TTBR0_SHORT_BADDR 0xffffff80ULL

bool penguin_cov_arch_user_mode(CPUState *cs)
{
    return arm_current_el(cpu_env(cs)) == 0;
}

void penguin_cov_arch_space(CPUState *cs, PenguinCovSpace *space)
{
    CPUARMState *env = cpu_env(cs);
    bool long_descriptors = is_a64(env) ||
                            (env->cp15.tcr_el[1] & TTBCR_EAE);

    space->offset = offsetof(CPUARMState, cp15.ttbr0_el[1]);
    space->size = sizeof(env->cp15.ttbr0_el[1]);
    space->mask = long_descriptors ? TTBR0_LONG_BADDR : TTBR0_SHORT_BADDR;
}

bool penguin_cov_arch_routine_args(CPUState *cs, uint64_t *a0, uint64_t *a1)
{
    CPUARMState *env = cpu_env(cs);

    *a0 = is_a64(env) ? env->xregs[0] : env->regs[0];
    *a1 = is_a64(env) ? env->xregs[1] : env->regs[1];
    return true;
}
