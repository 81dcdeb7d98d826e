/*
 * The fast-snapshot guest program (protocol: fastsnap-penguin.h): a static glibc
 * program the smoke init runs from /stages on a Linux guest booted with Penguin's
 * command line (tests/test_fastsnap_penguin.py). It sets up what a firmware's
 * services would use, Penguin's root drive, slirp's network and the VPN's vsock,
 * then does what the host asks, one command at a time: write and read the drive
 * (raw blocks with O_DIRECT, so that a read-back comes from the drive and not
 * from the page cache, which a RAM restore would bring back anyway), change RAM,
 * open TCP and vsock connections and keep them open.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <penguin-qemu/guest/penguin-hypercall.h>

#include "fastsnap-penguin.h"

#define MAX_MODULES 64
#define MAX_KEPT 32
#define WAIT_STEPS 500          /* 10 ms each: 5 s for a device to appear */
#define SOCKET_TIMEOUT_S 5

/* In RAM, where a snapshot keeps them. */
static volatile uint64_t asks;
static volatile uint64_t marker;
static unsigned char ram[FSP_RAM_BYTES];
static unsigned char drive_buf[FSP_REGIONS * FSP_REGION_BYTES]
    __attribute__((aligned(4096)));
static unsigned char echo_out[FSP_VSOCK_BYTES], echo_in[FSP_VSOCK_BYTES];
static int kept[MAX_KEPT];
static int kept_count;
static unsigned int connections;
static int disk = -1;
static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xedb88320u & -(c & 1));
        }
        crc_table[n] = c;
    }
}

/* CRC-32 as zlib.crc32 computes it. */
static uint32_t crc32_of(const unsigned char *data, size_t length)
{
    uint32_t crc = 0xffffffffu;

    for (size_t i = 0; i < length; i++) {
        crc = crc_table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);
    }
    return ~crc;
}

static uint64_t tell(uint64_t op, uint64_t a1, uint64_t a2, uint64_t a3,
                     uint64_t a4, uint64_t a5)
{
    return penguin_hypercall(FSP_NR, op, a1, a2, a3, a4, a5);
}

static void setup_step(int step, int err, uint64_t detail)
{
    if (err) {
        printf("PENGUIN-FASTSNAP setup step %d (%llu): %s\n", step,
               (unsigned long long)detail, strerror(err));
        fflush(stdout);
    }
    tell(FSP_OP_SETUP, (uint64_t)step, (uint64_t)err, detail, 0, 0);
}

static void pause_ns(long ns)
{
    struct timespec ts = { 0, ns };

    nanosleep(&ts, NULL);
}

/* finit_module each /modules/NN.ko in order until one is missing. */
static void load_modules(void)
{
    char path[32];

    for (int i = 0; i < MAX_MODULES; i++) {
        int fd, err = 0;

        snprintf(path, sizeof(path), "/modules/%02d.ko", i);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT) {
            return;
        }
        if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0) {
            err = errno == EEXIST ? 0 : errno;
        }
        if (fd >= 0) {
            close(fd);
        }
        setup_step(FSP_SETUP_MODULE, err, (uint64_t)i);
    }
}

static int open_disk(void)
{
    for (int i = 0; i < WAIT_STEPS; i++) {
        disk = open("/dev/vda", O_RDWR | O_DIRECT | O_CLOEXEC);
        if (disk >= 0) {
            return 0;
        }
        if (errno != ENOENT && errno != ENXIO) {
            break;
        }
        pause_ns(10000000L);
    }
    return errno;
}

static int set_address(int s, unsigned long request, const char *address)
{
    struct ifreq ifr;
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;

    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "eth0");
    sin->sin_family = AF_INET;
    inet_pton(AF_INET, address, &sin->sin_addr);
    return ioctl(s, request, &ifr);
}

/* eth0 up as FSP_GUEST_ADDRESS/24: slirp's host is then on the link. */
static int network_up(void)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0, i;

    if (s < 0) {
        return errno;
    }
    memset(&ifr, 0, sizeof(ifr));
    strcpy(ifr.ifr_name, "eth0");
    for (i = 0; i < WAIT_STEPS && ioctl(s, SIOCGIFFLAGS, &ifr) != 0; i++) {
        pause_ns(10000000L);
    }
    if (i == WAIT_STEPS || set_address(s, SIOCSIFADDR, FSP_GUEST_ADDRESS) ||
        set_address(s, SIOCSIFNETMASK, "255.255.255.0")) {
        err = errno;
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) {
            err = errno;
        }
    }
    close(s);
    return err;
}

static int pin_to_cpu0(void)
{
    cpu_set_t set;

    CPU_ZERO(&set);
    CPU_SET(0, &set);
    return sched_setaffinity(0, sizeof(set), &set) ? errno : 0;
}

static void setup(void)
{
    int err = 0;

#if defined(__x86_64__) || defined(__i386__)
    long ioperm_err = penguin_hypercall_ioperm();
    if (ioperm_err) {
        fprintf(stderr, "PENGUIN-FASTSNAP ioperm: %s\n", strerror((int)-ioperm_err));
        _exit(1);
    }
#endif
    crc_init();
    if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL) != 0) {
        err = errno;
    }
    setup_step(FSP_SETUP_DEVTMPFS, err, 0);
    load_modules();
    setup_step(FSP_SETUP_DISK, open_disk(), 0);
    setup_step(FSP_SETUP_NET, network_up(), 0);
    setup_step(FSP_SETUP_PIN, pin_to_cpu0(), 0);
    printf("PENGUIN-FASTSNAP ready\n");
    fflush(stdout);
    setup_step(FSP_SETUP_DONE, 0, 0);
}

struct outcome {
    uint32_t step;
    uint32_t err;
    uint32_t value;
    uint32_t port;      /* a connection's local port, 0 if none */
};

static struct outcome done_with(uint32_t step, int err, uint32_t value)
{
    struct outcome o = { step, (uint32_t)err, value, 0 };

    return o;
}

/* The port the socket was bound to (after connect() made it pick one). */
static uint32_t local_port(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);

    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        return 0;
    }
    if (addr.ss_family == AF_INET) {
        return ntohs(((struct sockaddr_in *)&addr)->sin_port);
    }
    return addr.ss_family == AF_VSOCK ? ((struct sockaddr_vm *)&addr)->svm_port : 0;
}

/* The selected regions' bytes in drive_buf, one after the other. */
static size_t region_span(unsigned int mask, unsigned int region_of[FSP_REGIONS])
{
    size_t n = 0;

    for (unsigned int r = 0; r < FSP_REGIONS; r++) {
        if (mask & (1u << r)) {
            region_of[n++] = r;
        }
    }
    return n;
}

static struct outcome drive_write(unsigned int arg)
{
    unsigned int region_of[FSP_REGIONS], seed = arg >> 8;
    size_t n = region_span(arg & 0xff, region_of);

    if (disk < 0) {
        return done_with(FSP_STEP_OPEN, EBADF, 0);
    }
    for (size_t k = 0; k < n; k++) {
        unsigned int base = FSP_DRIVE_OFFSET + region_of[k] * FSP_REGION_BYTES;
        unsigned char *out = drive_buf + k * FSP_REGION_BYTES;

        for (unsigned int i = 0; i < FSP_REGION_BYTES; i++) {
            out[i] = fsp_drive_byte(base + i, seed);
        }
        if (pwrite(disk, out, FSP_REGION_BYTES, base) != FSP_REGION_BYTES) {
            return done_with(FSP_STEP_WRITE, errno, 0);
        }
    }
    if (fsync(disk) != 0) {
        return done_with(FSP_STEP_SYNC, errno, 0);
    }
    return done_with(FSP_STEP_OK, 0, crc32_of(drive_buf, n * FSP_REGION_BYTES));
}

static struct outcome drive_read(unsigned int arg)
{
    unsigned int region_of[FSP_REGIONS];
    size_t n = region_span(arg & 0xff, region_of);

    if (disk < 0) {
        return done_with(FSP_STEP_OPEN, EBADF, 0);
    }
    for (size_t k = 0; k < n; k++) {
        unsigned int base = FSP_DRIVE_OFFSET + region_of[k] * FSP_REGION_BYTES;

        if (pread(disk, drive_buf + k * FSP_REGION_BYTES, FSP_REGION_BYTES,
                  base) != FSP_REGION_BYTES) {
            return done_with(FSP_STEP_READ, errno, 0);
        }
    }
    return done_with(FSP_STEP_OK, 0, crc32_of(drive_buf, n * FSP_REGION_BYTES));
}

static struct outcome mark(unsigned int value)
{
    for (unsigned int i = 0; i < FSP_RAM_BYTES; i++) {
        ram[i] = fsp_ram_byte(i, value);
    }
    marker = value;
    return done_with(FSP_STEP_OK, 0, crc32_of(ram, FSP_RAM_BYTES));
}

/* Send length bytes of connection n's pattern and read them back. */
static struct outcome echo(int fd, size_t length, unsigned int n)
{
    size_t got = 0;

    for (size_t i = 0; i < length; i++) {
        echo_out[i] = fsp_echo_byte((unsigned int)i, n);
        echo_in[i] = 0;
    }
    if (send(fd, echo_out, length, MSG_NOSIGNAL) != (ssize_t)length) {
        return done_with(FSP_STEP_SEND, errno, 0);
    }
    while (got < length) {
        ssize_t r = recv(fd, echo_in + got, length - got, 0);
        if (r <= 0) {
            return done_with(FSP_STEP_RECEIVE, r == 0 ? 0 : errno, (uint32_t)got);
        }
        got += (size_t)r;
    }
    for (size_t i = 0; i < length; i++) {
        if (echo_in[i] != echo_out[i]) {
            return done_with(FSP_STEP_MISMATCH, 0, (uint32_t)i);
        }
    }
    return done_with(FSP_STEP_OK, 0, (uint32_t)length);
}

/* Connect with fd's family, echo, and keep the connection open if it worked. */
static struct outcome connect_and_echo(int fd, const struct sockaddr *addr,
                                       socklen_t addr_len, size_t length)
{
    struct timeval timeout = { SOCKET_TIMEOUT_S, 0 };
    struct outcome o;

    if (fd < 0) {
        return done_with(FSP_STEP_SOCKET, errno, 0);
    }
    if (kept_count == MAX_KEPT) {
        close(fd);
        return done_with(FSP_STEP_FULL, EMFILE, 0);
    }
    /* Bounded waits: TCP's connect obeys the send timeout, vsock's its own 2 s. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
    if (connect(fd, addr, addr_len) != 0) {
        o = done_with(FSP_STEP_CONNECT, errno, 0);
        o.port = local_port(fd);
        close(fd);
        return o;
    }
    o = echo(fd, length, ++connections);
    o.port = local_port(fd);
    if (o.step == FSP_STEP_OK) {
        kept[kept_count++] = fd;
    } else {
        close(fd);
    }
    return o;
}

static struct outcome tcp(unsigned int port)
{
    struct sockaddr_in addr;

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, FSP_HOST_ADDRESS, &addr.sin_addr);
    return connect_and_echo(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0),
                            (struct sockaddr *)&addr, sizeof(addr), FSP_TCP_BYTES);
}

static struct outcome vsock(unsigned int port)
{
    struct sockaddr_vm addr;

    memset(&addr, 0, sizeof(addr));
    addr.svm_family = AF_VSOCK;
    addr.svm_port = port;
    addr.svm_cid = VMADDR_CID_HOST;
    return connect_and_echo(socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0),
                            (struct sockaddr *)&addr, sizeof(addr), FSP_VSOCK_BYTES);
}

static struct outcome close_kept(void)
{
    int n = kept_count;

    while (kept_count > 0) {
        close(kept[--kept_count]);
    }
    return done_with(FSP_STEP_OK, 0, (uint32_t)n);
}

static struct outcome run(unsigned int cmd, unsigned int arg)
{
    switch (cmd) {
    case FSP_CMD_WRITE:
        return drive_write(arg);
    case FSP_CMD_READ:
        return drive_read(arg);
    case FSP_CMD_MARK:
        return mark(arg);
    case FSP_CMD_SUM:
        return done_with(FSP_STEP_OK, 0, crc32_of(ram, FSP_RAM_BYTES));
    case FSP_CMD_TCP:
        return tcp(arg);
    case FSP_CMD_VSOCK:
        return vsock(arg);
    case FSP_CMD_CLOSE:
        return close_kept();
    }
    return done_with(FSP_STEP_UNKNOWN, EINVAL, 0);
}

int main(void)
{
    setup();
    for (;;) {
        uint32_t answer = (uint32_t)tell(FSP_OP_ASK, ++asks, marker, 0, 0, 0);
        struct outcome o;

        if (answer >> 24 != FSP_TAG) {
            pause_ns(FSP_ASK_NS);
            continue;
        }
        o = run((answer >> 16) & 0xff, answer & 0xffff);
        tell(FSP_OP_RESULT, answer, o.step, o.err, o.value, o.port);
    }
}
