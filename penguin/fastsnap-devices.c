/*
 * Penguin fast snapshots: the device block, section by section.
 *
 * The block is QEMU's vmstate of every device but RAM (CPUs, the virtual
 * clock's "timer" section, interrupt controllers, virtio devices, ...), each
 * section saved on its own (migration/savevm.c's penguin_savevm_* wiring).
 * A restore saves the current state the same way, compares it with the
 * block section by section, and loads back only the sections that differ:
 * most devices are idle between a take and a restore, and loading one costs
 * far more than saving it (a virtio device's load rebuilds its ring caches
 * and memory regions). Sections are matched by position, since names repeat.
 *
 * A virtio device whose state was loaded is told its status again, as
 * vm_start() does after a load; a vsock device's backend is renewed: the
 * guest was just told its connections are gone, so the backend's must go too.
 *
 * A scope limits the block to some sections (Penguin's allow and deny
 * lists, by idstr or vmsd name); the sections outside it are neither saved
 * nor restored.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/units.h"
#include "hw/virtio/vhost-user-vsock.h"
#include "io/channel-buffer.h"
#include "migration/qemu-file.h"
#include "migration/global_state.h"
#include "penguin/fastsnap.h"
#include "penguin/hooks.h"

/* What follows each section in a load stream, as in a migration stream. */
#define SECTION_END 0x7e

typedef struct Section {
    void *se;                   /* savevm.c's entry */
    char *name;                 /* idstr */
    uint32_t instance_id;
    const char *vmsd_name;      /* NULL for an old-style section */
    bool present;               /* saved (false: "not needed" then) */
    size_t start, len;          /* bytes in data */
} Section;

struct FastSnapDevices {
    GArray *sections;           /* of Section */
    GByteArray *data;
    FastSnapScope scope;        /* what it was taken with */
};

static bool listed(const char *csv, const Section *s)
{
    g_auto(GStrv) names = NULL;

    if (!csv || !*csv) {
        return false;
    }
    names = g_strsplit(csv, ",", -1);
    for (char **n = names; *n; n++) {
        g_autofree char *name = g_strstrip(g_strdup(*n));

        if (!strcmp(name, s->name) ||
            (s->vmsd_name && !strcmp(name, s->vmsd_name))) {
            return true;
        }
    }
    return false;
}

static bool in_scope(const FastSnapScope *scope, const Section *s)
{
    if (!scope) {
        return true;
    }
    if (scope->allow && *scope->allow) {
        return listed(scope->allow, s);
    }
    return !listed(scope->deny, s);
}

static void section_clear(gpointer p)
{
    g_free(((Section *)p)->name);
}

static FastSnapDevices *devices_new(const FastSnapScope *scope)
{
    FastSnapDevices *devs = g_new0(FastSnapDevices, 1);

    if (scope) {
        devs->scope.allow = g_strdup(scope->allow);
        devs->scope.deny = g_strdup(scope->deny);
    }
    devs->sections = g_array_new(false, true, sizeof(Section));
    g_array_set_clear_func(devs->sections, section_clear);
    devs->data = g_byte_array_sized_new(64 * KiB);
    return devs;
}

void fastsnap_devices_free(FastSnapDevices *devs)
{
    if (devs) {
        g_array_unref(devs->sections);
        g_byte_array_unref(devs->data);
        g_free(devs->scope.allow);
        g_free(devs->scope.deny);
        g_free(devs);
    }
}

/*
 * Save every section in @scope into @devs, one stream; each section's bytes
 * are where the stream stood before and after it.
 */
static int save_sections(FastSnapDevices *devs, const FastSnapScope *scope,
                         Error **errp)
{
    QIOChannelBuffer *bioc = qio_channel_buffer_new(64 * KiB);
    QEMUFile *f = qemu_file_new_output(QIO_CHANNEL(bioc));
    uint64_t base = qemu_file_transferred(f);
    int ret = 0;

    /* As migration does: globalstate carries the run state. */
    global_state_store_running();
    for (void *se = penguin_savevm_next_section(NULL); se;
         se = penguin_savevm_next_section(se)) {
        Section s = { .se = se };

        s.name = g_strdup(penguin_savevm_section_name(se, &s.instance_id,
                                                      &s.vmsd_name));
        if (!in_scope(scope, &s)) {
            g_free(s.name);
            continue;
        }
        s.start = qemu_file_transferred(f) - base;
        ret = penguin_savevm_section_save(se, f, errp);
        if (ret >= 0 && qemu_file_get_error(f) < 0) {
            ret = qemu_file_get_error(f);
            error_setg_errno(errp, -ret, "writing the state failed");
        }
        if (ret < 0) {
            error_prepend(errp, "saving section %s: ", s.name);
            g_free(s.name);
            break;
        }
        s.present = ret == 0;
        s.len = qemu_file_transferred(f) - base - s.start;
        g_array_append_val(devs->sections, s);
        ret = 0;
    }
    qemu_fflush(f);
    g_byte_array_append(devs->data, bioc->data, bioc->usage);
    qemu_fclose(f);
    object_unref(OBJECT(bioc));
    return ret;
}

FastSnapDevices *fastsnap_devices_take(const FastSnapScope *scope,
                                       Error **errp)
{
    FastSnapDevices *devs = devices_new(scope);

    if (save_sections(devs, scope, errp) < 0) {
        fastsnap_devices_free(devs);
        return NULL;
    }
    return devs;
}

FastSnapDevices *fastsnap_devices_now(Error **errp)
{
    return fastsnap_devices_take(NULL, errp);
}

static Section *section(FastSnapDevices *devs, guint i)
{
    return &g_array_index(devs->sections, Section, i);
}

static bool same_bytes(FastSnapDevices *a, Section *sa, FastSnapDevices *b,
                       Section *sb)
{
    return sa->present == sb->present && sa->len == sb->len &&
           !memcmp(a->data->data + sa->start, b->data->data + sb->start,
                   sa->len);
}

/* The machine's state now, of the block's sections, or NULL. */
static FastSnapDevices *now_in_scope(FastSnapDevices *block, Error **errp)
{
    FastSnapDevices *now = fastsnap_devices_take(&block->scope, errp);

    if (!now) {
        return NULL;
    }
    if (now->sections->len != block->sections->len) {
        goto changed;
    }
    for (guint i = 0; i < block->sections->len; i++) {
        Section *a = section(block, i), *b = section(now, i);

        if (a->se != b->se || strcmp(a->name, b->name) ||
            a->instance_id != b->instance_id) {
            goto changed;
        }
    }
    return now;

changed:
    error_setg(errp, "the machine's devices changed since the take");
    fastsnap_devices_free(now);
    return NULL;
}

/* One input stream of the differing sections, each followed by its end. */
static QEMUFile *load_stream(FastSnapDevices *block, GArray *todo)
{
    QIOChannelBuffer *bioc = qio_channel_buffer_new(0);
    QEMUFile *f;
    g_autoptr(GByteArray) bytes = g_byte_array_new();
    static const uint8_t end = SECTION_END;

    for (guint i = 0; i < todo->len; i++) {
        Section *s = section(block, g_array_index(todo, guint, i));

        g_byte_array_append(bytes, block->data->data + s->start, s->len);
        g_byte_array_append(bytes, &end, 1);
    }
    bioc->data = g_byte_array_steal(bytes, &bioc->capacity);
    bioc->usage = bioc->capacity;
    f = qemu_file_new_input(QIO_CHANNEL(bioc));
    object_unref(OBJECT(bioc));
    return f;
}

static int load_sections(FastSnapDevices *block, GArray *todo, Error **errp)
{
    QEMUFile *f = load_stream(block, todo);
    int ret = 0;

    for (guint i = 0; i < todo->len && !ret; i++) {
        Section *s = section(block, g_array_index(todo, guint, i));

        ret = penguin_savevm_section_load(s->se, f);
        if (!ret && qemu_get_byte(f) != SECTION_END) {
            ret = -EINVAL;
        }
        if (ret) {
            error_setg(errp, "loading section %s failed (%d)", s->name, ret);
        }
    }
    qemu_fclose(f);
    return ret ? -EIO : 0;
}

/* The loaded virtio devices pick up what their loaded state says is pending. */
static void virtio_loaded(FastSnapDevices *block, GArray *todo)
{
    g_autoptr(GPtrArray) loaded = g_ptr_array_sized_new(todo->len);

    for (guint i = 0; i < todo->len; i++) {
        Section *s = section(block, g_array_index(todo, guint, i));

        g_ptr_array_add(loaded, penguin_savevm_section_opaque(s->se));
    }
    fastsnap_virtio_loaded(loaded);
}

/*
 * The loaded vsock devices' backends start afresh. One that does not leaves
 * its device without a backend, as one that exits does; the guest's state is
 * restored all the same, so it is a warning, not a failed restore.
 */
static void renew_vsock_backends(FastSnapDevices *block, GArray *loaded)
{
    for (guint i = 0; i < loaded->len; i++) {
        Section *s = section(block, g_array_index(loaded, guint, i));
        Error *err = NULL;

        if (!s->vmsd_name || strcmp(s->vmsd_name, "vhost-user-vsock")) {
            continue;
        }
        if (penguin_vsock_backend_renew(
                VHOST_USER_VSOCK(penguin_savevm_section_opaque(s->se)),
                &err) < 0) {
            warn_reportf_err(err, "fast snapshot: %s's backend: ", s->name);
        }
    }
}

int fastsnap_devices_restore(FastSnapDevices *block, FastSnapDevStats *stats,
                             Error **errp)
{
    g_autoptr(GArray) todo = g_array_new(false, false, sizeof(guint));
    FastSnapDevices *now;
    int ret;

    memset(stats, 0, sizeof(*stats));
    now = now_in_scope(block, errp);
    if (!now) {
        return -ESTALE;
    }
    for (guint i = 0; i < block->sections->len; i++) {
        Section *s = section(block, i);

        stats->compared++;
        if (!s->present && section(now, i)->present) {
            /* Not needed at the take; nothing to load it from now. */
            continue;
        }
        if (!same_bytes(block, s, now, section(now, i))) {
            g_array_append_val(todo, i);
        }
    }
    fastsnap_devices_free(now);
    stats->loaded = todo->len;
    ret = todo->len ? load_sections(block, todo, errp) : 0;
    if (ret == 0) {
        virtio_loaded(block, todo);
        renew_vsock_backends(block, todo);
        fastsnap_net_reset();
    }
    return ret;
}

int fastsnap_devices_count(FastSnapDevices *devs)
{
    return devs->sections->len;
}

uint64_t fastsnap_devices_bytes(FastSnapDevices *devs)
{
    return devs->data->len;
}

char *fastsnap_devices_names(FastSnapDevices *devs)
{
    GString *names = g_string_new("");

    for (guint i = 0; i < devs->sections->len; i++) {
        g_string_append_printf(names, "%s%s", i ? "\n" : "",
                               section(devs, i)->name);
    }
    return g_string_free(names, false);
}

uint64_t fastsnap_devices_digest(FastSnapDevices *devs)
{
    return fastsnap_hash(0, devs->data->data, devs->data->len);
}

static Section *find_by_entry(FastSnapDevices *devs, void *se, guint *from)
{
    for (guint i = *from; i < devs->sections->len; i++) {
        if (section(devs, i)->se == se) {
            *from = i + 1;
            return section(devs, i);
        }
    }
    return NULL;
}

void fastsnap_devices_compare(FastSnapDevices *block, FastSnapDevices *before,
                              FastSnapDevices *now, int *in_scope,
                              int *out_of_scope, GString *report)
{
    guint in_block = 0;

    *in_scope = *out_of_scope = 0;
    for (guint i = 0; i < now->sections->len; i++) {
        Section *s = section(now, i);
        Section *kept = find_by_entry(block, s->se, &in_block);
        Section *old = before && i < before->sections->len ?
                       section(before, i) : NULL;

        if (kept) {
            if (!same_bytes(block, kept, now, s)) {
                (*in_scope)++;
                g_string_append_printf(report, "%sunrestorable %s",
                                       report->len ? "\n" : "", s->name);
            }
        } else if (old && old->se == s->se &&
                   !same_bytes(before, old, now, s)) {
            (*out_of_scope)++;
            g_string_append_printf(report, "%sout of scope %s",
                                   report->len ? "\n" : "", s->name);
        }
    }
}
