/*
 * Penguin fast snapshots: virtqueue rings kept at every take.
 *
 * A virtio device writes its used ring (and a packed ring's descriptors)
 * through a MemoryRegionCache, a host pointer taken when the queue was set
 * up and written directly afterwards, marking the page dirty only after the
 * write. A cache set up after the take is kept when it is set up
 * (qemu_ram_ptr_length's hook); the rings of the caches that already exist
 * are kept here, with the guest paused, before anything can write them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/rcu.h"
#include "exec/memory.h"
#include "hw/virtio/virtio.h"
#include "penguin/fastsnap.h"
#include "penguin/hooks.h"

/* Keep [gpa, gpa + len) of @as where it is guest RAM. */
static void keep_guest_range(AddressSpace *as, hwaddr gpa, hwaddr len)
{
    RCU_READ_LOCK_GUARD();
    while (len) {
        hwaddr xlat, l = len;
        MemoryRegion *mr = address_space_translate(as, gpa, &xlat, &l, true,
                                                   MEMTXATTRS_UNSPECIFIED);

        if (!l) {
            return;
        }
        if (memory_region_is_ram(mr)) {
            penguin_cow_copy(memory_region_get_ram_addr(mr) + xlat, l);
        }
        gpa += l;
        len -= l;
    }
}

static int keep_device_rings(Object *obj, void *opaque)
{
    VirtIODevice *vdev;

    vdev = (VirtIODevice *)object_dynamic_cast(obj, TYPE_VIRTIO_DEVICE);

    if (!vdev || !vdev->dma_as) {
        return 0;
    }
    for (int n = 0; n < VIRTIO_QUEUE_MAX; n++) {
        if (!virtio_queue_get_num(vdev, n) ||
            !virtio_queue_get_desc_addr(vdev, n)) {
            continue;
        }
        keep_guest_range(vdev->dma_as, virtio_queue_get_desc_addr(vdev, n),
                         virtio_queue_get_desc_size(vdev, n));
        keep_guest_range(vdev->dma_as, virtio_queue_get_used_addr(vdev, n),
                         virtio_queue_get_used_size(vdev, n));
    }
    return 0;
}

void fastsnap_keep_virtio_rings(void)
{
    object_child_foreach_recursive(object_get_root(), keep_device_rings,
                                   NULL);
}
