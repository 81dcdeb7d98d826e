/*
 * The TCG side of Penguin hypercalls: one helper shared by every target's
 * recognizer.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/core/cpu.h"
#include "tcg/tcg.h"
#include "tcg/tcg-op-common.h"
#include "penguin/tcg-hypercall.h"

#define HELPER_H "penguin/helper.h"
#include "exec/helper-proto.h.inc"
#include "exec/helper-gen.h.inc"
#include "exec/helper-info.c.inc"
#undef HELPER_H

uint32_t HELPER(penguin_hypercall)(CPUArchState *env, const void *abi)
{
    /* Every ArchCPU has its env right after CPUState (see exec/cpu-all.h). */
    CPUState *cs = (CPUState *)env - 1;

    return penguin_env_hypercall(cs, env, abi);
}

TCGv_i32 penguin_gen_hypercall(const PenguinHypercallABI *abi)
{
    TCGv_i32 handled = tcg_temp_new_i32();

    gen_helper_penguin_hypercall(handled, tcg_env, tcg_constant_ptr(abi));
    return handled;
}
