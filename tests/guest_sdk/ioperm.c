/*
 * penguin_hypercall_ioperm() on the Linux host (tests/test_guest_sdk.py): a static,
 * libc-free x86_64 or i386 program that only asks for the port (it never executes the
 * sentinel: an OUT to port 0x88 on a real machine is a DMA page register write) and
 * exits with -ret: 0 when granted, EPERM without CAP_SYS_RAWIO.
 */
#include <penguin-hypercall.h>

void _start(void);

void _start(void)
{
    long ret = penguin_hypercall_ioperm();
#if defined(__x86_64__)
    __asm__ __volatile__("syscall" : : "a"(231L), "D"(-ret) : "rcx", "r11", "memory");
#else
    __asm__ __volatile__("int $0x80" : : "a"(252L), "b"(-ret) : "memory");
#endif
    for (;;) {
    }
}
