/*
 * Penguin guest state accessors: registers by GDB number, the env, accelerator sync.
 *
 * Registers go through the gdbstub's per-target tables, so every target has the same
 * numbering GDB uses, and through cpu_synchronize_state(), which fetches KVM's registers
 * (marking the vCPU dirty so a write is put back before it runs again) and does nothing
 * under TCG.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "exec/gdbstub.h"
#include "hw/core/cpu.h"
#include "system/hw_accel.h"
#include "penguin/penguin.h"

/* The register's current bytes, or NULL when @regnum names no register of @cs. */
static GByteArray *read_register(CPUState *cs, int regnum)
{
    g_autoptr(GByteArray) bytes = g_byte_array_new();

    if (regnum < 0 || regnum >= cs->gdb_num_regs) {
        return NULL;
    }
    cpu_synchronize_state(cs);
    if (gdb_read_register(cs, bytes, regnum) <= 0 || bytes->len == 0) {
        return NULL;
    }
    return g_steal_pointer(&bytes);
}

int penguin_read_guest_reg(CPUState *cs, int regnum, uint8_t *buf, int buf_len)
{
    g_autoptr(GByteArray) bytes = NULL;

    if (!cs || !buf || buf_len <= 0) {
        return -EINVAL;
    }
    bytes = read_register(cs, regnum);
    if (!bytes) {
        return -ENOENT;
    }
    if (bytes->len > buf_len) {
        return -ENOSPC;
    }
    memcpy(buf, bytes->data, bytes->len);
    return bytes->len;
}

int penguin_write_guest_reg(CPUState *cs, int regnum, const uint8_t *buf, int len)
{
    g_autoptr(GByteArray) bytes = NULL;
    g_autofree uint8_t *copy = NULL;

    if (!cs || !buf || len <= 0) {
        return -EINVAL;
    }
    /* Read first: it names the width, and nothing is written for a wrong length. */
    bytes = read_register(cs, regnum);
    if (!bytes) {
        return -ENOENT;
    }
    if (bytes->len != len) {
        return -EINVAL;
    }
    copy = g_memdup2(buf, len);
    if (gdb_write_register(cs, copy, regnum) != len) {
        return -EIO;
    }
    return 0;
}

void *penguin_cpu_env(CPUState *cs)
{
    /* Every ArchCPU puts its env right after CPUState (checked in exec/cpu-all.h). */
    return cs ? (void *)(cs + 1) : NULL;
}

void penguin_sync_cpu_state(CPUState *cs)
{
    if (cs) {
        cpu_synchronize_state(cs);
    }
}
