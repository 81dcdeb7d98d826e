"""Child process: boot a hypercall test guest and play the host side of PROTOCOL.md.

usage: hypercall_guest.py SPEC-JSON
SPEC: {"library", "name", "bits", "byteorder", "a3_regnum", "result", "args": [qemu args]}
Writes what the host saw as JSON to SPEC["result"] after the VM stopped (not to stdout:
QEMU's stdio chardev, if the guest's serial uses it, is closed by qemu_cleanup).
"""

from __future__ import annotations

import json
import sys
import threading

from penguin_qemu import Qemu
from penguin_qemu.hypercall import NOT_HANDLED, Hypercall

NR_ARGS32, NR_ARGS64 = 0x50454E01, 0x50454E11
NR_WRITE, NR_VERDICT, NR_UNREG, NR_NEARMISS = 0x50454E02, 0x50454E03, 0x50454E04, 0x50454E05
RET = 0xFEDCBA9876543210
WVAL = 0x5A5A5A5A5A5A5A5A


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], library=spec["library"], bits=spec["bits"],
                byteorder=spec["byteorder"])
    seen: dict = {"args": [], "write": 0, "unregistered": [], "nearmiss": 0, "verdict": None,
                  "a3_before_write": None}
    lock = threading.Lock()

    def args_call(call: Hypercall) -> int:
        with lock:
            seen["args"].append([call.nr, *call.args])
        return RET

    def write_call(call: Hypercall) -> int:
        with lock:
            seen["write"] += 1
        call.write_reg(spec["a3_regnum"], WVAL)
        return 0x1234

    def verdict_call(call: Hypercall) -> int:
        with lock:
            seen["verdict"] = call.args[0]
        qemu.stop()
        return 0

    def nearmiss_call(call: Hypercall) -> int:
        with lock:
            seen["nearmiss"] += 1
        return 0

    def unregistered(call: Hypercall):
        with lock:
            seen["unregistered"].append([call.nr, *call.args])
        return NOT_HANDLED

    qemu.on_hypercall(NR_ARGS32, args_call)
    qemu.on_hypercall(NR_ARGS64, args_call)
    qemu.on_hypercall(NR_WRITE, write_call)
    qemu.on_hypercall(NR_VERDICT, verdict_call)
    qemu.on_hypercall(NR_NEARMISS, nearmiss_call)
    qemu.on_unregistered(unregistered)
    status = qemu.run(spec["args"])
    with open(spec["result"], "w") as f:
        json.dump(dict(seen, status=status), f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
