/*
 * Penguin coverage facts for MIPS: KSU user mode is user mode; the address
 * space is EntryHi's ASID (with MIPS64's extended ASID bits), which Linux
 * keeps while it runs kernel code for the process and reassigns when its
 * ASIDs roll over; routines take their arguments in a0 and a1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "penguin/coverage-arch.h"

#define ENTRYHI_ASID 0x3ff

bool penguin_cov_arch_user_mode(CPUState *cs)
{
    return (cpu_env(cs)->hflags & MIPS_HFLAG_KSU) == MIPS_HFLAG_UM;
}

void penguin_cov_arch_space(CPUState *cs, PenguinCovSpace *space)
{
    space->offset = offsetof(CPUMIPSState, CP0_EntryHi);
    space->size = sizeof(target_ulong);
    space->mask = ENTRYHI_ASID;
}

bool penguin_cov_arch_routine_args(CPUState *cs, uint64_t *a0, uint64_t *a1)
{
    CPUMIPSState *env = cpu_env(cs);

    *a0 = env->active_tc.gpr[4];
    *a1 = env->active_tc.gpr[5];
    return true;
}
