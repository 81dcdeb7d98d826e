/*
 * Penguin MMIO regions: host callbacks for guest addresses no device claims.
 *
 * Each region is an I/O MemoryRegion in system memory at a priority below every
 * device, so it catches only accesses that would otherwise hit nothing. Regions
 * can be removed again; the memory behind a removed region is freed after an
 * RCU grace period, since a vCPU may still be dispatching an access to it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qom/object.h"
#include "exec/memory.h"
#include "exec/address-spaces.h"
#include "penguin/penguin.h"
#include "penguin/error.h"
#include "penguin/lifecycle.h"

/* Below every device, which sit at priority 0 or above. */
#define PENGUIN_MMIO_PRIORITY (-1000)

typedef struct PenguinMmioRegion {
    struct rcu_head rcu;
    MemoryRegion mr;
    uint64_t base;
    uint64_t size;
    penguin_mmio_read_cb_t read_cb;
    penguin_mmio_write_cb_t write_cb;
    void *opaque;
} PenguinMmioRegion;

/* Changed only with the BQL held. */
static GPtrArray *penguin_mmio_regions;

static uint64_t penguin_mmio_read(void *opaque, hwaddr addr, unsigned size)
{
    PenguinMmioRegion *r = opaque;

    return r->read_cb(addr, size, r->opaque);
}

static void penguin_mmio_write(void *opaque, hwaddr addr, uint64_t data,
                               unsigned size)
{
    PenguinMmioRegion *r = opaque;

    r->write_cb(addr, data, size, r->opaque);
}

static const MemoryRegionOps penguin_mmio_ops = {
    .read = penguin_mmio_read,
    .write = penguin_mmio_write,
    .endianness = DEVICE_NATIVE_ENDIAN,
    /*
     * Unaligned offsets are valid: a region at an odd base sees the guest's
     * aligned accesses at odd offsets, which QEMU would otherwise refuse
     * before any callback ran. Each access reaches the callbacks whole.
     */
    .valid = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
    .impl = { .min_access_size = 1, .max_access_size = 8, .unaligned = true },
};

/* The last byte of [base, base + size), which ends at most at 2^64. */
static uint64_t region_last(uint64_t base, uint64_t size)
{
    return base + (size - 1);
}

static PenguinMmioRegion *find_overlap(uint64_t base, uint64_t size)
{
    uint64_t last = region_last(base, size);

    for (guint i = 0; penguin_mmio_regions && i < penguin_mmio_regions->len;
         i++) {
        PenguinMmioRegion *r = g_ptr_array_index(penguin_mmio_regions, i);

        if (base <= region_last(r->base, r->size) && r->base <= last) {
            return r;
        }
    }
    return NULL;
}

static int check_request(uint64_t base, uint64_t size, const char *name,
                         penguin_mmio_read_cb_t read_cb,
                         penguin_mmio_write_cb_t write_cb)
{
    const char *why = penguin_vm_absent_reason();
    PenguinMmioRegion *other;

    if (why || !bql_locked()) {
        return penguin_error(-EPERM, "MMIO regions need the BQL (add them "
                             "from the after-guest-init callback)%s%s",
                             why ? ": " : "", why ? why : "");
    }
    if (!name || !read_cb || !write_cb) {
        return penguin_error(-EINVAL, "MMIO region at 0x%" PRIx64 " needs a "
                             "name and both callbacks", base);
    }
    /*
     * The region may end exactly at 2^64, not beyond. UINT64_MAX is refused:
     * QEMU reads that size as 2^64, which is not what was asked for.
     */
    if (size == 0 || size == UINT64_MAX || size - 1 > UINT64_MAX - base) {
        return penguin_error(-EINVAL, "MMIO region '%s' at 0x%" PRIx64 " has "
                             "a bad size 0x%" PRIx64 " (it must be 1 to "
                             "2^64 - base, and below 2^64 - 1)", name, base,
                             size);
    }
    other = find_overlap(base, size);
    if (other) {
        return penguin_error(-EEXIST, "MMIO region '%s' [0x%" PRIx64 ", +0x%"
                             PRIx64 ") overlaps the region at 0x%" PRIx64,
                             name, base, size, other->base);
    }
    return 0;
}

int penguin_qemu_add_mmio_region(uint64_t base, uint64_t size, const char *name,
                                 penguin_mmio_read_cb_t read_cb,
                                 penguin_mmio_write_cb_t write_cb, void *opaque)
{
    PenguinMmioRegion *r;
    int ret = check_request(base, size, name, read_cb, write_cb);

    if (ret < 0) {
        return ret;
    }
    r = g_new0(PenguinMmioRegion, 1);
    r->base = base;
    r->size = size;
    r->read_cb = read_cb;
    r->write_cb = write_cb;
    r->opaque = opaque;
    memory_region_init_io(&r->mr, NULL, &penguin_mmio_ops, r, name, size);
    memory_region_add_subregion_overlap(get_system_memory(), base, &r->mr,
                                        PENGUIN_MMIO_PRIORITY);
    if (!penguin_mmio_regions) {
        penguin_mmio_regions = g_ptr_array_new();
    }
    g_ptr_array_add(penguin_mmio_regions, r);
    return 0;
}

static void penguin_mmio_free(struct rcu_head *head)
{
    g_free(container_of(head, PenguinMmioRegion, rcu));
}

int penguin_qemu_remove_mmio_region(uint64_t base)
{
    const char *why = penguin_vm_absent_reason();

    if (why || !bql_locked()) {
        return penguin_error(-EPERM, "removing an MMIO region needs the "
                             "BQL%s%s", why ? ": " : "", why ? why : "");
    }
    for (guint i = 0; penguin_mmio_regions && i < penguin_mmio_regions->len;
         i++) {
        PenguinMmioRegion *r = g_ptr_array_index(penguin_mmio_regions, i);

        if (r->base == base) {
            g_ptr_array_remove_index(penguin_mmio_regions, i);
            memory_region_del_subregion(get_system_memory(), &r->mr);
            object_unparent(OBJECT(&r->mr));
            penguin_retire(&r->rcu, penguin_mmio_free);
            return 0;
        }
    }
    return penguin_error(-ENOENT, "no MMIO region at 0x%" PRIx64, base);
}
