/*
 * Penguin's hypercall doorbell for Arm's virt board, the door that works under
 * KVM: there the sentinels are UNDEFINED at the guest's own exception level
 * and never reach QEMU, while a store to a page with no memory behind it exits
 * to QEMU as MMIO on every arm64 KVM. A 32- or 64-bit store to
 * PENGUIN_ARM_DOORBELL is a hypercall with the sentinels' registers (x8, x0..x5
 * and x0; r7, r0..r5 and r0 in AArch32). Any other size or offset is ignored.
 *
 * Only the guest's own store rings, and only one KVM can hand to user space:
 * a single-register store with a valid syndrome (ISV), the size it stores
 * being the size written. Under KVM the MMIO exit itself says so; under TCG
 * the store's recorded syndrome does, so a guest that rings the doorbell
 * under TCG rings it the same way under KVM (a store-pair, a write-back or
 * atomic store, or one that reaches the page from the one before it would
 * abort there instead). Not ringing: a device's DMA to the page (fw_cfg's,
 * say: its attributes are unspecified), and a callback's own write to it
 * (its memory writes go through the same address space and would call it
 * again with the same registers, without end).
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
#include "syndrome.h"

#define SYN_SAS_SHIFT 22        /* the syndrome's access size: log2 of bytes */

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

#ifdef CONFIG_KVM
/* Whether this vCPU's KVM exit is its store of @size bytes to the doorbell. */
static bool kvm_guest_store(CPUState *cs, unsigned size)
{
    struct kvm_run *run = cs->kvm_run;

    return run->exit_reason == KVM_EXIT_MMIO && run->mmio.is_write &&
           run->mmio.phys_addr == PENGUIN_ARM_DOORBELL &&
           run->mmio.len == size;
}
#endif

/*
 * Whether the translated store that wrote @size bytes is one single-register
 * store of that size with a valid syndrome, as KVM needs. The syndrome is
 * the store's own after cpu_restore_state().
 */
static bool tcg_guest_store(CPUARMState *env, unsigned size)
{
    uint32_t syndrome = env->exception.syndrome;

    return (syndrome & ARM_EL_ISV) &&
           1u << extract32(syndrome, SYN_SAS_SHIFT, 2) == size;
}

static MemTxResult doorbell_write(void *opaque, hwaddr addr, uint64_t value,
                                  unsigned size, MemTxAttrs attrs)
{
    CPUState *cs = current_cpu;
    bool locked = bql_locked();
    ArmBlockState running;
    CPUARMState *env;

    if (!cs || addr != 0 || (size != 4 && size != 8) ||
        penguin_hypercall_running()) {
        return MEMTX_OK;
    }
    env = cpu_env(cs);
#ifdef CONFIG_KVM
    if (kvm_enabled() && !kvm_guest_store(cs, size)) {
        return MEMTX_OK;
    }
#endif
    if (tcg_enabled()) {
        if (attrs.unspecified) {
            return MEMTX_OK;        /* a device's DMA, not the vCPU's store */
        }
        /* The store's own PC and syndrome; the block then goes on as it was. */
        running = block_state(env);
        cpu_restore_state(cs, cs->mem_io_pc);
        if (!tcg_guest_store(env, size)) {
            set_block_state(env, &running);
            return MEMTX_OK;
        }
    } else if (kvm_enabled()) {
        kvm_cpu_synchronize_state(cs);
    } else {
        return MEMTX_OK;
    }
    if (locked) {
        bql_unlock();
    }
    penguin_env_hypercall(cs, env, penguin_arm_abi_for(env));
    if (locked) {
        bql_lock();
    }
    if (tcg_enabled()) {
        set_block_state(env, &running);
    }
    return MEMTX_OK;
}

static uint64_t doorbell_read(void *opaque, hwaddr addr, unsigned size)
{
    return addr == 0 ? PENGUIN_ARM_DOORBELL_MAGIC : 0;
}

static const MemoryRegionOps doorbell_ops = {
    .read = doorbell_read,
    .write_with_attrs = doorbell_write,
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
