/*
 * Where upstream code calls into Penguin: each hook is one line at its
 * call site.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_HOOKS_H
#define PENGUIN_HOOKS_H

#include "qapi/qapi-types-run-state.h"
#include "qemu/atomic.h"

/*
 * system/vl.c, first thing in qemu_init(): false when qemu_init() already
 * ran in this process (QEMU's globals hold one VM), and it must return at
 * once; the reason is recorded.
 */
bool penguin_qemu_init_allowed(void);

/* system/vl.c, once qemu_init() has the BQL, the monitor and the main loop. */
void penguin_vm_starting(void);

/*
 * system/runstate.c, first thing in qemu_main_loop(): false when there is no
 * VM to run (qemu_init() did not run, or qemu_cleanup() did); the loop then
 * returns EXIT_FAILURE at once.
 */
bool penguin_main_loop_allowed(void);

/*
 * system/runstate.c, when qemu_main_loop() is about to return: the work
 * queued before the shutdown request (scheduled snapshots, QMP events) is
 * done first.
 */
void penguin_main_loop_ending(void);

/*
 * system/runstate.c, first thing in qemu_cleanup(): false when there is
 * nothing to clean up (no qemu_init(), or qemu_cleanup() already ran), and it
 * must return at once; the reason is recorded.
 */
bool penguin_qemu_cleanup_allowed(void);

/* system/vl.c, after the command line's devices exist: false stops start-up. */
bool penguin_after_guest_init(MachineState *ms, Error **errp);

/* system/runstate.c, first thing in qemu_system_reset_request(). */
void penguin_reset_requested(ShutdownCause cause);

/*
 * hw/mips/malta.c: the PROM environment's entry size, so that the kernel
 * command line entry holds what Linux takes on MIPS (COMMAND_LINE_SIZE,
 * 4096 bytes with the terminating NUL).
 */
#define PENGUIN_MALTA_ENVP_ENTRY_SIZE 4096

/*
 * hw/mips/malta.c, after formatting the kernel command line for @board: a
 * line of @len bytes longer than @limit stops start-up with an error.
 */
void penguin_check_kernel_cmdline(const char *board, int len, int limit);

/*
 * migration/migration.c: whether @blocker guards only live migration's dirty
 * tracking, which an internal snapshot (VM and vhost backends stopped) does
 * not need.
 */
bool penguin_blocker_is_live_only(const Error *blocker);

/* migration/migration.c, for save_snapshot(): the blockers that apply to it. */
bool migration_is_blocked_for_snapshot(Error **errp);

/*
 * migration/migration.c, migrate_prepare(): true when this migration may pass
 * the live-only blockers like a snapshot, because the VM is stopped as it
 * starts; a VM started before it ends then cancels it. BQL held.
 */
bool penguin_migration_passes_live_only_blockers(void);

/*
 * hw/core/cpu-system.c, cpu_common_post_load(): true while a fast-snapshot
 * restore loads device state. It has dropped the translated code of every
 * page it copied back, so the full tb_flush() after a CPU's load is not
 * needed (penguin/fastsnap.c; always false without TCG).
 */
bool penguin_fast_restore_running(void);

/*
 * Fast snapshots keep guest RAM copy-on-write (penguin/fastsnap-ram.c):
 * every path that writes guest RAM calls penguin_cow_before_write() first
 * with the ram_addr_t range it is about to write (accel/tcg/cputlb.c's
 * not-dirty trap, system/physmem.c's mapped and direct writes, the
 * address_space_st*() stores, ROM loads), so that a page's content at a
 * take is kept before it changes. One load and branch while no fast
 * snapshot exists.
 */
extern bool penguin_cow_armed;
void penguin_cow_copy(uint64_t addr, uint64_t len);

static inline void penguin_cow_before_write(uint64_t addr, uint64_t len)
{
    if (unlikely(qatomic_read(&penguin_cow_armed))) {
        penguin_cow_copy(addr, len);
    }
}

/*
 * system/memory.c, before every MMIO write: a device that owns RAM blocks
 * (pflash's ROM device, VGA's video RAM) writes them from its handlers
 * through its own pointer, anywhere in the block, so the owner's blocks are
 * kept whole first.
 */
void penguin_cow_mmio_write(MemoryRegion *mr);

static inline void penguin_cow_before_mmio_write(MemoryRegion *mr)
{
    if (unlikely(qatomic_read(&penguin_cow_armed))) {
        penguin_cow_mmio_write(mr);
    }
}

/*
 * migration/savevm.c, for fast snapshots' device block: the device
 * sections (every entry but RAM's, in order) one at a time. next(NULL) is
 * the first; name() gives the idstr, instance and vmsd name (NULL for an
 * old-style section); save() writes the section's state without its header
 * and returns 1 when a "needed" test leaves it out now; load() reads what
 * save() wrote, at the section's current version.
 */
void *penguin_savevm_next_section(void *prev);
const char *penguin_savevm_section_name(void *section, uint32_t *instance_id,
                                        const char **vmsd_name);
int penguin_savevm_section_save(void *section, QEMUFile *f, Error **errp);
int penguin_savevm_section_load(void *section, QEMUFile *f);
/* What the section was registered with (slirp's: its Slirp). */
void *penguin_savevm_section_opaque(void *section);

/*
 * hw/virtio/vhost-user-vsock.c: realize waits for a reconnecting chardev's
 * first connection (an error if no backend is there); at its end the device
 * starts following its backend's socket (penguin/vsock-backend.c: a backend
 * that goes away stops the device, a new one on the socket starts it again);
 * at unrealize it stops. VHostUserVSock.connected says whether a backend is
 * there. renew() closes the connection to the backend and makes it again,
 * for a new backend with none of the guest's connections (after a fast
 * restore loaded the device, with the VM stopped); 0, or a negative errno
 * with the device left without a backend.
 */
struct VHostUserVSock;
int penguin_vsock_backend_wait(struct VHostUserVSock *vsock, Error **errp);
int penguin_vsock_backend_renew(struct VHostUserVSock *vsock, Error **errp);
void penguin_vsock_backend_follow(struct VHostUserVSock *vsock);
void penguin_vsock_backend_unfollow(struct VHostUserVSock *vsock);

/*
 * accel/kvm/kvm-all.c, on every KVM_EXIT_IO before QEMU handles it (a real
 * exit only: not after a KVM_RUN that returned EINTR with the old exit still
 * in kvm_run). Defined by each KVM target's door: x86's port 0x88; a no-op on
 * Arm, whose door is the doorbell below.
 */
struct kvm_run;
void penguin_kvm_io_exit(CPUState *cs, struct kvm_run *run);

/*
 * hw/arm/virt.c, once the board's memory map is built: Penguin's hypercall
 * doorbell (target/arm/penguin-doorbell.c), the door that works under KVM.
 */
void penguin_arm_doorbell_map(MemoryRegion *sysmem);

#endif /* PENGUIN_HOOKS_H */
