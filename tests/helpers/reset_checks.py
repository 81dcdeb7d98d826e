"""Child process: a guest that resets its machine, in the same process (issue 25).

usage: reset_checks.py SPEC-JSON
SPEC: {"prefix", "name", "args": [qemu args], "region", "boots", "result",
       optional "end_in_callback": true, "fast": true}
Penguin's order through the client: the hypercall numbers, the reset-request callback
and the after-guest-init callback (which adds the MMIO region at SPEC["region"]) are
set before qemu_init. The guest (tests/guest_sdk/reset.c) reads REGION + 0x10, writes
REGION + 0x20 and reports with NR_RS_BOOT; this process answers 1 (reset) until it has
seen SPEC["boots"] boots, then 0 and stops the VM. The region answers each read with
READ_BASE + the number of boots seen so far, so each boot's report says which boot's
region answered it.
  end_in_callback  the reset-request callback requests a shutdown (as Penguin's pending
                   change ends a boot): the run must end without a reset
  fast             boot 1 takes a fast snapshot (holding the guest in NR_RS_BOOT until
                   it completes) before it resets; boot 2 restores it, and the guest must
                   be back in boot 1, asking again with boot 1's value
Writes what happened, in order, to SPEC["result"].
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from penguin_qemu import FastSnapshotResult, Qemu

NR_RS_BOOT, NR_RS_AFTER = 0x50454E70, 0x50454E71
READ_BASE = 0x600D0000
ASK_AGAIN, RESET, STOP = 2, 1, 0
GUARD_S = 60


class ResetHost:
    """The host side of reset.c: counts boots, answers, records."""

    def __init__(self, qemu: Qemu, spec: dict):
        self.qemu = qemu
        self.spec = spec
        self.events: list = []
        self.boots = 0
        self.handle = 0
        self.held: str | None = None       # the fast-snapshot op the guest waits for
        self.pending = False

    def read(self, off: int, size: int) -> int:
        self.events.append(["read", off, size])
        return READ_BASE + self.boots

    def write(self, off: int, value: int, size: int) -> None:
        self.events.append(["write", off, size, value])

    def boot(self, call) -> int:
        value = call.args[0] & 0xFFFFFFFF
        if self.held:
            return ASK_AGAIN if self.pending else self.released(value)
        self.events.append(["boot", value])
        self.boots += 1
        if self.spec.get("fast"):
            return self.hold("take" if self.boots == 1 else "restore")
        if self.boots < self.spec["boots"]:
            return RESET
        return self.stop()

    def hold(self, op: str) -> int:
        """Schedule a fast-snapshot op; the guest asks again until it completed."""
        self.held, self.pending = op, True
        self.qemu.fast_snapshots.schedule(op, self.handle, done=self.fast_done)
        return ASK_AGAIN

    def fast_done(self, result: FastSnapshotResult) -> None:
        self.events.append(["fast", result.op, result.result, result.reason])
        if result.op == "take" and result.result > 0:
            self.handle = result.result
        self.pending = False

    def released(self, value: int) -> int:
        """The first question after the op: reset after the take; after the restore
        the guest should be back in boot 1 (its value says which boot it is in)."""
        op, self.held = self.held, None
        if op == "take":
            return RESET
        self.events.append(["asked-again", value])
        return self.stop()

    def stop(self) -> int:
        self.qemu.stop()
        return STOP

    def after(self, call) -> int:
        self.events.append(["after-reset-request", call.args[0] & 0xFFFFFFFF])
        return 0


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    host = ResetHost(qemu, spec)
    inits: list = []

    def at_init(machine) -> None:
        inits.append(qemu.lib.bql_locked())
        qemu.mmio.add(spec["region"], 0x1000, "penguin-reset-test", host.read, host.write)

    def on_reset(cause: int) -> None:
        host.events.append(["reset-request", cause])
        if spec.get("end_in_callback"):
            qemu.stop()

    qemu.on_hypercall(NR_RS_BOOT, host.boot)
    qemu.on_hypercall(NR_RS_AFTER, host.after)
    qemu.on_guest_init(at_init)
    qemu.on_reset_request(on_reset)
    guard = threading.Timer(GUARD_S, lambda: (host.events.append(["timeout"]), qemu.stop()))
    guard.daemon = True
    guard.start()
    status = qemu.run(spec["args"])
    guard.cancel()
    Path(spec["result"]).write_text(json.dumps({"events": host.events, "inits": inits,
                                                "status": status}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
