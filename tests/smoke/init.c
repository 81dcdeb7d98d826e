/*
 * The smoke boot's /init: a static program without libc that makes one Penguin
 * hypercall from user space with known arguments (tests/test_smoke.py checks what the
 * host's callback saw), prints the value it got back on the console, and then waits for
 * the host to stop the VM. Built with -DSMOKE_BENCH (bench/guest_speed.py) it makes no
 * hypercall, which stock QEMU would not know, and powers the machine off instead of
 * waiting. It includes the guest SDK header from the unpacked release,
 * as a user's own init program would.
 */
#include <penguin-qemu/guest/penguin-hypercall.h>

#include "linux-syscall.h"
#include "vsock-echo.h"

#define SMOKE_NR 0x50454e53 /* "PENS" */

#if PENGUIN_HYPERCALL_REG_BITS == 64
#define SMOKE_ARG(i) (UINT64_C(0x0101010101010101) * (0x10 + (i)))
#else
#define SMOKE_ARG(i) (UINT64_C(0x01010101) * (0x10 + (i)))
#endif

static unsigned long length(const char *s)
{
    unsigned long n = 0;

    while (s[n]) {
        n++;
    }
    return n;
}

static void put(const char *s)
{
    linux_syscall3(SYS_write, 1, (long)s, (long)length(s));
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
    linux_syscall3(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2,
                   LINUX_REBOOT_CMD_POWER_OFF);
#endif
    vsock_echo_serve(); /* built with -DSMOKE_VSOCK: never returns */
    for (;;) {
        /* The host stops the VM once it has read the line above. */
    }
}
