#!/usr/bin/env python3
"""A vhost-user vsock backend with an echo service, for the tests.

Debian 12 packages no vhost-user vsock backend (Penguin uses rust-vmm's vhost-device-vsock),
so the tests bring this one: plain Python over the vhost-user protocol (a Unix socket,
file descriptors passed with SCM_RIGHTS, the guest's RAM mapped from the shared
memory-backend-file, eventfds for kicks and calls). It offers what vhost-device-vsock
offers and no more: virtio features VERSION_1, NOTIFY_ON_EMPTY and RING_EVENT_IDX, and of
the protocol features only CONFIG (so QEMU can read the guest CID). In particular no
LOG_SHMFD: like the real backend it has no dirty log, and QEMU blocks migration for it.

Data plane: the rx (0) and tx (1) split virtqueues (QEMU keeps the event queue itself),
stream sockets only. A guest connection to host CID 2 on the echo port is accepted and
every byte it sends comes back; any other request is refused with RST. Credit follows
the virtio-vsock rules: this side offers BUF_ALLOC bytes and counts what it has passed
on (sent back) in fwd_cnt; it sends no more than the guest's buf_alloc allows.

    vhost_user_vsock.py --socket PATH [--guest-cid 4] [--echo-port 9999] [--log FILE]
                        [--serve-again]

It listens on PATH (removing a stale socket first), prints `listening PATH` on stdout once
QEMU can connect, serves the one QEMU that connects, and exits 0 when QEMU disconnects
(or on SIGTERM/SIGINT), removing PATH, so that a new instance can listen there again.
With --serve-again it does what vhost-device-vsock does (its start_backend_server loop):
once QEMU disconnects it listens again and serves the next connection with a new
backend, which holds none of the old one's connections; it then ends on SIGTERM/SIGINT.
Every event goes to the log as one JSON object per line. Protocol errors end it with
status 1 and a message.
"""

from __future__ import annotations

import argparse
import array
import collections
import json
import mmap
import os
import selectors
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, TextIO

# -- vhost-user protocol (docs/interop/vhost-user.rst) -------------------------------------

GET_FEATURES = 1
SET_FEATURES = 2
SET_OWNER = 3
RESET_OWNER = 4
SET_MEM_TABLE = 5
SET_LOG_BASE = 6
SET_LOG_FD = 7
SET_VRING_NUM = 8
SET_VRING_ADDR = 9
SET_VRING_BASE = 10
GET_VRING_BASE = 11
SET_VRING_KICK = 12
SET_VRING_CALL = 13
SET_VRING_ERR = 14
GET_PROTOCOL_FEATURES = 15
SET_PROTOCOL_FEATURES = 16
GET_QUEUE_NUM = 17
SET_VRING_ENABLE = 18
GET_CONFIG = 24
SET_CONFIG = 25

HEADER = struct.Struct("<III")            # request, flags, size
FLAG_VERSION = 0x1
FLAG_REPLY = 0x4
FLAG_NEED_REPLY = 0x8
VRING_IDX_MASK = 0xFF
VRING_NOFD = 0x100
MAX_FDS = 8
MAX_PAYLOAD = 4096

F_NOTIFY_ON_EMPTY = 24
F_RING_EVENT_IDX = 29
F_PROTOCOL_FEATURES = 30
F_VERSION_1 = 32
FEATURES = (1 << F_VERSION_1) | (1 << F_NOTIFY_ON_EMPTY) | (1 << F_RING_EVENT_IDX) \
    | (1 << F_PROTOCOL_FEATURES)
PROTOCOL_F_CONFIG = 9
PROTOCOL_F_LOG_SHMFD = 1
PROTOCOL_FEATURES = 1 << PROTOCOL_F_CONFIG   # and never LOG_SHMFD: no dirty log
NUM_QUEUES = 2                            # rx, tx (the event queue stays in QEMU)

# -- split virtqueues (virtio 1.x, little-endian) ------------------------------------------

DESC = struct.Struct("<QIHH")             # addr, len, flags, next
DESC_F_NEXT = 1
DESC_F_WRITE = 2
DESC_F_INDIRECT = 4
AVAIL_F_NO_INTERRUPT = 1

# -- virtio-vsock (virtio spec 5.10) -------------------------------------------------------

VSOCK_HDR = struct.Struct("<QQIIIHHIII")  # src_cid dst_cid src_port dst_port len type op
HOST_CID = 2                              # flags buf_alloc fwd_cnt
TYPE_STREAM = 1
OP_REQUEST, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQUEST = \
    range(1, 8)
OP_NAMES = {1: "request", 2: "response", 3: "rst", 4: "shutdown", 5: "rw",
            6: "credit_update", 7: "credit_request"}
SHUTDOWN_RCV = 1
SHUTDOWN_SEND = 2
BUF_ALLOC = 64 * 1024                      # what each connection offers the guest


class ProtocolError(RuntimeError):
    """QEMU sent something this backend cannot serve: it says what."""


class EventLog:
    """One JSON object per line, with seconds since the backend started."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.start = time.monotonic()

    def __call__(self, event: str, **fields: object) -> None:
        record = {"t": round(time.monotonic() - self.start, 4), "event": event, **fields}
        self.out.write(json.dumps(record) + "\n")
        self.out.flush()


# -- guest memory --------------------------------------------------------------------------

@dataclass
class Region:
    guest_addr: int
    size: int
    user_addr: int       # where QEMU has it mapped: vring addresses come in this space
    view: memoryview     # the region's bytes in our own mapping

    def slice(self, start: int, length: int) -> memoryview:
        return self.view[start:start + length]


class GuestMemory:
    def __init__(self) -> None:
        self.regions: list[Region] = []

    def replace(self, table: list[tuple[int, int, int, int]], fds: list[int]) -> None:
        """Map each (guest_addr, size, user_addr, mmap_offset) region from its fd."""
        regions = []
        for (guest_addr, size, user_addr, offset), fd in zip(table, fds):
            try:
                mapped = mmap.mmap(fd, size + offset, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE)
            finally:
                os.close(fd)
            regions.append(Region(guest_addr, size, user_addr,
                                  memoryview(mapped)[offset:offset + size]))
        self.regions = regions   # the old mappings go when nothing refers to them

    def _find(self, addr: int, length: int, user: bool) -> memoryview:
        for r in self.regions:
            base = r.user_addr if user else r.guest_addr
            if base <= addr and addr + length <= base + r.size:
                return r.slice(addr - base, length)
        space = "QEMU address" if user else "guest address"
        raise ProtocolError(f"{space} {addr:#x}+{length:#x} is in no memory region")

    def guest(self, addr: int, length: int) -> memoryview:
        return self._find(addr, length, user=False)

    def user(self, addr: int, length: int) -> memoryview:
        return self._find(addr, length, user=True)


@dataclass
class Chain:
    """One descriptor chain: what the guest gave to read, and where to write."""
    head: int
    readable: list[tuple[int, int]]
    writable: list[tuple[int, int]]

    def read(self, mem: GuestMemory) -> bytes:
        return b"".join(bytes(mem.guest(a, n)) for a, n in self.readable)

    def capacity(self) -> int:
        return sum(n for _, n in self.writable)

    def write(self, mem: GuestMemory, data: bytes) -> int:
        done = 0
        for addr, n in self.writable:
            part = data[done:done + n]
            if not part:
                break
            mem.guest(addr, len(part))[:] = part
            done += len(part)
        return done


@dataclass
class Vring:
    index: int
    num: int = 0
    desc_addr: int = 0       # QEMU addresses, resolved against the memory table on start
    avail_addr: int = 0
    used_addr: int = 0
    last_avail: int = 0
    used_idx: int = 0
    signalled_used: int = 0
    kick: int | None = None
    call: int | None = None
    enabled: bool = False
    event_idx: bool = False
    desc: memoryview | None = None
    avail: memoryview | None = None
    used: memoryview | None = None

    def ready(self) -> bool:
        return self.desc is not None and self.enabled

    def attach(self, mem: GuestMemory) -> None:
        """Find the ring in our mapping; the used index continues from the ring's own."""
        self.desc = mem.user(self.desc_addr, DESC.size * self.num)
        self.avail = mem.user(self.avail_addr, 6 + 2 * self.num)
        self.used = mem.user(self.used_addr, 6 + 8 * self.num)
        self.used_idx = self.signalled_used = self._u16(self.used, 2)

    def detach(self) -> None:
        self.desc = self.avail = self.used = None

    @staticmethod
    def _u16(view: memoryview, offset: int) -> int:
        return int.from_bytes(view[offset:offset + 2], "little")

    @staticmethod
    def _put16(view: memoryview, offset: int, value: int) -> None:
        view[offset:offset + 2] = (value & 0xFFFF).to_bytes(2, "little")

    def pending(self) -> bool:
        return self._u16(self.avail, 2) != self.last_avail

    def pop(self) -> Chain | None:
        if not self.pending():
            return None
        head = self._u16(self.avail, 4 + 2 * (self.last_avail % self.num))
        self.last_avail = (self.last_avail + 1) & 0xFFFF
        chain = Chain(head, [], [])
        index = head
        for _ in range(self.num):
            if index >= self.num:
                raise ProtocolError(f"vring {self.index}: descriptor {index} out of range")
            addr, length, flags, nxt = DESC.unpack_from(self.desc, DESC.size * index)
            if flags & DESC_F_INDIRECT:
                raise ProtocolError(
                    f"vring {self.index}: indirect descriptor (not offered)")
            buffers = chain.writable if flags & DESC_F_WRITE else chain.readable
            buffers.append((addr, length))
            if not flags & DESC_F_NEXT:
                return chain
            index = nxt
        raise ProtocolError(f"vring {self.index}: descriptor chain loops")

    def push(self, head: int, written: int) -> None:
        struct.pack_into("<II", self.used, 4 + 8 * (self.used_idx % self.num), head,
                         written)
        self.used_idx = (self.used_idx + 1) & 0xFFFF
        self._put16(self.used, 2, self.used_idx)

    def rearm(self) -> bool:
        """Ask for a kick at the next buffer (event index); True if one came meanwhile."""
        if self.event_idx:
            self._put16(self.used, 4 + 8 * self.num, self.last_avail)
        return self.pending()

    def notify(self) -> None:
        """Signal the guest if it wants to hear about what was used since the last time."""
        if self.call is None or self.used_idx == self.signalled_used:
            return
        if self.event_idx:
            event = self._u16(self.avail, 4 + 2 * self.num)
            wanted = ((self.used_idx - event - 1) & 0xFFFF) < \
                ((self.used_idx - self.signalled_used) & 0xFFFF)
        else:
            wanted = not self._u16(self.avail, 0) & AVAIL_F_NO_INTERRUPT
        self.signalled_used = self.used_idx
        if wanted:
            os.write(self.call, (1).to_bytes(8, "little"))


# -- the vsock echo service ----------------------------------------------------------------

@dataclass
class Connection:
    guest_cid: int
    guest_port: int
    host_port: int
    peer_buf_alloc: int = 0
    peer_fwd_cnt: int = 0
    tx_cnt: int = 0          # bytes sent to the guest
    fwd_cnt: int = 0         # bytes received from the guest and passed on (echoed)
    received: int = 0
    echo: bytearray = field(default_factory=bytearray)
    peer_shutdown: int = 0
    credit_asked: bool = False

    def peer_credit(self) -> int:
        return self.peer_buf_alloc - ((self.tx_cnt - self.peer_fwd_cnt) & 0xFFFFFFFF)


class VsockEcho:
    """Stream connections from the guest to HOST_CID:echo_port, echoing every byte."""

    def __init__(self, guest_cid: int, echo_port: int, log: EventLog) -> None:
        self.guest_cid = guest_cid
        self.echo_port = echo_port
        self.log = log
        self.connections: dict[tuple[int, int], Connection] = {}
        self.control: collections.deque[bytes] = collections.deque()
        self.totals = {"connections": 0, "echoed": 0, "refused": 0}

    def header(self, conn: Connection, op: int, length: int = 0, flags: int = 0) -> bytes:
        return VSOCK_HDR.pack(HOST_CID, conn.guest_cid, conn.host_port, conn.guest_port,
                              length, TYPE_STREAM, op, flags, BUF_ALLOC, conn.fwd_cnt)

    def reset(self, hdr: tuple) -> None:
        """Refuse a packet that belongs to no connection with an RST back to its sender."""
        src_cid, _, src_port, dst_port, _, ptype = hdr[:6]
        self.control.append(VSOCK_HDR.pack(HOST_CID, src_cid, dst_port, src_port, 0,
                                           ptype, OP_RST, 0, 0, 0))

    def receive(self, packet: bytes) -> None:
        if len(packet) < VSOCK_HDR.size:
            self.log("short_packet", length=len(packet))
            return
        hdr = VSOCK_HDR.unpack_from(packet)
        (src_cid, dst_cid, src_port, dst_port, length, ptype, op, flags, buf_alloc,
         fwd_cnt) = hdr
        payload = packet[VSOCK_HDR.size:VSOCK_HDR.size + length]
        key = (src_port, dst_port)
        conn = self.connections.get(key)
        if op == OP_REQUEST:
            if ptype != TYPE_STREAM or dst_cid != HOST_CID or dst_port != self.echo_port \
                    or conn is not None:
                self.totals["refused"] += 1
                self.log("refused", src_cid=src_cid, src_port=src_port, dst_cid=dst_cid,
                         dst_port=dst_port, type=ptype)
                self.reset(hdr)
                return
            conn = Connection(src_cid, src_port, dst_port)
            self.connections[key] = conn
            self.totals["connections"] += 1
            self.log("connect", guest_cid=src_cid, guest_port=src_port, port=dst_port)
            self.control.append(self.header(conn, OP_RESPONSE))
        if conn is None:
            if op != OP_RST:
                self.log("no_connection", op=OP_NAMES.get(op, op), src_port=src_port,
                         dst_port=dst_port)
                self.reset(hdr)
            return
        conn.peer_buf_alloc, conn.peer_fwd_cnt = buf_alloc, fwd_cnt
        conn.credit_asked = False
        if op == OP_RW:
            conn.echo += payload
            conn.received += len(payload)
        elif op == OP_CREDIT_REQUEST:
            self.control.append(self.header(conn, OP_CREDIT_UPDATE))
        elif op == OP_SHUTDOWN:
            conn.peer_shutdown |= flags
        elif op == OP_RST:
            self.close(key, "rst")
        elif op not in (OP_REQUEST, OP_CREDIT_UPDATE):
            self.log("unexpected_op", op=OP_NAMES.get(op, op), guest_port=src_port)
            self.reset(hdr)
            self.close(key, "unexpected")

    def close(self, key: tuple[int, int], why: str) -> None:
        conn = self.connections.pop(key)
        self.log("close", why=why, guest_port=conn.guest_port, received=conn.received,
                 echoed=conn.tx_cnt, unsent=len(conn.echo))

    def settle(self) -> None:
        """Answer a guest that shut its side down once everything has gone back (what it
        no longer receives is dropped), with the RST that ends the connection."""
        for key, conn in list(self.connections.items()):
            if conn.peer_shutdown & SHUTDOWN_RCV:
                conn.echo.clear()
            if conn.peer_shutdown & SHUTDOWN_SEND and not conn.echo:
                self.control.append(self.header(conn, OP_RST))
                self.close(key, "shutdown")

    def has_output(self) -> bool:
        return bool(self.control) or any(
            c.echo and (c.peer_credit() > 0 or not c.credit_asked)
            for c in self.connections.values())

    def next_packet(self, room: int) -> bytes | None:
        """The next packet for the rx queue, its payload at most room bytes."""
        if self.control:
            return self.control.popleft()
        for conn in self.connections.values():
            if not conn.echo:
                continue
            n = min(len(conn.echo), conn.peer_credit(), room)
            if n <= 0:
                if not conn.credit_asked:
                    conn.credit_asked = True
                    return self.header(conn, OP_CREDIT_REQUEST)
                continue
            data = bytes(conn.echo[:n])
            del conn.echo[:n]
            conn.tx_cnt = (conn.tx_cnt + n) & 0xFFFFFFFF
            conn.fwd_cnt = (conn.fwd_cnt + n) & 0xFFFFFFFF
            self.totals["echoed"] += n
            return self.header(conn, OP_RW, n) + data
        return None


# -- the vhost-user device -----------------------------------------------------------------

class Backend:
    def __init__(self, guest_cid: int, echo_port: int, log: EventLog) -> None:
        self.guest_cid = guest_cid
        self.log = log
        self.mem = GuestMemory()
        self.vrings = [Vring(i) for i in range(NUM_QUEUES)]
        self.features = 0
        self.protocol_features = 0
        self.echo = VsockEcho(guest_cid, echo_port, log)
        self.selector = selectors.DefaultSelector()
        self.messages = 0

    # -- messages --

    def handle(self, request: int, flags: int, payload: bytes,
               fds: list[int]) -> bytes | None:
        """Serve one message; the reply payload, or None when the request has none."""
        handler: Callable[[bytes, list[int]], bytes | None] | None = \
            self.HANDLERS.get(request)
        if handler is None:
            for fd in fds:
                os.close(fd)
            raise ProtocolError(f"unsupported request {request}")
        reply = handler(self, payload, fds)
        if reply is None and flags & FLAG_NEED_REPLY:
            reply = struct.pack("<Q", 0)   # REPLY_ACK is not offered; answer success anyway
        return reply

    def get_features(self, payload: bytes, fds: list[int]) -> bytes:
        return struct.pack("<Q", FEATURES)

    def set_features(self, payload: bytes, fds: list[int]) -> None:
        (self.features,) = struct.unpack_from("<Q", payload)
        for vring in self.vrings:
            vring.event_idx = bool(self.features >> F_RING_EVENT_IDX & 1)
        self.log("features", features=hex(self.features))

    def get_protocol_features(self, payload: bytes, fds: list[int]) -> bytes:
        return struct.pack("<Q", PROTOCOL_FEATURES)

    def set_protocol_features(self, payload: bytes, fds: list[int]) -> None:
        (self.protocol_features,) = struct.unpack_from("<Q", payload)
        self.log("protocol_features", features=hex(self.protocol_features))

    def nothing(self, payload: bytes, fds: list[int]) -> None:
        for fd in fds:
            os.close(fd)

    def set_mem_table(self, payload: bytes, fds: list[int]) -> None:
        (count,) = struct.unpack_from("<I", payload)
        table = [struct.unpack_from("<QQQQ", payload, 8 + 32 * i) for i in range(count)]
        if len(fds) != count:
            for fd in fds:
                os.close(fd)
            raise ProtocolError(f"SET_MEM_TABLE: {count} regions but {len(fds)} fds")
        for vring in self.vrings:
            vring.detach()
        self.mem.replace(table, fds)
        self.log("mem_table",
                 regions=[{"guest": hex(g), "size": hex(s)} for g, s, _, _ in table])
        for vring in self.vrings:
            if vring.kick is not None:
                vring.attach(self.mem)

    def vring(self, index: int) -> Vring:
        if index >= NUM_QUEUES:
            raise ProtocolError(f"vring {index} does not exist (vsock has {NUM_QUEUES})")
        return self.vrings[index]

    def set_vring_num(self, payload: bytes, fds: list[int]) -> None:
        index, num = struct.unpack_from("<II", payload)
        self.vring(index).num = num

    def set_vring_addr(self, payload: bytes, fds: list[int]) -> None:
        index, _flags, desc, used, avail, _log = struct.unpack_from("<IIQQQQ", payload)
        vring = self.vring(index)
        vring.desc_addr, vring.used_addr, vring.avail_addr = desc, used, avail

    def set_vring_base(self, payload: bytes, fds: list[int]) -> None:
        index, base = struct.unpack_from("<II", payload)
        self.vring(index).last_avail = base

    def get_vring_base(self, payload: bytes, fds: list[int]) -> bytes:
        """QEMU stops the ring: forget its kick and mapping, report where it stands."""
        (index,) = struct.unpack_from("<I", payload)
        vring = self.vring(index)
        self.stop(vring)
        self.log("vring_stop", index=index, last_avail=vring.last_avail)
        return struct.pack("<II", index, vring.last_avail)

    def stop(self, vring: Vring) -> None:
        if vring.kick is not None:
            self.selector.unregister(vring.kick)
            os.close(vring.kick)
            vring.kick = None
        vring.detach()

    def ring_fd(self, payload: bytes, fds: list[int],
                what: str) -> tuple[Vring, int | None]:
        (value,) = struct.unpack_from("<Q", payload)
        vring = self.vring(value & VRING_IDX_MASK)
        if value & VRING_NOFD:
            for fd in fds:
                os.close(fd)
            if what == "kick":
                raise ProtocolError("SET_VRING_KICK without an fd (polling is not offered)")
            return vring, None
        if len(fds) != 1:
            raise ProtocolError(
                f"SET_VRING_{what.upper()}: expected one fd, got {len(fds)}")
        return vring, fds[0]

    def set_vring_kick(self, payload: bytes, fds: list[int]) -> None:
        vring, fd = self.ring_fd(payload, fds, "kick")
        self.stop(vring)
        vring.kick = fd
        os.set_blocking(fd, False)
        vring.attach(self.mem)
        self.selector.register(fd, selectors.EVENT_READ, vring)
        self.log("vring_start", index=vring.index, num=vring.num,
                 last_avail=vring.last_avail, used_idx=vring.used_idx,
                 enabled=vring.enabled)
        self.process()

    def set_vring_call(self, payload: bytes, fds: list[int]) -> None:
        vring, fd = self.ring_fd(payload, fds, "call")
        if vring.call is not None:
            os.close(vring.call)
        vring.call = fd

    def set_vring_err(self, payload: bytes, fds: list[int]) -> None:
        _, fd = self.ring_fd(payload, fds, "err")
        if fd is not None:
            os.close(fd)

    def set_vring_enable(self, payload: bytes, fds: list[int]) -> None:
        index, enable = struct.unpack_from("<II", payload)
        self.vring(index).enabled = bool(enable)
        self.log("vring_enable", index=index, enabled=bool(enable))
        self.process()

    def get_config(self, payload: bytes, fds: list[int]) -> bytes:
        offset, size, flags = struct.unpack_from("<III", payload)
        config = struct.pack("<Q", self.guest_cid)
        region = config[offset:offset + size].ljust(size, b"\0")
        self.log("get_config", offset=offset, size=size, guest_cid=self.guest_cid)
        return struct.pack("<III", offset, size, flags) + region

    HANDLERS: dict[int, Callable[..., bytes | None]] = {
        GET_FEATURES: get_features,
        SET_FEATURES: set_features,
        SET_OWNER: nothing,
        RESET_OWNER: nothing,
        SET_MEM_TABLE: set_mem_table,
        SET_VRING_NUM: set_vring_num,
        SET_VRING_ADDR: set_vring_addr,
        SET_VRING_BASE: set_vring_base,
        GET_VRING_BASE: get_vring_base,
        SET_VRING_KICK: set_vring_kick,
        SET_VRING_CALL: set_vring_call,
        SET_VRING_ERR: set_vring_err,
        GET_PROTOCOL_FEATURES: get_protocol_features,
        SET_PROTOCOL_FEATURES: set_protocol_features,
        SET_VRING_ENABLE: set_vring_enable,
        GET_CONFIG: get_config,
    }

    # -- data plane --

    def process(self) -> None:
        """Take every packet the guest queued on tx, then fill rx with what is due."""
        rx, tx = self.vrings
        if tx.ready():
            while True:
                while (chain := tx.pop()) is not None:
                    self.echo.receive(chain.read(self.mem))
                    tx.push(chain.head, 0)
                if not tx.rearm():
                    break
            tx.notify()
        self.echo.settle()
        if rx.ready():
            while self.echo.has_output():
                chain = rx.pop()
                if chain is None:
                    if rx.rearm():
                        continue
                    break   # the guest kicks rx when it adds buffers
                room = chain.capacity() - VSOCK_HDR.size
                packet = self.echo.next_packet(room)
                written = chain.write(self.mem, packet) if packet is not None else 0
                rx.push(chain.head, written)
            rx.rearm()
            rx.notify()
        self.echo.settle()

    # -- the connection --

    def serve(self, conn: socket.socket) -> None:
        self.selector.register(conn, selectors.EVENT_READ, None)
        while True:
            for key, _ in self.selector.select():
                if key.data is None:
                    if not self.message(conn):
                        return
                else:
                    try:
                        os.read(key.fd, 8)
                    except BlockingIOError:
                        pass
                    self.process()

    def message(self, conn: socket.socket) -> bool:
        """Read and serve one message; False once QEMU has closed the connection."""
        try:
            head, fds = recv_with_fds(conn, HEADER.size)
        except ConnectionResetError:
            return False
        if not head:
            return False
        request, flags, size = HEADER.unpack(head)
        if size > MAX_PAYLOAD:
            raise ProtocolError(f"request {request}: payload of {size} bytes")
        payload = recv_exact(conn, size)
        self.messages += 1
        reply = self.handle(request, flags, payload, fds)
        if reply is not None:
            conn.sendall(HEADER.pack(request, FLAG_VERSION | FLAG_REPLY, len(reply))
                         + reply)
        return True


def recv_with_fds(conn: socket.socket, size: int) -> tuple[bytes, list[int]]:
    fds = array.array("i")
    data, ancdata, _, _ = conn.recvmsg(size, socket.CMSG_SPACE(MAX_FDS * fds.itemsize))
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(cdata[:len(cdata) - len(cdata) % fds.itemsize])
    if data and len(data) < size:
        data += recv_exact(conn, size - len(data))
    return data, list(fds)


def recv_exact(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        part = conn.recv(size - len(data))
        if not part:
            raise ProtocolError(
                f"connection closed inside a message ({len(data)} of {size})")
        data += part
    return data


# -- the program ---------------------------------------------------------------------------

def listen(path: Path) -> socket.socket:
    """Listen on path; a socket file left there by an earlier instance is replaced."""
    if path.is_socket():
        path.unlink()
    elif path.exists():
        raise SystemExit(f"vhost_user_vsock: {path} exists and is not a socket")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    return server


def serve_one(args: argparse.Namespace, log: EventLog, first: bool) -> int:
    """Listen, serve one QEMU connection with a new backend, and say how it ended."""
    server = listen(args.socket)
    try:
        log("listening", socket=str(args.socket), guest_cid=args.guest_cid,
            echo_port=args.echo_port, features=hex(FEATURES),
            protocol_features=hex(PROTOCOL_FEATURES))
        if first:
            print(f"listening {args.socket}", flush=True)
        conn, _ = server.accept()
        server.close()
        log("qemu_connected")
        backend = Backend(args.guest_cid, args.echo_port, log)
        try:
            backend.serve(conn)
        except ProtocolError as e:
            log("protocol_error", message=str(e))
            print(f"vhost_user_vsock: protocol error: {e}", file=sys.stderr)
            return 1
        finally:
            conn.close()
        log("qemu_disconnected", messages=backend.messages, **backend.echo.totals)
        return 0
    finally:
        server.close()
        try:
            args.socket.unlink()
        except FileNotFoundError:
            pass


def run(args: argparse.Namespace, log: EventLog) -> int:
    status = serve_one(args, log, first=True)
    while status == 0 and args.serve_again:
        status = serve_one(args, log, first=False)
    return status


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="vhost-user vsock backend with an echo service")
    p.add_argument("--socket", type=Path, required=True,
                   help="Unix socket QEMU connects to")
    p.add_argument("--guest-cid", type=int, default=4, help="the guest's CID (default 4)")
    p.add_argument("--echo-port", type=int, default=9999,
                   help="host port whose connections are echoed (default 9999)")
    p.add_argument("--log", type=Path, help="JSON-lines event log (default: stderr)")
    p.add_argument("--serve-again", action="store_true",
                   help="after QEMU disconnects, serve its next connection with a new "
                        "backend (as vhost-device-vsock does) until SIGTERM")
    args = p.parse_args(argv)
    if not 3 <= args.guest_cid < 0xFFFFFFFF:
        p.error(f"--guest-cid {args.guest_cid}: a guest CID is 3 to 4294967294")
    if not 0 <= args.echo_port <= 0xFFFFFFFF:
        p.error(f"--echo-port {args.echo_port}: a vsock port is 32 bits")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def terminate(signum: int, _frame: object) -> None:
        raise SystemExit(0)   # through run()'s cleanup: the socket file goes

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    out = open(args.log, "a") if args.log else sys.stderr
    try:
        return run(args, EventLog(out))
    except OSError as e:
        print(f"vhost_user_vsock: {e}", file=sys.stderr)
        return 1
    finally:
        # Done either way: a SIGTERM that comes now (QEMU went away just as the test
        # stopped this backend) must not turn the exit status into -15 at shutdown.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if out is not sys.stderr:
            out.close()


if __name__ == "__main__":
    sys.exit(main())
