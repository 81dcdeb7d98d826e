/*
 * linux-syscall.h - three-argument Linux system calls without libc, for the smoke-boot
 * init program. Only what init needs: the numbers of write and reboot for each ABI and
 * one inline-assembly door per architecture. Errors come back as -errno, as the kernel
 * reports them (on MIPS and PowerPC the error flag is folded in here).
 */
#ifndef SMOKE_LINUX_SYSCALL_H
#define SMOKE_LINUX_SYSCALL_H

#if defined(__x86_64__)
#define SYS_write 1
#define SYS_reboot 169
#elif defined(__mips__) && _MIPS_SIM == _ABIO32
#define SYS_write 4004
#define SYS_reboot 4088
#elif defined(__mips__) && _MIPS_SIM == _ABI64
#define SYS_write 5001
#define SYS_reboot 5164
#elif defined(__arm__) || defined(__powerpc__)
#define SYS_write 4
#define SYS_reboot 88
#elif defined(__aarch64__) || defined(__riscv) || defined(__loongarch__)
/* The generic system call table (include/uapi/asm-generic/unistd.h). */
#define SYS_write 64
#define SYS_reboot 142
#else
#error "linux-syscall.h: no system call door for this architecture"
#endif

/* reboot(2)'s magic numbers and its power-off command (include/uapi/linux/reboot.h). */
#define LINUX_REBOOT_MAGIC1 0xfee1deadL
#define LINUX_REBOOT_MAGIC2 672274793L
#define LINUX_REBOOT_CMD_POWER_OFF 0x4321fedcL

static inline long linux_syscall3(long nr, long a, long b, long c)
{
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
#elif defined(__arm__)
    register long r7 __asm__("r7") = nr;
    register long r0 __asm__("r0") = a;
    register long r1 __asm__("r1") = b;
    register long r2 __asm__("r2") = c;
    __asm__ volatile("svc #0" : "+r"(r0) : "r"(r7), "r"(r1), "r"(r2) : "memory");
    return r0;
#elif defined(__riscv) || defined(__loongarch__)
    register long a7 __asm__("a7") = nr;
    register long a0 __asm__("a0") = a;
    register long a1 __asm__("a1") = b;
    register long a2 __asm__("a2") = c;
#if defined(__riscv)
    __asm__ volatile("ecall" : "+r"(a0) : "r"(a7), "r"(a1), "r"(a2) : "memory");
#else
    /* The LoongArch kernel may clobber the temporaries $t0..$t8. */
    __asm__ volatile("syscall 0"
                     : "+r"(a0)
                     : "r"(a7), "r"(a1), "r"(a2)
                     : "$t0", "$t1", "$t2", "$t3", "$t4", "$t5", "$t6", "$t7", "$t8",
                       "memory");
#endif
    return a0;
#elif defined(__mips__)
    /* v0 = number and result, a3 = error flag; the kernel may clobber at, v1, t*. */
    register long v0 __asm__("$2") = nr;
    register long a0 __asm__("$4") = a;
    register long a1 __asm__("$5") = b;
    register long a2 __asm__("$6") = c;
    register long a3 __asm__("$7");
    __asm__ volatile(".set push\n\t.set noreorder\n\tsyscall\n\t.set pop"
                     : "+r"(v0), "=r"(a3)
                     : "r"(a0), "r"(a1), "r"(a2)
                     : "$1", "$3", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
                       "$24", "$25", "hi", "lo", "memory");
    return a3 ? -v0 : v0;
#elif defined(__powerpc__)
    /* r0 = number, r3 = result; cr0.SO set means r3 holds a positive errno. */
    register long r0 __asm__("r0") = nr;
    register long r3 __asm__("r3") = a;
    register long r4 __asm__("r4") = b;
    register long r5 __asm__("r5") = c;
    unsigned long cr;
    __asm__ volatile("sc\n\tmfcr %1"
                     : "+r"(r3), "=r"(cr), "+r"(r0), "+r"(r4), "+r"(r5)
                     :
                     : "r6", "r7", "r8", "r9", "r10", "r11", "r12", "ctr", "xer", "cr0",
                       "memory");
    return (cr & 0x10000000) ? -r3 : r3;
#endif
}

#endif
