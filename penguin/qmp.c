/*
 * Penguin's QMP fallback: commands QEMU does not know go to a callback that answers
 * with JSON.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "penguin/penguin.h"
#include "penguin/qmp-fallback.h"

static penguin_qmp_cb_t qmp_cb;
static void *qmp_opaque;

static bool penguin_qmp_unknown_command(const char *name, QDict *args, QObject **ret,
                                        Error **errp)
{
    g_autoptr(GString) args_json = NULL;
    char *result = NULL;
    bool handled;

    if (!qmp_cb) {
        return false;
    }
    args_json = args ? qobject_to_json(QOBJECT(args)) : g_string_new("{}");
    handled = qmp_cb(name, args_json->str, &result, qmp_opaque);
    if (!handled) {
        free(result);
        return false;
    }
    if (!result) {
        *ret = QOBJECT(qdict_new());
        return true;
    }
    *ret = qobject_from_json(result, errp);
    if (!*ret) {
        error_prepend(errp, "Penguin's QMP callback answered %s with invalid JSON: ",
                      name);
    }
    /* The callback allocated it with malloc (Penguin uses libc's strdup). */
    free(result);
    return true;
}

void set_penguin_qmp_callback(penguin_qmp_cb_t cb, void *opaque)
{
    qmp_opaque = opaque;
    qmp_cb = cb;
    qmp_unknown_command_fn = cb ? penguin_qmp_unknown_command : NULL;
}
