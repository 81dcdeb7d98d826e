/*
 * Where upstream code calls into Penguin: each hook is one line at its call site.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_HOOKS_H
#define PENGUIN_HOOKS_H

#include "qapi/qapi-types-run-state.h"

/* system/vl.c, after the command line's devices exist: false stops start-up. */
bool penguin_after_guest_init(MachineState *ms, Error **errp);

/* system/runstate.c, first thing in qemu_system_reset_request(). */
void penguin_reset_requested(ShutdownCause cause);

/* target/i386/kvm/kvm.c, first thing after every KVM_RUN (x86 KVM builds only). */
struct kvm_run;
void penguin_kvm_x86_post_run(CPUState *cs, struct kvm_run *run);

#endif /* PENGUIN_HOOKS_H */
