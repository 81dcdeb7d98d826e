/*
 * Where Arm keeps a Penguin hypercall's registers, for the TCG sentinels and
 * the doorbell (target/arm/penguin-doorbell.c): AArch64 passes nr in x8 and
 * a0..a5 in x0..x5, AArch32 nr in r7 and a0..a5 in r0..r5; the return value
 * goes to x0 (r0).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TARGET_ARM_PENGUIN_ARM_ABI_H
#define TARGET_ARM_PENGUIN_ARM_ABI_H

#include "penguin/hypercall-abi.h"

/*
 * The doorbell on the virt board: a page in the gap between the secure GPIO
 * and the virtio-mmio transports, which no board version maps. Reads give the
 * magic, so a guest can tell the doorbell is there.
 */
#define PENGUIN_ARM_DOORBELL        0x09fff000
#define PENGUIN_ARM_DOORBELL_SIZE   0x1000
#define PENGUIN_ARM_DOORBELL_MAGIC  0x50454e47      /* "PENG" */

#define PENGUIN_A64_REG(n) offsetof(CPUARMState, xregs[n])
#define PENGUIN_A32_REG(n) offsetof(CPUARMState, regs[n])

static const PenguinHypercallABI penguin_a64_abi = {
    .nr = PENGUIN_A64_REG(8),
    .args = {
        PENGUIN_A64_REG(0), PENGUIN_A64_REG(1), PENGUIN_A64_REG(2),
        PENGUIN_A64_REG(3), PENGUIN_A64_REG(4), PENGUIN_A64_REG(5),
    },
    .ret = PENGUIN_A64_REG(0),
    .reg_size = sizeof(uint64_t),
};

static const PenguinHypercallABI penguin_a32_abi = {
    .nr = PENGUIN_A32_REG(7),
    .args = {
        PENGUIN_A32_REG(0), PENGUIN_A32_REG(1), PENGUIN_A32_REG(2),
        PENGUIN_A32_REG(3), PENGUIN_A32_REG(4), PENGUIN_A32_REG(5),
    },
    .ret = PENGUIN_A32_REG(0),
    .reg_size = sizeof(uint32_t),
};

static inline const PenguinHypercallABI *penguin_arm_abi_for(CPUARMState *env)
{
    return is_a64(env) ? &penguin_a64_abi : &penguin_a32_abi;
}

#endif /* TARGET_ARM_PENGUIN_ARM_ABI_H */
