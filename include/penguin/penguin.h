/*
 * penguin-qemu: the C ABI a Penguin library exports (CONTRACT sections 3 to 7).
 *
 * This header is the one place a signature of that ABI is written: QEMU's
 * Penguin sources include it, it ships for C embedders as
 * include/penguin-qemu/penguin.h, and scripts/penguin-cffi-gen.py makes the
 * cffi headers from it (with PENGUIN_CFFI defined). Declarations that
 * Penguin's Python shim appends unless their exact text is present are
 * written here on one line, in that exact text.
 *
 * Conventions, for every function below:
 * - Threads. "Any thread" means any thread at any time, before qemu_init()
 *   too. Otherwise the comment names the thread and the locks it needs.
 * - Errors. A function that can fail returns a negative errno (or false, or
 *   NULL) and records the reason as text for the calling thread:
 *   penguin_last_error(). By default the reason is also printed to stderr.
 * - Callbacks. Every callback is set with its opaque pointer as one pair,
 *   from any thread at any time; the pair is replaced whole, and a call
 *   already running finishes with the old pair.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_PENGUIN_H
#define PENGUIN_PENGUIN_H

#ifndef PENGUIN_CFFI
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The ABI version: the major number changes when a function changes or goes
 * away, the minor number when functions are added. penguin_abi_version()
 * returns the library's (major << 16 | minor); a caller built for major M
 * refuses a library of another major number. Any thread.
 */
#define PENGUIN_ABI_VERSION_MAJOR 1
#define PENGUIN_ABI_VERSION_MINOR 3
#define PENGUIN_ABI_VERSION 0x10003
uint32_t penguin_abi_version(void);

/*
 * The text of the calling thread's last failure in a Penguin function, "" if
 * none failed yet; valid until that thread's next failure. Any thread.
 */
const char *penguin_last_error(void);

/* Print failures to stderr (the default) or only record them. Any thread. */
void penguin_set_error_printing(bool on);

#if defined(PENGUIN_CFFI) || !defined(QEMU_OSDEP_H)
typedef struct CPUState CPUState;
typedef struct MachineState MachineState;
typedef uint64_t vaddr;

/*
 * Embedding lifecycle: QEMU's own functions, declared for embedders.
 * Call qemu_init() once, on the thread that will run the main loop; it
 * returns holding the BQL and the replay mutex. Drop both (bql_unlock(),
 * replay_mutex_unlock()), take them back (replay_mutex_lock(), then
 * bql_lock_impl(__FILE__, __LINE__)), run qemu_main_loop() until it returns,
 * then qemu_cleanup(status), which returns. qemu_main must be NULL. A bad
 * argv makes qemu_init() exit the process, as the executable would. One VM
 * per process. qemu_system_shutdown_request() may be called from any thread
 * without a lock; the main loop then returns promptly. cpu_memory_rw_debug()
 * needs the CPU's own thread (a callback) or the BQL; it returns < 0 when the
 * address does not translate.
 *
 * Calls out of that order are refused, never aborted: the call does nothing
 * and records why (penguin_last_error()). qemu_init() a second time in the
 * process (also after qemu_cleanup(): start a new process for the next VM):
 * -EALREADY, it returns without the BQL. qemu_main_loop() without a VM (before
 * qemu_init(), after qemu_cleanup()) -ENODEV, without the BQL -EPERM, while
 * it already runs on another thread -EBUSY: it returns EXIT_FAILURE at once.
 * qemu_cleanup() a second time or without qemu_init(): -EALREADY; without the
 * BQL: -EPERM; while qemu_main_loop() runs: -EBUSY. After qemu_cleanup(),
 * setting callbacks and registering numbers still work (nothing calls them),
 * and the calls that need the VM are refused as before qemu_init() (the
 * reason says "the VM has ended").
 *
 * Work queued for the main loop (penguin_schedule_snapshot(),
 * penguin_fast_snapshot_schedule(), penguin_qmp_emit_event()) before a
 * shutdown request is done before qemu_main_loop() returns, in order, on its
 * thread: a snapshot scheduled from a hypercall callback that then requests a
 * shutdown is saved (and its done callback called) first. Work queued after
 * qemu_main_loop() returned is done at the start of qemu_cleanup().
 */
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
CPUState *qemu_get_cpu(int index);
int cpu_memory_rw_debug(CPUState *cpu, vaddr addr, void *ptr, size_t len,
                        bool is_write);
#endif

/*
 * Hypercalls (CONTRACT section 4).
 *
 * A guest executes its architecture's exact sentinel instruction; the library
 * calls a callback on that vCPU's thread, without the BQL, with the number,
 * six arguments (zero-extended from 32-bit code) and a return slot that starts
 * at 0. A callback returns 0 when it handled the call: *ret then goes into the
 * guest's return register (truncated to the guest word) and register writes
 * the callback made stay. Any other return value means "not handled": no
 * register changes and the sentinel acts as a no-op.
 *
 * The guest callback is called only for registered numbers (exact 64-bit
 * compare); the fallback callback, when set, for every other number, under
 * TCG too. Setting callbacks and registering numbers: any thread.
 *
 * A callback may read and write registers and guest memory of its CPU, call
 * qemu_system_shutdown_request() and penguin_schedule_snapshot(); it must not
 * hold the BQL for long nor call the synchronous snapshot functions.
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
 * The dispatch every architecture's door calls: true when a callback handled
 * the call, with the value for the return register in *ret. Any thread (a
 * NULL cs reaches the callbacks as NULL).
 */
bool penguin_handle_guest_hypercall(CPUState *cs, uint64_t nr,
                                    uint64_t a0, uint64_t a1, uint64_t a2,
                                    uint64_t a3, uint64_t a4, uint64_t a5,
                                    uint64_t *ret);

/*
 * Guest state (CONTRACT section 5). Register numbers are GDB's (core feature
 * first); bytes are in the guest's byte order as it runs. Both accessors
 * synchronise with the accelerator first. Thread: the CPU's own (inside a
 * callback), or any thread holding the BQL while the VM is stopped.
 *
 * penguin_read_guest_reg() returns the register's width, or -EINVAL (NULL cs
 * or buf, buf_len <= 0), -ENOENT (no such register) or -ENOSPC (buf_len
 * smaller than the width). penguin_write_guest_reg() returns 0, or -EINVAL
 * (NULL cs or buf, len other than the width), -ENOENT, -EIO, or -EBUSY for a
 * write that would move the PC of a TCG CPU from inside a callback (the
 * translated code goes on, so the write is undone); nothing is written on
 * failure.
 */
int penguin_read_guest_reg(CPUState *cs, int regnum, uint8_t *buf,
                           int buf_len);
int penguin_write_guest_reg(CPUState *cs, int regnum, const uint8_t *buf,
                            int len);

/*
 * The CPUArchState that follows CPUState in every ArchCPU; NULL for a NULL
 * cs. Any thread (reading it is the CPU's own thread's or a stopped VM's).
 */
void *penguin_cpu_env(CPUState *cs);
/*
 * Make the env current: under KVM fetch the registers (marking them dirty,
 * so env writes go back); under TCG nothing. Thread: as the accessors.
 */
void penguin_sync_cpu_state(CPUState *cs);

/*
 * Runtime extras (CONTRACT section 7).
 *
 * The after-guest-init callback runs once inside qemu_init(), on its thread
 * with the BQL held, after the board and the command line's devices exist and
 * before any guest instruction; a non-zero return stops start-up with an
 * error naming the value (qemu_init() then exits the process). It runs once
 * per process, not again after a guest reset: what it sets up (MMIO regions)
 * survives the reset, and adding it again would fail.
 *
 * A guest reset (without -no-reboot) resets the CPUs and devices and reloads
 * the images given on the command line, in the same process. Everything set
 * up through this ABI survives it unchanged: the callbacks, the registered
 * numbers, MMIO regions, snapshot and QMP hooks, queued work, the fast
 * snapshots taken before it (a restore brings back the state they hold, as a
 * load does), and a vhost-user-vsock device keeps its backend (the guest's
 * driver sets it up again).
 */
typedef int (*kvm_penguin_after_guest_init_cb_t)(MachineState *ms,
                                                 void *opaque);
void set_kvm_penguin_after_guest_init_callback(
        kvm_penguin_after_guest_init_cb_t cb, void *opaque);

/*
 * An I/O region in system memory that only catches accesses nothing else
 * claims (priority below every device). Callbacks see region-relative
 * offsets and accesses of 1, 2, 4 or 8 bytes in the guest's byte order, on
 * the vCPU thread with the BQL. Any base works, an odd one too: the offsets
 * are then odd for the guest's aligned accesses, and each access arrives
 * whole, as the guest made it, whatever its offset.
 *
 * Adding and removing: after qemu_init(), with the BQL (the after-guest-init
 * callback holds it). Returns 0, or -EPERM (no VM yet, or no BQL), -EINVAL
 * (NULL name or callback; size 0, 2^64 - 1, or past 2^64), -EEXIST (overlaps
 * another Penguin region); -ENOENT from remove when @base has no region.
 */
typedef uint64_t (*penguin_mmio_read_cb_t)(uint64_t addr, unsigned size,
                                           void *opaque);
typedef void (*penguin_mmio_write_cb_t)(uint64_t addr, uint64_t data,
                                        unsigned size, void *opaque);
int penguin_qemu_add_mmio_region(uint64_t base, uint64_t size,
                                 const char *name,
                                 penguin_mmio_read_cb_t read_cb,
                                 penguin_mmio_write_cb_t write_cb,
                                 void *opaque);
int penguin_qemu_remove_mmio_region(uint64_t base);

/*
 * Internal snapshots on the VM's qcow2 drives (savevm/loadvm by name; names
 * of 1 to 255 bytes).
 *
 * penguin_save_snapshot() and penguin_load_snapshot() run synchronously:
 * after qemu_init(), holding the BQL, on the main loop or a plain thread,
 * never on a vCPU thread (refused: the VM stops while they run) and never
 * while another snapshot operation runs. A failed load returns false and
 * leaves the VM running as it was.
 *
 * penguin_schedule_snapshot(): any thread, vCPU threads and callbacks
 * included. Requests run one at a time on the main loop in the order made,
 * and each completes once: the done callback gets (name, load, ok) on the
 * main loop and penguin_snapshots_completed() counts it. A request refused at
 * once (no VM yet, a bad name) completes at once, on the calling thread, with
 * ok false.
 */
bool penguin_save_snapshot(const char *name);
bool penguin_load_snapshot(const char *name);
void penguin_schedule_snapshot(const char *name, bool load);
typedef void (*penguin_snapshot_done_cb_t)(const char *name, bool load,
                                           bool ok, void *opaque);
void set_penguin_snapshot_done_callback(penguin_snapshot_done_cb_t cb,
                                        void *opaque);
/* Finished scheduled snapshots; *last_ok (if not NULL): the last one's. */
uint64_t penguin_snapshots_completed(bool *last_ok);

/*
 * Fast snapshots: the VM's RAM and device state (CPUs included) kept in host
 * memory; a restore copies back only the pages written since (QEMU's dirty
 * tracking, exact under TCG), reloads the devices and drops the translated
 * code of the pages it restored. TCG only; drives must be read-only (their
 * writes would outlive a restore of RAM); several snapshots may exist at once.
 * While any exists, savevm and migration are blocked.
 *
 * Synchronous calls: after qemu_init(), holding the BQL, off the vCPU threads.
 * penguin_fast_snapshot_take() returns a handle > 0; restore and drop return
 * 0. Errors: -ENODEV (no VM yet), -EDEADLK (a vCPU thread), -EPERM (no BQL),
 * -EBUSY (a migration, savevm or other snapshot runs, a writable drive, an
 * unmigratable device), -ENOENT (no such handle), -ESTALE (the machine's RAM
 * changed shape), -ENOMEM, -EIO.
 *
 * penguin_fast_snapshot_schedule(op, handle): any thread, hypercall
 * callbacks included; runs on the main loop in order with the other
 * snapshot requests and reports through the done callback (op, handle,
 * result), where result is what the synchronous call would have returned
 * (for a take: the new handle). A request refused at once completes at once
 * on the calling thread; the function returns 0 when queued.
 */
#define PENGUIN_FAST_SNAPSHOT_TAKE 0
#define PENGUIN_FAST_SNAPSHOT_RESTORE 1
#define PENGUIN_FAST_SNAPSHOT_DROP 2
int penguin_fast_snapshot_take(void);
int penguin_fast_snapshot_restore(int handle);
int penguin_fast_snapshot_drop(int handle);
int penguin_fast_snapshot_schedule(int op, int handle);
typedef void (*penguin_fast_snapshot_done_cb_t)(int op, int handle,
                                                int result, void *opaque);
void set_penguin_fast_snapshot_done_callback(
        penguin_fast_snapshot_done_cb_t cb, void *opaque);

/*
 * Called on every reset request (guest, monitor or QMP), on the requesting
 * thread, with QEMU's ShutdownCause, before QEMU acts on it. To end the run
 * instead of the reset (Penguin ends a boot that has a pending change this
 * way), call qemu_system_shutdown_request() from the callback: the machine
 * is then not reset, and qemu_main_loop() returns. Otherwise the machine
 * resets and runs on, or with -no-reboot the run ends.
 */
typedef void (*penguin_reset_request_cb_t)(int cause, void *opaque);
void set_penguin_reset_request_callback(penguin_reset_request_cb_t cb,
                                        void *opaque);

/*
 * QMP commands QEMU does not know, after capability negotiation, on the main
 * loop with the BQL. Two kinds of callback; the handler is asked first.
 *
 * penguin_qmp_cb_t: return true to handle the command, with *result NULL
 * (the answer is {}) or malloc'd JSON that QEMU frees; JSON that does not
 * parse becomes a GenericError. Return false for QEMU's CommandNotFound.
 *
 * penguin_qmp_handler_cb_t: return PENGUIN_QMP_DONE with *result as above;
 * PENGUIN_QMP_FAILED with *error_class (a QMP error class such as
 * "GenericError" or "DeviceNotFound"; NULL or unknown: GenericError) and
 * *error_desc, both malloc'd or NULL, which QEMU frees, for a QMP error
 * response; PENGUIN_QMP_NOT_MINE to pass the command on.
 */
typedef bool (*penguin_qmp_cb_t)(const char *cmd, const char *args_json,
                                 char **result, void *opaque);
void set_penguin_qmp_callback(penguin_qmp_cb_t cb, void *opaque);

#define PENGUIN_QMP_NOT_MINE 0
#define PENGUIN_QMP_DONE 1
#define PENGUIN_QMP_FAILED 2
typedef int (*penguin_qmp_handler_cb_t)(const char *cmd,
        const char *args_json, char **result, char **error_class,
        char **error_desc, void *opaque);
void set_penguin_qmp_handler(penguin_qmp_handler_cb_t cb, void *opaque);

/*
 * Send a QMP event of Penguin's own to every QMP client past capability
 * negotiation: {"event": @name, "data": <@data_json>, "timestamp": {...}},
 * without "data" when @data_json is NULL or "". Any thread, after
 * qemu_init(), hypercall callbacks included: the main loop sends events in
 * the order of the calls (across threads too), and those emitted before a
 * shutdown request before qemu_main_loop() returns; a client that connects
 * later does not get earlier events. Returns 0 when queued, or -EINVAL (a
 * name that is not 1 to 128 letters, digits, '-', '_' or '.' starting with a
 * letter; @data_json not a JSON object), -ENODEV (no VM yet, or the VM has
 * ended); nothing is sent then.
 */
int penguin_qmp_emit_event(const char *name, const char *data_json);

#ifdef __cplusplus
}
#endif

#endif /* PENGUIN_PENGUIN_H */
