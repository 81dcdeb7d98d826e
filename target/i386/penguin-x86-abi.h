/*
 * Where x86 keeps a Penguin hypercall's registers, for the TCG door and the KVM
 * exit: nr in eax/rax; 64-bit code passes a0..a5 in rdi rsi rdx r10 r8 r9,
 * other code in ebx ecx edx esi edi ebp (zero-extended); the return value goes
 * to rax (eax).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TARGET_I386_PENGUIN_X86_ABI_H
#define TARGET_I386_PENGUIN_X86_ABI_H

#include "penguin/hypercall-abi.h"

#define PENGUIN_X86_PORT 0x88
#define PENGUIN_X86_REG(n) offsetof(CPUX86State, regs[n])

#ifdef TARGET_X86_64
static const PenguinHypercallABI penguin_x86_abi64 = {
    .nr = PENGUIN_X86_REG(R_EAX),
    .args = {
        PENGUIN_X86_REG(R_EDI), PENGUIN_X86_REG(R_ESI), PENGUIN_X86_REG(R_EDX),
        PENGUIN_X86_REG(10), PENGUIN_X86_REG(8), PENGUIN_X86_REG(9),
    },
    .ret = PENGUIN_X86_REG(R_EAX),
    .reg_size = sizeof(target_ulong),
};
#endif

static const PenguinHypercallABI penguin_x86_abi32 = {
    .nr = PENGUIN_X86_REG(R_EAX),
    .args = {
        PENGUIN_X86_REG(R_EBX), PENGUIN_X86_REG(R_ECX), PENGUIN_X86_REG(R_EDX),
        PENGUIN_X86_REG(R_ESI), PENGUIN_X86_REG(R_EDI), PENGUIN_X86_REG(R_EBP),
    },
    .ret = PENGUIN_X86_REG(R_EAX),
    .reg_size = sizeof(target_ulong),
    .narrow = true,
};

static inline const PenguinHypercallABI *penguin_x86_abi_for(bool code64)
{
#ifdef TARGET_X86_64
    if (code64) {
        return &penguin_x86_abi64;
    }
#endif
    return &penguin_x86_abi32;
}

#endif /* TARGET_I386_PENGUIN_X86_ABI_H */
