/*
 * The hook qmp_dispatch() consults for a command no command list knows. It
 * lives in libqemuutil (qemu-img and the other tools link qmp-dispatch.c too);
 * Penguin's system code sets it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef PENGUIN_QMP_FALLBACK_H
#define PENGUIN_QMP_FALLBACK_H

#include "qapi/qmp-registry.h"

/*
 * Returns true when it handled @name, looked up in @cmds and not found: the
 * result in *ret, or an error in *errp. @args is the command's "arguments"
 * object, or NULL when there is none.
 */
typedef bool (QmpUnknownCommandFunc)(const QmpCommandList *cmds,
                                     const char *name, QDict *args,
                                     QObject **ret, Error **errp);

extern QmpUnknownCommandFunc *qmp_unknown_command_fn;

#endif /* PENGUIN_QMP_FALLBACK_H */
