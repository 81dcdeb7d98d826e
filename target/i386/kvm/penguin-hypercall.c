/*
 * Penguin hypercall door for x86 under KVM: the same 32-bit OUT to port 0x88 as
 * under TCG, seen as a KVM_EXIT_IO. The registers are fetched from KVM first
 * (which marks the vCPU dirty, so the return value is put back before it runs
 * again; KVM then completes the OUT and the guest goes on after it). Any other
 * size or direction is left to the ordinary I/O path, which ignores it: a
 * wrong-size OUT never stops the vCPU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "cpu.h"
#include "system/kvm.h"
#include "penguin/hooks.h"
#include "penguin-x86-abi.h"

void penguin_kvm_io_exit(CPUState *cs, struct kvm_run *run)
{
    CPUX86State *env = cpu_env(cs);

    if (run->io.port != PENGUIN_X86_PORT ||
        run->io.direction != KVM_EXIT_IO_OUT ||
        run->io.size != 4 || run->io.count != 1) {
        return;
    }
    kvm_cpu_synchronize_state(cs);
    penguin_env_hypercall(cs, env,
                          penguin_x86_abi_for(env->hflags & HF_CS64_MASK));
}
