"""Child process: snapshots through the library while a guest counts (test_snapshot.py).

usage: snapshot_checks.py LIBRARY NAME CYCLES -- QEMU-ARGS...
Prints `RESULT <json>` with what happened, in order.
"""

from __future__ import annotations

import json
import sys
import threading
import time

from penguin_qemu import Hypercall, Qemu

NR_TICK = 0x50454E30
BATCH = [(f"b{i // 2}", i % 2 == 1) for i in range(10)]   # save b0, load b0, save b1, ...
LONG_NAME = "n" * 300


def rss_kib() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    library, name, cycles = sys.argv[1], sys.argv[2], int(sys.argv[3])
    qemu = Qemu(name, library=library)
    ffi, lib = qemu.ffi, qemu.lib
    log: dict = {"events": [], "cycles": []}
    # Re-entrant: a refused request completes at once, inside the tick that made it.
    lock = threading.RLock()
    state = {"phase": "start", "mark": None, "t0": 0.0}
    done = threading.Event()
    ticking = threading.Event()

    def schedule(name: str, load: bool, phase: str) -> None:
        state["phase"] = phase
        state["t0"] = time.monotonic()
        lib.penguin_schedule_snapshot(name.encode(), load)

    def tick(call: Hypercall) -> int:
        reg, ram = call.args[0], call.args[1]
        with lock:
            phase = state["phase"]
            if phase == "start" and reg >= 5:
                # Synchronous snapshots are refused on a vCPU thread, with or without
                # the BQL (the VM would stop under its own vCPU); the guest goes on.
                log["events"].append(["sync-from-vcpu",
                                      bool(lib.penguin_save_snapshot(b"x")),
                                      qemu.last_error()])
                lib.bql_lock_impl(__file__.encode(), 0)
                log["events"].append(["sync-from-vcpu-bql",
                                      bool(lib.penguin_load_snapshot(b"x")),
                                      qemu.last_error()])
                lib.bql_unlock()
                # A name the snapshot table cannot hold whole completes at once, failed.
                lib.penguin_schedule_snapshot(LONG_NAME.encode(), False)
                log["events"].append(["long-name", qemu.last_error()])
                schedule("s1", False, "saving")
            elif phase == "saved":
                log["events"].append(["first-after-save", reg, ram])
                state["mark"] = reg
                state["phase"] = "running"
            elif phase == "running" and reg >= state["mark"] + 1000:
                log["events"].append(["before-load", reg, ram])
                schedule("s1", True, "loading")
            elif phase == "loaded":
                log["events"].append(["first-after-load", reg, ram])
                schedule("no-such-snapshot", True, "loading-missing")
            elif phase == "after-sync":
                log["events"].append(["tick-after-sync", reg, ram])
                state["phase"] = "end"
                ticking.set()
            elif phase == "missing-failed":
                log["events"].append(["first-after-failed-load", reg, ram])
                # Ten at once from one callback: they run one at a time, in order.
                state["phase"] = "batch"
                state["batch"] = []
                for bname, load in BATCH:
                    lib.penguin_schedule_snapshot(bname.encode(), load)
            elif phase == "batch-done":
                log["events"].append(["tick-after-batch", reg, ram])
                schedule("cycle", False, "cycle-save")
        return 0

    def on_done(cname, load, ok, opaque) -> None:
        with lock:
            snap = ffi.string(cname).decode()
            log["events"].append(["done", snap, bool(load), bool(ok)])
            phase = state["phase"]
            if phase == "saving":
                state["phase"] = "saved"
            elif phase == "loading":
                state["phase"] = "loaded"
            elif phase == "loading-missing":
                state["phase"] = "missing-failed"
            elif phase == "batch":
                state["batch"].append([snap, bool(load), bool(ok)])
                if len(state["batch"]) == len(BATCH):
                    log["events"].append(["batch", state["batch"]])
                    state["phase"] = "batch-done"
            elif phase == "cycle-save":
                schedule("cycle", True, "cycle-load")
            elif phase == "cycle-load":
                log["cycles"].append([round(time.monotonic() - state["t0"], 4), rss_kib()])
                if len(log["cycles"]) >= cycles:
                    done.set()
                else:
                    schedule("cycle", False, "cycle-save")

    def stopper() -> None:
        done.wait(240)
        # The synchronous API from a plain thread holding the BQL, as Penguin calls it.
        lib.bql_lock_impl(__file__.encode(), 0)
        log["events"].append(["sync-save", bool(lib.penguin_save_snapshot(b"sync"))])
        log["events"].append(["sync-load", bool(lib.penguin_load_snapshot(b"sync"))])
        log["events"].append(["sync-load-missing",
                              bool(lib.penguin_load_snapshot(b"nope"))])
        log["events"].append(["sync-long-name", bool(lib.penguin_save_snapshot(
            LONG_NAME.encode())), qemu.last_error()])
        with lock:
            state["phase"] = "after-sync"
        lib.bql_unlock()
        ticking.wait(30)  # the guest still runs after the failed load
        qemu.stop()

    qemu._keep = ffi.callback("penguin_snapshot_done_cb_t", on_done)
    lib.set_penguin_snapshot_done_callback(qemu._keep, ffi.NULL)
    qemu.on_hypercall(NR_TICK, tick)
    threading.Thread(target=stopper, daemon=True).start()
    qemu.run(sys.argv[5:])
    ok = ffi.new("bool *")
    log["completed"] = [lib.penguin_snapshots_completed(ok), bool(ok[0])]
    print("RESULT " + json.dumps(log), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
