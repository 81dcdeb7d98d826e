/*
 * The TCG side of Penguin hypercalls: one helper shared by every target's recognizer,
 * and the register access behind it (also used by ports and KVM exits).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/core/cpu.h"
#include "tcg/tcg.h"
#include "tcg/tcg-op-common.h"
#include "penguin/penguin.h"
#include "penguin/hypercall-abi.h"

#define HELPER_H "penguin/helper.h"
#include "exec/helper-proto.h.inc"
#include "exec/helper-gen.h.inc"
#include "exec/helper-info.c.inc"
#undef HELPER_H

static uint64_t env_reg(void *env, uint32_t offset, const PenguinHypercallABI *abi)
{
    void *p = (uint8_t *)env + offset;
    uint64_t value = abi->reg_size == 4 ? *(uint32_t *)p : *(uint64_t *)p;

    return abi->narrow ? (uint32_t)value : value;
}

static void env_set_reg(void *env, uint32_t offset, const PenguinHypercallABI *abi,
                        uint64_t value)
{
    void *p = (uint8_t *)env + offset;

    if (abi->narrow) {
        value = (uint32_t)value;
    }
    if (abi->reg_size == 4) {
        *(uint32_t *)p = value;
    } else {
        *(uint64_t *)p = value;
    }
}

bool penguin_env_hypercall(CPUState *cs, void *env, const PenguinHypercallABI *abi)
{
    uint64_t ret;

    if (!penguin_handle_guest_hypercall(cs, env_reg(env, abi->nr, abi),
                                        env_reg(env, abi->args[0], abi),
                                        env_reg(env, abi->args[1], abi),
                                        env_reg(env, abi->args[2], abi),
                                        env_reg(env, abi->args[3], abi),
                                        env_reg(env, abi->args[4], abi),
                                        env_reg(env, abi->args[5], abi), &ret)) {
        return false;
    }
    env_set_reg(env, abi->ret, abi, ret);
    return true;
}

uint32_t HELPER(penguin_hypercall)(CPUArchState *env, const void *abi)
{
    /* Every ArchCPU puts its env right after CPUState (checked in exec/cpu-all.h). */
    CPUState *cs = (CPUState *)env - 1;

    return penguin_env_hypercall(cs, env, abi);
}

TCGv_i32 penguin_gen_hypercall(const PenguinHypercallABI *abi)
{
    TCGv_i32 handled = tcg_temp_new_i32();

    gen_helper_penguin_hypercall(handled, tcg_env, tcg_constant_ptr(abi));
    return handled;
}
