/*
 * vsock-echo.c - the smoke init's vsock client (what it does: vsock-echo.h).
 * No libc: the system calls go through linux-syscall.h's door, with the
 * numbers below.
 *
 * Every socket call that could wait forever is bounded: connect by the
 * kernel's own vsock connect timeout (2 s), sending and receiving by a
 * non-blocking socket polled every 10 ms, at most VSOCK_IDLE_LIMIT times
 * without progress. A backend that went away (or a connection a snapshot
 * restore reset) ends the round with a report, not a guest stuck in read().
 */
#include <penguin-qemu/guest/penguin-hypercall.h>

#include "linux-syscall.h"
#include "vsock-echo.h"

/*
 * System call numbers come from the kernel's <asm/unistd.h> (linux-syscall.h
 * includes it), which picks each ABI's.
 */
/* The ABI's constants where they differ between architectures. */
#if defined(__mips__)
#define LINUX_SOCK_STREAM 2
#define LINUX_O_NONBLOCK 0x80
#else
#define LINUX_SOCK_STREAM 1
#define LINUX_O_NONBLOCK 04000
#endif
#define LINUX_AF_VSOCK 40
#define LINUX_F_SETFL 4
#define LINUX_EAGAIN 11
#define LINUX_EEXIST 17
#define VMADDR_CID_HOST 2

#define VSOCK_POLL_NS 10000000L /* 10 ms */
#define VSOCK_IDLE_LIMIT 500     /* 5 s without progress ends a round */
#define VSOCK_ASK_NS 20000000L   /* 20 ms between questions answered "no" */
#define VSOCK_MAX_MODULES 100

struct sockaddr_vm {
    unsigned short svm_family;
    unsigned short svm_reserved1;
    unsigned int svm_port;
    unsigned int svm_cid;
    unsigned char svm_flags;
    unsigned char svm_zero[3];
};

struct linux_timespec {
    long tv_sec;
    long tv_nsec;
};

/* In RAM, where a snapshot keeps them: a restored guest goes on counting. */
static volatile uint64_t vsock_asks;
static volatile uint64_t vsock_rounds;
static unsigned char sent_bytes[VSOCK_ECHO_BYTES];
static unsigned char echoed_bytes[VSOCK_ECHO_BYTES];

static void say(const char *s)
{
    unsigned long n = 0;

    while (s[n]) {
        n++;
    }
    linux_syscall3(__NR_write, 1, (long)s, (long)n);
}

/* "<label><8 hex digits>" without division, which 32-bit targets lack. */
static void say_hex(const char *label, uint32_t value)
{
    char text[9];
    int i;

    for (i = 0; i < 8; i++) {
        text[i] = "0123456789abcdef"[(value >> (28 - 4 * i)) & 0xf];
    }
    text[8] = '\0';
    say(label);
    say(text);
}

static void pause_ns(long ns)
{
    struct linux_timespec ts = { 0, ns };

    linux_syscall3(__NR_nanosleep, (long)&ts, 0, 0);
}

static uint64_t tell_host(uint64_t op, uint64_t a1, uint64_t a2, uint64_t a3,
                          uint64_t a4)
{
    return penguin_hypercall(VSOCK_NR, op, a1, a2, a3, a4, 0);
}

/*
 * finit_module each /vsock/NN.ko in order until one is missing; built in or
 * already loaded (EEXIST) counts as loaded.
 */
static void load_modules(void)
{
    char path[] = "/vsock/00.ko";
    int index;

    for (index = 0; index < VSOCK_MAX_MODULES; index++) {
        long fd, err;

        if (index > 0 && ++path[8] > '9') {   /* the next two-digit name */
            path[8] = '0';
            path[7]++;
        }
        fd = linux_syscall3(__NR_openat, LINUX_AT_FDCWD, (long)path, 0);
        if (fd == -LINUX_ENOENT) {
            return;
        }
        err = fd < 0 ? fd : linux_syscall3(__NR_finit_module, fd, (long)"", 0);
        if (fd >= 0) {
            linux_syscall3(__NR_close, fd, 0, 0);
        }
        if (err == -LINUX_EEXIST) {
            err = 0;
        }
        say_hex("PENGUIN-VSOCK module ", (uint32_t)index);
        if (err) {
            say_hex(" failed, errno 0x", (uint32_t)-err);
        } else {
            say(" loaded");
        }
        say("\n");
        tell_host(VSOCK_OP_MODULE, (uint64_t)index, (uint64_t)-err, 0, 0);
    }
}

static unsigned char pattern(uint32_t round, uint32_t i)
{
    return (unsigned char)(i * 131u + (i >> 8) + round * 7u + 1u);
}

struct round_result {
    uint32_t step;
    uint32_t err;
    uint32_t bytes;
};

static struct round_result fail(uint32_t step, long err, uint32_t bytes)
{
    struct round_result r = { step, (uint32_t)-err, bytes };

    return r;
}

/* Send and receive on the non-blocking socket until everything came back. */
static struct round_result exchange(long fd)
{
    uint32_t sent = 0, received = 0, idle = 0;

    while (received < VSOCK_ECHO_BYTES) {
        int progress = 0;
        long n;

        if (sent < VSOCK_ECHO_BYTES) {
            n = linux_syscall3(__NR_write, fd, (long)(sent_bytes + sent),
                               VSOCK_ECHO_BYTES - sent);
            if (n > 0) {
                sent += n;
                progress = 1;
            } else if (n != -LINUX_EAGAIN) {
                return fail(VSOCK_STEP_SEND, n, received);
            }
        }
        n = linux_syscall3(__NR_read, fd, (long)(echoed_bytes + received),
                           VSOCK_ECHO_BYTES - received);
        if (n > 0) {
            received += n;
            progress = 1;
        } else if (n == 0) {
            return fail(VSOCK_STEP_PEER_CLOSED, 0, received);
        } else if (n != -LINUX_EAGAIN) {
            return fail(VSOCK_STEP_RECEIVE, n, received);
        }
        if (progress) {
            idle = 0;
        } else if (++idle > VSOCK_IDLE_LIMIT) {
            return fail(VSOCK_STEP_TIMEOUT, 0, received);
        } else {
            pause_ns(VSOCK_POLL_NS);
        }
    }
    return fail(VSOCK_STEP_OK, 0, received);
}

static struct round_result echo_round(uint32_t round, uint32_t port)
{
    static struct sockaddr_vm addr; /* zeroed: no memset without libc */
    struct round_result r;
    uint32_t i;
    long fd, err;

    addr.svm_family = LINUX_AF_VSOCK;
    addr.svm_port = port;
    addr.svm_cid = VMADDR_CID_HOST;
    for (i = 0; i < VSOCK_ECHO_BYTES; i++) {
        sent_bytes[i] = pattern(round, i);
        echoed_bytes[i] = 0;
    }
    fd = linux_syscall3(__NR_socket, LINUX_AF_VSOCK, LINUX_SOCK_STREAM, 0);
    if (fd < 0) {
        return fail(VSOCK_STEP_SOCKET, fd, 0);
    }
    err = linux_syscall3(__NR_connect, fd, (long)&addr, sizeof(addr));
    if (err < 0) {
        r = fail(VSOCK_STEP_CONNECT, err, 0);
    } else if ((err = linux_syscall3(__NR_fcntl, fd, LINUX_F_SETFL,
                                     LINUX_O_NONBLOCK)) < 0) {
        r = fail(VSOCK_STEP_NONBLOCK, err, 0);
    } else {
        r = exchange(fd);
    }
    linux_syscall3(__NR_close, fd, 0, 0);
    for (i = 0; r.step == VSOCK_STEP_OK && i < VSOCK_ECHO_BYTES; i++) {
        if (echoed_bytes[i] != sent_bytes[i]) {
            r = fail(VSOCK_STEP_MISMATCH, 0, i);
        }
    }
    return r;
}

void vsock_echo_serve(void)
{
    load_modules();
    for (;;) {
        uint64_t answer = tell_host(VSOCK_OP_ASK, ++vsock_asks, vsock_rounds,
                                    0, 0);
        struct round_result r;
        uint32_t round;

        if ((uint32_t)answer == VSOCK_REBOOT) {
            say("PENGUIN-VSOCK reboot -f\n");
            linux_syscall3(__NR_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                           LINUX_REBOOT_CMD_RESTART);
        }
        if ((uint32_t)answer >> 16 != VSOCK_GO_TAG) {
            pause_ns(VSOCK_ASK_NS);
            continue;
        }
        round = (uint32_t)++vsock_rounds;
        r = echo_round(round, (uint32_t)answer & 0xffff);
        say_hex("PENGUIN-VSOCK round ", round);
        say_hex(" step ", r.step);
        say_hex(" errno ", r.err);
        say_hex(" bytes ", r.bytes);
        say("\n");
        tell_host(VSOCK_OP_RESULT, round, r.step, r.err, r.bytes);
    }
}
