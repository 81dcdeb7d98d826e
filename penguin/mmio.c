/*
 * Penguin MMIO regions: host callbacks for guest-physical ranges no device claims.
 *
 * Each region is an I/O MemoryRegion in system memory at a priority below every
 * device, so it catches only accesses that would otherwise hit nothing. Regions can
 * be removed again; the memory behind a removed region is freed after an RCU grace
 * period, since a vCPU may still be dispatching an access to it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/rcu.h"
#include "qom/object.h"
#include "exec/memory.h"
#include "exec/address-spaces.h"
#include "penguin/penguin.h"

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

static void penguin_mmio_write(void *opaque, hwaddr addr, uint64_t data, unsigned size)
{
    PenguinMmioRegion *r = opaque;

    r->write_cb(addr, data, size, r->opaque);
}

static const MemoryRegionOps penguin_mmio_ops = {
    .read = penguin_mmio_read,
    .write = penguin_mmio_write,
    .endianness = DEVICE_NATIVE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 8 },
    .impl = { .min_access_size = 1, .max_access_size = 8 },
};

static PenguinMmioRegion *find_overlap(uint64_t base, uint64_t size)
{
    for (guint i = 0; penguin_mmio_regions && i < penguin_mmio_regions->len; i++) {
        PenguinMmioRegion *r = g_ptr_array_index(penguin_mmio_regions, i);

        if (base < r->base + r->size && r->base < base + size) {
            return r;
        }
    }
    return NULL;
}

static int check_request(uint64_t base, uint64_t size, const char *name,
                         penguin_mmio_read_cb_t read_cb, penguin_mmio_write_cb_t write_cb)
{
    PenguinMmioRegion *other;

    if (!bql_locked()) {
        /* Not error_report(): before qemu_init() the monitor it consults is not set up. */
        fprintf(stderr, "penguin: MMIO regions need the BQL (add them from the "
                "after-guest-init callback)\n");
        return -EPERM;
    }
    if (!name || !read_cb || !write_cb) {
        error_report("penguin: MMIO region at 0x%" PRIx64 " needs a name and both "
                     "callbacks", base);
        return -EINVAL;
    }
    if (size == 0 || base + size - 1 < base) {
        error_report("penguin: MMIO region '%s' at 0x%" PRIx64 " has a bad size 0x%"
                     PRIx64, name, base, size);
        return -EINVAL;
    }
    other = find_overlap(base, size);
    if (other) {
        error_report("penguin: MMIO region '%s' [0x%" PRIx64 ", +0x%" PRIx64 ") overlaps "
                     "the region at 0x%" PRIx64, name, base, size, other->base);
        return -EEXIST;
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

static void penguin_mmio_free(PenguinMmioRegion *r)
{
    g_free(r);
}

int penguin_qemu_remove_mmio_region(uint64_t base)
{
    if (!bql_locked()) {
        fprintf(stderr, "penguin: removing an MMIO region needs the BQL\n");
        return -EPERM;
    }
    for (guint i = 0; penguin_mmio_regions && i < penguin_mmio_regions->len; i++) {
        PenguinMmioRegion *r = g_ptr_array_index(penguin_mmio_regions, i);

        if (r->base == base) {
            g_ptr_array_remove_index(penguin_mmio_regions, i);
            memory_region_del_subregion(get_system_memory(), &r->mr);
            object_unparent(OBJECT(&r->mr));
            call_rcu(r, penguin_mmio_free, rcu);
            return 0;
        }
    }
    return -ENOENT;
}
