/*
 * Penguin coverage facts for LoongArch: PLV3 is user mode; the address
 * space is CSR.ASID's ASID, which Linux reassigns when its ASIDs roll over;
 * routines take their arguments in a0 and a1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "cpu-csr.h"
#include "penguin/coverage-arch.h"

bool penguin_cov_arch_user_mode(CPUState *cs)
{
    return FIELD_EX64(cpu_env(cs)->CSR_CRMD, CSR_CRMD, PLV) == 3;
}

void penguin_cov_arch_space(CPUState *cs, PenguinCovSpace *space)
{
    space->offset = offsetof(CPULoongArchState, CSR_ASID);
    space->size = sizeof(uint64_t);
    space->mask = R_CSR_ASID_ASID_MASK;
}

bool penguin_cov_arch_routine_args(CPUState *cs, uint64_t *a0, uint64_t *a1)
{
    CPULoongArchState *env = cpu_env(cs);

    *a0 = env->gpr[4];
    *a1 = env->gpr[5];
    return true;
}
