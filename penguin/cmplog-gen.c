/*
 * Compare tracking at translation: which TCG compares are the guest's, at
 * which instruction, how wide, and the helper call that logs them.
 *
 * A compare is the guest's when it is emitted while a guest instruction is
 * translated (after its insn_start op) in a block that passes the filters;
 * its site is that instruction's address. Its width and operands come from
 * the ops before it, read back through copies and extensions:
 * - width: the TCG op's (4 or 8 bytes), narrowed to 1, 2 or 4 where both
 *   operands were loaded from guest memory with that width, or zero- or
 *   sign-extended (or masked) to it, in the block before the compare (x86's
 *   byte and word compares, a byte loaded and compared on Arm, RISC-V's
 *   32-bit instructions); a constant counts by the width it fits in;
 * - an equality test of a difference against 0, or a test of its bits
 *   under a byte, word or long mask (x86's cmp then je, whose flags QEMU
 *   computes lazily; Arm's cmp then b.eq), logs the two values subtracted,
 *   from wherever they still are (the temps the subtraction read, or copies
 *   of them), since those are what the guest compared;
 * - compares with the constant 0 are not logged (a test of a condition a
 *   setcond computed, a MIPS branch in its delay slot, a null or flag
 *   check: zero gives a fuzzer nothing to put in its input), nor other bit
 *   tests (TCG's tsteq, tstne).
 * The look back stops at a label, branch or call, and after SCAN_OPS ops.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/core/cpu.h"
#include "tcg/tcg.h"
#include "tcg/tcg-op-common.h"
#include "exec/memopidx.h"
#include "penguin/coverage.h"
#include "penguin/coverage-engine.h"
#include "penguin/cmplog.h"

#define HELPER_H "penguin/coverage-helper.h"
#include "exec/helper-proto.h.inc"
#include "exec/helper-gen.h.inc"
#include "exec/helper-info.c.inc"
#undef HELPER_H

#define SCAN_OPS 64

#define OWN_CALLS 64

/* This thread's translation, as far as compare tracking is concerned. */
typedef struct Translating {
    bool active;                    /* a block that passes the filters */
    bool emitting;                  /* our own ops are being emitted */
    const PenguinCovConfig *config;
    int ncalls;
    TCGOp *calls[OWN_CALLS];        /* the block's logging calls */
} Translating;

static __thread Translating now;

/* Going back through the ops emitted before the compare. */
typedef struct Scan {
    TCGOp *op;                      /* the last op not looked at yet */
    int budget;
} Scan;

/* An operand as read back: the temp, and the width its value fits in. */
typedef struct Operand {
    TCGTemp *temp;
    int width;
} Operand;

static bool is_routine(const PenguinCovConfig *c, uint64_t pc)
{
    size_t lo = 0, hi = c->nroutines;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->routines[mid] == pc) {
            return true;
        }
        if (c->routines[mid] < pc) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return false;
}

void penguin_cov_cmplog_stop(void)
{
    now.active = false;
}

void penguin_cov_cmplog_tb_start(CPUState *cpu, uint64_t pc,
                                 const PenguinCovConfig *c)
{
    if (!c->cmplog || !penguin_cov_mode_passes(c, cpu)) {
        return;
    }
    now.config = c;
    now.ncalls = 0;
    if (is_routine(c, pc)) {
        uint32_t index = cmplog_index(pc);

        penguin_cov_cmplog_site(index, pc);
        gen_helper_penguin_cmplog_rtn(tcg_env, tcg_constant_i32(
            CMPLOG_META(index, 1, 0, c->space_on)));
    }
    now.active = true;
}

/* The op just before where the next op goes. */
static TCGOp *insertion_point(void)
{
    TCGOp *before = tcg_ctx->emit_before_op;

    return before ? QTAILQ_PREV(before, link) : tcg_last_op();
}

/* The insn_start of the instruction being translated, or NULL. */
static TCGOp *current_insn(void)
{
    TCGOp *op = insertion_point();

    for (; op; op = QTAILQ_PREV(op, link)) {
        if (op->opc == INDEX_op_insn_start) {
            return op;
        }
    }
    return NULL;
}

/* AFL++'s attribute of @cond; -1 for the bit tests, which are not logged. */
static int attribute(TCGCond cond)
{
    switch (cond) {
    case TCG_COND_EQ:
    case TCG_COND_NE:
        return CMPLOG_IS_EQUAL;
    case TCG_COND_LT:
    case TCG_COND_LTU:
        return CMPLOG_IS_LESSER;
    case TCG_COND_LE:
    case TCG_COND_LEU:
        return CMPLOG_IS_LESSER | CMPLOG_IS_EQUAL;
    case TCG_COND_GT:
    case TCG_COND_GTU:
        return CMPLOG_IS_GREATER;
    case TCG_COND_GE:
    case TCG_COND_GEU:
        return CMPLOG_IS_GREATER | CMPLOG_IS_EQUAL;
    default:
        return -1;
    }
}

/* Our logging calls, which change no temp and no global. */
static bool is_own_call(const TCGOp *op)
{
    int i;

    for (i = 0; i < now.ncalls; i++) {
        if (now.calls[i] == op) {
            return true;
        }
    }
    return false;
}

static bool is_barrier(const TCGOp *op)
{
    TCGOpcode opc = op->opc;

    return opc == INDEX_op_set_label || opc == INDEX_op_br ||
           opc == INDEX_op_brcond_i32 || opc == INDEX_op_brcond_i64 ||
           opc == INDEX_op_brcond2_i32 || opc == INDEX_op_exit_tb ||
           opc == INDEX_op_goto_tb || opc == INDEX_op_goto_ptr ||
           opc == INDEX_op_plugin_cb || opc == INDEX_op_plugin_mem_cb ||
           (opc == INDEX_op_call && !is_own_call(op));
}

static bool writes_temp(const TCGOp *op, const TCGTemp *t)
{
    const TCGOpDef *def = &tcg_op_defs[op->opc];
    int i;

    for (i = 0; i < def->nb_oargs; i++) {
        if (arg_temp(op->args[i]) == t) {
            return true;
        }
    }
    return false;
}

/* The last op before the scan point that writes @t, or NULL. */
static TCGOp *find_def(Scan *s, TCGTemp *t)
{
    for (; s->op && s->budget > 0; s->op = QTAILQ_PREV(s->op, link)) {
        TCGOp *op = s->op;

        s->budget--;
        if (is_barrier(op)) {
            return NULL;
        }
        if (writes_temp(op, t)) {
            s->op = QTAILQ_PREV(op, link);
            return op;
        }
    }
    return NULL;
}

static int mask_width(uint64_t mask)
{
    return mask == 0xff ? 1 : mask == 0xffff ? 2 : mask == 0xffffffff ? 4 : -1;
}

/*
 * How @op, which writes its first output from its first input, narrows the
 * value: the width the result fits in, 0 for a plain copy, -1 when it is
 * not a copy or extension of its input.
 */
static int narrowing(const TCGOp *op)
{
    switch (op->opc) {
    case INDEX_op_mov_i32:
    case INDEX_op_mov_i64:
        return 0;
    case INDEX_op_ext8u_i32:
    case INDEX_op_ext8s_i32:
    case INDEX_op_ext8u_i64:
    case INDEX_op_ext8s_i64:
        return 1;
    case INDEX_op_ext16u_i32:
    case INDEX_op_ext16s_i32:
    case INDEX_op_ext16u_i64:
    case INDEX_op_ext16s_i64:
        return 2;
    case INDEX_op_ext32u_i64:
    case INDEX_op_ext32s_i64:
    case INDEX_op_extu_i32_i64:
    case INDEX_op_ext_i32_i64:
    case INDEX_op_extrl_i64_i32:
        return 4;
    case INDEX_op_and_i32:
    case INDEX_op_and_i64:
        if (arg_temp(op->args[2])->kind == TEMP_CONST) {
            return mask_width(arg_temp(op->args[2])->val);
        }
        return -1;
    case INDEX_op_extract_i32:
    case INDEX_op_extract_i64:
    case INDEX_op_sextract_i32:
    case INDEX_op_sextract_i64:
        if (op->args[2] == 0 && op->args[3] < 64) {
            return mask_width((1ULL << op->args[3]) - 1);
        }
        return -1;
    default:
        return -1;
    }
}

/* How many bytes a guest load (a qemu_ld op) reads. */
static int loaded_width(const TCGOp *op)
{
    const TCGOpDef *def = &tcg_op_defs[op->opc];
    MemOpIdx oi = op->args[def->nb_oargs + def->nb_iargs];

    return memop_size(get_memop(oi));
}

/* The width a constant fits in, zero- or sign-extended. */
static int const_width(int64_t v, int width)
{
    int w;

    for (w = 1; w < width; w *= 2) {
        int64_t lo = -(1LL << (8 * w - 1));
        uint64_t hi = (1ULL << (8 * w)) - 1;

        if ((uint64_t)v <= hi || (v >= lo && v < 0)) {
            return w;
        }
    }
    return width;
}

/*
 * Read @x back through copies and extensions: its width, and the op that
 * computed it (NULL when the look back stopped first).
 */
static TCGOp *read_back(Scan *s, Operand *x)
{
    TCGTemp *t = x->temp;
    TCGOp *def;

    if (t->kind == TEMP_CONST) {
        x->width = const_width(t->val, x->width);
        return NULL;
    }
    while ((def = find_def(s, t))) {
        int w = narrowing(def);

        if (def->opc == INDEX_op_qemu_ld_i32 ||
            def->opc == INDEX_op_qemu_ld_i64) {
            x->width = MIN(x->width, loaded_width(def));
            return def;
        }
        if (w < 0) {
            return def;
        }
        if (w > 0) {
            x->width = MIN(x->width, w);
        }
        t = arg_temp(def->args[1]);
        if (t->kind == TEMP_CONST) {
            return NULL;
        }
    }
    return NULL;
}

/*
 * The op after which @t holds the value @use reads from it: its last write
 * before @use, or where the look back stops; NULL for the list's start.
 */
static TCGOp *value_origin(TCGOp *use, TCGTemp *t)
{
    TCGOp *op = QTAILQ_PREV(use, link);
    int budget = SCAN_OPS;

    for (; op && budget > 0; op = QTAILQ_PREV(op, link), budget--) {
        if (is_barrier(op) || writes_temp(op, t)) {
            return op;
        }
    }
    return op;
}

/*
 * Where the value @use read from @t still is at the end of the op list:
 * @t itself, or a copy of it (x86 copies a compare's first operand before
 * the subtraction overwrites it, for its lazily computed flags). NULL when
 * none is left.
 */
static TCGTemp *still_held(TCGOp *use, TCGTemp *t)
{
    TCGOp *origin = value_origin(use, t);
    TCGTemp *holders[8] = { t };
    int n = 1, i, j;
    TCGOp *op;

    if (t->kind == TEMP_CONST) {
        return t;
    }
    op = origin ? QTAILQ_NEXT(origin, link) : QTAILQ_FIRST(&tcg_ctx->ops);
    for (; op && op != tcg_ctx->emit_before_op; op = QTAILQ_NEXT(op, link)) {
        const TCGOpDef *def = &tcg_op_defs[op->opc];
        bool is_mov = op->opc == INDEX_op_mov_i32 ||
                      op->opc == INDEX_op_mov_i64;
        bool copy = false;

        for (j = 0; is_mov && j < n; j++) {
            copy |= holders[j] == arg_temp(op->args[1]);
        }
        for (i = 0; i < def->nb_oargs; i++) {
            TCGTemp *out = arg_temp(op->args[i]);

            for (j = 0; j < n; j++) {
                if (holders[j] == out) {
                    holders[j--] = holders[--n];
                }
            }
            if (copy && n < ARRAY_SIZE(holders)) {
                holders[n++] = out;
            }
        }
    }
    return n ? holders[0] : NULL;
}

/*
 * An equality test against zero of a value read back to @def: when @def is
 * a subtraction, the two values it subtracted, where they still are.
 */
static bool subtracted(TCGOp *def, TCGTemp **a, TCGTemp **b)
{
    TCGTemp *x, *y;

    if (!def || (def->opc != INDEX_op_sub_i32 &&
                 def->opc != INDEX_op_sub_i64)) {
        return false;
    }
    x = still_held(def, arg_temp(def->args[1]));
    y = still_held(def, arg_temp(def->args[2]));
    if (!x || !y) {
        return false;
    }
    *a = x;
    *b = y;
    return true;
}

static bool is_zero(TCGTemp *t)
{
    return t->kind == TEMP_CONST && t->val == 0;
}

static TCGv_i64 as_i64(TCGTemp *t)
{
    TCGv_i64 wide;

    if (t->base_type == TCG_TYPE_I64) {
        return temp_tcgv_i64(t);
    }
    wide = tcg_temp_new_i64();
    tcg_gen_extu_i32_i64(wide, temp_tcgv_i32(t));
    return wide;
}

static void gen_log(TCGTemp *a, TCGTemp *b, uint32_t meta)
{
    now.emitting = true;
    if (a->base_type == TCG_TYPE_I32 && b->base_type == TCG_TYPE_I32) {
        gen_helper_penguin_cmplog_i32(tcg_env, temp_tcgv_i32(a),
                                      temp_tcgv_i32(b),
                                      tcg_constant_i32(meta));
    } else {
        gen_helper_penguin_cmplog_i64(tcg_env, as_i64(a), as_i64(b),
                                      tcg_constant_i32(meta));
    }
    now.emitting = false;
    if (now.ncalls < OWN_CALLS) {
        now.calls[now.ncalls++] = insertion_point();
    }
}

/*
 * Whether the compare of @cond between @x and @b tests @x against zero (a
 * test of @x's bits under a mask of 1, 2, 4 or 8 bytes counts, narrowing
 * @x to the mask: x86's jz of a byte, word or long difference).
 */
static bool tests_zero(TCGCond cond, Operand *x, TCGTemp *b)
{
    int w;

    if (cond == TCG_COND_EQ || cond == TCG_COND_NE) {
        return is_zero(b);
    }
    if ((cond != TCG_COND_TSTEQ && cond != TCG_COND_TSTNE) ||
        b->kind != TEMP_CONST) {
        return false;
    }
    w = b->val == -1 ? x->width : mask_width(b->val);
    if (w < 0) {
        return false;
    }
    x->width = MIN(x->width, w);
    return true;
}

static void log_compare(TCGCond cond, TCGTemp *a, TCGTemp *b, int width)
{
    Operand x = { a, width }, y = { b, width };
    Scan scan = { .op = insertion_point(), .budget = SCAN_OPS };
    bool zero_test = tests_zero(cond, &x, b);
    int attr = zero_test ? CMPLOG_IS_EQUAL : attribute(cond);
    TCGOp *insn, *def_x;
    uint32_t index;
    uint64_t pc;

    insn = attr < 0 ? NULL : current_insn();
    if (!insn) {
        return;
    }
    pc = tcg_get_insn_start_param(insn, 0);
    if (!penguin_cov_in_ranges(now.config, pc)) {
        return;
    }
    def_x = read_back(&scan, &x);
    if (zero_test && subtracted(def_x, &a, &b)) {
        width = x.width;
    } else if (zero_test) {
        return;         /* zero gives a fuzzer nothing to put in its input */
    } else {
        scan = (Scan){ .op = insertion_point(), .budget = SCAN_OPS };
        read_back(&scan, &y);
        width = MAX(x.width, y.width);
    }
    if ((a->kind == TEMP_CONST && b->kind == TEMP_CONST) || is_zero(a) ||
        is_zero(b)) {
        return;
    }
    index = cmplog_index(pc);
    penguin_cov_cmplog_site(index, pc);
    gen_log(a, b, CMPLOG_META(index, width, attr, now.config->space_on));
}

void penguin_cmplog_i32(TCGCond cond, TCGv_i32 a, TCGv_i32 b)
{
    if (unlikely(now.active) && !now.emitting) {
        log_compare(cond, tcgv_i32_temp(a), tcgv_i32_temp(b), 4);
    }
}

void penguin_cmplog_i64(TCGCond cond, TCGv_i64 a, TCGv_i64 b)
{
    if (unlikely(now.active) && !now.emitting) {
        log_compare(cond, tcgv_i64_temp(a), tcgv_i64_temp(b), 8);
    }
}
