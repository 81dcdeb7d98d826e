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
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "chardev/char-fe.h"
#include "chardev/char-socket.h"
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
    VHostVSockCommon *vvc = VHOST_VSOCK_COMMON(dev);
    VirtIODevice *vdev = VIRTIO_DEVICE(dev);
    const VhostDevConfigOps *config_ops = vvc->vhost_dev.config_ops;

    if (vsock->connected) {
        vsock->connected = false;
        /* vhost_user_async_close() cleared hdev->started; this one stays. */
        if (vdev->vhost_started) {
            vhost_vsock_common_stop(vdev);
        }
        vhost_dev_cleanup(&vvc->vhost_dev);
        vsock_backend_keep_realized(vvc, config_ops);
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
 * A client socket chardev with reconnect-ms connects in the background, so
 * at realize its backend may not be there yet: wait for that first attempt,
 * then try once more. Upstream's wait would retry forever; a backend that is
 * not there at start-up is an error (as without reconnect-ms), not a hang.
 */
int penguin_vsock_backend_wait(VHostUserVSock *vsock, Error **errp)
{
    Chardev *chr = qemu_chr_fe_get_driver(&vsock->conf.chardev);
    SocketChardev *sock;
    int64_t reconnect_ms;
    int ret;

    if (!object_dynamic_cast(OBJECT(chr), TYPE_CHARDEV_SOCKET)) {
        return 0;
    }
    sock = SOCKET_CHARDEV(chr);
    if (sock->is_listen || sock->state != TCP_CHARDEV_STATE_CONNECTING) {
        return 0;
    }
    reconnect_ms = sock->reconnect_time_ms;
    sock->reconnect_time_ms = 0;
    ret = qemu_chr_fe_wait_connected(&vsock->conf.chardev, errp);
    sock->reconnect_time_ms = reconnect_ms;
    return ret;
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
