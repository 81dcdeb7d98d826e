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
#define PENGUIN_ABI_VERSION_MINOR 4
#define PENGUIN_ABI_VERSION 0x10004
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
 * Fast snapshots: the VM's RAM, device state (CPUs included) and writable
 * drives kept in host memory, restored in a fraction of a millisecond. A take
 * copies nothing of the guest's main RAM: a page is kept the first time it is
 * written after the take (QEMU's own writes and the guest's alike), and a
 * restore copies back only the pages written since, reloads only the device
 * sections whose state changed and drops the translated code of restored
 * pages that held code. Writable drives (snapshot=on or not) get an
 * in-memory overlay at the first take: after a restore they read what they
 * read at the take, and the image file is not written while fast snapshots
 * exist; when the last one is dropped, the guest's writes since are written
 * down to it. Blocks shared with another process (share=on) are copied whole
 * at the take and restored whole. TCG only; several snapshots may exist at
 * once. While any exists, savevm and migration are blocked.
 *
 * Synchronous calls: after qemu_init(), holding the BQL, on the main loop or
 * a plain thread (not a vCPU thread, not inside a coroutine). take returns a
 * handle > 0; restore and drop return 0. Errors, the same for each call:
 * -ENODEV (no VM yet), -ENOTSUP (no TCG: -accel kvm), -EDEADLK (a vCPU
 * thread or a coroutine: schedule instead), -EPERM (no BQL), -EBUSY (another
 * snapshot operation, a migration or savevm runs; at take also a device that
 * cannot be restored, named in the reason, e.g. a 9p export the guest has
 * mounted; at restore a writable drive attached after the take), -ENOENT (no
 * such handle), -ESTALE (the machine's RAM blocks or devices changed since
 * the take), -ENOMEM, -EIO (device state that failed to save or load, or a
 * page a path outside copy-on-write wrote, with its address).
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
 * Penguin's fastsnap interface, over the same engine (the handle API above
 * is the one we recommend). penguin_fastsnap_schedule(op): any thread;
 * queues the op on the main loop in order with every snapshot request and
 * returns. The op runs with the guest paused, stores its results and then
 * increments penguin_fastsnap_seq(); penguin_fastsnap_last_rc() is 0 or a
 * negative errno (reason in the scheduling thread's penguin_last_error()
 * when refused at once: an unknown op, no VM yet; those complete at once).
 * Results are one slot, each op replacing what it computes; every accessor
 * may be called from any thread, and a string stays valid until the op after
 * next completes (never NULL).
 *
 * TAKE keeps the device block (the allow/deny scope set before it), RESTORE
 * loads it back, RELEASE frees it, PROBE digests the device state now,
 * RESTORE_VERIFY restores and digests, STATE_DIGEST digests RAM and devices.
 * FORK_REF forks a reference process holding guest RAM as it is (refused
 * with a shared RAM block), FORK_DIFF compares RAM with it page by page,
 * FORK_DROP ends it. DIRTY_ARM/COUNT/STOP count pages written. RAM_SNAPSHOT
 * keeps RAM (copy-on-write), RAM_RESTORE copies back what changed,
 * RAM_RELEASE frees it. LOOP_ARM keeps devices, RAM and drives and forks a
 * reference (not with shared RAM); LOOP_RESET restores all three;
 * LOOP_RESET_VERIFY also compares RAM with the reference and the devices
 * with the block, the guest still paused (last_us is the reset alone).
 */
#define PENGUIN_FASTSNAP_TAKE 0
#define PENGUIN_FASTSNAP_RESTORE 1
#define PENGUIN_FASTSNAP_RELEASE 2
#define PENGUIN_FASTSNAP_PROBE 3
#define PENGUIN_FASTSNAP_RESTORE_VERIFY 4
#define PENGUIN_FASTSNAP_STATE_DIGEST 5
#define PENGUIN_FASTSNAP_FORK_REF 6
#define PENGUIN_FASTSNAP_FORK_DIFF 7
#define PENGUIN_FASTSNAP_FORK_DROP 8
#define PENGUIN_FASTSNAP_DIRTY_ARM 9
#define PENGUIN_FASTSNAP_DIRTY_COUNT 10
#define PENGUIN_FASTSNAP_DIRTY_STOP 11
#define PENGUIN_FASTSNAP_RAM_SNAPSHOT 12
#define PENGUIN_FASTSNAP_RAM_RESTORE 13
#define PENGUIN_FASTSNAP_RAM_RELEASE 14
#define PENGUIN_FASTSNAP_LOOP_ARM 15
#define PENGUIN_FASTSNAP_LOOP_RESET 16
#define PENGUIN_FASTSNAP_LOOP_RESET_VERIFY 17
void penguin_fastsnap_schedule(int op);
uint64_t penguin_fastsnap_seq(void);
int penguin_fastsnap_last_rc(void);
/* The op's own duration in QEMU (µs), and when it finished (monotonic µs). */
int64_t penguin_fastsnap_last_us(void);
int64_t penguin_fastsnap_bh_done_us(void);
/*
 * The device block's scope for the next TAKE or LOOP_ARM: comma-separated
 * vmstate section names (an idstr such as "cpu", or a vmsd name such as
 * "virtio-net"); setting one list clears the other; NULL or "" for none.
 */
void penguin_fastsnap_set_denylist(const char *csv);
void penguin_fastsnap_set_allowlist(const char *csv);
/* The block: names (newline-separated), count, bytes. */
const char *penguin_fastsnap_section_names(void);
int penguin_fastsnap_section_count(void);
uint64_t penguin_fastsnap_block_size(void);
/* 64-bit digests, not cryptographic: equal state gives equal digests. */
uint64_t penguin_fastsnap_last_digest(void);
uint64_t penguin_fastsnap_last_ram_digest(void);
/* The fork reference: differing pages (all ones: not compared) and more. */
uint64_t penguin_fastsnap_diff_pages(void);
int64_t penguin_fastsnap_diff_us(void);
uint64_t penguin_fastsnap_diff_bytes_checked(void);
const char *penguin_fastsnap_diff_report(void);
/* The last RAM restore: pages copied back, of those pages with code. */
uint64_t penguin_fastsnap_ram_restored_pages(void);
uint64_t penguin_fastsnap_ram_restored_code_pages(void);
/* Host memory the RAM snapshot holds (copy-on-write: grows as pages change). */
uint64_t penguin_fastsnap_ram_snapshot_bytes(void);
/* Dirty accounting: the last count, pages scanned, page size, first pages. */
uint64_t penguin_fastsnap_dirty_pages(void);
uint64_t penguin_fastsnap_dirty_pages_scanned(void);
uint64_t penguin_fastsnap_dirty_page_size(void);
const char *penguin_fastsnap_dirty_report(void);
/* Per RAM block "name:pages", comma-separated; "!" marks a shared block. */
const char *penguin_fastsnap_dirty_blocks(void);
/*
 * After LOOP_RESET_VERIFY: sections of the block that still differ after the
 * restore (their save reads live state, e.g. an RTC) and sections outside
 * the scope that changed since LOOP_ARM; -1 when not compared.
 */
int penguin_fastsnap_dev_diff_sections(void);
int penguin_fastsnap_dev_unrestorable_sections(void);
const char *penguin_fastsnap_dev_diff_report(void);

/*
 * Edge coverage and compare tracking (TCG; the KVM accelerator answers
 * -ENOTSUP). README "Coverage and compare tracking" has the whole story.
 *
 * Every function here: any thread, any time (before qemu_init() too), vCPU
 * threads and hypercall callbacks included. A change of what is translated
 * (arming, disarming, a filter) takes effect at each vCPU's next block
 * boundary: the translated code that depends on it is flushed. Errors are
 * a negative errno with the reason in penguin_last_error().
 *
 * Edge coverage: AFL's map of byte hit counters, one per edge hash. Every
 * translated block at guest address pc has the id
 * mix(pc) & (size - 1) (mix: MurmurHash3's 64-bit finaliser); running it
 * adds one to map[prev ^ id] (wrapping 255 to 1, never 0) and sets prev to
 * id >> 1, where prev is the running vCPU's own (0 after a clear). The
 * map is shared memory: a memfd (penguin_coverage_map_fd() gives the
 * caller its own descriptor), or AFL's System V segment when the
 * environment has __AFL_SHM_ID at the first arm. Its size is a power of two
 * from PENGUIN_COVERAGE_MAP_MIN to _MAX bytes (default _DEFAULT), set
 * before the first arm and fixed from then on (-EBUSY): translated code
 * holds the map's address and mask. The map stays mapped until the process
 * ends, also while disarmed.
 */
#define PENGUIN_COVERAGE_MAP_MIN 256
#define PENGUIN_COVERAGE_MAP_MAX 16777216
#define PENGUIN_COVERAGE_MAP_DEFAULT 65536
int penguin_coverage_set_map_size(uint64_t size);
int penguin_coverage_arm(void);
int penguin_coverage_disarm(void);
bool penguin_coverage_armed(void);
/* Zero the map and every vCPU's previous location. */
int penguin_coverage_clear(void);
/* The map (NULL before the first arm) and its size in bytes. */
uint8_t *penguin_coverage_map(void);
uint64_t penguin_coverage_map_size(void);
/* A new descriptor of the map's memfd (close it when done), or -ENOENT. */
int penguin_coverage_map_fd(void);

/*
 * Filters, shared by edge coverage and compare tracking.
 *
 * Address ranges [lo, hi) of the guest addresses blocks (compares) start
 * at; none means every address. -EINVAL for lo >= hi; -ENOSPC past
 * PENGUIN_COVERAGE_MAX_RANGES.
 *
 * Mode: every block, kernel (supervisor) code only, or user code only.
 *
 * Address space: follow one address space (a Linux process): blocks run in
 * any other leave no trace. The register compared at run time is the
 * architecture's: x86 CR3 (the page table), Arm TTBR0 (its table address),
 * RISC-V satp (its PPN), MIPS EntryHi's ASID, PowerPC PID, LoongArch ASID.
 * penguin_coverage_follow(cs) follows the space cs runs in now (call it from
 * a hypercall of the process to follow); _current_space() reads it and
 * _follow_space() follows a value read so; _unfollow() ends it.
 */
#define PENGUIN_COVERAGE_MAX_RANGES 64
#define PENGUIN_COVERAGE_ANY_MODE 0
#define PENGUIN_COVERAGE_KERNEL 1
#define PENGUIN_COVERAGE_USER 2
int penguin_coverage_add_range(uint64_t lo, uint64_t hi);
int penguin_coverage_clear_ranges(void);
int penguin_coverage_set_mode(int mode);
int penguin_coverage_follow(CPUState *cs);
int penguin_coverage_current_space(CPUState *cs, uint64_t *space);
int penguin_coverage_follow_space(uint64_t space);
int penguin_coverage_unfollow(void);

/*
 * Laps. penguin_coverage_lap_end() summarises the map as it is now into
 * figures[0 .. count - 1] (indices below) and adds it to the cumulative
 * ("virgin") map: EDGES nonzero counters, HITS their sum, NEW_EDGES edges
 * the cumulative map had never seen, NEW_BUCKETS edges whose AFL hit-count
 * bucket (1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128-255) it had never seen
 * (new edges included: AFL's "interesting input"), TOTAL_EDGES edges ever
 * seen, TBS_INSTRUMENTED and TBS_FILTERED the blocks translated with and
 * without instrumentation since the last arm or filter change, SCAN_NS the
 * summary's own time. Returns the number of figures written.
 * penguin_coverage_reset_virgin() forgets every edge seen.
 *
 * With clear-on-restore on, each fast-snapshot restore ends the lap that
 * ran (unless penguin_coverage_lap_end() ended it already) and clears the
 * map, every vCPU's previous location and the compare log.
 */
#define PENGUIN_COVERAGE_EDGES 0
#define PENGUIN_COVERAGE_HITS 1
#define PENGUIN_COVERAGE_NEW_EDGES 2
#define PENGUIN_COVERAGE_NEW_BUCKETS 3
#define PENGUIN_COVERAGE_TOTAL_EDGES 4
#define PENGUIN_COVERAGE_TBS_INSTRUMENTED 5
#define PENGUIN_COVERAGE_TBS_FILTERED 6
#define PENGUIN_COVERAGE_SCAN_NS 7
#define PENGUIN_COVERAGE_FIGURES 8
int penguin_coverage_lap_end(uint64_t *figures, int count);
/* The last lap's figure @which, 0 before any lap or for an unknown one. */
uint64_t penguin_coverage_last_lap(int which);
int penguin_coverage_reset_virgin(void);
int penguin_coverage_set_clear_on_restore(bool on);

/*
 * Compare tracking (cmplog): the operands of the guest's integer compares,
 * in AFL++'s cmplog map (struct cmp_map of AFL++ 4: 65536 8-byte headers,
 * then 32 entries of 32 bytes for each), under the same filters. Each
 * compare (a TCG brcond, setcond, negsetcond or movcond while a guest
 * instruction is translated; register and immediate forms) logs into entry
 * mix(pc) & 65535 of the instruction's address pc: header hits + 1, shape
 * (width - 1), type 1, attribute (AFL++'s EQUAL 1, GREATER 2, LESSER 4 of
 * the condition), and operands v0, v1 at hits % 32. Width: the compare's,
 * narrowed to 1, 2 or 4 bytes where that instruction's translation
 * zero- or sign-extended (or masked) both operands to it, as x86 does for
 * byte and word compares; operands are logged cut to it. An equality test
 * of a difference against zero (x86's cmp then je, Arm's cmp then b.eq)
 * logs the two values subtracted. Routines at addresses named with
 * penguin_cmplog_add_routine() log, at their first instruction, the first
 * 31 bytes at their first two arguments (AFL++'s struct cmpfn_operands,
 * type 2, at hits % 8). The map is shared memory like the edge map (AFL's
 * __AFL_CMPLOG_SHM_ID).
 */
#define PENGUIN_CMPLOG_MAP_W 65536
#define PENGUIN_CMPLOG_MAP_H 32
#define PENGUIN_CMPLOG_RTN_H 8
#define PENGUIN_CMPLOG_MAP_SIZE 67633152
#define PENGUIN_CMPLOG_MAX_ROUTINES 256
int penguin_cmplog_arm(void);
int penguin_cmplog_disarm(void);
bool penguin_cmplog_armed(void);
/* Zero every header written since the last clear. */
int penguin_cmplog_clear(void);
void *penguin_cmplog_map(void);
int penguin_cmplog_map_fd(void);
/*
 * Header indices written since the last clear, up to @max of them into
 * @indices; returns how many there are (more than @max: call again).
 */
int penguin_cmplog_written(uint32_t *indices, int max);
/* The guest address of the instruction that last logged into @index. */
uint64_t penguin_cmplog_site(uint32_t index);
int penguin_cmplog_add_routine(uint64_t addr);
int penguin_cmplog_clear_routines(void);

/*
 * Penguin's fastsnap lane's coverage accessors, over the same engine:
 * set_filter(lo, hi) replaces every range with [lo, hi) (hi 0: none),
 * set_map_size as penguin_coverage_set_map_size, clear_on_reset as
 * clear-on-restore, the figures those of the last lap (scan in µs). False
 * or 0 on failure, with the reason in penguin_last_error().
 */
bool penguin_fastsnap_cov_set_filter(uint64_t lo, uint64_t hi);
bool penguin_fastsnap_cov_set_map_size(uint64_t size);
void penguin_fastsnap_cov_set_clear_on_reset(bool on);
uint64_t penguin_fastsnap_cov_map_addr(void);
uint64_t penguin_fastsnap_cov_map_size(void);
bool penguin_fastsnap_cov_armed(void);
bool penguin_fastsnap_cov_arm(void);
bool penguin_fastsnap_cov_disarm(void);
bool penguin_fastsnap_cov_clear(void);
bool penguin_fastsnap_cov_lap_end(void);
uint64_t penguin_fastsnap_cov_edges(void);
uint64_t penguin_fastsnap_cov_hits(void);
uint64_t penguin_fastsnap_cov_new_edges(void);
uint64_t penguin_fastsnap_cov_new_buckets(void);
uint64_t penguin_fastsnap_cov_total_edges(void);
uint64_t penguin_fastsnap_cov_tbs_instrumented(void);
uint64_t penguin_fastsnap_cov_tbs_filtered(void);
int64_t penguin_fastsnap_cov_scan_us(void);
/* Ours, to make 23: the filter set, the setting, the laps, the memfd. */
uint64_t penguin_fastsnap_cov_filter_lo(void);
uint64_t penguin_fastsnap_cov_filter_hi(void);
bool penguin_fastsnap_cov_clear_on_reset(void);
uint64_t penguin_fastsnap_cov_laps(void);
int penguin_fastsnap_cov_map_fd(void);

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
