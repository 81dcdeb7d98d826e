"""Child process: a smoke boot with edge coverage and compare tracking armed before
qemu_init over every block and compare (no filter), up to init's first hypercall
(tests/test_coverage_linux.py).

usage: tracked_boot.py SPEC-JSON
SPEC: {"prefix", "name", "nr", "answer", "args", "result", "timeout"}
At hypercall nr (answered with answer) the lap's figures, how many compare-log headers
were written and the call's arguments are recorded, and the VM stopped. Writes them as
JSON to SPEC["result"].
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
from pathlib import Path

from penguin_qemu import Hypercall, Qemu


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    result: dict = {}

    def on_init(call: Hypercall) -> int:
        if "args" not in result:
            result["args"] = list(call.args)
            result["figures"] = qemu.coverage.lap_end().__dict__
            result["cmplog_headers"] = len(qemu.cmplog.written())
            qemu.stop()
        return spec["answer"]

    try:
        qemu.on_hypercall(spec["nr"], on_init)
        qemu.coverage.arm()
        qemu.cmplog.arm()
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
