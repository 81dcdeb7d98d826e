/*
 * Shared memory for the coverage and compare-tracking maps, so that another
 * process (a fuzzer) reads them as they are written: a memfd whose
 * descriptor the embedder hands on, or the System V segment AFL names in
 * the environment. Either stays mapped until the process ends: translated
 * code holds the address. Each map is placed at an address aligned to
 * @align (the edge map's own size), so that its address plus an index below
 * the size is the address with the index's bits set.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/ipc.h>
#include <sys/shm.h>
#include "qemu/cutils.h"
#include "penguin/coverage-engine.h"
#include "penguin/error.h"

/*
 * An inaccessible area of @size bytes at an address aligned to @align, for
 * the map to be placed over (MAP_FIXED, SHM_REMAP).
 */
static void *reserve(const char *name, uint64_t size, uint64_t align,
                     int *err)
{
    uint64_t page = qemu_real_host_page_size();
    uint64_t whole = ROUND_UP(size, page), span;
    uint8_t *area, *start;

    align = MAX(align, page);
    span = whole + align;
    area = mmap(NULL, span, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (area == MAP_FAILED) {
        *err = penguin_error(-errno, "%s: cannot reserve %" PRIu64
                             " bytes: %s", name, span, strerror(errno));
        return NULL;
    }
    start = QEMU_ALIGN_PTR_UP(area, align);
    if (start > area) {
        munmap(area, start - area);
    }
    munmap(start + whole, area + span - (start + whole));
    return start;
}

/* The segment @text names (from @env), if it holds @size bytes. */
static void *sysv_attach(const char *env, const char *text, uint64_t size,
                         uint64_t align, int *err)
{
    struct shmid_ds ds;
    long id;
    void *at, *p;

    if (qemu_strtol(text, NULL, 10, &id) < 0 || id < 0 || id > INT_MAX) {
        *err = penguin_error(-EINVAL, "%s=%s is not a System V shared "
                             "memory id", env, text);
        return NULL;
    }
    if (shmctl(id, IPC_STAT, &ds) < 0) {
        *err = penguin_error(-errno, "%s=%ld: %s (the segment was removed, "
                             "or never existed)", env, id, strerror(errno));
        return NULL;
    }
    if (ds.shm_perm.mode & SHM_DEST) {
        *err = penguin_error(-EIDRM, "%s=%ld: the segment is marked for "
                             "removal", env, id);
        return NULL;
    }
    if (ds.shm_segsz < size) {
        *err = penguin_error(-EINVAL, "%s=%ld: the segment has %zu bytes, "
                             "the map needs %" PRIu64, env, id,
                             (size_t)ds.shm_segsz, size);
        return NULL;
    }
    at = reserve(env, ds.shm_segsz, align, err);
    if (!at) {
        return NULL;
    }
    p = shmat(id, at, SHM_REMAP);
    if (p == (void *)-1) {
        *err = penguin_error(-errno, "%s=%ld: cannot attach: %s", env, id,
                             strerror(errno));
        munmap(at, ds.shm_segsz);
        return NULL;
    }
    return p;
}

static void *memfd_map(const char *name, uint64_t size, uint64_t align,
                       int *fd, int *err)
{
    int f = memfd_create(name, MFD_CLOEXEC);
    void *at, *p;

    if (f < 0) {
        *err = penguin_error(-errno, "%s: memfd_create: %s", name,
                             strerror(errno));
        return NULL;
    }
    if (ftruncate(f, size) < 0) {
        *err = penguin_error(-errno, "%s: cannot size it to %" PRIu64
                             " bytes: %s", name, size, strerror(errno));
        close(f);
        return NULL;
    }
    at = reserve(name, size, align, err);
    if (!at) {
        close(f);
        return NULL;
    }
    p = mmap(at, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, f, 0);
    if (p == MAP_FAILED) {
        *err = penguin_error(-errno, "%s: cannot map %" PRIu64 " bytes: %s",
                             name, size, strerror(errno));
        munmap(at, size);
        close(f);
        return NULL;
    }
    *fd = f;
    return p;
}

void *penguin_cov_shm_map(const char *name, const char *afl_env,
                          uint64_t size, uint64_t align, int *fd, int *err)
{
    const char *id = getenv(afl_env);

    *fd = -1;
    if (id) {
        return sysv_attach(afl_env, id, size, align, err);
    }
    return memfd_map(name, size, align, fd, err);
}

int penguin_cov_shm_dup(int fd, const char *what)
{
    int copy;

    if (fd < 0) {
        return penguin_error(-ENOENT, "the %s has no memfd (not armed yet, "
                             "or AFL's System V segment)", what);
    }
    copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (copy < 0) {
        return penguin_error(-errno, "the %s's memfd: %s", what,
                             strerror(errno));
    }
    return copy;
}
