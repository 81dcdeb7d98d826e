"""The test vsock backend (tests/vsock/vhost_user_vsock.py) on its own, without a VM.

This file plays both QEMU's part (the vhost-user messages, shared memory from a memfd,
eventfds) and the guest driver's (split rings in that memory, virtio-vsock packets), so
that a fault in the backend shows here with the packet that caused it rather than as a
guest that never echoes. test_vsock.py then runs it against the real device.
"""

from __future__ import annotations

import mmap
import os
import select
import socket
import struct
from pathlib import Path

import pytest

from vsock import vhost_user_vsock as vu
from vsock.backend import VsockBackend

MEM_SIZE = 1 << 20
USER_BASE = 0x7F0000000000     # where "QEMU" has the memory: ring addresses use it
QUEUE = 64
RING_BYTES = 0x2000            # each ring's desc, avail and used areas
BUF_BASE = 0x10000
BUF_SIZE = vu.VSOCK_HDR.size + 4096
GUEST_PORT = 1234


class Driver:
    """QEMU and the guest's virtio-vsock driver, just enough of each."""

    def __init__(self, path: Path, features: int) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.sock.settimeout(5)
        self.memfd = os.memfd_create("guest-ram")
        os.ftruncate(self.memfd, MEM_SIZE)
        self.mem = mmap.mmap(self.memfd, MEM_SIZE)
        self.features = features
        self.kick = [os.eventfd(0) for _ in range(2)]
        self.call = [os.eventfd(0, os.EFD_NONBLOCK) for _ in range(2)]
        self.avail_idx = [0, 0]
        self.used_seen = [0, 0]
        self.next_buf = BUF_BASE

    # -- vhost-user --

    def send(self, request: int, payload: bytes = b"", fds: list[int] = ()) -> None:
        msg = vu.HEADER.pack(request, vu.FLAG_VERSION, len(payload)) + payload
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))] \
            if fds else []
        self.sock.sendmsg([msg], anc)

    def ask(self, request: int, payload: bytes = b"") -> bytes:
        self.send(request, payload)
        head = vu.recv_exact(self.sock, vu.HEADER.size)
        got, flags, size = vu.HEADER.unpack(head)
        assert (got, flags) == (request, vu.FLAG_VERSION | vu.FLAG_REPLY)
        return vu.recv_exact(self.sock, size)

    def ring_addr(self, index: int, part: int) -> int:
        return index * 3 * RING_BYTES + part * RING_BYTES

    def set_up(self) -> None:
        self.send(vu.SET_OWNER)
        self.send(vu.SET_FEATURES, struct.pack("<Q", self.features))
        self.send(vu.SET_MEM_TABLE, struct.pack("<II", 1, 0)
                  + struct.pack("<QQQQ", 0, MEM_SIZE, USER_BASE, 0), [self.memfd])
        for i in range(2):
            self.send(vu.SET_VRING_NUM, struct.pack("<II", i, QUEUE))
            self.send(vu.SET_VRING_ADDR, struct.pack(
                "<IIQQQQ", i, 0, USER_BASE + self.ring_addr(i, 0),
                USER_BASE + self.ring_addr(i, 2), USER_BASE + self.ring_addr(i, 1), 0))
            self.send(vu.SET_VRING_BASE, struct.pack("<II", i, 0))
            self.send(vu.SET_VRING_CALL, struct.pack("<Q", i), [self.call[i]])
            self.send(vu.SET_VRING_KICK, struct.pack("<Q", i), [self.kick[i]])
            self.send(vu.SET_VRING_ENABLE, struct.pack("<II", i, 1))

    # -- the guest driver --

    def add(self, index: int, data: bytes, writable: int = 0) -> None:
        """One descriptor: data to read (tx) or writable bytes (rx)."""
        addr = self.next_buf
        self.next_buf += max(len(data), writable)
        self.mem[addr:addr + len(data)] = data
        slot = self.avail_idx[index] % QUEUE
        vu.DESC.pack_into(self.mem, self.ring_addr(index, 0) + 16 * slot, addr,
                          writable or len(data), vu.DESC_F_WRITE if writable else 0, 0)
        avail = self.ring_addr(index, 1)
        struct.pack_into("<H", self.mem, avail + 4 + 2 * slot, slot)
        self.avail_idx[index] += 1
        struct.pack_into("<H", self.mem, avail + 2, self.avail_idx[index])
        os.eventfd_write(self.kick[index], 1)

    def packet(self, op: int, dst_port: int, payload: bytes = b"", flags: int = 0) -> None:
        hdr = vu.VSOCK_HDR.pack(4, vu.HOST_CID, GUEST_PORT, dst_port, len(payload),
                                vu.TYPE_STREAM, op, flags, 1 << 18, 0)
        self.add(1, hdr + payload)

    def received(self, timeout: float = 5) -> list[tuple[tuple, bytes]]:
        """The packets the device put on rx since the last look (waits for the call)."""
        used = self.ring_addr(0, 2)
        # used_event (event index): a call for every new used entry from here on.
        struct.pack_into("<H", self.mem, self.ring_addr(0, 1) + 4 + 2 * QUEUE,
                         self.used_seen[0])
        (idx,) = struct.unpack_from("<H", self.mem, used + 2)
        if idx == self.used_seen[0]:
            select.select([self.call[0]], [], [], timeout)
        try:
            os.eventfd_read(self.call[0])
        except BlockingIOError:
            pass
        (idx,) = struct.unpack_from("<H", self.mem, used + 2)
        out = []
        while self.used_seen[0] != idx:
            head, length = struct.unpack_from("<II", self.mem,
                                              used + 4 + 8 * (self.used_seen[0] % QUEUE))
            addr, *_ = vu.DESC.unpack_from(self.mem, self.ring_addr(0, 0) + 16 * head)
            data = bytes(self.mem[addr:addr + length])
            hdr = vu.VSOCK_HDR.unpack_from(data)
            out.append((hdr, data[vu.VSOCK_HDR.size:vu.VSOCK_HDR.size + hdr[4]]))
            self.used_seen[0] += 1
        return out


@pytest.mark.parametrize("event_idx", [True, False], ids=["event-idx", "no-event-idx"])
def test_backend_echoes_and_refuses(tmp_path, event_idx):
    socket_path = tmp_path / "vsock.sock"
    backend = VsockBackend(socket_path, tmp_path / "log", guest_cid=3,
                           echo_port=5000).start()
    try:
        features = vu.FEATURES & ~(0 if event_idx else 1 << vu.F_RING_EVENT_IDX)
        driver = Driver(socket_path, features)
        (offered,) = struct.unpack("<Q", driver.ask(vu.GET_FEATURES))
        assert offered == vu.FEATURES
        (protocol,) = struct.unpack("<Q", driver.ask(vu.GET_PROTOCOL_FEATURES))
        assert protocol & 1 << vu.PROTOCOL_F_CONFIG
        assert not protocol & 1 << vu.PROTOCOL_F_LOG_SHMFD, "no dirty log, as Penguin's"
        config = driver.ask(vu.GET_CONFIG, struct.pack("<III", 0, 8, 0) + bytes(8))
        assert struct.unpack_from("<IIIQ", config) == (0, 8, 0, 3)
        driver.set_up()
        for _ in range(16):
            driver.add(0, b"", writable=BUF_SIZE)

        driver.packet(vu.OP_REQUEST, 4999)    # nobody listens there
        (hdr, _), = driver.received()
        assert hdr[6] == vu.OP_RST and hdr[3] == GUEST_PORT

        driver.packet(vu.OP_REQUEST, 5000)
        (hdr, _), = driver.received()
        assert hdr[6] == vu.OP_RESPONSE and (hdr[2], hdr[3]) == (5000, GUEST_PORT)
        assert hdr[8] == vu.BUF_ALLOC
        data = bytes(range(256)) * 40          # 10240 bytes: three rx buffers' worth
        for start in range(0, len(data), 4096):
            driver.packet(vu.OP_RW, 5000, data[start:start + 4096])
        echoed = b""
        for _ in range(10):
            echoed += b"".join(p for h, p in driver.received(1) if h[6] == vu.OP_RW)
            if len(echoed) >= len(data):
                break
        assert echoed == data

        driver.packet(vu.OP_SHUTDOWN, 5000, flags=vu.SHUTDOWN_RCV | vu.SHUTDOWN_SEND)
        (hdr, _), = driver.received()
        assert hdr[6] == vu.OP_RST
        driver.sock.close()
        assert backend.wait(5) == 0, backend.stderr()
    finally:
        backend.stop()
    assert not socket_path.exists()
    (gone,) = [e for e in backend.events() if e["event"] == "qemu_disconnected"]
    assert (gone["connections"], gone["echoed"], gone["refused"]) == (1, len(data), 1)


def test_backend_refuses_a_path_that_is_not_a_socket(tmp_path):
    path = tmp_path / "file"
    path.write_text("keep me")
    backend = VsockBackend(path, tmp_path / "log")
    with pytest.raises(Exception, match="not a socket"):
        backend.start()
    assert path.read_text() == "keep me"


def test_serve_again_serves_the_next_connection_afresh(tmp_path):
    """--serve-again, as vhost-device-vsock: once QEMU disconnects, the next connection
    is served by a new backend holding none of the old one's connections (the guest's
    data on the first connection's stream is refused there, not echoed); SIGTERM
    ends it with status 0 and its socket file gone."""
    socket_path = tmp_path / "vsock.sock"
    backend = VsockBackend(socket_path, tmp_path / "log", guest_cid=3, echo_port=5000,
                           serve_again=True).start()
    try:
        first = Driver(socket_path, vu.FEATURES)
        first.set_up()
        for _ in range(4):
            first.add(0, b"", writable=BUF_SIZE)
        first.packet(vu.OP_REQUEST, 5000)
        (hdr, _), = first.received()
        assert hdr[6] == vu.OP_RESPONSE
        first.sock.close()
        second = None
        for _ in range(100):            # it listens again once it saw the close
            try:
                second = Driver(socket_path, vu.FEATURES)
                break
            except (ConnectionRefusedError, FileNotFoundError):
                select.select([], [], [], 0.02)
        assert second is not None, "no second listener"
        second.set_up()
        for _ in range(4):
            second.add(0, b"", writable=BUF_SIZE)
        second.packet(vu.OP_RW, 5000, b"after")   # the first backend's stream
        (hdr, _), = second.received()
        assert hdr[6] == vu.OP_RST, hdr
        second.sock.close()
        assert backend.wait(0.5) is None, "it ended instead of serving again"
    finally:
        status = backend.stop()
    assert status == 0, backend.stderr()
    assert not socket_path.exists()
    kinds = [e["event"] for e in backend.events()]
    assert kinds.count("qemu_connected") == 2 and "protocol_error" not in kinds, kinds
