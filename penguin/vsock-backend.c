/*
 * vhost-user-vsock follows its backend's socket: a backend that goes away
 * leaves the device stopped and the VM running; a new backend on the same
 * socket (a chardev with reconnect-ms) gets the device's rings set up again
 * from where the guest left them.
 *
 * Upstream's vhost-user-vsock talks to the backend it found at realize and
 * never looks at its chardev again, so a backend that exits leaves vhost
 * pointing at a dead socket. This is the event handling vhost-user-blk and
 * vhost-user-base have: on CHR_EVENT_CLOSED the vhost device is stopped and
 * cleaned up (later, from a bottom half: the close may come in the middle of
 * a vhost-user request); on CHR_EVENT_OPENED vhost is initialised with the
 * new backend and started if the guest's driver is running.
 *
 * The new backend holds none of the guest's connections, so the guest gets
 * the transport-reset event a snapshot load sends (the same vm-clock timer):
 * its sockets fail at once instead of waiting for replies that never come.
 *
 * The other way round, a fast-snapshot restore that loads the device's state
 * puts the guest's connections back to the take and sends it that reset;
 * the backend is then made to start afresh too (penguin_vsock_backend_renew).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "chardev/char-fe.h"
#include "chardev/char-socket.h"
#include "exec/memory.h"
#include "hw/virtio/vhost-user-vsock.h"
#include "penguin/hooks.h"

static void vsock_backend_event(void *opaque, QEMUChrEvent event);

static void vsock_backend_watch(VHostUserVSock *vsock)
{
    qemu_chr_fe_set_handlers(&vsock->conf.chardev, NULL, NULL,
                             vsock_backend_event, NULL, vsock, NULL, true);
}

/*
 * The new backend knows nothing of the guest's connections: say so, with the
 * event a load sends (once the VM runs, if the driver set the event queue up).
 */
static void vsock_backend_reset_transport(VHostVSockCommon *vvc)
{
    if (!vvc->post_load_timer) {
        vhost_vsock_common_post_load(vvc, VHOST_VSOCK_SAVEVM_VERSION);
    }
}

/*
 * vhost_dev_cleanup() zeroes the vhost device: put back what realize set
 * before its vhost_dev_init(), for the next backend's.
 */
static void vsock_backend_keep_realized(VHostVSockCommon *vvc,
                                        const VhostDevConfigOps *config_ops)
{
    vvc->vhost_dev.nvqs = ARRAY_SIZE(vvc->vhost_vqs);
    vvc->vhost_dev.vqs = vvc->vhost_vqs;
    vhost_dev_set_config_notifier(&vvc->vhost_dev, config_ops);
}

/* Forget the backend: vhost cleaned up, ready for the next one's init. */
static void vsock_backend_drop(VHostUserVSock *vsock)
{
    VHostVSockCommon *vvc = VHOST_VSOCK_COMMON(vsock);
    const VhostDevConfigOps *config_ops = vvc->vhost_dev.config_ops;

    vsock->connected = false;
    vhost_dev_cleanup(&vvc->vhost_dev);
    vsock_backend_keep_realized(vvc, config_ops);
}

static int vsock_backend_connect(VHostUserVSock *vsock, Error **errp)
{
    VHostVSockCommon *vvc = VHOST_VSOCK_COMMON(vsock);
    VirtIODevice *vdev = VIRTIO_DEVICE(vsock);
    struct vhost_dev *hdev = &vvc->vhost_dev;
    const VhostDevConfigOps *config_ops = hdev->config_ops;
    int ret;

    if (vsock->connected) {
        return 0;
    }
    ret = vhost_dev_init(hdev, &vsock->vhost_user, VHOST_BACKEND_TYPE_USER, 0,
                         errp);
    if (ret < 0) {
        /* It cleaned up after itself. */
        vsock_backend_keep_realized(vvc, config_ops);
        return ret;
    }
    vsock->connected = true;
    /*
     * Registering vhost's memory listener while dirty pages are tracked
     * turned its dirty log on. Fast snapshots track them without telling
     * listeners (penguin/fastsnap-ram.c), and the device they were taken
     * beside logs nothing; a backend without a log (vhost-device-vsock)
     * fails its rings when asked for one. Only a migration needs the log,
     * and a backend without one blocks migrations.
     */
    hdev->log_enabled = global_dirty_tracking & GLOBAL_DIRTY_MIGRATION;
    /* The guest reads its CID again at the transport reset. */
    ret = vhost_dev_get_config(hdev, (uint8_t *)&vsock->vsockcfg,
                               sizeof(vsock->vsockcfg), errp);
    if (ret < 0) {
        return ret;
    }
    vsock_backend_reset_transport(vvc);
    if (!virtio_device_should_start(vdev, vdev->status)) {
        /* Started by vuv_set_status() when the driver or the VM starts. */
        return 0;
    }
    ret = vhost_vsock_common_start(vdev);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "cannot start vhost with the new backend");
    }
    return ret;
}

/* From a bottom half (vhost_user_async_close()), after the socket closed. */
static void vsock_backend_disconnect(DeviceState *dev)
{
    VHostUserVSock *vsock = VHOST_USER_VSOCK(dev);
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);

    if (vsock->connected) {
        /* vhost_user_async_close() cleared hdev->started; this one stays. */
        if (vdev->vhost_started) {
            vhost_vsock_common_stop(vdev);
        }
        vsock_backend_drop(vsock);
        warn_report("vhost-user-vsock: the backend went away; the device "
                    "is stopped until one connects to its chardev again");
    }
    vsock_backend_watch(vsock);
}

static void vsock_backend_event(void *opaque, QEMUChrEvent event)
{
    VHostUserVSock *vsock = opaque;
    VHostVSockCommon *vvc = VHOST_VSOCK_COMMON(vsock);
    Error *local_err = NULL;

    switch (event) {
    case CHR_EVENT_OPENED:
        if (vsock_backend_connect(vsock, &local_err) < 0) {
            error_prepend(&local_err, "vhost-user-vsock: ");
            error_report_err(local_err);
            qemu_chr_fe_disconnect(&vsock->conf.chardev);
        }
        break;
    case CHR_EVENT_CLOSED:
        vhost_user_async_close(DEVICE(vsock), &vsock->conf.chardev,
                               &vvc->vhost_dev, vsock_backend_disconnect);
        break;
    case CHR_EVENT_BREAK:
    case CHR_EVENT_MUX_IN:
    case CHR_EVENT_MUX_OUT:
        break;
    }
}

/*
 * Connect a client socket chardev now, once: upstream's wait would retry a
 * chardev with reconnect-ms forever. 0 for any other chardev.
 */
static int vsock_backend_connect_now(VHostUserVSock *vsock, Error **errp)
{
    Chardev *chr = qemu_chr_fe_get_driver(&vsock->conf.chardev);
    SocketChardev *sock;
    int64_t reconnect_ms;
    int ret;

    if (!object_dynamic_cast(OBJECT(chr), TYPE_CHARDEV_SOCKET)) {
        return 0;
    }
    sock = SOCKET_CHARDEV(chr);
    if (sock->is_listen || sock->state == TCP_CHARDEV_STATE_CONNECTED) {
        return 0;
    }
    reconnect_ms = sock->reconnect_time_ms;
    sock->reconnect_time_ms = 0;
    ret = qemu_chr_fe_wait_connected(&vsock->conf.chardev, errp);
    sock->reconnect_time_ms = reconnect_ms;
    return ret;
}

/*
 * A client socket chardev with reconnect-ms connects in the background, so
 * at realize its backend may not be there yet: wait for that first attempt,
 * then try once more. A backend that is not there at start-up is an error
 * (as without reconnect-ms), not a hang.
 */
int penguin_vsock_backend_wait(VHostUserVSock *vsock, Error **errp)
{
    Chardev *chr = qemu_chr_fe_get_driver(&vsock->conf.chardev);

    if (!object_dynamic_cast(OBJECT(chr), TYPE_CHARDEV_SOCKET) ||
        SOCKET_CHARDEV(chr)->state != TCP_CHARDEV_STATE_CONNECTING) {
        return 0;
    }
    return vsock_backend_connect_now(vsock, errp);
}

/* The old backend's connection closed, a new one made and handshaken. */
static int vsock_backend_reconnect(VHostUserVSock *vsock, Error **errp)
{
    int ret = vsock_backend_connect_now(vsock, errp);

    if (ret == 0) {
        ret = vsock_backend_connect(vsock, errp);
        if (ret < 0) {
            /* Its old listener, say, about to close: try a new socket. */
            if (vsock->connected) {
                vsock_backend_drop(vsock);
            }
            qemu_chr_fe_disconnect(&vsock->conf.chardev);
        }
    }
    return ret;
}

/*
 * After a fast-snapshot restore that loaded the device's state, with the VM
 * stopped (vhost with it): the guest's connections are back at the take and
 * a transport reset is on its way to it, so the backend must hold none of
 * them either, as beside a -loadvm, which Penguin runs in a new process with
 * a new backend. The vhost-user protocol has no message that ends a vsock
 * backend's connections, but vhost-device-vsock serves each connection to
 * its socket with a new backend (its start_backend_server loop): so the
 * connection is closed and made again. The backend needs a moment to listen
 * again; a backend that does not come back within RENEW_WAIT_S leaves the
 * device as if it had gone away.
 */
#define RENEW_WAIT_S 5
#define RENEW_RETRY_MAX_US (10 * 1000)

int penguin_vsock_backend_renew(VHostUserVSock *vsock, Error **errp)
{
    Chardev *chr = qemu_chr_fe_get_driver(&vsock->conf.chardev);
    int64_t deadline = g_get_monotonic_time() +
                       RENEW_WAIT_S * G_USEC_PER_SEC;
    int64_t pause_us = 100;
    Error *err = NULL;

    if (!vsock->connected) {
        return 0;       /* the next backend to connect starts afresh anyway */
    }
    if (VIRTIO_DEVICE(vsock)->vhost_started) {
        error_setg(errp, "the device runs: its backend is not renewed");
        return -EBUSY;
    }
    if (!object_dynamic_cast(OBJECT(chr), TYPE_CHARDEV_SOCKET) ||
        SOCKET_CHARDEV(chr)->is_listen) {
        error_setg(errp, "its chardev is not a client socket, so the backend "
                   "(which keeps its connections) is not renewed");
        return -ENOTSUP;
    }
    penguin_vsock_backend_unfollow(vsock);
    vsock_backend_drop(vsock);
    qemu_chr_fe_disconnect(&vsock->conf.chardev);
    while (vsock_backend_reconnect(vsock, &err) < 0) {
        if (g_get_monotonic_time() + pause_us > deadline) {
            error_propagate_prepend(errp, err, "no backend on its socket "
                                    "within %d s: ", RENEW_WAIT_S);
            vsock_backend_watch(vsock);
            /* A chardev with reconnect-ms goes on trying in the background. */
            qemu_chr_fe_disconnect(&vsock->conf.chardev);
            return -ETIMEDOUT;
        }
        error_free(err);
        err = NULL;
        g_usleep(pause_us);
        pause_us = MIN(pause_us * 2, RENEW_RETRY_MAX_US);
    }
    vsock_backend_watch(vsock);
    return 0;
}

void penguin_vsock_backend_follow(VHostUserVSock *vsock)
{
    vsock->connected = true;
    vsock_backend_watch(vsock);
}

void penguin_vsock_backend_unfollow(VHostUserVSock *vsock)
{
    qemu_chr_fe_set_handlers(&vsock->conf.chardev, NULL, NULL, NULL, NULL,
                             NULL, NULL, false);
}
