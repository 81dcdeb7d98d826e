/*
 * The smoke boot's /init: a static program without libc. As pid 1 it
 *  1. makes one Penguin hypercall from user space with known arguments and prints the
 *     value it got back (tests/test_smoke.py checks what the host's callback saw);
 *  2. mounts /proc, prints /proc/cmdline and reports its length and CRC-32 by hypercall,
 *     so that the host can check the kernel command line arrived byte for byte;
 *  3. runs every program in /stages in name order (fork, execve, wait) and reports how
 *     each ended by hypercall; the stages report their own results (the glibc stage,
 *     libc_stage.c, is one);
 *  4. prints "PENGUIN-SMOKE done" and waits for the host to stop the VM.
 * Built with -DSMOKE_BENCH (bench/guest_speed.py) it makes no hypercall, which stock
 * QEMU would not know, does only step 1's printing, and powers the machine off instead
 * of waiting. It includes the guest SDK header from the unpacked release, as a user's
 * own init program would.
 */
#include <penguin-qemu/guest/penguin-hypercall.h>

#include "linux-syscall.h"
#include "smoke.h"
#include "vsock-echo.h"

#if PENGUIN_HYPERCALL_REG_BITS == 64
#define SMOKE_ARG(i) (UINT64_C(0x0101010101010101) * (0x10 + (i)))
#else
#define SMOKE_ARG(i) (UINT64_C(0x01010101) * (0x10 + (i)))
#endif

/* /proc/cmdline is at most COMMAND_LINE_SIZE (4096 on MIPS and LoongArch) plus '\n'. */
#define CMDLINE_MAX 8192
#define STAGES_DIR "/stages"
#define STAGES_MAX 16
#define STAGE_NAME_MAX 64

static unsigned long length(const char *s)
{
    unsigned long n = 0;

    while (s[n]) {
        n++;
    }
    return n;
}

static void put_bytes(const char *s, unsigned long n)
{
    linux_syscall3(__NR_write, 1, (long)s, (long)n);
}

static void put(const char *s)
{
    put_bytes(s, length(s));
}

/* Prints "<label>0x<16 hex digits>\n" without division, which 32-bit targets lack. */
static void put_hex(const char *label, uint64_t value)
{
    char text[19];
    int i;

    text[0] = '0';
    text[1] = 'x';
    for (i = 0; i < 16; i++) {
        text[2 + i] = "0123456789abcdef"[(value >> (60 - 4 * i)) & 0xf];
    }
    text[18] = '\0';
    put(label);
    put(text);
    put("\n");
}

#ifndef SMOKE_BENCH
static int compare(const char *a, const char *b)
{
    while (*a && *a == *b) {
        a++;
        b++;
    }
    return (unsigned char)*a - (unsigned char)*b;
}

static void copy(char *to, const char *from, unsigned long size)
{
    unsigned long i;

    for (i = 0; i + 1 < size && from[i]; i++) {
        to[i] = from[i];
    }
    to[i] = '\0';
}

/* Step 2: what the kernel made of the command line, as user space sees it. */
static void report_cmdline(void)
{
    static char text[CMDLINE_MAX];
    unsigned long used = 0;
    long err, fd, got;

    /* The initramfs holds an empty /proc to mount on. */
    err = linux_syscall5(__NR_mount, (long)"proc", (long)"/proc", (long)"proc", 0, 0);
    if (err < 0) {
        put_hex("PENGUIN-SMOKE cmdline: mount /proc failed, errno ", (uint64_t)-err);
        penguin_hypercall(SMOKE_CMDLINE_NR, (uint64_t)-err, 0, 0, 0, 0, 0);
        return;
    }
    fd = linux_syscall3(__NR_openat, LINUX_AT_FDCWD, (long)"/proc/cmdline",
                        LINUX_O_RDONLY);
    if (fd < 0) {
        put_hex("PENGUIN-SMOKE cmdline: open failed, errno ", (uint64_t)-fd);
        penguin_hypercall(SMOKE_CMDLINE_NR, (uint64_t)-fd, 0, 0, 0, 0, 0);
        return;
    }
    /* A seq_file hands out its text in pieces: read until end of file. */
    do {
        got = linux_syscall3(__NR_read, fd, (long)(text + used),
                             (long)(CMDLINE_MAX - used));
        if (got > 0) {
            used += got;
        }
    } while (got > 0 && used < CMDLINE_MAX);
    linux_syscall3(__NR_close, fd, 0, 0);
    if (got < 0) {
        put_hex("PENGUIN-SMOKE cmdline: read failed, errno ", (uint64_t)-got);
        penguin_hypercall(SMOKE_CMDLINE_NR, (uint64_t)-got, 0, 0, 0, 0, 0);
        return;
    }
    /* The text ends in '\n': the line below is complete either way. */
    put("PENGUIN-SMOKE cmdline=[");
    put_bytes(text, used);
    put("]\n");
    put_hex("PENGUIN-SMOKE cmdline length=", used);
    penguin_hypercall(SMOKE_CMDLINE_NR, 0, used, smoke_crc32(text, used), 0, 0, 0);
}

/* The names in /stages, sorted; returns how many (0 when there is no /stages). */
static int list_stages(char names[STAGES_MAX][STAGE_NAME_MAX])
{
    static char buffer[4096] __attribute__((aligned(8)));
    long fd, got, pos;
    int count = 0, i, j;

    fd = linux_syscall3(__NR_openat, LINUX_AT_FDCWD, (long)STAGES_DIR, LINUX_O_RDONLY);
    if (fd < 0) {
        if (fd != -LINUX_ENOENT) {
            put_hex("PENGUIN-SMOKE stages: open failed, errno ", (uint64_t)-fd);
        }
        return 0;
    }
    while ((got = linux_syscall3(__NR_getdents64, fd, (long)buffer,
                                 sizeof(buffer))) > 0) {
        /* struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name. */
        for (pos = 0; pos < got; pos += *(uint16_t *)(buffer + pos + 16)) {
            const char *name = buffer + pos + 19;
            if (name[0] == '.' || count == STAGES_MAX) {
                continue;
            }
            copy(names[count++], name, STAGE_NAME_MAX);
        }
    }
    linux_syscall3(__NR_close, fd, 0, 0);
    for (i = 1; i < count; i++) {
        for (j = i; j > 0 && compare(names[j - 1], names[j]) > 0; j--) {
            char swap[STAGE_NAME_MAX];
            copy(swap, names[j], STAGE_NAME_MAX);
            copy(names[j], names[j - 1], STAGE_NAME_MAX);
            copy(names[j - 1], swap, STAGE_NAME_MAX);
        }
    }
    return count;
}

/* fork, execve path in the child; the wait status, or -errno if it could not start. */
static long run_program(const char *path)
{
    const char *argv[] = { path, 0 };
    const char *envp[] = { "PATH=/", 0 };
    long pid, err;
    int status = 0;

    pid = linux_syscall5(__NR_clone, LINUX_SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) {
        err = linux_syscall3(__NR_execve, (long)path, (long)argv, (long)envp);
        put_hex("PENGUIN-SMOKE stage: execve failed, errno ", (uint64_t)-err);
        linux_syscall3(__NR_exit, 127, 0, 0);
    }
    if (pid < 0) {
        return pid;
    }
    err = linux_syscall5(__NR_wait4, pid, (long)&status, 0, 0, 0);
    return err < 0 ? err : status;
}

/* Step 3. */
static void run_stages(void)
{
    static char names[STAGES_MAX][STAGE_NAME_MAX];
    char path[sizeof(STAGES_DIR) + STAGE_NAME_MAX];
    int count = list_stages(names), i;
    long status;

    for (i = 0; i < count; i++) {
        copy(path, STAGES_DIR "/", sizeof(path));
        copy(path + sizeof(STAGES_DIR), names[i], STAGE_NAME_MAX);
        put("PENGUIN-SMOKE stage ");
        put(path);
        put(": starting\n");
        status = run_program(path);
        put("PENGUIN-SMOKE stage ");
        put(path);
        put_hex(": wait status ", (uint64_t)status);
        penguin_hypercall(SMOKE_STAGE_NR, i, (uint64_t)status, 0, 0, 0, 0);
    }
}
#endif

#if defined(__x86_64__)
/* The kernel enters with rsp 16-byte aligned, not as after a call: realign. */
__attribute__((force_align_arg_pointer))
#endif
__attribute__((noreturn, used)) void _start(void)
{
    uint64_t ret;

    put("PENGUIN-SMOKE init: running as pid 1\n");
#if defined(__x86_64__) || defined(__i386__)
    long err = penguin_hypercall_ioperm();
    if (err != 0) {
        put_hex("PENGUIN-SMOKE ioperm failed: ", (uint64_t)-err);
    }
#endif
#ifdef SMOKE_BENCH
    ret = 0;
#else
    ret = penguin_hypercall(SMOKE_NR, SMOKE_ARG(0), SMOKE_ARG(1), SMOKE_ARG(2),
                            SMOKE_ARG(3), SMOKE_ARG(4), SMOKE_ARG(5));
#endif
    put_hex("PENGUIN-SMOKE ret=", ret);
#ifdef SMOKE_BENCH
    linux_syscall3(__NR_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                   LINUX_REBOOT_CMD_POWER_OFF);
#else
    report_cmdline();
    run_stages();
    put("PENGUIN-SMOKE done\n");
#endif
    vsock_echo_serve(); /* built with -DSMOKE_VSOCK: never returns */
    for (;;) {
        /* The host stops the VM once it has read the last line. */
    }
}
