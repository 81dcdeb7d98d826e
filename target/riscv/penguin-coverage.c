/*
 * Penguin coverage facts for RISC-V: U-mode is user mode; the address space
 * is satp's PPN, the page-table root Linux gives each process (its ASID is
 * reassigned on rollover); routines take their arguments in a0 and a1.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "cpu_bits.h"
#include "penguin/coverage-arch.h"

bool penguin_cov_arch_user_mode(CPUState *cs)
{
    return cpu_env(cs)->priv == PRV_U;
}

void penguin_cov_arch_space(CPUState *cs, PenguinCovSpace *space)
{
    CPURISCVState *env = cpu_env(cs);

    space->offset = offsetof(CPURISCVState, satp);
    space->size = sizeof(target_ulong);
    space->mask = riscv_cpu_mxl(env) == MXL_RV32 ? SATP32_PPN : SATP64_PPN;
}

bool penguin_cov_arch_routine_args(CPUState *cs, uint64_t *a0, uint64_t *a1)
{
    CPURISCVState *env = cpu_env(cs);

    *a0 = env->gpr[10];
    *a1 = env->gpr[11];
    return true;
}
