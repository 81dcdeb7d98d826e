/*
 * Penguin hypercall doors: what each architecture's recognizer provides.
 *
 * A door only says where the number, the six arguments and the return value
 * live in its CPUArchState; penguin_env_hypercall() reads them, calls the one
 * dispatch (penguin_handle_guest_hypercall) and writes the return register back
 * when handled.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_HYPERCALL_ABI_H
#define PENGUIN_HYPERCALL_ABI_H

typedef struct PenguinHypercallABI {
    uint32_t nr;        /* offsetof(CPUArchState, <number register>) */
    uint32_t args[6];   /* offsetof(CPUArchState, <argument register>) */
    uint32_t ret;       /* offsetof(CPUArchState, <return register>) */
    uint8_t reg_size;   /* size of each register field in env: 4 or 8 bytes */
    bool narrow;        /* 32-bit code: reads zero-extended, result truncated */
} PenguinHypercallABI;

/* Dispatch the hypercall whose registers @abi locates in @cs's env @env. */
bool penguin_env_hypercall(CPUState *cs, void *env,
                           const PenguinHypercallABI *abi);

/*
 * Whether a hypercall callback runs on this thread now. A door reached by a
 * memory access (Arm's doorbell) is then being written by the callback itself
 * (its memory writes go through the same address space), not by the guest.
 */
bool penguin_hypercall_running(void);

#endif /* PENGUIN_HYPERCALL_ABI_H */
