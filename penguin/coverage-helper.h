/*
 * The TCG helpers of Penguin's compare tracking (expanded by
 * exec/helper-*.inc): a compare's operands and the entry meta data that
 * translation worked out, and a routine's entry. The compare helpers read
 * no TCG global (only env fields of the address space); the routine's
 * reads argument registers, which TCG stores to env before the call.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

DEF_HELPER_FLAGS_4(penguin_cmplog_i32, TCG_CALL_NO_RWG, void, env, i32, i32,
                   i32)
DEF_HELPER_FLAGS_4(penguin_cmplog_i64, TCG_CALL_NO_RWG, void, env, i64, i64,
                   i32)
DEF_HELPER_FLAGS_2(penguin_cmplog_rtn, TCG_CALL_NO_WG, void, env, i32)
