/*
 * penguin-qemu: the C ABI a Penguin library exports (CONTRACT sections 3 to 5).
 *
 * This header is both QEMU-internal (our sources include it) and shipped for C
 * embedders as include/penguin-qemu/penguin.h, so it uses only standard types and
 * opaque handles.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_PENGUIN_H
#define PENGUIN_PENGUIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CPUState CPUState;
typedef struct MachineState MachineState;

/*
 * Embedding lifecycle (QEMU's own functions, declared here for embedders only).
 * qemu_init() returns holding the BQL and the replay mutex; drop both, take them back,
 * run qemu_main_loop() on the calling thread, then qemu_cleanup(status), which returns.
 * qemu_system_shutdown_request() may be called from any thread without a lock.
 * One VM per process.
 */
#ifndef QEMU_OSDEP_H
extern int (*qemu_main)(void);
void qemu_init(int argc, char **argv);
int qemu_main_loop(void);
void qemu_cleanup(int status);
void bql_lock_impl(const char *file, int line);
void bql_unlock(void);
bool bql_locked(void);
void replay_mutex_lock(void);
void replay_mutex_unlock(void);
void qemu_system_shutdown_request(int reason);
int cpu_memory_rw_debug(CPUState *cpu, uint64_t addr, void *ptr, size_t len,
                        bool is_write);
#endif

/*
 * Hypercalls (CONTRACT section 4).
 *
 * A guest executes its architecture's exact sentinel instruction; the library calls
 * the callbacks on that vCPU's thread, without the BQL, with the number, six
 * arguments (zero-extended from 32-bit code) and a return slot that starts at 0.
 * A callback returns 0 when it handled the call: *ret then goes into the guest's
 * return register (truncated to the guest word) and register writes the callback
 * made stay. Any other return value means "not handled": no register changes and
 * the sentinel acts as a no-op.
 *
 * The guest callback is called only for registered numbers (exact 64-bit compare);
 * the fallback callback, when set, is called for every other number, under TCG too.
 * Setting callbacks and registering numbers is safe at any time from any thread.
 */
typedef int (*penguin_guest_hypercall_cb_t)(CPUState *cs, uint64_t nr,
        uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
        uint64_t a5, uint64_t *ret, void *opaque);
typedef int (*kvm_penguin_hypercall_cb_t)(CPUState *cs, uint64_t nr,
        uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
        uint64_t a5, uint64_t *ret);

void set_penguin_guest_hypercall_callback(penguin_guest_hypercall_cb_t cb,
                                          void *opaque);
void set_kvm_penguin_hypercall_callback(kvm_penguin_hypercall_cb_t cb);
void penguin_register_guest_hypercall(uint64_t nr);
void penguin_unregister_guest_hypercall(uint64_t nr);
void penguin_clear_guest_hypercalls(void);
bool penguin_guest_hypercall_registered(uint64_t nr);

/*
 * The dispatch every architecture's recognizer calls. Returns true when a callback
 * handled the call, with the value for the return register in *ret.
 */
bool penguin_handle_guest_hypercall(CPUState *cs, uint64_t nr,
                                    uint64_t a0, uint64_t a1, uint64_t a2,
                                    uint64_t a3, uint64_t a4, uint64_t a5,
                                    uint64_t *ret);

/*
 * Guest state (CONTRACT section 5). Register numbers are GDB's (core feature first);
 * bytes are in target byte order. Both accessors synchronise with the accelerator
 * first and are meant for the vCPU's own thread (inside a callback) or a stopped VM.
 * penguin_read_guest_reg() returns the register's width, or a negative errno when cs
 * is NULL, the number is unknown or buf_len is smaller than the width.
 * penguin_write_guest_reg() returns 0, or a negative errno when cs is NULL, the number
 * is unknown or len differs from the register's width; nothing is written then.
 */
int penguin_read_guest_reg(CPUState *cs, int regnum, uint8_t *buf, int buf_len);
int penguin_write_guest_reg(CPUState *cs, int regnum, const uint8_t *buf, int len);

/* The CPUArchState that follows CPUState in every ArchCPU; NULL for a NULL cs. */
void *penguin_cpu_env(CPUState *cs);
/* Make the env current (KVM: fetch the registers, marking them dirty); TCG: no-op. */
void penguin_sync_cpu_state(CPUState *cs);

/*
 * Runtime extras (CONTRACT section 7).
 *
 * The after-guest-init callback runs once inside qemu_init(), after the board and the
 * command line's devices exist and before any guest instruction, with the BQL held;
 * a non-zero return stops start-up with an error naming the value.
 */
typedef int (*kvm_penguin_after_guest_init_cb_t)(MachineState *ms, void *opaque);
void set_kvm_penguin_after_guest_init_callback(kvm_penguin_after_guest_init_cb_t cb,
                                               void *opaque);

/*
 * An I/O region in system memory that only catches accesses nothing else claims
 * (priority below every device). Callbacks see region-relative offsets and accesses
 * of 1, 2, 4 or 8 bytes in the guest's byte order, on the vCPU thread with the BQL.
 * Adding and removing need the BQL (the after-guest-init callback holds it). Returns
 * 0, or a negative errno with a message for a zero or overflowing size, a NULL name
 * or callback, an overlap with another Penguin region, or no BQL.
 */
typedef uint64_t (*penguin_mmio_read_cb_t)(uint64_t addr, unsigned size, void *opaque);
typedef void (*penguin_mmio_write_cb_t)(uint64_t addr, uint64_t data, unsigned size,
                                        void *opaque);
int penguin_qemu_add_mmio_region(uint64_t base, uint64_t size, const char *name,
                                 penguin_mmio_read_cb_t read_cb,
                                 penguin_mmio_write_cb_t write_cb, void *opaque);
/* Remove the region added at @base: 0, or -ENOENT when there is none. */
int penguin_qemu_remove_mmio_region(uint64_t base);

/*
 * Internal snapshots on the VM's qcow2 drives (savevm/loadvm by name).
 * penguin_save_snapshot() and penguin_load_snapshot() run synchronously and need the
 * BQL in main-loop context (not a vCPU thread: the VM is stopped while they run).
 * A failed load (unknown name, corrupt image) returns false and leaves the VM running
 * as it was. penguin_schedule_snapshot() is safe from any thread, vCPU threads and
 * hypercall callbacks included: the operation runs later on the main loop, and its end
 * is signalled through the done callback (name, load, ok) and the completed count.
 */
bool penguin_save_snapshot(const char *name);
bool penguin_load_snapshot(const char *name);
void penguin_schedule_snapshot(const char *name, bool load);
typedef void (*penguin_snapshot_done_cb_t)(const char *name, bool load, bool ok,
                                           void *opaque);
void set_penguin_snapshot_done_callback(penguin_snapshot_done_cb_t cb, void *opaque);
/* How many scheduled snapshots have finished; *last_ok (if not NULL): the last one's. */
uint64_t penguin_snapshots_completed(bool *last_ok);

/*
 * Called on every reset request (guest, monitor or QMP), on the requesting thread,
 * with QEMU's ShutdownCause, before QEMU acts on it.
 */
typedef void (*penguin_reset_request_cb_t)(int cause, void *opaque);
void set_penguin_reset_request_callback(penguin_reset_request_cb_t cb, void *opaque);

/*
 * Consulted for QMP commands QEMU does not know, on the main thread with the BQL.
 * Return true to handle the command: *result is NULL (the answer is {}) or malloc'd
 * JSON that QEMU frees; JSON that does not parse becomes the command's error.
 * Return false for QEMU's usual CommandNotFound.
 */
typedef bool (*penguin_qmp_cb_t)(const char *cmd, const char *args_json, char **result,
                                 void *opaque);
void set_penguin_qmp_callback(penguin_qmp_cb_t cb, void *opaque);

#ifdef __cplusplus
}
#endif

#endif /* PENGUIN_PENGUIN_H */
