/*
 * penguin-hypercall.h - issue a Penguin hypercall from guest code.
 *
 * One header for firmware, bare-metal programs, init programs and user-space
 * tools running inside a guest of penguin-qemu. Plain C99 plus GCC/Clang inline
 * assembly; it needs no libc (only the compiler's own <stdint.h>, which
 * freestanding builds have; Linux kernel code gets <linux/types.h> instead).
 *
 *     #include <penguin-qemu/guest/penguin-hypercall.h>
 *     uint64_t ret = penguin_hypercall2(0x50454e01, addr, len);
 *
 * The host registers a callback for a number `nr`
 * (penguin_register_guest_hypercall); the guest executes its architecture's
 * sentinel instruction with nr and up to six arguments in fixed registers, and
 * reads the callback's return value back:
 *
 *   arch                 sentinel                  nr   a0..a5
 *   arm (A32 and T32)    mcr p7, 0, r0, c0, c0, 0  r7   r0..r5
 *   aarch64              msr S0_0_C5_C0_0, xzr     x8   x0..x5
 *     (under KVM)        str wzr, [doorbell]; isb  x8   x0..x5
 *   mips o32, n32, n64   movz $0, $0, $0           v0   $4..$7, $8, $9
 *   ppc, ppc64 (BE, LE)  xori r10, r10, 0          r0   r3..r8
 *   riscv64              xori x0, x0, 0            a7   a0..a5
 *   loongarch64          cpucfg $r0, $r0           a7   a0..a5 ($r4..$r9)
 *   x86_64, 64-bit code  outl %eax, $0x88          rax  rdi rsi rdx r10 r8 r9
 *   i386 (32-bit code)   outl %eax, $0x88          eax  ebx ecx edx esi edi ebp
 *
 * The return value comes back in nr's register on mips and x86 (v0, rax, eax)
 * and in a0's everywhere else (r0, x0, r3, a0).
 *
 * Unused arguments of the short forms are passed as 0. The sentinel is emitted
 * as its exact encoding (a raw instruction word; .insn on riscv64; on x86 the
 * OUT, which has that one encoding), so no assembler version or option can turn
 * it into a near miss.
 *
 * Word size: the API is 64-bit everywhere. On 32-bit guests (arm, i386, mips
 * o32, ppc32) only the low 32 bits of nr and of each argument reach the host
 * (it sees them zero-extended), and the return value is the 32-bit return
 * register, zero-extended. PENGUIN_HYPERCALL_REG_BITS (32 or 64) says which
 * applies.
 *
 * Clobbers: a callback may write any of the argument registers (Penguin's MIPS
 * shim writes a3 as a syscall-style error flag, for instance), and it may read
 * and write guest memory. So nr and all six argument registers are in/out
 * operands and the asm clobbers "memory": the compiler keeps no value in them
 * across the call and flushes and reloads memory around it. If the host does
 * not handle nr, the sentinel is an ordinary no-op (on x86 an ordinary write to
 * port 0x88) and the return register keeps what it held: the call returns nr on
 * mips and x86, and a0 everywhere else.
 *
 * x86 user space: the sentinel is an OUT to I/O port 0x88, so the CPU's I/O
 * permission check comes first. Kernel code and bare-metal programs at ring 0
 * need nothing; a Linux user-space process needs ioperm(0x88, 4, 1) (or
 * iopl(3)), which requires CAP_SYS_RAWIO (root) and a guest kernel built with
 * CONFIG_X86_IOPL_IOPERM. penguin_hypercall_ioperm() below makes that system
 * call without libc; call it once per thread, before the first hypercall.
 * Without the permission the OUT raises #GP and the process gets SIGSEGV.
 *
 * AArch64 under KVM: the sentinel is UNDEFINED there (KVM never sees it). A
 * guest that may run under KVM defines PENGUIN_HYPERCALL_DOORBELL, before
 * including this file, to the address at which it reaches the virt board's
 * doorbell page (physical PENGUIN_HYPERCALL_DOORBELL_PHYS): the number itself
 * with the MMU off, what ioremap() gave in a kernel, a mapping of /dev/mem in a
 * process. Each call is then a 32-bit store of zero to that address (x16
 * holds it) followed by an ISB, with the sentinel's registers; it works under
 * TCG too. Reading the doorbell gives PENGUIN_HYPERCALL_DOORBELL_MAGIC.
 *
 * ARM: Thumb-1-only cores (ARMv6-M, and ARMv4T..ARMv6 when compiling with
 * -mthumb) have no 32-bit coprocessor instruction; compile that code as A32
 * (-marm) or for a Thumb-2 core. r7 (nr) is the frame pointer of Thumb code, so
 * the call saves it in ip (r12), loads nr into it and restores it after the
 * sentinel.
 *
 * i386: a5 goes in ebp, the frame pointer at -O0, which no operand may name:
 * ebp is saved on the stack, loaded with a5 and restored after the sentinel, as
 * Linux's i386 system calls with six arguments do. ebx (a0) works with -fPIC
 * too (GCC 5 or later, Clang). Both sets of templates work with -masm=intel.
 */
#ifndef PENGUIN_HYPERCALL_H
#define PENGUIN_HYPERCALL_H

#if defined(__KERNEL__) && defined(__linux__)
/* Linux kernel code: uint32_t and uint64_t, and no <stdint.h> */
#include <linux/types.h>
#else
#include <stdint.h>
#endif

#if !defined(__GNUC__)
#error "penguin-hypercall.h needs GCC or Clang (GNU C inline assembly)"
#endif

/* ------------------------------------------------------- the architectures */

#if defined(__aarch64__)
#define PENGUIN_HYPERCALL_REG_BITS 64
#define PENGUIN_HYPERCALL_DOORBELL_PHYS  0x09fff000
#define PENGUIN_HYPERCALL_DOORBELL_MAGIC 0x50454e47 /* "PENG" */
#elif defined(__arm__)
#if defined(__thumb__) && !defined(__thumb2__)
/* Thumb-1 has no coprocessor instruction: compile with -marm or for Thumb-2. */
#error "penguin-hypercall.h: arm Thumb-1 is not supported (-marm or Thumb-2)"
#endif
#define PENGUIN_HYPERCALL_REG_BITS 32
#elif defined(__mips__)
#if defined(__mips16) || defined(__mips_micromips)
/*
 * The sentinel is a MIPS32/MIPS64 instruction: compile this file with
 * -mno-mips16 -mno-micromips.
 */
#error "penguin-hypercall.h: MIPS16 and microMIPS are not supported"
#endif
#if defined(__mips64)
#define PENGUIN_HYPERCALL_REG_BITS 64 /* n32 and n64: 64-bit registers */
#else
#define PENGUIN_HYPERCALL_REG_BITS 32 /* o32, also on a 64-bit CPU */
#endif
#elif defined(__powerpc__) || defined(__powerpc64__) || defined(__PPC__)
#if defined(__VLE__)
#error "penguin-hypercall.h: PowerPC VLE is not supported"
#endif
#if defined(__powerpc64__)
#define PENGUIN_HYPERCALL_REG_BITS 64
#else
#define PENGUIN_HYPERCALL_REG_BITS 32
#endif
#elif defined(__riscv)
#if __riscv_xlen != 64
#error "penguin-hypercall.h: riscv32 is not a Penguin guest architecture"
#endif
#define PENGUIN_HYPERCALL_REG_BITS 64
#elif defined(__loongarch__)
#if !defined(__loongarch64)
#error "penguin-hypercall.h: loongarch32 is not a Penguin guest architecture"
#endif
#define PENGUIN_HYPERCALL_REG_BITS 64
#elif defined(__x86_64__)
#define PENGUIN_HYPERCALL_REG_BITS 64
#elif defined(__i386__)
#define PENGUIN_HYPERCALL_REG_BITS 32
#elif defined(__sparc__)
#error "penguin-hypercall.h: sparc is not a Penguin guest architecture"
#elif defined(__s390__) || defined(__s390x__)
#error "penguin-hypercall.h: s390 is not a Penguin guest architecture"
#elif defined(__m68k__)
#error "penguin-hypercall.h: m68k is not a Penguin guest architecture"
#elif defined(__sh__)
#error "penguin-hypercall.h: sh is not a Penguin guest architecture"
#elif defined(__hppa__)
#error "penguin-hypercall.h: hppa is not a Penguin guest architecture"
#elif defined(__alpha__)
#error "penguin-hypercall.h: alpha is not a Penguin guest architecture"
#elif defined(__ia64__)
#error "penguin-hypercall.h: ia64 is not a Penguin guest architecture"
#elif defined(__xtensa__)
#error "penguin-hypercall.h: xtensa is not a Penguin guest architecture"
#elif defined(__microblaze__)
#error "penguin-hypercall.h: microblaze is not a Penguin guest architecture"
#elif defined(__or1k__)
#error "penguin-hypercall.h: or1k is not a Penguin guest architecture"
#elif defined(__arc__)
#error "penguin-hypercall.h: arc is not a Penguin guest architecture"
#elif defined(__nios2__)
#error "penguin-hypercall.h: nios2 is not a Penguin guest architecture"
#elif defined(__AVR__) || defined(__avr__)
#error "penguin-hypercall.h: avr is not a Penguin guest architecture"
#elif defined(__hexagon__)
#error "penguin-hypercall.h: hexagon is not a Penguin guest architecture"
#elif defined(__bpf__)
#error "penguin-hypercall.h: bpf is not a Penguin guest architecture"
#elif defined(__wasm__)
#error "penguin-hypercall.h: wasm is not a Penguin guest architecture"
#else
/*
 * Supported: arm, aarch64, mips, mips64, ppc, ppc64, riscv64, loongarch64,
 * x86_64, i386.
 */
#error "penguin-hypercall.h: this is not a Penguin guest architecture"
#endif

#if PENGUIN_HYPERCALL_REG_BITS == 64
typedef uint64_t penguin_hypercall_reg_t;
#else
typedef uint32_t penguin_hypercall_reg_t;
#endif

/*
 * One register operand of the call: @name lives in register @reg and holds
 * @value at the guest's register width. Only penguin_hypercall() uses it.
 */
#define PENGUIN_HYPERCALL_REG(name, reg, value) \
    register penguin_hypercall_reg_t name __asm__(reg) = \
        (penguin_hypercall_reg_t)(value)

/* ---------------------------------------------------------------- the call */

/*
 * Issue hypercall nr with six arguments and return the callback's return value.
 * On 32-bit guests nr and the arguments are truncated to 32 bits (see above).
 */
static inline uint64_t penguin_hypercall(uint64_t nr, uint64_t a0, uint64_t a1,
                                         uint64_t a2, uint64_t a3, uint64_t a4,
                                         uint64_t a5)
{
#if defined(__aarch64__)
    PENGUIN_HYPERCALL_REG(x8, "x8", nr);
    PENGUIN_HYPERCALL_REG(x0, "x0", a0);
    PENGUIN_HYPERCALL_REG(x1, "x1", a1);
    PENGUIN_HYPERCALL_REG(x2, "x2", a2);
    PENGUIN_HYPERCALL_REG(x3, "x3", a3);
    PENGUIN_HYPERCALL_REG(x4, "x4", a4);
    PENGUIN_HYPERCALL_REG(x5, "x5", a5);
#if defined(PENGUIN_HYPERCALL_DOORBELL)
    PENGUIN_HYPERCALL_REG(x16, "x16", (uintptr_t)(PENGUIN_HYPERCALL_DOORBELL));
    __asm__ __volatile__("str wzr, [x16]\n\t"
                         "isb  /* Penguin hypercall through the doorbell */"
                         : "+r"(x8), "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3),
                           "+r"(x4), "+r"(x5)
                         : "r"(x16)
                         : "memory");
#else
    __asm__ __volatile__(".inst 0xd500501f  "
                         "/* msr S0_0_C5_C0_0, xzr: Penguin hypercall */"
                         : "+r"(x8), "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3),
                           "+r"(x4), "+r"(x5)
                         :
                         : "memory");
#endif
    return x0;

#elif defined(__arm__)
    /*
     * r7 is Thumb's frame pointer, so it cannot be an operand: r7 is saved in
     * ip (clobbered, so n is never there), loaded with nr and restored
     * afterwards.
     */
    penguin_hypercall_reg_t n = (penguin_hypercall_reg_t)nr;
    PENGUIN_HYPERCALL_REG(r0, "r0", a0);
    PENGUIN_HYPERCALL_REG(r1, "r1", a1);
    PENGUIN_HYPERCALL_REG(r2, "r2", a2);
    PENGUIN_HYPERCALL_REG(r3, "r3", a3);
    PENGUIN_HYPERCALL_REG(r4, "r4", a4);
    PENGUIN_HYPERCALL_REG(r5, "r5", a5);
    __asm__ __volatile__("mov ip, r7\n\t"
                         "mov r7, %[n]\n\t"
#if defined(__thumb__)
                         ".inst.w 0xee000710  "
#else
                         ".inst 0xee000710  "
#endif
                         "/* mcr p7, 0, r0, c0, c0, 0: Penguin hypercall */\n\t"
                         "mov r7, ip"
                         : "+r"(r0), "+r"(r1), "+r"(r2), "+r"(r3), "+r"(r4),
                           "+r"(r5)
                         : [n] "r"(n)
                         : "ip", "memory");
    return r0;

#elif defined(__mips__)
    PENGUIN_HYPERCALL_REG(v0, "$2", nr);
    PENGUIN_HYPERCALL_REG(r4, "$4", a0);
    PENGUIN_HYPERCALL_REG(r5, "$5", a1);
    PENGUIN_HYPERCALL_REG(r6, "$6", a2);
    PENGUIN_HYPERCALL_REG(r7, "$7", a3);
    PENGUIN_HYPERCALL_REG(r8, "$8", a4);
    PENGUIN_HYPERCALL_REG(r9, "$9", a5);
    __asm__ __volatile__(".word 0x0000000a  "
                         "# movz $0, $0, $0: Penguin hypercall"
                         : "+r"(v0), "+r"(r4), "+r"(r5), "+r"(r6), "+r"(r7),
                           "+r"(r8), "+r"(r9)
                         :
                         : "memory");
    return v0;

#elif defined(__powerpc__) || defined(__powerpc64__) || defined(__PPC__)
    PENGUIN_HYPERCALL_REG(r0, "r0", nr);
    PENGUIN_HYPERCALL_REG(r3, "r3", a0);
    PENGUIN_HYPERCALL_REG(r4, "r4", a1);
    PENGUIN_HYPERCALL_REG(r5, "r5", a2);
    PENGUIN_HYPERCALL_REG(r6, "r6", a3);
    PENGUIN_HYPERCALL_REG(r7, "r7", a4);
    PENGUIN_HYPERCALL_REG(r8, "r8", a5);
    __asm__ __volatile__(".long 0x694a0000  "
                         "# xori r10, r10, 0: Penguin hypercall"
                         : "+r"(r0), "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r6),
                           "+r"(r7), "+r"(r8)
                         :
                         : "memory");
    return r3;

#elif defined(__riscv)
    PENGUIN_HYPERCALL_REG(a7r, "a7", nr);
    PENGUIN_HYPERCALL_REG(a0r, "a0", a0);
    PENGUIN_HYPERCALL_REG(a1r, "a1", a1);
    PENGUIN_HYPERCALL_REG(a2r, "a2", a2);
    PENGUIN_HYPERCALL_REG(a3r, "a3", a3);
    PENGUIN_HYPERCALL_REG(a4r, "a4", a4);
    PENGUIN_HYPERCALL_REG(a5r, "a5", a5);
    /* .insn keeps it a 4-byte instruction (xori has no compressed form). */
    __asm__ __volatile__(".insn i 0x13, 4, x0, x0, 0  "
                         "# xori x0, x0, 0: Penguin hypercall"
                         : "+r"(a7r), "+r"(a0r), "+r"(a1r), "+r"(a2r),
                           "+r"(a3r), "+r"(a4r), "+r"(a5r)
                         :
                         : "memory");
    return a0r;

#elif defined(__loongarch__)
    PENGUIN_HYPERCALL_REG(a7r, "$r11", nr);
    PENGUIN_HYPERCALL_REG(a0r, "$r4", a0);
    PENGUIN_HYPERCALL_REG(a1r, "$r5", a1);
    PENGUIN_HYPERCALL_REG(a2r, "$r6", a2);
    PENGUIN_HYPERCALL_REG(a3r, "$r7", a3);
    PENGUIN_HYPERCALL_REG(a4r, "$r8", a4);
    PENGUIN_HYPERCALL_REG(a5r, "$r9", a5);
    __asm__ __volatile__(".word 0x00006c00  "
                         "# cpucfg $r0, $r0: Penguin hypercall"
                         : "+r"(a7r), "+r"(a0r), "+r"(a1r), "+r"(a2r),
                           "+r"(a3r), "+r"(a4r), "+r"(a5r)
                         :
                         : "memory");
    return a0r;

#elif defined(__x86_64__)
    uint64_t rax = nr, rdi = a0, rsi = a1, rdx = a2;
    register uint64_t r10 __asm__("r10") = a3;
    register uint64_t r8 __asm__("r8") = a4;
    register uint64_t r9 __asm__("r9") = a5;
    /* outl %eax, $0x88 (e7 88), in either assembler dialect. */
    __asm__ __volatile__("{outl %%eax, $0x88|out 0x88, eax}  "
                         "# Penguin hypercall"
                         : "+a"(rax), "+D"(rdi), "+S"(rsi), "+d"(rdx),
                           "+r"(r10), "+r"(r8), "+r"(r9)
                         :
                         : "memory");
    return rax;

#elif defined(__i386__)
    /*
     * ebp (a5) is the frame pointer at -O0 and no operand may name it: a5 is
     * pushed first (its operand may be esp- or ebp-relative, so before either
     * changes), ebp is saved above it and loaded from it, and both come off
     * afterwards.
     */
    uint32_t eax = (uint32_t)nr, ebx = (uint32_t)a0, ecx = (uint32_t)a1;
    uint32_t edx = (uint32_t)a2, esi = (uint32_t)a3, edi = (uint32_t)a4;
    uint32_t arg5 = (uint32_t)a5;
    __asm__ __volatile__("{pushl %[a5]|push %[a5]}\n\t"
                         "{pushl %%ebp|push ebp}\n\t"
                         "{movl 4(%%esp), %%ebp|mov ebp, DWORD PTR [esp+4]}\n\t"
                         "{outl %%eax, $0x88|out 0x88, eax}  "
                         "# Penguin hypercall\n\t"
                         "{popl %%ebp|pop ebp}\n\t"
                         "{addl $4, %%esp|add esp, 4}"
                         : "+a"(eax), "+b"(ebx), "+c"(ecx), "+d"(edx),
                           "+S"(esi), "+D"(edi)
                         : [a5] "g"(arg5)
                         : "memory");
    return eax;
#endif
}

#undef PENGUIN_HYPERCALL_REG

/* Short forms: the arguments not named are passed as 0. */
static inline uint64_t penguin_hypercall0(uint64_t nr)
{
    return penguin_hypercall(nr, 0, 0, 0, 0, 0, 0);
}

static inline uint64_t penguin_hypercall1(uint64_t nr, uint64_t a0)
{
    return penguin_hypercall(nr, a0, 0, 0, 0, 0, 0);
}

static inline uint64_t penguin_hypercall2(uint64_t nr, uint64_t a0,
                                          uint64_t a1)
{
    return penguin_hypercall(nr, a0, a1, 0, 0, 0, 0);
}

static inline uint64_t penguin_hypercall3(uint64_t nr, uint64_t a0,
                                          uint64_t a1, uint64_t a2)
{
    return penguin_hypercall(nr, a0, a1, a2, 0, 0, 0);
}

static inline uint64_t penguin_hypercall4(uint64_t nr, uint64_t a0,
                                          uint64_t a1, uint64_t a2,
                                          uint64_t a3)
{
    return penguin_hypercall(nr, a0, a1, a2, a3, 0, 0);
}

static inline uint64_t penguin_hypercall5(uint64_t nr, uint64_t a0,
                                          uint64_t a1, uint64_t a2,
                                          uint64_t a3, uint64_t a4)
{
    return penguin_hypercall(nr, a0, a1, a2, a3, a4, 0);
}

static inline uint64_t penguin_hypercall6(uint64_t nr, uint64_t a0,
                                          uint64_t a1, uint64_t a2,
                                          uint64_t a3, uint64_t a4,
                                          uint64_t a5)
{
    return penguin_hypercall(nr, a0, a1, a2, a3, a4, a5);
}

/* ------------------------------------------ x86 Linux user space: I/O port */

#if (defined(__x86_64__) || defined(__i386__)) && defined(__linux__)
/*
 * Let this process execute the sentinel (an OUT to port 0x88) from user space:
 * ioperm(0x88, 4, 1), made directly as a Linux system call (no libc). The four
 * bits cover the four bytes a 32-bit OUT touches. Needs CAP_SYS_RAWIO; returns
 * 0, or -errno (-EPERM without the capability, -ENOSYS on a kernel without
 * CONFIG_X86_IOPL_IOPERM). The permission is per thread; threads created
 * afterwards and fork() children inherit it.
 */
static inline long penguin_hypercall_ioperm(void)
{
#if defined(__x86_64__)
#if defined(__ILP32__)
    long ret = 0x40000000L + 173; /* __X32_SYSCALL_BIT | __NR_ioperm */
#else
    long ret = 173;               /* __NR_ioperm */
#endif
    __asm__ __volatile__("syscall"
                         : "+a"(ret)
                         : "D"(0x88L), "S"(4L), "d"(1L)
                         : "rcx", "r11", "memory");
    return ret;
#else
    long ret = 101;               /* __NR_ioperm */
    __asm__ __volatile__("{int $0x80|int 0x80}"
                         : "+a"(ret)
                         : "b"(0x88L), "c"(4L), "d"(1L)
                         : "memory");
    return ret;
#endif
}
#endif

#endif /* PENGUIN_HYPERCALL_H */
