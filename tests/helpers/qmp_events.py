"""Child process: QMP events of Penguin's own, from every kind of thread (issue 25).

usage: qmp_events.py SPEC-JSON
SPEC: {"prefix", "name", "args": [qemu args], "qmp": [path of the negotiated client,
       path of the client that never negotiates], "burst", "result"}
The guest (tests/guests/snapshot-aarch64.S) makes NR_TICK hypercalls forever. Before
qemu_init an emit is refused. Then, with one client on each -qmp socket:
 1. the client's command x-emit runs its handler on the main thread, which emits one
    event (seq 0);
 2. the guest's hypercall handler (its vCPU thread) and a plain thread each emit
    `burst` events at the same time, numbering them under one lock with the call, so
    the numbers are the order of the calls;
 3. x-emit again (main thread), then events without data (None and "");
 4. every bad name and datum (each must be refused, and never reach a client);
 5. a last event, and at once a shutdown request: it must still be delivered.
Writes the emitters' record and what each client read to SPEC["result"].
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path

from penguin_qemu import Qemu, QemuError
from qmp_client import connect_unix

NR_TICK = 0x50454E30
EVENT = "PENGUIN_TEST_EVENT"
BAD_NAMES = ["", "9lives", "has space", "semi;colon", "x" * 129, "ünicode"]
BAD_DATA = ["[1, 2]", "42", "\"text\"", "null", "{\"open\": ", "{} {}", "not json"]
READ_TIMEOUT = 30
PACE = 0.0005       # between one thread's emits: the two bursts interleave


class Emitter:
    """Numbers events in the order of the emit calls, across threads."""

    def __init__(self, qemu: Qemu):
        self.qemu = qemu
        self.lock = threading.Lock()
        self.seq = 0
        self.sent: list[dict] = []

    def emit(self, source: str, data: dict | str | None = "auto") -> None:
        with self.lock:
            payload = {"seq": self.seq, "from": source} if data == "auto" else data
            if isinstance(payload, str):
                rc = self.qemu.lib.penguin_qmp_emit_event(EVENT.encode(), payload.encode())
                self.qemu.check(rc, "emit")
            else:
                self.qemu.qmp.emit(EVENT, payload)
            self.sent.append({"seq": self.seq, "from": source,
                              "thread": threading.current_thread().name,
                              "data": payload})
            self.seq += 1


def connect(path: str) -> tuple[socket.socket, object]:
    """The socket, and a reader of its lines. Commands go out through the socket itself:
    a text stream's write() drops the lines it has read ahead and not yet returned."""
    sock = connect_unix(path, seconds=10)
    sock.settimeout(READ_TIMEOUT)
    return sock, sock.makefile("r")


def send(sock: socket.socket, command: dict) -> None:
    sock.sendall((json.dumps(command) + "\n").encode())


def read_until(stream, want, events: list) -> dict | None:
    """Read messages, keeping events, until want(message) holds; that message."""
    for line in stream:
        msg = json.loads(line)
        if "event" in msg:
            events.append(msg)
        if want(msg):
            return msg
    return None


def bad_inputs(qemu: Qemu) -> list:
    """Each bad name and datum, raw through the library: what it answered."""
    ffi, lib = qemu.ffi, qemu.lib
    out = [["null-name", lib.penguin_qmp_emit_event(ffi.NULL, b"{}"), qemu.last_error()]]
    for name in BAD_NAMES:
        out.append([name, lib.penguin_qmp_emit_event(name.encode(), ffi.NULL),
                    qemu.last_error()])
    for data in BAD_DATA:
        out.append([data, lib.penguin_qmp_emit_event(b"PENGUIN_BAD_DATA", data.encode()),
                    qemu.last_error()])
    return out


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    emitter = Emitter(qemu)
    seen: dict = {"events": [], "silent": [], "threads": {}}
    qemu.lib.penguin_set_error_printing(False)
    try:
        qemu.qmp.emit(EVENT, {"early": True})
        seen["early"] = "no error"
    except QemuError as e:
        seen["early"] = str(e)
    burst_go = threading.Event()
    vcpu_left = [spec["burst"]]

    def tick(call) -> int:
        if burst_go.is_set() and vcpu_left[0] > 0:
            emitter.emit("vcpu")
            vcpu_left[0] -= 1
            time.sleep(PACE)
        return 0

    def x_emit(args: dict) -> dict:
        seen["threads"]["x-emit"] = threading.current_thread() is threading.main_thread()
        emitter.emit("main")
        return {}

    qemu.on_hypercall(NR_TICK, tick)
    qemu.qmp.on("x-emit", x_emit)

    def client() -> None:
        qemu.wait_started(READ_TIMEOUT)
        sock, stream = connect(spec["qmp"][0])
        quiet, quiet_stream = connect(spec["qmp"][1])
        quiet.settimeout(0.5)
        read_until(stream, lambda m: "QMP" in m, seen["events"])
        seen["silent"].append(quiet_stream.readline())       # its greeting only
        send(sock, {"execute": "qmp_capabilities"})
        read_until(stream, lambda m: "return" in m, seen["events"])
        send(sock, {"execute": "x-emit"})
        read_until(stream, lambda m: "return" in m, seen["events"])

        def plain() -> None:
            for _ in range(spec["burst"]):
                emitter.emit("thread")
                time.sleep(PACE)

        other = threading.Thread(target=plain, name="plain")
        burst_go.set()
        other.start()
        other.join()
        while vcpu_left[0] > 0:
            time.sleep(0.01)
        send(sock, {"execute": "x-emit"})
        read_until(stream, lambda m: "return" in m, seen["events"])
        emitter.emit("no-data", None)
        emitter.emit("empty-data", "")
        seen["bad"] = bad_inputs(qemu)
        emitter.emit("last")
        qemu.stop()
        last = emitter.seq - 1
        read_until(stream, lambda m: m.get("data", {}).get("seq") == last, seen["events"])
        try:
            seen["silent"] += quiet_stream.readlines()
        except OSError as e:
            seen["silent"].append(f"read ended: {type(e).__name__}")
        sock.close()
        quiet.close()

    thread = threading.Thread(target=client, daemon=True)
    thread.start()
    seen["status"] = qemu.run(spec["args"])
    thread.join(READ_TIMEOUT)
    seen["sent"] = emitter.sent
    Path(spec["result"]).write_text(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
