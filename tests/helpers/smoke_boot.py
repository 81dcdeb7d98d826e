"""Child process: smoke-boot a Linux guest through the library and watch its init.

usage: smoke_boot.py SPEC-JSON
SPEC: {"prefix", "name", "nr", "answer", "record": [numbers], "console", "result",
       "timeout", "args": [qemu args], "qmp": {"socket", "commands"} (optional),
       "mode": "system" or "kvm" (optional; the library family, default "system"),
       "stop": false (optional: leave the VM running after init's last line; then the
       file "ready" (optional) is written once the QMP answers are in)}
The host answers hypercall nr with answer and each number in record with 0, and keeps
every call in the order they came; a watcher thread reads the console file and stops the
VM through the library once init has printed its last line (or when the timeout passes),
after sending the spec's QMP commands, if any, to the running VM (answers in "qmp");
with "stop": false it leaves the VM to whoever ends it (a signal, at the timeout).
Writes what it saw as JSON to SPEC["result"].
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from penguin_qemu import Qemu
from penguin_qemu.hypercall import Hypercall
from qmp_client import qmp_exchange

INIT_STARTED = "PENGUIN-SMOKE init: running"
INIT_DONE = "PENGUIN-SMOKE done"


def console_text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def wait_for_init(console: Path, deadline: float, seen: dict,
                  vm_ended: threading.Event) -> bool:
    """True once init's last line is complete on the console; False when the VM ended
    or the deadline (time.monotonic()) passed first."""
    start = time.monotonic()
    while time.monotonic() < deadline and not vm_ended.is_set():
        text = console_text(console)
        if INIT_STARTED in text and "init_seconds" not in seen:
            seen["init_seconds"] = round(time.monotonic() - start, 2)
        done = text.find(INIT_DONE)
        if done >= 0 and "\n" in text[done:]:
            seen["done_seconds"] = round(time.monotonic() - start, 2)
            return True
        time.sleep(0.05)
    return False


def watch(qemu: Qemu, console: Path, timeout: float, seen: dict,
          vm_ended: threading.Event, qmp: dict | None = None, stop: bool = True,
          ready: str | None = None) -> None:
    """Stop the VM once init's last line is complete on the console (unless not stop:
    then whoever ends it), or at the timeout; before that, while it runs, ask QMP what
    was given."""
    deadline = time.monotonic() + timeout
    if wait_for_init(console, deadline, seen, vm_ended):
        if qmp:
            seen["qmp"] = qmp_exchange(qmp["socket"], qmp["commands"])
        if stop:
            qemu.stop()
            return
        if ready:
            Path(ready).write_text(json.dumps(seen.get("qmp")))
        vm_ended.wait(max(0.0, deadline - time.monotonic()))
    if not vm_ended.is_set():
        seen["timed_out"] = True
        qemu.stop()


def main() -> int:
    spec = json.loads(sys.argv[1])
    console = Path(spec["console"])
    console.unlink(missing_ok=True)  # the watcher must not read an earlier boot's lines
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]),
                mode=spec.get("mode", "system"))
    seen: dict = {"calls": []}

    def on_smoke(call: Hypercall) -> int:
        seen["calls"].append({"nr": call.nr, "args": list(call.args)})
        return spec["answer"]

    def on_record(call: Hypercall) -> int:
        seen["calls"].append({"nr": call.nr, "args": list(call.args)})
        return 0

    qemu.on_hypercall(spec["nr"], on_smoke)
    for nr in spec.get("record", []):
        qemu.on_hypercall(nr, on_record)
    vm_ended = threading.Event()
    watcher = threading.Thread(target=watch, daemon=True,
                               args=(qemu, console, spec["timeout"], seen, vm_ended,
                                     spec.get("qmp"), spec.get("stop", True),
                                     spec.get("ready")))
    watcher.start()
    seen["status"] = qemu.run(spec["args"])
    vm_ended.set()
    watcher.join()
    seen["console"] = console_text(console)
    Path(spec["result"]).write_text(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
