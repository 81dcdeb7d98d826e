/*
 * embed_hypercall: a C program that embeds one libqemu-system-<name>.so as
 * include/penguin-qemu/penguin.h and the README describe, and plays the host
 * side of tests/guests/PROTOCOL.md. tests/test_portable.py compiles it against
 * an unpacked release with `pkg-config --cflags --libs penguin-qemu`,
 * -lqemu-system-<name> and -Wall -Wextra -Werror.
 *
 * usage: embed_hypercall le|be PC A0 A1 A2 A3 A4 A5 -- QEMU-ARGS...
 *   PC, A0..A5: GDB numbers of the guest's PC and argument registers.
 *
 * Prints, after qemu_cleanup() returned, one "CALL nr a0 a1 a2 a3 a4 a5" line
 * per NR_ARGS32/NR_ARGS64/NR_USER hypercall (hex) and one "EMBED key=value ..."
 * summary line. Exits 0 when the guest's verdict is 0.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <penguin.h>

#define NR_ARGS32   0x50454e01u
#define NR_ARGS64   0x50454e11u
#define NR_WRITE    0x50454e02u
#define NR_VERDICT  0x50454e03u
#define NR_UNREG    0x50454e04u
#define NR_NEARMISS 0x50454e05u
#define NR_STATE    0x50454e06u
#define NR_USER     0x50454e07u

#define RET          0xfedcba9876543210ull
#define WVAL         0x5a5a5a5a5a5a5a5aull
#define STATE_REG    0x0a0a0a0a0a0a0a0aull
#define STATE_MODULE 0x0b0b0b0b0b0b0b0bull
#define STATE_HEADER 0x0c0c0c0c0c0c0c0cull

#define MAX_CALLS 16
#define REG_MAX   64
#define SHUTDOWN_CAUSE_HOST_QMP_QUIT 2

/* What the guest's hypercalls told the host; written on the vCPU thread. */
struct host_state {
    bool big_endian;
    int pc_reg;
    int arg_regs[6];
    uint64_t calls[MAX_CALLS][7];
    atomic_int ncalls;
    atomic_int writes;
    atomic_int states;
    atomic_int unregistered;
    atomic_int nearmisses;
    atomic_int verdicts;
    uint64_t verdict;
    bool state_regs_ok;
    uint8_t memory[4];
};

static uint64_t decode(const struct host_state *host, const uint8_t *buf,
                       int len)
{
    uint64_t value = 0;

    for (int i = 0; i < len; i++) {
        int byte = host->big_endian ? i : len - 1 - i;
        value = (value << 8) | buf[byte];
    }
    return value;
}

static int read_reg(const struct host_state *host, CPUState *cs, int regnum,
                    uint64_t *value)
{
    uint8_t buf[REG_MAX];
    int len = penguin_read_guest_reg(cs, regnum, buf, sizeof(buf));

    if (len <= 0 || len > 8) {
        return -1;
    }
    *value = decode(host, buf, len);
    return len;
}

/* Write value, truncated to the register's width, in the guest's byte order. */
static int write_reg(const struct host_state *host, CPUState *cs, int regnum,
                     uint64_t value)
{
    uint8_t buf[REG_MAX];
    uint64_t old;
    int len = read_reg(host, cs, regnum, &old);

    if (len < 0) {
        return -1;
    }
    for (int i = 0; i < len; i++) {
        int byte = host->big_endian ? len - 1 - i : i;
        buf[byte] = (uint8_t)(value >> (8 * i));
    }
    return penguin_write_guest_reg(cs, regnum, buf, len);
}

/* NR_STATE: the registers hold the callback's arguments, PC the sentinel's. */
static void check_state(struct host_state *host, CPUState *cs,
                        const uint64_t *args)
{
    uint64_t value;
    uint64_t mask;
    int len = read_reg(host, cs, host->pc_reg, &value);

    mask = len == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * len)) - 1;
    host->state_regs_ok = len > 0 && value == (args[0] & mask) &&
                          penguin_cpu_env(cs) != NULL;
    for (int i = 0; i < 6; i++) {
        len = read_reg(host, cs, host->arg_regs[i], &value);
        mask = len == 8 ? UINT64_MAX : (UINT64_C(1) << (8 * len)) - 1;
        if (len <= 0 || value != (args[i] & mask)) {
            host->state_regs_ok = false;
        }
    }
    if (cpu_memory_rw_debug(cs, args[0], host->memory, sizeof(host->memory),
                            false) < 0) {
        memset(host->memory, 0xff, sizeof(host->memory));
    }
    if (write_reg(host, cs, host->arg_regs[4], STATE_REG) < 0 ||
        write_reg(host, cs, host->arg_regs[5], STATE_MODULE) < 0 ||
        write_reg(host, cs, host->arg_regs[2], STATE_HEADER) < 0) {
        host->state_regs_ok = false;
    }
}

static int on_hypercall(CPUState *cs, uint64_t nr, uint64_t a0, uint64_t a1,
                        uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                        uint64_t *ret, void *opaque)
{
    struct host_state *host = opaque;
    const uint64_t args[6] = { a0, a1, a2, a3, a4, a5 };
    int slot;

    switch (nr) {
    case NR_ARGS32:
    case NR_ARGS64:
    case NR_USER:
        slot = atomic_fetch_add(&host->ncalls, 1);
        if (slot < MAX_CALLS) {
            host->calls[slot][0] = nr;
            memcpy(&host->calls[slot][1], args, sizeof(args));
        }
        *ret = RET;
        return 0;
    case NR_WRITE:
        atomic_fetch_add(&host->writes, 1);
        if (write_reg(host, cs, host->arg_regs[3], WVAL) < 0) {
            return 1;
        }
        *ret = 0x1234;
        return 0;
    case NR_STATE:
        atomic_fetch_add(&host->states, 1);
        check_state(host, cs, args);
        *ret = 0x5354;
        return 0;
    case NR_NEARMISS:
        atomic_fetch_add(&host->nearmisses, 1);
        return 0;
    case NR_VERDICT:
        host->verdict = a0;
        atomic_fetch_add(&host->verdicts, 1);
        /* Any thread may ask; the main loop then returns. */
        qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT);
        return 0;
    }
    return 1;
}

static atomic_int fallback_calls;

/* Every number no registration claims: count NR_UNREG, handle nothing. */
static int on_unregistered(CPUState *cs, uint64_t nr, uint64_t a0, uint64_t a1,
                           uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                           uint64_t *ret)
{
    (void)cs, (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    (void)ret;
    if (nr == NR_UNREG) {
        atomic_fetch_add(&fallback_calls, 1);
    }
    return 1;
}

static int parse_args(int argc, char **argv, struct host_state *host)
{
    char *end;

    if (argc < 10 || strcmp(argv[9], "--") != 0 ||
        (strcmp(argv[1], "le") != 0 && strcmp(argv[1], "be") != 0)) {
        fprintf(stderr, "usage: embed_hypercall le|be PC A0 A1 A2 A3 A4 A5 -- "
                "QEMU-ARGS...\n");
        return -1;
    }
    host->big_endian = strcmp(argv[1], "be") == 0;
    for (int i = 0; i < 7; i++) {
        long n = strtol(argv[2 + i], &end, 0);

        if (*end != '\0' || n < 0 || n > 1000) {
            fprintf(stderr, "embed_hypercall: bad register number %s\n",
                    argv[2 + i]);
            return -1;
        }
        if (i == 0) {
            host->pc_reg = (int)n;
        } else {
            host->arg_regs[i - 1] = (int)n;
        }
    }
    return 0;
}

/* The lifecycle of penguin.h: upstream's system/main.c without exit(). */
static int run_vm(int argc, char **argv)
{
    int status;

    qemu_init(argc, argv);
    if (bql_locked()) {
        bql_unlock();
    }
    replay_mutex_unlock();
    replay_mutex_lock();
    bql_lock_impl(__FILE__, __LINE__);
    status = qemu_main_loop();
    qemu_cleanup(status);
    if (bql_locked()) {
        bql_unlock();
    }
    replay_mutex_unlock();
    return status;
}

int main(int argc, char **argv)
{
    static struct host_state host;
    static const uint64_t registered[] = {
        NR_ARGS32, NR_ARGS64, NR_WRITE, NR_VERDICT, NR_NEARMISS, NR_STATE,
        NR_USER,
    };
    int status;
    int ncalls;

    if (parse_args(argc, argv, &host) < 0) {
        return 2;
    }
    if (penguin_abi_version() >> 16 != PENGUIN_ABI_VERSION_MAJOR) {
        fprintf(stderr, "embed_hypercall: library ABI %#x, header %#x\n",
                penguin_abi_version(), PENGUIN_ABI_VERSION);
        return 2;
    }
    if (qemu_main != NULL) {
        fprintf(stderr, "embed_hypercall: qemu_main is set: the library "
                "wants its own main thread\n");
        return 2;
    }
    set_penguin_guest_hypercall_callback(on_hypercall, &host);
    set_kvm_penguin_hypercall_callback(on_unregistered);
    for (size_t i = 0; i < sizeof(registered) / sizeof(registered[0]); i++) {
        penguin_register_guest_hypercall(registered[i]);
    }
    /* QEMU's argv[0] is the program name: "--" takes its place. */
    argv[9] = argv[0];
    status = run_vm(argc - 9, argv + 9);

    ncalls = atomic_load(&host.ncalls);
    for (int i = 0; i < ncalls && i < MAX_CALLS; i++) {
        printf("CALL");
        for (int j = 0; j < 7; j++) {
            printf(" %#" PRIx64, host.calls[i][j]);
        }
        printf("\n");
    }
    printf("EMBED verdict=%" PRIu64 " verdicts=%d write=%d state=%d "
           "state_regs_ok=%d unregistered=%d nearmiss=%d "
           "memory=%02x%02x%02x%02x status=%d\n",
           host.verdict, atomic_load(&host.verdicts),
           atomic_load(&host.writes), atomic_load(&host.states),
           host.state_regs_ok, atomic_load(&fallback_calls),
           atomic_load(&host.nearmisses), host.memory[0], host.memory[1],
           host.memory[2], host.memory[3], status);
    return atomic_load(&host.verdicts) == 1 && host.verdict == 0 ? 0 : 1;
}
