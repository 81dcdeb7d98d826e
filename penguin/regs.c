/*
 * Penguin guest state: registers by GDB number, the env, accelerator sync.
 *
 * Registers go through the gdbstub's per-target tables, so every target has the
 * same numbering GDB uses, and through cpu_synchronize_state(), which fetches
 * KVM's registers (marking the vCPU dirty so a write is put back before it runs
 * again) and does nothing under TCG.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "exec/gdbstub.h"
#include "hw/core/cpu.h"
#include "system/hw_accel.h"
#include "system/tcg.h"
#include "penguin/penguin.h"
#include "penguin/error.h"

/* The register's current bytes, or NULL if @regnum is no register of @cs. */
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
        return penguin_error(-EINVAL, "reading register %d: %s", regnum,
                             !cs ? "no CPU" : !buf ? "no buffer" :
                             "buffer length must be positive");
    }
    bytes = read_register(cs, regnum);
    if (!bytes) {
        return penguin_error(-ENOENT, "CPU %d has no register %d",
                             cs->cpu_index, regnum);
    }
    if (bytes->len > buf_len) {
        return penguin_error(-ENOSPC, "register %d is %u bytes; the buffer "
                             "holds %d", regnum, bytes->len, buf_len);
    }
    memcpy(buf, bytes->data, bytes->len);
    return bytes->len;
}

/*
 * Under TCG the CPU running on this thread is inside a translation block (a
 * hypercall or MMIO callback): a new PC would be overwritten when the block
 * goes on, so such a write is undone and refused.
 */
static bool pc_write_is_lost(CPUState *cs, vaddr pc_before)
{
    return tcg_enabled() && qemu_cpu_is_self(cs) &&
           cs->cc->get_pc && cs->cc->get_pc(cs) != pc_before;
}

int penguin_write_guest_reg(CPUState *cs, int regnum, const uint8_t *buf,
                            int len)
{
    g_autoptr(GByteArray) bytes = NULL;
    g_autofree uint8_t *copy = NULL;
    vaddr pc_before;

    if (!cs || !buf || len <= 0) {
        return penguin_error(-EINVAL, "writing register %d: %s", regnum,
                             !cs ? "no CPU" : !buf ? "no buffer" :
                             "length must be positive");
    }
    /*
     * Read first: it names the width, and nothing is written for a wrong
     * length.
     */
    bytes = read_register(cs, regnum);
    if (!bytes) {
        return penguin_error(-ENOENT, "CPU %d has no register %d",
                             cs->cpu_index, regnum);
    }
    if (bytes->len != len) {
        return penguin_error(-EINVAL, "register %d is %u bytes, not %d",
                             regnum, bytes->len, len);
    }
    pc_before = cs->cc->get_pc ? cs->cc->get_pc(cs) : 0;
    copy = g_memdup2(buf, len);
    if (gdb_write_register(cs, copy, regnum) != len) {
        return penguin_error(-EIO, "register %d cannot be written", regnum);
    }
    if (pc_write_is_lost(cs, pc_before)) {
        gdb_write_register(cs, bytes->data, regnum);
        return penguin_error(-EBUSY, "register %d moves the PC, which a "
                             "callback cannot redirect under TCG (the "
                             "translated code goes on)", regnum);
    }
    return 0;
}

void *penguin_cpu_env(CPUState *cs)
{
    /* Every ArchCPU has its env right after CPUState (see exec/cpu-all.h). */
    return cs ? (void *)(cs + 1) : NULL;
}

void penguin_sync_cpu_state(CPUState *cs)
{
    if (cs) {
        cpu_synchronize_state(cs);
    }
}
