/*
 * Penguin fast snapshots: what the engine's parts offer each other.
 *
 * A fast snapshot is three parts, each in its own file: guest RAM kept
 * copy-on-write (fastsnap-ram.c), the device block compared and reloaded
 * section by section (fastsnap-devices.c) and every writable drive behind an
 * in-memory overlay (fastsnap-drives.c). fastsnap-vm.c pauses the guest
 * around them and says whether a caller may run them; fastsnap.c is our
 * handle API over the three, fastsnap-penguin.c Penguin's op-code interface.
 *
 * Everything here runs on the main loop or a plain thread holding the BQL,
 * with the guest paused (fastsnap_pause()), unless it says otherwise.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_FASTSNAP_H
#define PENGUIN_FASTSNAP_H

#include "qapi/error.h"

/* --- Pausing the guest and who may call (fastsnap-vm.c) --- */

/*
 * Why a synchronous call may not run here, as a negative errno with its
 * reason recorded (penguin_error()), or 0: -ENODEV before qemu_init(),
 * -ENOTSUP without TCG, -EDEADLK on a vCPU thread or inside a coroutine,
 * -EPERM without the BQL, -EBUSY while another snapshot operation, a
 * migration or savevm runs. @what names the call in the reason.
 */
int fastsnap_check_context(const char *what);
/* The same for a scheduled request, running from the work queue. */
int fastsnap_check_scheduled(const char *what);

/*
 * The guest paused for the engine: vCPUs out of their loops, the virtual
 * clock stopped, block I/O drained. With @full, also a whole vm_stop() (every
 * device's run-state handler, vhost backends stopped), which a device that
 * runs outside QEMU needs before its state is saved or loaded.
 */
typedef struct FastSnapPause {
    bool full;
    bool was_running;
} FastSnapPause;

void fastsnap_pause(FastSnapPause *p, bool full);
void fastsnap_resume(FastSnapPause *p);

/*
 * Whether a device needs @full (a started vhost backend), of the virtio
 * devices fastsnap_find_virtio_devices() found last (at each take).
 */
bool fastsnap_needs_full_stop(void);
void fastsnap_find_virtio_devices(void);
/*
 * After a restore loaded the sections whose opaques are @loaded: each of
 * those virtio devices told its status again, as vm_start() would.
 */
void fastsnap_virtio_loaded(GPtrArray *loaded);

/* --- Guest RAM, copy-on-write (fastsnap-ram.c) --- */

typedef struct FastSnapRam FastSnapRam;

typedef struct FastSnapRamStats {
    uint64_t restored_pages;        /* copied back by the last restore */
    uint64_t restored_code_pages;   /* of those, pages that held code */
    uint64_t scanned_pages;         /* dirty-bitmap pages looked at */
} FastSnapRamStats;

/* Keep RAM as it is now; NULL with @errp set when it cannot be kept. */
FastSnapRam *fastsnap_ram_take(Error **errp);
/* Make RAM what it was at the take again. */
int fastsnap_ram_restore(FastSnapRam *ram, FastSnapRamStats *stats,
                         Error **errp);
void fastsnap_ram_free(FastSnapRam *ram);
/* Host memory the snapshot holds (pages kept so far and whole copies). */
uint64_t fastsnap_ram_bytes(FastSnapRam *ram);

/*
 * Dirty-page accounting beside the snapshots (Penguin's DIRTY_* ops):
 * counts pages written since the arm or the last count.
 */
int fastsnap_dirty_arm(Error **errp);
void fastsnap_dirty_stop(void);
bool fastsnap_dirty_armed(void);
/* Pages dirtied since the arm or the last count, then cleared. */
uint64_t fastsnap_dirty_count(FastSnapRamStats *stats, GString *report,
                              GString *blocks);

/*
 * Keep every virtqueue's rings now (fastsnap-virtio.c): devices write them
 * through host pointers taken before the take. After a take, paused.
 */
void fastsnap_keep_virtio_rings(void);

/*
 * Whether a migration blocker other than the fast snapshots' own stops a
 * snapshot (a device whose state no snapshot can hold), with the reason.
 */
bool fastsnap_blocked_by_others(Error **errp);

/* Whether any RAM block is shared with another process (share=on). */
bool fastsnap_ram_has_shared_block(void);

/* --- The device block (fastsnap-devices.c) --- */

typedef struct FastSnapDevices FastSnapDevices;

/*
 * Which sections the block holds: a comma-separated list of vmstate section
 * names (an idstr such as "cpu" or "0000:00:03.0/virtio-net", or a vmsd
 * name such as "virtio-net"); NULL or "" for no filter. An allow list keeps
 * only those, a deny list keeps all but those.
 */
typedef struct FastSnapScope {
    char *allow;
    char *deny;
} FastSnapScope;

FastSnapDevices *fastsnap_devices_take(const FastSnapScope *scope,
                                       Error **errp);

typedef struct FastSnapDevStats {
    int loaded;                 /* sections that differed and were loaded */
    int compared;               /* sections compared */
} FastSnapDevStats;

/* Load back the sections whose state differs from the block. */
int fastsnap_devices_restore(FastSnapDevices *devs, FastSnapDevStats *stats,
                             Error **errp);
void fastsnap_devices_free(FastSnapDevices *devs);

/*
 * End user-mode networking's TCP connections, as a -loadvm in a new process
 * finds them (penguin/fastsnap-net.c): after every restore of the devices.
 */
void fastsnap_net_reset(void);

int fastsnap_devices_count(FastSnapDevices *devs);
uint64_t fastsnap_devices_bytes(FastSnapDevices *devs);
char *fastsnap_devices_names(FastSnapDevices *devs);
uint64_t fastsnap_devices_digest(FastSnapDevices *devs);

/*
 * The machine's device state now, whole (no scope): for digests and for
 * comparing with a block after a restore.
 */
FastSnapDevices *fastsnap_devices_now(Error **errp);

/*
 * Compare @now with @block section by section (by position): how many of the
 * block's sections differ (unrestorable after a restore) and how many
 * sections outside its scope differ from @before; names into @report.
 */
void fastsnap_devices_compare(FastSnapDevices *block, FastSnapDevices *before,
                              FastSnapDevices *now, int *in_scope,
                              int *out_of_scope, GString *report);

/* --- Drives behind an in-memory overlay (fastsnap-drives.c) --- */

typedef struct FastSnapDrives FastSnapDrives;

/* Put every writable drive behind an overlay and keep what it holds now. */
FastSnapDrives *fastsnap_drives_take(Error **errp);
/* Make every drive read what it read at the take. */
int fastsnap_drives_restore(FastSnapDrives *drives, Error **errp);
/* Whether the snapshot has no writable drive. Any thread, no pause. */
bool fastsnap_drives_empty(FastSnapDrives *drives);
/*
 * Free the state; with @last, write the overlays down and remove them
 * (paused, then).
 */
void fastsnap_drives_free(FastSnapDrives *drives, bool last);

/* --- Digests --- */

/* 64-bit, not cryptographic: equal bytes give equal digests. */
uint64_t fastsnap_hash(uint64_t seed, const void *data, size_t len);
uint64_t fastsnap_ram_digest(void);

/* The time a monotonic clock reads now, in microseconds. */
int64_t fastsnap_now_us(void);

#endif /* PENGUIN_FASTSNAP_H */
