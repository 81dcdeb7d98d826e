/*
 * The smoke boot's glibc stage: an ordinary static glibc program, as firmware user space
 * is, run by init (tests/smoke/init.c) from /stages. glibc's start-up code, malloc,
 * printf of a double and a floating-point loop must all work, which needs the kernel's
 * FPU support (or its emulation) on every architecture. It prints one line and reports
 * the line's length and CRC-32 and its result by hypercall; tests/smoke/boots.py computes
 * the same line on the host (IEEE double arithmetic and a correctly rounded square root
 * give the same bits everywhere; -ffp-contract=off keeps fused multiply-adds out).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <penguin-qemu/guest/penguin-hypercall.h>

#include "smoke.h"

/* Terms of the Basel series: sum of 1/k^2 = pi^2/6. Must match boots.py. */
#define TERMS 100000
#define LINE_MAX 96

int main(void)
{
    double sum = 0.0, pi;
    char *line;
    int k, n;

    for (k = 1; k <= TERMS; k++) {
        sum += 1.0 / ((double)k * (double)k);
    }
    pi = sqrt(6.0 * sum);

    line = malloc(LINE_MAX);
    if (line == NULL) {
        perror("PENGUIN-SMOKE libc: malloc");
        return 1;
    }
    n = snprintf(line, LINE_MAX, "PENGUIN-SMOKE libc: pi ~ %.12f\n", pi);
    if (n < 0 || n >= LINE_MAX) {
        fprintf(stderr, "PENGUIN-SMOKE libc: snprintf returned %d\n", n);
        return 1;
    }
    fputs(line, stdout);
    fflush(stdout);

#if defined(__x86_64__) || defined(__i386__)
    long err = penguin_hypercall_ioperm();
    if (err != 0) {
        fprintf(stderr, "PENGUIN-SMOKE libc: ioperm: %s\n", strerror((int)-err));
        return 1;
    }
#endif
    penguin_hypercall(SMOKE_LIBC_NR, (uint64_t)n, smoke_crc32(line, (unsigned long)n),
                      (uint64_t)(pi * 1e9), 0, 0, 0);
    free(line);
    return 0;
}
