/*
 * Penguin's compare log in AFL++'s shape (AFL++ 4's struct cmp_map), shared
 * by the helpers that write it (penguin/cmplog.c) and the translation that
 * decides what they write (penguin/cmplog-gen.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_CMPLOG_H
#define PENGUIN_CMPLOG_H

#include "penguin/penguin.h"
#include "penguin/coverage-engine.h"

/*
 * AFL++'s struct cmp_header, 8 bytes, as GCC lays out its bit fields on a
 * little-endian host: hits 0-23, id 24-47, shape 48-52, type 53-54,
 * attribute 55-58, overflow 59.
 */
#define CMPLOG_HITS_MASK     0xffffffULL
#define CMPLOG_SHAPE_SHIFT   48
#define CMPLOG_TYPE_SHIFT    53
#define CMPLOG_ATTR_SHIFT    55
#define CMPLOG_TYPE_INS      1
#define CMPLOG_TYPE_RTN      2
#define CMPLOG_RTN_LEN       31

/* AFL++'s cmp attributes. */
#define CMPLOG_IS_EQUAL      1
#define CMPLOG_IS_GREATER    2
#define CMPLOG_IS_LESSER     4

typedef struct CmplogOperands {         /* struct cmp_operands */
    uint64_t v0, v1, v0_128, v1_128;
} CmplogOperands;

typedef struct CmplogFnOperands {       /* struct cmpfn_operands */
    uint8_t v0[CMPLOG_RTN_LEN];
    uint8_t v0_len;
    uint8_t v1[CMPLOG_RTN_LEN];
    uint8_t v1_len;
} CmplogFnOperands;

typedef struct CmplogMap {              /* struct cmp_map */
    uint64_t headers[PENGUIN_CMPLOG_MAP_W];
    CmplogOperands log[PENGUIN_CMPLOG_MAP_W][PENGUIN_CMPLOG_MAP_H];
} CmplogMap;

/*
 * What a helper call carries besides the operands, packed by translation:
 * the entry index, the shape (width - 1), the attribute and whether to
 * check the address space at run time.
 */
#define CMPLOG_META_INDEX(m)  ((m) & 0xffff)
#define CMPLOG_META_SHAPE(m)  (((m) >> 16) & 7)
#define CMPLOG_META_ATTR(m)   (((m) >> 19) & 0xf)
#define CMPLOG_META_SPACE     (1u << 23)
#define CMPLOG_META(index, width, attr, space) \
    ((index) | ((uint32_t)(width) - 1) << 16 | (uint32_t)(attr) << 19 | \
     ((space) ? CMPLOG_META_SPACE : 0))

/* The entry of the instruction at @pc. */
static inline uint32_t cmplog_index(uint64_t pc)
{
    return penguin_cov_mix(pc) & (PENGUIN_CMPLOG_MAP_W - 1);
}

#endif /* PENGUIN_CMPLOG_H */
