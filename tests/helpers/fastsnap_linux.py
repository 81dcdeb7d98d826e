"""Child process: a Linux smoke boot restored to a point after init started, again and
again (tests/test_fast_snapshot.py).

usage: fastsnap_linux.py SPEC-JSON
SPEC: {"prefix", "name", "args", "console", "result", "timeout", "rounds",
       "smoke_nr", "answer", "record": [numbers], "last_nr"}
init's first hypercall (smoke_nr) schedules a take; every time init makes its last
hypercall (last_nr), a restore of that snapshot is scheduled, rounds times, so init runs
everything after its first hypercall rounds + 1 times. The host keeps every hypercall
and every completion in order, waits until the last round's init has printed its last
line, then stops the VM. Writes what it saw as JSON to SPEC["result"].
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

from penguin_qemu import Hypercall, Qemu
from penguin_qemu.runtime import FastSnapshotResult

INIT_DONE = "PENGUIN-SMOKE done"


def console_text(console: Path) -> str:
    return console.read_text(errors="replace") if console.exists() else ""


def main() -> int:
    spec = json.loads(sys.argv[1])
    console = Path(spec["console"])
    console.unlink(missing_ok=True)
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    seen: dict = {"events": []}
    lock = threading.Lock()
    state = {"handle": 0, "restores": 0}
    finished = threading.Event()

    def on_done(result: FastSnapshotResult) -> None:
        with lock:
            seen["events"].append(["done", result.op, result.result, result.reason])
            if result.op == "take":
                state["handle"] = result.result

    def on_smoke(call: Hypercall) -> int:
        with lock:
            seen["events"].append(["call", call.nr, *call.args])
            if not state["handle"]:
                qemu.fast_snapshots.schedule("take", done=on_done)
        return spec["answer"]

    def on_record(call: Hypercall) -> int:
        with lock:
            seen["events"].append(["call", call.nr, *call.args])
            if call.nr == spec["last_nr"]:
                if state["restores"] < spec["rounds"] and state["handle"] > 0:
                    state["restores"] += 1
                    qemu.fast_snapshots.schedule("restore", state["handle"], done=on_done)
                else:
                    # init prints its last line after this call; lines of earlier
                    # rounds may be there or not (a restore stops the vCPU when the
                    # main loop gets to it, sometimes after init printed).
                    state["done_lines"] = console_text(console).count(INIT_DONE + "\n")
                    finished.set()
        return 0

    def watch() -> None:
        """Stop once init's last line is on the console once per run, or at the
        timeout."""
        start = time.monotonic()
        while time.monotonic() - start < spec["timeout"]:
            text = console_text(console)
            if finished.is_set() and text.count(INIT_DONE + "\n") > state["done_lines"]:
                break
            time.sleep(0.05)
        else:
            seen["timed_out"] = True
        qemu.stop()

    qemu.on_hypercall(spec["smoke_nr"], on_smoke)
    for nr in spec["record"]:
        qemu.on_hypercall(nr, on_record)
    threading.Thread(target=watch, daemon=True).start()
    seen["status"] = qemu.run(spec["args"])
    seen["console"] = console_text(console)
    Path(spec["result"]).write_text(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
