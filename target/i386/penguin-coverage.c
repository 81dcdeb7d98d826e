/*
 * Penguin coverage facts for x86: ring 3 is user mode; the address space is
 * CR3's page-table address (without PCID, which Linux changes per CPU while
 * the process stays); routines take their arguments in rdi and rsi in
 * 64-bit code (SysV) and on the stack in 32-bit code (cdecl).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "exec/cpu-common.h"
#include "penguin/coverage-arch.h"

#define CR3_TABLE      0x000ffffffffff000ULL     /* 4-level/5-level, 2-level */
#define CR3_PAE_TABLE  0xffffffe0ULL             /* 32-bit PAE */

bool penguin_cov_arch_user_mode(CPUState *cs)
{
    return (cpu_env(cs)->hflags & HF_CPL_MASK) == 3;
}

void penguin_cov_arch_space(CPUState *cs, PenguinCovSpace *space)
{
    CPUX86State *env = cpu_env(cs);
    bool pae32 = (env->cr[4] & CR4_PAE_MASK) && !(env->hflags & HF_LMA_MASK);

    space->offset = offsetof(CPUX86State, cr[3]);
    space->size = sizeof(env->cr[3]);
    space->mask = pae32 ? CR3_PAE_TABLE : CR3_TABLE;
}

/* The 32-bit word at @offset from the stack pointer. */
static bool stack_word(CPUState *cs, int offset, uint64_t *value)
{
    CPUX86State *env = cpu_env(cs);
    uint32_t word;

    if (cpu_memory_rw_debug(cs, env->segs[R_SS].base +
                            (uint32_t)(env->regs[R_ESP] + offset),
                            &word, sizeof(word), false) != 0) {
        return false;
    }
    *value = le32_to_cpu(word);
    return true;
}

bool penguin_cov_arch_routine_args(CPUState *cs, uint64_t *a0, uint64_t *a1)
{
    CPUX86State *env = cpu_env(cs);

    if (env->hflags & HF_CS64_MASK) {
        *a0 = env->regs[R_EDI];
        *a1 = env->regs[R_ESI];
        return true;
    }
    /* At the first instruction [esp] holds the return address. */
    return stack_word(cs, 4, a0) && stack_word(cs, 8, a1);
}
