"""Child process: boot a vsock smoke guest through the library and let it echo.

usage: vsock_boot.py SPEC-JSON
SPEC: {"prefix", "name", "console", "result", "timeout", "port", "rounds",
       "smoke_nr", "smoke_answer", "args": [qemu args],
       optional "save": {"name", "from": "main" | "hypercall"}, "rounds_after": N}
The guest's init (tests/smoke/init.c built with vsock-echo.c) loads its vsock modules and
asks the host, by hypercall, whether to run an echo round; this process lets it run
"rounds" of them (one after the other) against the backend behind the vsock device.
With "save" it then saves an internal snapshot, synchronously from a thread holding the
BQL ("main", as Penguin's penguin_save_snapshot) or scheduled from inside the guest's
next hypercall ("hypercall"), and lets the guest run "rounds_after" more rounds (default
1). Then it stops the VM (or at the timeout) and writes what it saw as JSON to
SPEC["result"]. The backend itself is the test's: it must listen before this process
starts. A process started with "-loadvm TAG" among the args works the same way: the
restored guest goes on asking, and its counters go on from the saved ones.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from penguin_qemu import Qemu, QemuError, SnapshotResult
from vsock.guest_link import VsockGuestLink


def save_snapshot(qemu: Qemu, link: VsockGuestLink, how: dict, timeout: float) -> dict:
    """Save how["name"] the way how["from"] says; what happened and how long it took."""
    start = time.monotonic()
    if how["from"] == "main":
        try:
            with qemu.bql():
                qemu.snapshots.save(how["name"])
            outcome = {"ok": True, "reason": ""}
        except QemuError as e:
            outcome = {"ok": False, "reason": str(e)}
    else:
        done = threading.Event()
        result: list[SnapshotResult] = []

        def finished(r: SnapshotResult) -> None:
            result.append(r)
            done.set()

        link.call_at_next_ask(lambda: qemu.snapshots.schedule(how["name"], done=finished))
        if not done.wait(timeout):
            return {"ok": False, "reason": f"no completion in {timeout} s"}
        outcome = {"ok": result[0].ok, "reason": result[0].reason}
    return {**how, **outcome, "seconds": round(time.monotonic() - start, 3)}


def main() -> int:
    spec = json.loads(sys.argv[1])
    console = Path(spec["console"])
    console.unlink(missing_ok=True)
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    qemu.on_hypercall(spec["smoke_nr"], lambda call: spec["smoke_answer"])
    link = VsockGuestLink(qemu, spec["port"])
    link.request_rounds(spec["rounds"])
    seen: dict = {}
    vm_ended = threading.Event()

    start = time.monotonic()

    def wait_rounds(count: int) -> bool:
        while not link.wait_rounds(count, 0.2):
            if vm_ended.is_set():
                return False
            if time.monotonic() - start > spec["timeout"]:
                seen["timed_out"] = True
                return False
        return True

    def watch() -> None:
        if wait_rounds(spec["rounds"]) and "save" in spec:
            seen["save"] = save_snapshot(qemu, link, spec["save"], spec["timeout"])
            after = spec.get("rounds_after", 1)
            link.request_rounds(after)
            wait_rounds(spec["rounds"] + after)
        if not vm_ended.is_set():
            seen["stop_seconds"] = round(time.monotonic() - start, 3)
            qemu.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    seen["status"] = qemu.run(spec["args"])
    vm_ended.set()
    watcher.join()
    seen.update(link.summary())
    seen["console"] = console.read_text(errors="replace") if console.exists() else ""
    Path(spec["result"]).write_text(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
