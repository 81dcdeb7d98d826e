/*
 * Penguin's KVM exit hook for Arm hosts (the arm64 release, ./build.sh
 * --host=arm64): accel/kvm/kvm-all.c calls penguin_kvm_io_exit() on every
 * KVM_EXIT_IO (patches/0012), and aarch64-softmmu is built with KVM on an
 * aarch64 host, so the library needs a definition. Arm has no port I/O:
 * KVM never reports KVM_EXIT_IO for an Arm vCPU, so there is nothing to
 * dispatch here. Penguin's hypercall sentinel (msr S0_0_C5_C0_0, xzr) is
 * undefined at the guest's own EL1 under KVM and never exits to QEMU; a KVM
 * door for Arm guests (an MMIO doorbell, notes/arm64-host-release.md
 * section 4) is not built yet.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "penguin/hooks.h"

void penguin_kvm_io_exit(CPUState *cs, struct kvm_run *run)
{
}
