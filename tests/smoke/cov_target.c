/*
 * cov_target.c - the coverage tests' and the fuzz loop's Linux program on the smoke
 * kernels, run as /init (static glibc). parse() is the code under test, in a section
 * of its own so that the host can instrument it alone: it branches on bytes, compares
 * a 4-byte magic and calls strcmp. The host picks what the program does by answering
 * COV_HELLO:
 *  COV_MODE_PROCESSES (tests/test_coverage_linux.py): laps of parse() in two processes
 *    of this same program (so at the same addresses) on different inputs, each lap
 *    marked by COV_LAP hypercalls, one lap with the child followed by the host;
 *  COV_MODE_FUZZ (bench/fuzz_loop.py): forever, take an input (COV_INPUT returns its
 *    length once the host has written it into the buffer, 0 while the host is busy:
 *    the host takes and restores its fast snapshot meanwhile), parse it, report
 *    (COV_DONE).
 * Hypercalls from user space, as Penguin's guests make them (x86 after ioperm).
 */
#include <penguin-qemu/guest/penguin-hypercall.h>

#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define COV_HELLO 0x50454e80   /* a0, a1 = parse's code, a2 = the buffer, a3 = its size,
                                  a4 = strcmp as the program calls it; returns the mode */
#define COV_LAP 0x50454e81     /* a0 = the lap, a1 = COV_START, COV_END or COV_FOLLOW */
#define COV_INPUT 0x50454e82   /* a0 = the buffer, a1 = its size: the input's length */
#define COV_DONE 0x50454e83    /* a0 = what parse() returned */

#define COV_MODE_PROCESSES 1
#define COV_MODE_FUZZ 2
#define COV_START 0
#define COV_END 1
#define COV_FOLLOW 2

#define BUF_SIZE 256
#define RUNS 50
/* "GNEP" read as a word */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define MAGIC 0x474e4550u
#else
#define MAGIC 0x50454e47u
#endif

extern const char __start_parse_text[], __stop_parse_text[];

/* Through a pointer, so that the compiler keeps the call the host hooks. */
static int (*volatile compare)(const char *, const char *) = strcmp;
static unsigned char buf[BUF_SIZE];
static volatile int sink;

static const unsigned char input_a[16] = "FUZ\x80" "GNEP" "penguin";
static const unsigned char input_b[16] = "XYZ\x01" "ABCD" "nothing";

__attribute__((noinline, section("parse_text")))
int parse(const unsigned char *p, unsigned long n)
{
    int score = 0;
    uint32_t word;

    if (n < 8) {
        return -1;
    }
    if (p[0] == 'F') {
        score += 1;
        if (p[1] == 'U') {
            score += 2;
            if (p[2] == 'Z') {
                score += 4;
            }
        }
    }
    score += p[3] & 0x80 ? 8 : 16;
    memcpy(&word, p + 4, sizeof(word));
    if (word == MAGIC) {
        score += 100;
        if (compare((const char *)p + 8, "penguin") == 0) {
            score += 1000;
        }
    }
    return score;
}

static void lap(int n, int what)
{
    penguin_hypercall2(COV_LAP, n, what);
}

static void runs(const unsigned char *input)
{
    int i;

    for (i = 0; i < RUNS; i++) {
        sink = parse(input, sizeof(input_a));
        sched_yield();
    }
}

/* Lap n: a child alone on input_b, with the host's setting for the lap. */
static void child_alone(int n)
{
    pid_t pid = fork();

    if (pid == 0) {
        lap(n, COV_START);
        runs(input_b);
        lap(n, COV_END);
        _exit(0);
    }
    waitpid(pid, NULL, 0);
}

static void processes(void)
{
    int fds[2];
    pid_t pid;
    char c;

    child_alone(1);
    lap(2, COV_START);
    runs(input_a);
    lap(2, COV_END);
    /* Lap 3: both at once, taking turns; the host follows the child. */
    if (pipe(fds) != 0) {
        return;
    }
    pid = fork();
    if (pid == 0) {
        lap(3, COV_FOLLOW);
        c = 'x';
        if (write(fds[1], &c, 1) != 1) {
            _exit(1);
        }
        runs(input_b);
        _exit(0);
    }
    if (read(fds[0], &c, 1) == 1) {
        runs(input_a);
    }
    waitpid(pid, NULL, 0);
    lap(3, COV_END);
    child_alone(4);
}

static void fuzz(void)
{
    unsigned long n;

    for (;;) {
        while ((n = penguin_hypercall2(COV_INPUT, (uintptr_t)buf,
                                       BUF_SIZE - 1)) == 0) {
            continue;
        }
        buf[n < BUF_SIZE ? n : BUF_SIZE - 1] = 0;
        penguin_hypercall1(COV_DONE, parse(buf, n));
    }
}

int main(void)
{
    uint64_t mode;

#if defined(__x86_64__) || defined(__i386__)
    penguin_hypercall_ioperm();
#endif
    memset(buf, 0, sizeof(buf));        /* its pages mapped before the host writes */
    mode = penguin_hypercall5(COV_HELLO, (uintptr_t)__start_parse_text,
                              (uintptr_t)__stop_parse_text, (uintptr_t)buf,
                              BUF_SIZE, (uintptr_t)compare);
    if (mode == COV_MODE_PROCESSES) {
        processes();
    } else if (mode == COV_MODE_FUZZ) {
        fuzz();
    }
    for (;;) {
        pause();
    }
}
