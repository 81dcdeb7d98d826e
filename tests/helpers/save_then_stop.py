"""Child process: save, then stop, as Penguin's core/snapshot.py does with
stop_after_save (issue 25, item 3).

usage: save_then_stop.py SPEC-JSON
SPEC: {"prefix", "name", "args": [qemu args], "tag", "at_tick", "result"}
The guest (tests/guest_sdk/tick.c) makes NR_TICK hypercalls with two counters. At the
at_tick-th one this process sees, its handler calls penguin_schedule_snapshot(tag) and
at once qemu_system_shutdown_request(2), raw through the library as Penguin's shim
does, and returns. The guest goes on until the main loop takes the snapshot, which
stops the VM first: a run-state handler records the last tick before that stop, the
state the snapshot holds. Writes the first tick's counters (after a -loadvm: the
restored guest's first), the counters at the request and at the stop, the snapshot's
completion and whether it came before qemu_main_loop returned, to SPEC["result"].
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from penguin_qemu import Qemu, SnapshotResult

NR_TICK = 0x50454E30
SHUTDOWN_CAUSE_HOST_QMP_QUIT = 2
# include/system/runstate.h: called with the BQL on every run-state change; on a stop,
# after every vCPU has paused.
VM_CHANGE_STATE = """
typedef struct VMChangeStateEntry VMChangeStateEntry;
VMChangeStateEntry *qemu_add_vm_change_state_handler(
    void (*cb)(void *opaque, bool running, int state), void *opaque);
"""


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    seen: dict = {"ticks": 0, "first": None, "at_save": None, "at_stop": None,
                  "done": []}
    returned = [False]
    last: list = [None]
    qemu.ffi.cdef(VM_CHANGE_STATE)

    def changed(opaque, running: bool, state: int) -> None:
        if not running and seen["at_save"] is not None and seen["at_stop"] is None:
            seen["at_stop"] = last[0]

    on_change = qemu.ffi.callback("void(void *, bool, int)", changed)
    qemu.on_guest_init(lambda machine: qemu.lib.qemu_add_vm_change_state_handler(
        on_change, qemu.ffi.NULL))

    def done(result: SnapshotResult) -> None:
        seen["done"].append([result.name, result.ok, result.reason, returned[0]])

    def tick(call) -> int:
        seen["ticks"] += 1
        last[0] = list(call.args[:2])
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
