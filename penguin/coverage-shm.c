/*
 * Shared memory for the coverage and compare-tracking maps, so that another
 * process (a fuzzer) reads them as they are written: a memfd whose
 * descriptor the embedder hands on, or the System V segment AFL names in
 * the environment. Either stays mapped until the process ends: translated
 * code holds the address.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/ipc.h>
#include <sys/shm.h>
#include "qemu/cutils.h"
#include "penguin/coverage-engine.h"
#include "penguin/error.h"

/* The segment @text names (from @env), if it holds @size bytes. */
static void *sysv_attach(const char *env, const char *text, uint64_t size,
                         int *err)
{
    struct shmid_ds ds;
    long id;
    void *p;

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
    p = shmat(id, NULL, 0);
    if (p == (void *)-1) {
        *err = penguin_error(-errno, "%s=%ld: cannot attach: %s", env, id,
                             strerror(errno));
        return NULL;
    }
    return p;
}

static void *memfd_map(const char *name, uint64_t size, int *fd, int *err)
{
    int f = memfd_create(name, MFD_CLOEXEC);
    void *p;

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
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
    if (p == MAP_FAILED) {
        *err = penguin_error(-errno, "%s: cannot map %" PRIu64 " bytes: %s",
                             name, size, strerror(errno));
        close(f);
        return NULL;
    }
    *fd = f;
    return p;
}

void *penguin_cov_shm_map(const char *name, const char *afl_env,
                          uint64_t size, int *fd, int *err)
{
    const char *id = getenv(afl_env);

    *fd = -1;
    if (id) {
        return sysv_attach(afl_env, id, size, err);
    }
    return memfd_map(name, size, fd, err);
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
