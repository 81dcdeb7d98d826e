/*
 * What a TCG translator calls to emit a Penguin hypercall.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_TCG_HYPERCALL_H
#define PENGUIN_TCG_HYPERCALL_H

#include "tcg/tcg.h"
#include "penguin/hypercall-abi.h"

/*
 * Emit a call of the dispatch at the current point of a translation; the result
 * is 1 when a callback handled the call. The translator must have stored the
 * guest PC first, so that callbacks read the sentinel's address.
 */
TCGv_i32 penguin_gen_hypercall(const PenguinHypercallABI *abi);

#endif /* PENGUIN_TCG_HYPERCALL_H */
