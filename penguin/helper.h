/*
 * The TCG helper of Penguin's hypercall recognizers (expanded by exec/helper-*.inc).
 * Flags 0: the helper reads and writes guest registers through env, so TCG syncs
 * its globals to env before the call and reloads them after. Returns 1 when handled.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

DEF_HELPER_FLAGS_2(penguin_hypercall, 0, i32, env, cptr)
