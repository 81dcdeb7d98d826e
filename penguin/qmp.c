/*
 * Penguin's QMP fallback: commands QEMU does not know go to the caller's
 * handlers, which answer with JSON or, for the failing kind, with a QMP error
 * of their own class and description.
 *
 * Only the full command list falls back: before capability negotiation the
 * monitor's rule comes first, so nothing reaches a handler until the client
 * has sent qmp_capabilities.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-error.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "block/aio-wait.h"
#include "qemu/coroutine.h"
#include "qemu/main-loop.h"
#include "monitor/monitor-internal.h"
#include "penguin/penguin.h"
#include "penguin/callback.h"
#include "penguin/qmp-fallback.h"

static PenguinHook qmp_hook;          /* penguin_qmp_cb_t */
static PenguinHook qmp_handler_hook;  /* penguin_qmp_handler_cb_t */

/* The handler's JSON (malloc'd, freed here) as the command's return value. */
static bool take_result(const char *name, char *result, QObject **ret,
                        Error **errp)
{
    if (!result) {
        *ret = QOBJECT(qdict_new());
        return true;
    }
    *ret = qobject_from_json(result, errp);
    if (!*ret) {
        error_prepend(errp, "Penguin's QMP callback answered %s with invalid "
                      "JSON: ", name);
    }
    /* The callback allocated it with malloc (Penguin uses libc's strdup). */
    free(result);
    return true;
}

/* The handler's error (both strings malloc'd, freed here) as a QMP error. */
static void take_error(const char *name, char *error_class, char *desc,
                       Error **errp)
{
    int cls = qapi_enum_parse(&QapiErrorClass_lookup, error_class,
                              ERROR_CLASS_GENERIC_ERROR, NULL);

    if (desc && *desc) {
        error_set(errp, cls, "%s", desc);
    } else {
        error_set(errp, cls, "Penguin's QMP handler for %s failed without "
                  "a description", name);
    }
    free(error_class);
    free(desc);
}

static bool call_handler(const char *name, const char *args_json,
                         QObject **ret, Error **errp)
{
    char *result = NULL, *error_class = NULL, *desc = NULL;
    PenguinFn fn;
    void *opaque;
    int answer;

    if (!penguin_hook_get(&qmp_handler_hook, &fn, &opaque)) {
        return false;
    }
    answer = ((penguin_qmp_handler_cb_t)fn)(name, args_json, &result,
                                            &error_class, &desc, opaque);
    switch (answer) {
    case PENGUIN_QMP_DONE:
        free(error_class);
        free(desc);
        return take_result(name, result, ret, errp);
    case PENGUIN_QMP_FAILED:
        free(result);
        take_error(name, error_class, desc, errp);
        return true;
    default:
        free(result);
        free(error_class);
        free(desc);
        return false;
    }
}

static bool call_callback(const char *name, const char *args_json,
                          QObject **ret, Error **errp)
{
    char *result = NULL;
    PenguinFn fn;
    void *opaque;

    if (!penguin_hook_get(&qmp_hook, &fn, &opaque)) {
        return false;
    }
    if (!((penguin_qmp_cb_t)fn)(name, args_json, &result, opaque)) {
        free(result);
        return false;
    }
    return take_result(name, result, ret, errp);
}

typedef struct HandlerCall {
    const char *name;
    const char *args_json;
    QObject **ret;
    Error **errp;
    bool handled;
    Coroutine *co;
} HandlerCall;

static void call_handlers(HandlerCall *c)
{
    c->handled = call_handler(c->name, c->args_json, c->ret, c->errp) ||
                 call_callback(c->name, c->args_json, c->ret, c->errp);
}

static void call_handlers_bh(void *opaque)
{
    HandlerCall *c = opaque;

    call_handlers(c);
    aio_co_wake(c->co);
    aio_wait_kick();
}

/*
 * The dispatcher runs in a coroutine. Handlers run outside one, as QEMU's
 * own commands that are not coroutine-safe do (qmp_dispatch() hands those
 * to a bottom half too): a handler may save, load or restore snapshots,
 * which drain the block layer, and that asserts outside a coroutine.
 */
static bool penguin_qmp_unknown_command(const QmpCommandList *cmds,
                                        const char *name, QDict *args,
                                        QObject **ret, Error **errp)
{
    g_autoptr(GString) args_json = NULL;
    HandlerCall c = { .name = name, .ret = ret, .errp = errp };

    if (cmds != &qmp_commands) {
        return false;   /* capability negotiation, or another command list */
    }
    args_json = args ? qobject_to_json(QOBJECT(args)) : g_string_new("{}");
    c.args_json = args_json->str;
    if (qemu_in_coroutine()) {
        c.co = qemu_coroutine_self();
        aio_bh_schedule_oneshot(iohandler_get_aio_context(), call_handlers_bh,
                                &c);
        qemu_coroutine_yield();
    } else {
        call_handlers(&c);
    }
    return c.handled;
}

void set_penguin_qmp_callback(penguin_qmp_cb_t cb, void *opaque)
{
    penguin_hook_set(&qmp_hook, (PenguinFn)cb, opaque);
}

void set_penguin_qmp_handler(penguin_qmp_handler_cb_t cb, void *opaque)
{
    penguin_hook_set(&qmp_handler_hook, (PenguinFn)cb, opaque);
}

static void __attribute__((constructor)) penguin_qmp_init(void)
{
    qmp_unknown_command_fn = penguin_qmp_unknown_command;
}
