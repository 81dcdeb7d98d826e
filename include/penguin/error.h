/*
 * How Penguin's ABI functions fail: a negative errno (or false) for the
 * caller's code, the reason as text for the caller to read
 * (penguin_last_error()), and by default the same text on stderr.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_ERROR_H
#define PENGUIN_ERROR_H

/*
 * Record "penguin: <message>" as the calling thread's last error, print it
 * unless printing is off, and return @err (a negative errno). Safe at any
 * time: it needs neither the monitor nor the BQL.
 */
int penguin_error(int err, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* penguin_error() with @err's message after @prefix; frees @err. */
int penguin_error_from(int ret, Error *err, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

#endif /* PENGUIN_ERROR_H */
