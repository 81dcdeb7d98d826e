"""Child process: edge coverage of one Linux process among two at the same addresses
(tests/test_coverage_linux.py), on a smoke kernel with tests/smoke/cov_target.c as /init.

usage: coverage_linux.py SPEC-JSON
SPEC: {"prefix", "name", "args", "result", "timeout"}

At COV_HELLO coverage is armed on parse()'s code alone and the program told to run its
laps (COV_MODE_PROCESSES). Each lap's COV_LAP START clears the map (lap 4 first selects
kernel code only), FOLLOW (lap 3, from the child) follows the calling process and clears
the map, END records the map and the lap's figures (and undoes lap 3's and 4's settings);
the VM stops after lap 4. Writes what happened as JSON to SPEC["result"].
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from pathlib import Path

from penguin_qemu import Hypercall, Qemu
from smoke.cov_target import COV_HELLO, COV_LAP, FOLLOW, MODE_PROCESSES, START

LAST_LAP = 4


class Laps:
    def __init__(self, qemu: Qemu, result: dict):
        self.qemu, self.result = qemu, result
        result["laps"] = {}
        qemu.on_hypercall(COV_HELLO, self.on_hello)
        qemu.on_hypercall(COV_LAP, self.on_lap)

    def on_hello(self, call: Hypercall) -> int:
        lo, hi = call.args[0], call.args[1]
        self.result["parse"] = [lo, hi]
        self.qemu.coverage.add_range(lo, hi)
        self.qemu.coverage.arm()
        return MODE_PROCESSES

    def on_lap(self, call: Hypercall) -> int:
        lap, what = call.args[0], call.args[1]
        cov = self.qemu.coverage
        if what == START and lap == LAST_LAP:
            cov.set_mode("kernel")
        if what == FOLLOW:
            cov.follow(call.cpu)
            self.result["space"] = cov.current_space(call.cpu)
        if what in (START, FOLLOW):
            cov.clear()
            return 0
        self.result["laps"][str(lap)] = {"counters": cov.counters(),
                                         "figures": cov.lap_end().__dict__}
        cov.unfollow()
        cov.set_mode("any")
        if lap == LAST_LAP:
            self.qemu.stop()
        return 0


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    result: dict = {}
    try:
        Laps(qemu, result)
        timer = threading.Timer(spec["timeout"],
                                lambda: (result.update(timed_out=True), qemu.stop()))
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
