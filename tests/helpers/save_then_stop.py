"""Child process: save, then stop, as Penguin's core/snapshot.py does with
stop_after_save (issue 25, item 3).

usage: save_then_stop.py SPEC-JSON
SPEC: {"prefix", "name", "args": [qemu args], "tag", "at_tick", "result"}
The guest (tests/guest_sdk/tick.c) makes NR_TICK hypercalls with two counters. At the
at_tick-th one this process sees, its handler calls penguin_schedule_snapshot(tag) and
at once qemu_system_shutdown_request(2), raw through the library as Penguin's shim
does, and returns. Writes the first tick's counters (after a -loadvm: the restored
guest's first), the counters at the save, the snapshot's completion and whether it
came before qemu_main_loop returned, to SPEC["result"].
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from penguin_qemu import Qemu, SnapshotResult

NR_TICK = 0x50454E30
SHUTDOWN_CAUSE_HOST_QMP_QUIT = 2


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    seen: dict = {"ticks": 0, "first": None, "at_save": None, "done": []}
    returned = [False]

    def done(result: SnapshotResult) -> None:
        seen["done"].append([result.name, result.ok, result.reason, returned[0]])

    def tick(call) -> int:
        seen["ticks"] += 1
        if seen["first"] is None:
            seen["first"] = list(call.args[:2])
        if seen["ticks"] == spec["at_tick"]:
            seen["at_save"] = list(call.args[:2])
            qemu.snapshots.schedule(spec["tag"], done=done)
            qemu.lib.qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT)
        return 0

    qemu.on_hypercall(NR_TICK, tick)
    seen["status"] = qemu.run(spec["args"])
    returned[0] = True
    Path(spec["result"]).write_text(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
