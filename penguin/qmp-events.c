/*
 * QMP events of Penguin's own: penguin_qmp_emit_event() from any thread,
 * delivered by the main loop to every QMP client past capability
 * negotiation, in the order emitted.
 *
 * The name and data are checked on the caller's thread, so a bad event is
 * refused to its caller and never reaches a client half-formed. Accepted
 * events wait in one queue that one bottom half empties: a queue rather than
 * a bottom half per event, so events from different threads keep the order
 * of their calls. The events have no QAPI schema entry, so QEMU neither
 * rate-limits nor coalesces them.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qmp-event.h"
#include "qemu/lockable.h"
#include "qemu/main-loop.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "monitor/monitor-internal.h"
#include "penguin/penguin.h"
#include "penguin/error.h"
#include "penguin/lifecycle.h"
#include "penguin/qmp-events.h"

/* Longer names are refused: a client has no use for them. */
#define PENGUIN_QMP_EVENT_NAME_MAX 128

typedef struct PenguinQmpEvent {
    char *name;
    QDict *data;        /* NULL: the event has no "data" member */
} PenguinQmpEvent;

static QemuMutex events_lock;
static GQueue events = G_QUEUE_INIT;    /* of PenguinQmpEvent, oldest first */
static QEMUBH *events_bh;               /* created with the first event */

static void __attribute__((constructor)) penguin_qmp_events_init(void)
{
    qemu_mutex_init(&events_lock);
}

/*
 * The names QAPI gives events and commands (a letter, then letters, digits,
 * '-', '_' or '.'), so a client's parser takes them as it takes QEMU's own.
 */
static bool name_ok(const char *name)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0 || len > PENGUIN_QMP_EVENT_NAME_MAX ||
        !g_ascii_isalpha(name[0])) {
        return false;
    }
    for (size_t i = 1; i < len; i++) {
        if (!g_ascii_isalnum(name[i]) && !strchr("-_.", name[i])) {
            return false;
        }
    }
    return true;
}

/* @json as an object for "data"; NULL for no data; -EINVAL if not one. */
static int parse_data(const char *name, const char *json, QDict **data)
{
    Error *err = NULL;
    QObject *obj;

    *data = NULL;
    if (!json || !*json) {
        return 0;
    }
    obj = qobject_from_json(json, &err);
    if (!obj) {
        return penguin_error_from(-EINVAL, err, "QMP event '%s': its data is "
                                  "not JSON: ", name);
    }
    *data = qobject_to(QDict, obj);
    if (!*data) {
        qobject_unref(obj);
        return penguin_error(-EINVAL, "QMP event '%s': its data must be a "
                             "JSON object (QMP's \"data\" member is one), "
                             "not '%.64s'", name, json);
    }
    return 0;
}

static PenguinQmpEvent *events_pop(void)
{
    QEMU_LOCK_GUARD(&events_lock);
    return g_queue_pop_head(&events);
}

/* To every QMP monitor past negotiation, as QEMU sends its own events. */
static void broadcast(const QDict *event)
{
    Monitor *mon;

    QEMU_LOCK_GUARD(&monitor_lock);
    QTAILQ_FOREACH(mon, &mon_list, entry) {
        MonitorQMP *qmp_mon;

        if (!monitor_is_qmp(mon)) {
            continue;
        }
        qmp_mon = container_of(mon, MonitorQMP, common);
        if (qmp_mon->commands != &qmp_cap_negotiation_commands) {
            qmp_send_response(qmp_mon, event);
        }
    }
}

static void send_one(PenguinQmpEvent *e)
{
    QDict *event = qmp_event_build_dict(e->name);

    if (e->data) {
        qdict_put(event, "data", e->data);
    }
    broadcast(event);
    qobject_unref(event);
    g_free(e->name);
    g_free(e);
}

static void events_send(void *opaque)
{
    PenguinQmpEvent *e;

    while ((e = events_pop())) {
        send_one(e);
    }
}

void penguin_qmp_events_flush(void)
{
    events_send(NULL);
}

int penguin_qmp_emit_event(const char *name, const char *data_json)
{
    PenguinQmpEvent *e;
    const char *why = penguin_vm_absent_reason();
    QDict *data;
    int ret;

    if (!name_ok(name)) {
        return penguin_error(-EINVAL, "QMP event name '%.64s' is not valid "
                             "(1 to %d letters, digits, '-', '_' or '.', "
                             "starting with a letter)", name ? name : "(null)",
                             PENGUIN_QMP_EVENT_NAME_MAX);
    }
    if (why) {
        return penguin_error(-ENODEV, "QMP event '%s': %s", name, why);
    }
    ret = parse_data(name, data_json, &data);
    if (ret < 0) {
        return ret;
    }
    e = g_new(PenguinQmpEvent, 1);
    e->name = g_strdup(name);
    e->data = data;
    QEMU_LOCK_GUARD(&events_lock);
    g_queue_push_tail(&events, e);
    if (!events_bh) {
        events_bh = qemu_bh_new(events_send, NULL);
    }
    qemu_bh_schedule(events_bh);
    return 0;
}
