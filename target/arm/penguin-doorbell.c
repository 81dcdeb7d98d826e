/*
 * Penguin's hypercall doorbell for Arm's virt board, the door that works under
 * KVM: there the sentinels are UNDEFINED at the guest's own exception level
 * and never reach QEMU, while a store to a page with no memory behind it exits
 * to QEMU as MMIO on every arm64 KVM. A 32- or 64-bit store to
 * PENGUIN_ARM_DOORBELL is a hypercall with the sentinels' registers (x8, x0..x5
 * and x0; r7, r0..r5 and r0 in AArch32). Any other size or offset is ignored.
 *
 * MMIO runs with the BQL, which the write gives up while the callback runs:
 * callbacks run without it, whichever door called them. Under KVM the
 * registers are fetched first (the vCPU becomes dirty, so the return value is
 * put back before it runs again). Under TCG an MMIO access is always the last
 * instruction of its block (QEMU retranslates a block to end there), so the
 * next block reads the registers the callback wrote; the callback sees the
 * store's own PC (restored from the block for it, then put back as the block
 * left it).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "hw/core/cpu.h"
#include "exec/cpu-common.h"
#include "exec/memory.h"
#include "qemu/main-loop.h"
#include "system/kvm.h"
#include "system/tcg.h"
#include "penguin/hooks.h"
#include "penguin-arm-abi.h"

/* What translated code keeps in env and cpu_restore_state() overwrites. */
typedef struct ArmBlockState {
    uint64_t pc;
    uint32_t r15;
    uint32_t condexec_bits;
    uint32_t syndrome;
} ArmBlockState;

static ArmBlockState block_state(CPUARMState *env)
{
    return (ArmBlockState) {
        .pc = env->pc,
        .r15 = env->regs[15],
        .condexec_bits = env->condexec_bits,
        .syndrome = env->exception.syndrome,
    };
}

static void set_block_state(CPUARMState *env, const ArmBlockState *s)
{
    env->pc = s->pc;
    env->regs[15] = s->r15;
    env->condexec_bits = s->condexec_bits;
    env->exception.syndrome = s->syndrome;
}

static void ring_under_tcg(CPUState *cs, CPUARMState *env)
{
    ArmBlockState running = block_state(env);

    /* The store's own PC for the callback; the block then goes on as it was. */
    cpu_restore_state(cs, cs->mem_io_pc);
    penguin_env_hypercall(cs, env, penguin_arm_abi_for(env));
    set_block_state(env, &running);
}

static void doorbell_write(void *opaque, hwaddr addr, uint64_t value,
                           unsigned size)
{
    CPUState *cs = current_cpu;
    bool locked = bql_locked();
    CPUARMState *env;

    if (!cs || addr != 0 || (size != 4 && size != 8)) {
        return;
    }
    env = cpu_env(cs);
    if (locked) {
        bql_unlock();
    }
    if (kvm_enabled()) {
        kvm_cpu_synchronize_state(cs);
        penguin_env_hypercall(cs, env, penguin_arm_abi_for(env));
    } else if (tcg_enabled()) {
        ring_under_tcg(cs, env);
    }
    if (locked) {
        bql_lock();
    }
}

static uint64_t doorbell_read(void *opaque, hwaddr addr, unsigned size)
{
    return addr == 0 ? PENGUIN_ARM_DOORBELL_MAGIC : 0;
}

static const MemoryRegionOps doorbell_ops = {
    .read = doorbell_read,
    .write = doorbell_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

void penguin_arm_doorbell_map(MemoryRegion *sysmem)
{
    MemoryRegion *mr = g_new0(MemoryRegion, 1);

    memory_region_init_io(mr, NULL, &doorbell_ops, NULL, "penguin-doorbell",
                          PENGUIN_ARM_DOORBELL_SIZE);
    memory_region_add_subregion(sysmem, PENGUIN_ARM_DOORBELL, mr);
}

#ifdef CONFIG_KVM
/* KVM on Arm has no port I/O exits: the x86 door's hook is a no-op here. */
void penguin_kvm_io_exit(CPUState *cs, struct kvm_run *run)
{
}
#endif
