/*
 * linux-syscall.h - Linux system calls of up to five arguments without libc, for the
 * smoke-boot init program. The numbers come from the kernel's own <asm/unistd.h> (the
 * cross linux-libc-dev of each architecture, which picks the ABI: o32, n64, EABI ...);
 * the doors are one inline-assembly block per architecture. Errors come back as -errno,
 * as the kernel reports them (on MIPS and PowerPC the error flag is folded in here).
 */
#ifndef SMOKE_LINUX_SYSCALL_H
#define SMOKE_LINUX_SYSCALL_H

#include <asm/unistd.h>

#if !defined(__x86_64__) && !defined(__aarch64__) && !defined(__arm__) && \
    !defined(__riscv) && !defined(__loongarch__) && !defined(__mips__) && \
    !defined(__powerpc__)
#error "linux-syscall.h: no system call door for this architecture"
#endif

/* reboot(2)'s magic numbers and commands (include/uapi/linux/reboot.h). */
#define LINUX_REBOOT_MAGIC1 0xfee1deadL
#define LINUX_REBOOT_MAGIC2 672274793L
#define LINUX_REBOOT_CMD_POWER_OFF 0x4321fedcL
#define LINUX_REBOOT_CMD_RESTART 0x01234567L

/* The same on every architecture (include/uapi/linux/fcntl.h, asm-generic/fcntl.h). */
#define LINUX_AT_FDCWD (-100L)
#define LINUX_O_RDONLY 0L
#define LINUX_ENOENT 2

/* clone(2) with only the exit signal: fork. The generic table has no fork call. */
#if defined(__mips__)
#define LINUX_SIGCHLD 18L
#else
#define LINUX_SIGCHLD 17L
#endif

static inline long linux_syscall5(long nr, long a, long b, long c, long d, long e)
{
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4)
                     : "memory");
    return x0;
#elif defined(__arm__)
    register long r7 __asm__("r7") = nr;
    register long r0 __asm__("r0") = a;
    register long r1 __asm__("r1") = b;
    register long r2 __asm__("r2") = c;
    register long r3 __asm__("r3") = d;
    register long r4 __asm__("r4") = e;
    __asm__ volatile("svc #0"
                     : "+r"(r0)
                     : "r"(r7), "r"(r1), "r"(r2), "r"(r3), "r"(r4)
                     : "memory");
    return r0;
#elif defined(__riscv) || defined(__loongarch__)
    register long a7 __asm__("a7") = nr;
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
    register long a3 __asm__("a3") = d;
    register long a4 __asm__("a4") = e;
#if defined(__riscv)
    __asm__ volatile("ecall"
                     : "+r"(a0)
                     : "r"(a7), "r"(a1), "r"(a2), "r"(a3), "r"(a4)
                     : "memory");
#else
    /* The LoongArch kernel may clobber the temporaries $t0..$t8. */
    __asm__ volatile("syscall 0"
                     : "+r"(a0)
                     : "r"(a7), "r"(a1), "r"(a2), "r"(a3), "r"(a4)
                     : "$t0", "$t1", "$t2", "$t3", "$t4", "$t5", "$t6", "$t7", "$t8",
                       "memory");
#endif
    return a0;
#elif defined(__mips__) && _MIPS_SIM == _ABIO32
    /*
     * v0 = number and result, a3 = fourth argument in and error flag out; the kernel
     * may clobber at, v1, t*. o32 passes the fifth argument on the stack, at 16($sp)
     * after the four argument slots the caller reserves: a frame of our own holds it.
     */
    register long v0 __asm__("$2") = nr;
    register long a0 __asm__("$4") = a;
    register long a1 __asm__("$5") = b;
    register long a2 __asm__("$6") = c;
    register long a3 __asm__("$7") = d;
    __asm__ volatile(".set push\n\t.set noreorder\n\t"
                     "addiu $sp, $sp, -32\n\t"
                     "sw %[e], 16($sp)\n\t"
                     "syscall\n\t"
                     "addiu $sp, $sp, 32\n\t"
                     ".set pop"
                     : "+r"(v0), "+r"(a3)
                     : "r"(a0), "r"(a1), "r"(a2), [e] "r"(e)
                     : "$1", "$3", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
                       "$24", "$25", "hi", "lo", "memory");
    return a3 ? -v0 : v0;
#elif defined(__mips__)
    /* n64: the fifth argument in a4 ($8), which the kernel may clobber like t*. */
    register long v0 __asm__("$2") = nr;
    register long a0 __asm__("$4") = a;
    register long a1 __asm__("$5") = b;
    register long a2 __asm__("$6") = c;
    register long a3 __asm__("$7") = d;
    register long a4 __asm__("$8") = e;
    __asm__ volatile(".set push\n\t.set noreorder\n\tsyscall\n\t.set pop"
                     : "+r"(v0), "+r"(a3), "+r"(a4)
                     : "r"(a0), "r"(a1), "r"(a2)
                     : "$1", "$3", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
                       "$24", "$25", "hi", "lo", "memory");
    return a3 ? -v0 : v0;
#elif defined(__powerpc__)
    /* r0 = number, r3 = result; cr0.SO set means r3 holds a positive errno. */
    register long r0 __asm__("r0") = nr;
    register long r3 __asm__("r3") = a;
    register long r4 __asm__("r4") = b;
    register long r5 __asm__("r5") = c;
    register long r6 __asm__("r6") = d;
    register long r7 __asm__("r7") = e;
    unsigned long cr;
    __asm__ volatile("sc\n\tmfcr %1"
                     : "+r"(r3), "=r"(cr), "+r"(r0), "+r"(r4), "+r"(r5), "+r"(r6),
                       "+r"(r7)
                     :
                     : "r8", "r9", "r10", "r11", "r12", "ctr", "xer", "cr0", "memory");
    return (cr & 0x10000000) ? -r3 : r3;
#endif
}

static inline long linux_syscall3(long nr, long a, long b, long c)
{
    return linux_syscall5(nr, a, b, c, 0, 0);
}

#endif
