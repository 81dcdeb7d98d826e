/*
 * smoke.h - what the smoke-boot guest programs (init.c and the stage programs under
 * /stages) tell the host, shared with tests/smoke/boots.py: the hypercall numbers and
 * the checksum both sides compute. Needs only <stdint.h>: init.c has no libc.
 */
#ifndef SMOKE_H
#define SMOKE_H

#include <stdint.h>

/* init: six known arguments; the host answers a known value (SMOKE_ARG in init.c). */
#define SMOKE_NR 0x50454e53 /* "PENS" */
/* init: /proc/cmdline as read: (errno or 0, length in bytes, CRC-32 of the bytes). */
#define SMOKE_CMDLINE_NR 0x50454e43 /* "PENC" */
/* init: a stage program ended: (index in name order, wait status as wait4 gives it). */
#define SMOKE_STAGE_NR 0x50454e58 /* "PENX" */
/* The glibc stage: (length of its line, CRC-32 of the line, its result times 1e9). */
#define SMOKE_LIBC_NR 0x50454e4c /* "PENL" */

/*
 * CRC-32 as zlib.crc32 computes it (reflected, polynomial 0xedb88320), bit by bit:
 * shifts and exclusive ors only, which every target has without a runtime library.
 */
static inline uint32_t smoke_crc32(const char *data, unsigned long length)
{
    uint32_t crc = 0xffffffffu;
    unsigned long i;
    int bit;

    for (i = 0; i < length; i++) {
        crc ^= (uint8_t)data[i];
        for (bit = 0; bit < 8; bit++) {
            crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
        }
    }
    return ~crc;
}

#endif
