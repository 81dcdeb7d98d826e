/*
 * Reset test guest (tests/test_reset.py): bare metal from the SDK's start stubs, on
 * every target's Penguin machine. Each boot it reads a word of the host's MMIO region
 * (REGION + 0x10), writes it back changed (REGION + 0x20) and reports it with
 * NR_RS_BOOT, again for as long as the host answers 2 (it holds the guest there
 * while the main loop takes or restores a fast snapshot). The host answers 1 to have
 * the machine reset, the way a guest on that machine resets it:
 *
 *   arm, aarch64 (virt)   PSCI SYSTEM_RESET through HVC (QEMU's PSCI; no EL2 here)
 *   mips* (malta)         the board's SOFTRES register: 0x42 at 0x1f000500
 *   ppc (ppce500)         the MPC8544 global utilities' RSTCR: RESET at CCSR + 0xe00b0
 *   ppc64 (pseries)       RTAS system-reboot through the H_RTAS hypercall
 *   riscv64 (virt)        the SiFive test device: 0x7777 (reset) at 0x100000
 *   loongarch64 (virt)    the ACPI GED's reset register: 0x42 at 0x100e001e
 *   x86 (pc)              the PIIX reset control register: 0x06 to port 0xcf9
 *
 * and 0 to have it stop there. If the reset request returns (a vetoed reset, or a
 * -no-reboot run the host lets go on), the guest says so with NR_RS_AFTER and spins.
 * The reset reloads this image, so each boot starts from _start again.
 */
#include <penguin-hypercall.h>

#define NR_RS_BOOT  0x50454e70u
#define NR_RS_AFTER 0x50454e71u

#if defined(__aarch64__) || defined(__arm__)
#define REGION 0x0b000000ul             /* nothing on virt claims it */
#elif defined(__mips__)
#define REGION ((unsigned long)(long)(int)0xbe400000u)   /* KSEG1: 0x1e400000 */
#elif defined(__powerpc64__)
#define REGION 0x80000000ul             /* above RAM, below the PHB windows */
#elif defined(__powerpc__)
#define CCSR_EA 0xe0000000ul            /* mapped by map_ccsr() */
#define REGION (CCSR_EA + 0xd0000ul)    /* a hole in CCSR: PA 0xf_e00d_0000 */
#elif defined(__riscv)
#define REGION 0x0b000000ul
#elif defined(__loongarch__)
#define REGION 0x1a000000ul             /* between the platform bus and PCI I/O */
#elif defined(__x86_64__) || defined(__i386__)
#define REGION 0x10000000ul             /* above 128 MiB of RAM, identity-mapped */
#else
#error "reset.c: no machine for this architecture"
#endif

void penguin_main(void);

#if defined(__powerpc64__)
/*
 * pseries in real mode reaches only RAM directly; MMIO goes through the
 * H_LOGICAL_CI_LOAD/STORE hypercalls (sc 1), as SLOF's does.
 */
static unsigned long hcall(unsigned long op, unsigned long a, unsigned long b,
                           unsigned long c, unsigned long *out)
{
    register unsigned long r3 __asm__("r3") = op;
    register unsigned long r4 __asm__("r4") = a;
    register unsigned long r5 __asm__("r5") = b;
    register unsigned long r6 __asm__("r6") = c;

    __asm__ volatile("sc 1"
                     : "+r"(r3), "+r"(r4), "+r"(r5), "+r"(r6)
                     :
                     : "r0", "r7", "r8", "r9", "r10", "r11", "r12", "cr0", "ctr",
                       "xer", "memory");
    if (out) {
        *out = r4;
    }
    return r3;
}

static uint32_t region_read(unsigned long off)
{
    unsigned long value = 0;

    hcall(0x3c, 4, REGION + off, 0, &value);        /* H_LOGICAL_CI_LOAD */
    return (uint32_t)value;
}

static void region_write(unsigned long off, uint32_t value)
{
    hcall(0x40, 4, REGION + off, value, 0);         /* H_LOGICAL_CI_STORE */
}

static uint32_t be32(uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return __builtin_bswap32(v);
#else
    return v;
#endif
}

static void reset_machine(void)
{
    static volatile uint32_t rtas_args[4];

    rtas_args[0] = be32(0x2004);                    /* RTAS_SYSTEM_REBOOT */
    rtas_args[1] = be32(0);                         /* no arguments */
    rtas_args[2] = be32(1);                         /* one return value */
    rtas_args[3] = 0;
    hcall(0xf000, (unsigned long)rtas_args, 0, 0, 0);   /* H_RTAS */
}
#else
static volatile uint32_t *word(unsigned long addr)
{
    return (volatile uint32_t *)addr;
}

static uint32_t region_read(unsigned long off)
{
    return *word(REGION + off);
}

static void region_write(unsigned long off, uint32_t value)
{
    *word(REGION + off) = value;
}

static void reset_machine(void)
{
#if defined(__aarch64__)
    register unsigned long x0 __asm__("x0") = 0x84000009;   /* SYSTEM_RESET */

    __asm__ volatile("hvc #0" : "+r"(x0) : : "x1", "x2", "x3", "memory");
#elif defined(__arm__)
    register unsigned long r0 __asm__("r0") = 0x84000009;

    __asm__ volatile(".inst 0xe1400070"             /* hvc #0 */
                     : "+r"(r0) : : "r1", "r2", "r3", "memory");
#elif defined(__mips__)
    *word((unsigned long)(long)(int)0xbf000500u) = 0x42;
#elif defined(__powerpc__)
    *word(CCSR_EA + 0xe00b0) = 0x2;                 /* RSTCR: RESET */
#elif defined(__riscv)
    *word(0x100000) = 0x7777;
#elif defined(__loongarch__)
    *(volatile uint8_t *)0x100e001eul = 0x42;
#else
    __asm__ volatile("outb %%al, %%dx" : : "a"(0x06), "d"(0xcf9) : "memory");
#endif
}
#endif

#if defined(__powerpc__) && !defined(__powerpc64__)
/*
 * CCSR sits at PA 0xf_e000_0000, beyond the 32-bit EA space: TLB1[1] maps
 * it at CCSR_EA, 1 MiB, cache-inhibited and guarded (tests/guests/include/
 * ppc.inc, E500_MAP_CCSR). A reset clears the TLB, so every boot maps it.
 */
static void machine_init(void)
{
    __asm__ volatile("mtspr 624, %0\n\t"            /* MAS0: TLBSEL 1, ESEL 1 */
                     "mtspr 625, %1\n\t"            /* MAS1: V, IPROT, 1 MiB */
                     "mtspr 626, %2\n\t"            /* MAS2: EPN, I, G */
                     "mtspr 627, %3\n\t"            /* MAS3: RPN, SX, SW, SR */
                     "mtspr 944, %4\n\t"            /* MAS7: RPN above 32 bits */
                     "isync\n\ttlbwe\n\tisync"
                     : : "r"(0x10010000), "r"(0xc0000500), "r"(0xe000000a),
                         "r"(0xe0000015), "r"(0xf) : "memory");
}
#else
static void machine_init(void)
{
}
#endif

void penguin_main(void)
{
    penguin_hypercall_reg_t answer;
    uint32_t value;

    machine_init();
    value = region_read(0x10);
    region_write(0x20, value ^ 0x5a5a5a5au);
    do {
        answer = penguin_hypercall1(NR_RS_BOOT, value);
    } while (answer == 2);                          /* 2: ask again */
    if (answer == 1) {
        reset_machine();
        penguin_hypercall1(NR_RS_AFTER, value);
    }
    for (;;) {
    }
}
