/*
 * Kernel command lines a board cannot pass whole are refused, never cut.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/error-report.h"
#include "penguin/hooks.h"

void penguin_check_kernel_cmdline(const char *board, int len, int limit)
{
    if (len <= limit) {
        return;
    }
    /* Where the board loads the kernel, as for its other -kernel errors. */
    error_report("-append: the kernel command line is %d bytes; %s passes at "
                 "most %d (counting what the board adds, such as an initrd's "
                 "rd_start= and rd_size=)", len, board, limit);
    exit(1);
}
