/*
 * run_library: a libqemu-system-<name>.so run as a program, the way upstream's
 * system/main.c runs the stock executable (qemu_init, then the main loop holding the BQL
 * and the replay mutex, then qemu_cleanup). The benchmarks time this against the stock
 * qemu-system-<target>, so no Python interpreter is in either measurement.
 *
 * usage: run_library LIBRARY QEMU-ARGS...
 *
 * With PENGUIN_BENCH_ARM=coverage, cmplog or both in the environment, edge coverage
 * and/or compare tracking are armed before qemu_init (bench/coverage_overhead.py).
 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct qemu_entry_points {
    void (*init)(int argc, char **argv);
    int (*main_loop)(void);
    void (*cleanup)(int status);
    bool (*bql_locked)(void);
    void (*bql_lock_impl)(const char *file, int line);
    void (*bql_unlock)(void);
    void (*replay_mutex_lock)(void);
    void (*replay_mutex_unlock)(void);
};

static int resolve(void *lib, const char *name, void **fn)
{
    *fn = dlsym(lib, name);
    if (!*fn) {
        fprintf(stderr, "run_library: %s: missing symbol %s\n", dlerror(), name);
        return -1;
    }
    return 0;
}

/* Arm what PENGUIN_BENCH_ARM names; -1 when a call fails. */
static int arm_tracking(void *lib)
{
    const char *what = getenv("PENGUIN_BENCH_ARM");
    int (*arm)(void);

    if (!what || !*what) {
        return 0;
    }
    if (!strcmp(what, "coverage") || !strcmp(what, "both")) {
        if (resolve(lib, "penguin_coverage_arm", (void **)&arm) || arm() < 0) {
            return -1;
        }
    }
    if (!strcmp(what, "cmplog") || !strcmp(what, "both")) {
        if (resolve(lib, "penguin_cmplog_arm", (void **)&arm) || arm() < 0) {
            return -1;
        }
    }
    return 0;
}

static int load(const char *path, struct qemu_entry_points *q)
{
    void *lib = dlopen(path, RTLD_NOW | RTLD_GLOBAL);

    if (!lib) {
        fprintf(stderr, "run_library: %s\n", dlerror());
        return -1;
    }
    if (arm_tracking(lib) < 0) {
        fprintf(stderr, "run_library: PENGUIN_BENCH_ARM=%s failed\n",
                getenv("PENGUIN_BENCH_ARM"));
        return -1;
    }
    return resolve(lib, "qemu_init", (void **)&q->init) ||
           resolve(lib, "qemu_main_loop", (void **)&q->main_loop) ||
           resolve(lib, "qemu_cleanup", (void **)&q->cleanup) ||
           resolve(lib, "bql_locked", (void **)&q->bql_locked) ||
           resolve(lib, "bql_lock_impl", (void **)&q->bql_lock_impl) ||
           resolve(lib, "bql_unlock", (void **)&q->bql_unlock) ||
           resolve(lib, "replay_mutex_lock", (void **)&q->replay_mutex_lock) ||
           resolve(lib, "replay_mutex_unlock", (void **)&q->replay_mutex_unlock) ? -1 : 0;
}

int main(int argc, char **argv)
{
    struct qemu_entry_points q;
    int status;

    if (argc < 2) {
        fprintf(stderr, "usage: run_library LIBRARY QEMU-ARGS...\n");
        return 2;
    }
    if (load(argv[1], &q) < 0) {
        return 2;
    }
    /* QEMU's argv[0] is the program name: pass the library's in its place. */
    q.init(argc - 1, argv + 1);
    if (q.bql_locked()) {
        q.bql_unlock();
    }
    q.replay_mutex_unlock();
    q.replay_mutex_lock();
    q.bql_lock_impl(__FILE__, __LINE__);
    status = q.main_loop();
    q.cleanup(status);
    q.bql_unlock();
    q.replay_mutex_unlock();
    return status;
}
