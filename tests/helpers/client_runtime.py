"""Child process: the client's wrappers of the runtime hooks against a real VM, with no
raw cffi (tests/test_client.py).

usage: client_runtime.py LIBRARY NAME BASE QMP-SOCKET -- QEMU-ARGS...
The guest is tests/guests/mmio-aarch64.S (accesses at BASE, then NR_MMIO_REMOVE, then a
verdict). Qemu.on_guest_init adds the region through Qemu.mmio; the remove hypercall
takes Qemu.bql() and removes it; Qemu.qmp answers two commands of its own over the
QMP socket (a result and a QmpError); Qemu.on_reset_request sees system_reset; a
scheduled snapshot without a drive completes through its own callback with the reason.
Prints `RESULT <json>`.
"""

from __future__ import annotations

import json
import sys
import threading

from penguin_qemu import Hypercall, Qemu, QemuError, QmpError
from qmp_client import qmp_exchange

NR_VERDICT, NR_MMIO_REMOVE = 0x50454E03, 0x50454E20


def main() -> int:
    library, name, qmp_path = sys.argv[1], sys.argv[2], sys.argv[4]
    base = int(sys.argv[3], 0)
    qemu = Qemu(name, library=library)
    events: list = []
    lock = threading.Lock()

    def log(*event) -> None:
        with lock:
            events.append(list(event))

    def rd(offset: int, size: int) -> int:
        log("read", offset, size)
        return 0x0102030405060708 + offset

    def wr(offset: int, value: int, size: int) -> None:
        log("write", offset, size, value)

    def guest_init(machine) -> None:
        qemu.mmio.add(base, 0x1000, "client", rd, wr)
        try:
            qemu.mmio.add(base + 0x800, 0x100, "overlap", rd, wr)
        except QemuError as e:
            log("overlap-refused", str(e))

    def remove(call: Hypercall) -> int:
        if "removed" in (e[0] for e in events):
            return 0        # the guest again, after the QMP system_reset below
        with qemu.bql():
            qemu.mmio.remove(base)
        log("removed")
        return 0

    def verdict(call: Hypercall) -> int:
        if "verdict" in (e[0] for e in events):
            return 0
        log("verdict", call.args[0])
        qemu.snapshots.schedule("no-drive",
                                done=lambda r: log("snapshot", r.name, r.ok, r.reason))
        threading.Thread(target=talk, daemon=True).start()
        return 0

    def echo(args: dict) -> dict:
        return {"echo": args}

    def refuse(args: dict) -> None:
        raise QmpError("no widget here", "DeviceNotFound")

    def talk() -> None:
        log("qmp", qmp_exchange(qmp_path, [
            {"execute": "x-client-echo", "arguments": {"a": 1}},
            {"execute": "x-client-refuse"},
            {"execute": "system_reset"},
        ]))
        qemu.stop()

    qemu.on_guest_init(guest_init)
    qemu.on_reset_request(lambda cause: log("reset", cause))
    qemu.qmp.on("x-client-echo", echo)
    qemu.qmp.on("x-client-refuse", refuse)
    qemu.on_hypercall(NR_MMIO_REMOVE, remove)
    qemu.on_hypercall(NR_VERDICT, verdict)
    guard = threading.Timer(60, qemu.stop)    # a guest that never ends still ends
    guard.daemon = True
    guard.start()
    qemu.run(sys.argv[sys.argv.index("--") + 1:])
    print("RESULT " + json.dumps(events), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
