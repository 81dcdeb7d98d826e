/*
 * Penguin hypercalls by register table: read nr and a0..a5 where a door says
 * they live in CPUArchState, dispatch, write the return register back. Shared
 * by the TCG helper and the x86 KVM exit path.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "penguin/penguin.h"
#include "penguin/hypercall-abi.h"

static uint64_t env_reg(void *env, uint32_t offset,
                        const PenguinHypercallABI *abi)
{
    void *p = (uint8_t *)env + offset;
    uint64_t value = abi->reg_size == 4 ? *(uint32_t *)p : *(uint64_t *)p;

    return abi->narrow ? (uint32_t)value : value;
}

static void env_set_reg(void *env, uint32_t offset,
                        const PenguinHypercallABI *abi, uint64_t value)
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

bool penguin_env_hypercall(CPUState *cs, void *env,
                           const PenguinHypercallABI *abi)
{
    uint64_t ret;

    if (!penguin_handle_guest_hypercall(cs, env_reg(env, abi->nr, abi),
                                        env_reg(env, abi->args[0], abi),
                                        env_reg(env, abi->args[1], abi),
                                        env_reg(env, abi->args[2], abi),
                                        env_reg(env, abi->args[3], abi),
                                        env_reg(env, abi->args[4], abi),
                                        env_reg(env, abi->args[5], abi),
                                        &ret)) {
        return false;
    }
    env_set_reg(env, abi->ret, abi, ret);
    return true;
}
