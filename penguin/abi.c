/*
 * The version of Penguin's C ABI this library implements (penguin.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "penguin/penguin.h"

QEMU_BUILD_BUG_ON(PENGUIN_ABI_VERSION != (PENGUIN_ABI_VERSION_MAJOR << 16 |
                                          PENGUIN_ABI_VERSION_MINOR));

uint32_t penguin_abi_version(void)
{
    return PENGUIN_ABI_VERSION;
}
