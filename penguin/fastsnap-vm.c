/*
 * Penguin fast snapshots: who may call, and the guest paused around the
 * engine.
 *
 * Pausing the vCPUs is enough for RAM, drives and devices that live inside
 * QEMU: a device's state only changes on the main loop (which runs the
 * engine) or from a vCPU (paused), and drained block I/O leaves no request
 * to complete into restored RAM. Stopping the virtual clock's ticks lets the
 * "timer" section put guest time back to the take. A whole vm_stop() would
 * also run every device's run-state handler, which costs a millisecond and
 * more; only a device whose backend runs in another process (a started
 * vhost device: Penguin's vsock) needs it, since its rings are only ours
 * again once the backend is stopped.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "qom/object.h"
#include "block/block-global-state.h"
#include "hw/core/cpu.h"
#include "hw/virtio/virtio.h"
#include "migration/misc.h"
#include "system/cpu-timers.h"
#include "system/cpus.h"
#include "system/runstate.h"
#include "system/tcg.h"
#include "penguin/error.h"
#include "penguin/fastsnap.h"
#include "penguin/lifecycle.h"
#include "penguin/work-queue.h"

int fastsnap_check_context(const char *what)
{
    const char *absent = penguin_vm_absent_reason();

    if (absent) {
        return penguin_error(-ENODEV, "%s: %s", what, absent);
    }
    if (!tcg_enabled()) {
        return penguin_error(-ENOTSUP, "%s: fast snapshots need TCG", what);
    }
    if (qemu_in_vcpu_thread()) {
        return penguin_error(-EDEADLK, "%s from a vCPU thread: it would wait "
                             "for its own vCPU to pause; schedule it "
                             "instead", what);
    }
    if (qemu_in_coroutine()) {
        return penguin_error(-EDEADLK, "%s inside a coroutine: drives cannot "
                             "be drained from one; schedule it instead",
                             what);
    }
    if (!bql_locked()) {
        return penguin_error(-EPERM, "%s needs the BQL", what);
    }
    if (penguin_snapshot_busy()) {
        return penguin_error(-EBUSY, "%s: another snapshot operation is "
                             "running", what);
    }
    if (migration_is_running()) {
        return penguin_error(-EBUSY, "%s: a migration or savevm is running",
                             what);
    }
    return 0;
}

int fastsnap_check_scheduled(const char *what)
{
    if (!tcg_enabled()) {
        return penguin_error(-ENOTSUP, "%s: fast snapshots need TCG", what);
    }
    if (migration_is_running()) {
        return penguin_error(-EBUSY, "%s: a migration or savevm is running",
                             what);
    }
    return 0;
}

/*
 * The machine's virtio devices, found once per take (walking the QOM tree
 * costs a tenth of a millisecond, more than a restore may); a device plugged
 * in later makes the restore refuse anyway.
 */
static GPtrArray *virtio_devices;

static int find_virtio(Object *obj, void *opaque)
{
    if (object_dynamic_cast(obj, TYPE_VIRTIO_DEVICE)) {
        g_ptr_array_add(virtio_devices, object_ref(obj));
    }
    return 0;
}

void fastsnap_find_virtio_devices(void)
{
    if (virtio_devices) {
        g_ptr_array_unref(virtio_devices);
    }
    virtio_devices = g_ptr_array_new_with_free_func(object_unref);
    object_child_foreach_recursive(object_get_root(), find_virtio, NULL);
}

bool fastsnap_needs_full_stop(void)
{
    if (!virtio_devices) {
        fastsnap_find_virtio_devices();
    }
    for (guint i = 0; i < virtio_devices->len; i++) {
        VirtIODevice *vdev = g_ptr_array_index(virtio_devices, i);

        if (VIRTIO_DEVICE_GET_CLASS(vdev)->get_vhost && vdev->vhost_started) {
            return true;
        }
    }
    return false;
}

/*
 * Each virtio device whose state a restore loaded is told its status again,
 * as vm_start() tells every device after a load (virtio_vmstate_change()).
 * Without the whole stop and start, virtio-net loaded with a transmission
 * pending (tx_waiting, the guest's notifications off) waited for a bottom
 * half that had run long before, ignored the guest's kicks and never sent
 * another packet; and packets queued for it were not flushed.
 */
void fastsnap_virtio_loaded(GPtrArray *loaded)
{
    if (!virtio_devices) {
        fastsnap_find_virtio_devices();
    }
    for (guint i = 0; i < virtio_devices->len; i++) {
        VirtIODevice *vdev = g_ptr_array_index(virtio_devices, i);

        if (g_ptr_array_find(loaded, vdev, NULL)) {
            virtio_set_status(vdev, vdev->status);
        }
    }
}

void fastsnap_pause(FastSnapPause *p, bool full)
{
    p->full = full;
    p->was_running = runstate_is_running();
    if (full && p->was_running) {
        vm_stop(RUN_STATE_PAUSED);
    } else if (p->was_running) {
        pause_all_vcpus();
        cpu_disable_ticks();
    }
    bdrv_drain_all_begin();
}

void fastsnap_resume(FastSnapPause *p)
{
    bdrv_drain_all_end();
    if (!p->was_running) {
        return;
    }
    if (p->full) {
        vm_start();
    } else {
        cpu_enable_ticks();
        resume_all_vcpus();
    }
}

int64_t fastsnap_now_us(void)
{
    return g_get_monotonic_time();
}
