/*
 * Errors a caller can read: each thread keeps the text of its last failure,
 * so an embedding program decides whether and where to show it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "penguin/penguin.h"
#include "penguin/error.h"

/* A GPrivate, not a __thread variable: no static TLS, freed at thread exit. */
static GPrivate last_error = G_PRIVATE_INIT(g_free);
static bool errors_quiet;

static void record(char *message)
{
    g_private_replace(&last_error, message);
    if (!qatomic_read(&errors_quiet)) {
        fprintf(stderr, "%s\n", message);
    }
}

int penguin_error(int err, const char *fmt, ...)
{
    g_autofree char *reason = NULL;
    va_list ap;

    va_start(ap, fmt);
    reason = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    record(g_strconcat("penguin: ", reason, NULL));
    return err;
}

int penguin_error_from(int ret, Error *err, const char *fmt, ...)
{
    g_autofree char *prefix = NULL;
    va_list ap;

    va_start(ap, fmt);
    prefix = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    record(g_strconcat("penguin: ", prefix, error_get_pretty(err), NULL));
    error_free(err);
    return ret;
}

const char *penguin_last_error(void)
{
    const char *message = g_private_get(&last_error);

    return message ? message : "";
}

void penguin_set_error_printing(bool on)
{
    qatomic_set(&errors_quiet, !on);
}
