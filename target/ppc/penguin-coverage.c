/*
 * Penguin coverage facts for PowerPC: problem state (MSR[PR]) is user mode;
 * the address space is the PID register (Book E, and Book S with the radix
 * MMU, where Linux writes each process's context id; a hash-MMU guest does
 * not use it); routines take their arguments in r3 and r4.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "penguin/coverage-arch.h"

bool penguin_cov_arch_user_mode(CPUState *cs)
{
    return FIELD_EX64(cpu_env(cs)->msr, MSR, PR);
}

void penguin_cov_arch_space(CPUState *cs, PenguinCovSpace *space)
{
    space->offset = offsetof(CPUPPCState, spr[SPR_BOOKS_PID]);
    space->size = sizeof(target_ulong);
    space->mask = UINT32_MAX;
}

bool penguin_cov_arch_routine_args(CPUState *cs, uint64_t *a0, uint64_t *a1)
{
    CPUPPCState *env = cpu_env(cs);

    *a0 = env->gpr[3];
    *a1 = env->gpr[4];
    return true;
}
