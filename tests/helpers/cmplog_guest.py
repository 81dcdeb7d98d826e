"""Child process: compare tracking of a compare-tracking test guest
(tests/guests/CMPLOG.md).

usage: cmplog_guest.py SPEC-JSON
SPEC: {"library", "name", "result", "args": [qemu args]}

At NR_CMP_HELLO the range of the compares and the routine are set and compare tracking
armed; the first NR_COV_READY clears the log, the second disarms it (the lap after must
log nothing), the third stops the VM; each NR_CMP_DONE records every entry of the log.
Writes what happened as JSON to SPEC["result"] once the VM stopped.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import traceback

from penguin_qemu import Hypercall, Qemu

NR_CMP_HELLO, NR_COV_READY, NR_CMP_DONE = 0x50454E73, 0x50454E71, 0x50454E74
WAIT = 60.0


def as_json(entry) -> dict:
    out = dataclasses.asdict(entry)
    out["operands"] = [[v.hex() if isinstance(v, bytes) else v for v in pair]
                       for pair in entry.operands]
    return out


class Host:
    def __init__(self, qemu: Qemu, result: dict):
        self.qemu, self.result = qemu, result
        result["laps"] = []
        self.stopping = False   # the VM stops some time after qemu.stop()
        qemu.on_hypercall(NR_CMP_HELLO, self.on_hello)
        qemu.on_hypercall(NR_COV_READY, self.on_ready)
        qemu.on_hypercall(NR_CMP_DONE, self.on_done)

    def on_hello(self, call: Hypercall) -> int:
        routine, lo, hi, left, right = call.args[:5]
        self.result["hello"] = [routine, lo, hi]
        self.result["strings"] = [call.read_memory(left, 32).hex(),
                                  call.read_memory(right, 32).hex()]
        self.qemu.coverage.add_range(lo, hi)
        self.qemu.cmplog.add_routine(routine)
        self.qemu.cmplog.arm()
        return 0

    def on_ready(self, call: Hypercall) -> int:
        lap = len(self.result["laps"])
        if lap == 1:
            self.qemu.cmplog.disarm()
        elif lap == 2:
            self.stopping = True
            self.qemu.stop()
        self.qemu.cmplog.clear()
        return 0

    def on_done(self, call: Hypercall) -> int:
        if self.stopping:
            return 0
        self.result["laps"].append([as_json(e) for e in self.qemu.cmplog.entries()])
        return 0


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], library=spec.get("library"))
    result: dict = {}
    try:
        Host(qemu, result)
        timer = threading.Timer(WAIT, lambda: (result.update(timed_out=True), qemu.stop()))
        timer.daemon = True
        timer.start()
        result["status"] = qemu.run(spec["args"])
        timer.cancel()
    except BaseException:  # noqa: BLE001 - reported to the test
        result["error"] = traceback.format_exc()
    with open(spec["result"], "w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
