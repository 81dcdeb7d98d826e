"""Child process: the doorbell misuse guest (tests/guests/doorbell-misuse-aarch64.S).

usage: doorbell_misuse.py SPEC-JSON
SPEC: {"library": path, "kernel": path, "result": path, "timeout": s}
Every call the guest's stores make is recorded with its number, a0 and PC; the
write-back call's handler writes 8 bytes at a0 (the doorbell itself) and answers
WRITE_BACK_ANSWER; the done call stops the VM. The result is JSON: the calls and
run()'s status.
"""

from __future__ import annotations

import json
import sys
import threading

from penguin_qemu import Qemu

NR_PROBE, NR_WRITE_BACK, NR_DONE = 0x50454E90, 0x50454E91, 0x50454E92
WRITE_BACK_ANSWER = 0x600D
AARCH64_PC = 32


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu("aarch64", library=spec["library"])
    calls: list[dict] = []

    def record(call) -> None:
        calls.append({"nr": call.nr, "a0": call.args[0],
                      "pc": call.read_reg(AARCH64_PC)})

    def probe(call) -> int:
        record(call)
        return 0

    def write_back(call) -> int:
        record(call)
        call.write_memory(call.args[0], 0x1122334455667788, 8)
        return WRITE_BACK_ANSWER

    def done(call) -> int:
        record(call)
        qemu.stop()
        return 0

    qemu.on_hypercall(NR_PROBE, probe)
    qemu.on_hypercall(NR_WRITE_BACK, write_back)
    qemu.on_hypercall(NR_DONE, done)
    watchdog = threading.Timer(spec["timeout"], qemu.stop)
    watchdog.start()
    status = qemu.run(["-M", "virt", "-cpu", "max", "-nodefaults", "-display", "none",
                       "-monitor", "none", "-serial", "none", "-kernel", spec["kernel"]])
    watchdog.cancel()
    with open(spec["result"], "w") as f:
        json.dump({"calls": calls, "status": status}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
