"""Child process: Penguin's fastsnap lane (penguin_fastsnap_*) over raw cffi.

usage: fastsnap_penguin.py SPEC-JSON
SPEC: {"library", "header", "bits", "byteorder", "result", "args": [qemu args],
       "resets": N, "allowlist": csv, "shared": bool}

As Penguin's shim does: the generated cffi header with the shim's appends is the only
declaration of the library (a missing penguin_fastsnap_* declaration is a failure
here, as it is for Penguin), RTLD_NOW | RTLD_GLOBAL, the lifecycle by hand. The guest
is a fast-snapshot test guest (tests/guests/FASTSNAP.md): at its point 1 the lane is
armed (LOOP_ARM scheduled from the hypercall, on the vCPU thread); each later point
schedules LOOP_RESET_VERIFY (or LOOP_RESET) and the guest spins on its GO word until a
control thread, which polls penguin_fastsnap_seq() as Penguin does, lets it go on. After
the resets, the device block alone: TAKE, RESTORE_VERIFY, PROBE, STATE_DIGEST, the dirty
accounting, the RAM snapshot, and the fork reference's ops one by one. With "shared",
RAM is a shared memory-backend-file and the fork reference must be refused.

Writes what every op reported as JSON to SPEC["result"].
"""

from __future__ import annotations

import json
import os
import queue
import sys
import threading
import time
import traceback

import cffi

from shim import shim_cdef_text

NR_FS_POINT, NR_FS_REPORT = 0x50454E40, 0x50454E41
WAIT = 60.0
SHUTDOWN_CAUSE_HOST_QMP_QUIT = 2
OPS = {name: i for i, name in enumerate([
    "TAKE", "RESTORE", "RELEASE", "PROBE", "RESTORE_VERIFY", "STATE_DIGEST", "FORK_REF",
    "FORK_DIFF", "FORK_DROP", "DIRTY_ARM", "DIRTY_COUNT", "DIRTY_STOP", "RAM_SNAPSHOT",
    "RAM_RESTORE", "RAM_RELEASE", "LOOP_ARM", "LOOP_RESET", "LOOP_RESET_VERIFY"])}
# Penguin's required group (penguin-fastsnap-notes.md): looked up by name.
NAMES = ["schedule", "seq", "last_rc", "last_us", "bh_done_us", "set_denylist",
         "set_allowlist", "section_names", "section_count", "block_size", "last_digest",
         "last_ram_digest", "diff_pages", "diff_us", "diff_bytes_checked", "diff_report",
         "ram_restored_pages", "ram_restored_code_pages", "ram_snapshot_bytes",
         "dirty_pages", "dirty_pages_scanned", "dirty_page_size", "dirty_report",
         "dirty_blocks", "dev_diff_sections", "dev_unrestorable_sections",
         "dev_diff_report"]
STRINGS = {"section_names", "diff_report", "dirty_report", "dirty_blocks",
           "dev_diff_report"}


class Lane:
    """Penguin's side: ops scheduled, completion polled through the counter."""

    def __init__(self, ffi, lib):
        self.ffi, self.lib = ffi, lib
        self.fn = {name: getattr(lib, f"penguin_fastsnap_{name}") for name in NAMES}

    def schedule(self, op: str) -> int:
        """Schedule op; returns the counter value to wait past."""
        seq = self.fn["seq"]()
        self.fn["schedule"](OPS[op])
        return seq

    def wait(self, seq: int) -> dict:
        deadline = time.monotonic() + WAIT
        while self.fn["seq"]() <= seq:
            if time.monotonic() > deadline:
                raise TimeoutError(f"seq stayed at {seq}")
            time.sleep(0.0005)
        return self.results()

    def results(self) -> dict:
        out = {}
        for name in NAMES[2:]:
            if name.startswith("set_"):
                continue
            value = self.fn[name]()
            out[name] = self.ffi.string(value).decode() if name in STRINGS else value
        return out

    def run(self, op: str) -> dict:
        return self.wait(self.schedule(op))


class Guest:
    """The vCPU's points meet the control thread through queues."""

    def __init__(self, ffi, lib, byteorder: str):
        self.ffi, self.lib, self.byteorder = ffi, lib, byteorder
        self.points: queue.Queue[int] = queue.Queue()
        self.actions: queue.Queue = queue.Queue()
        self.acted: queue.Queue[bool] = queue.Queue()
        self.reports: queue.Queue[list] = queue.Queue()
        self.go = 0
        self.finished = threading.Event()

    def on_point(self, i: int, go: int) -> int:
        self.go = go
        if self.finished.is_set():
            return 1
        self.points.put(i)
        action = self.actions.get(timeout=WAIT)
        if action is None:
            return 1
        try:
            action()        # schedules an op from this vCPU thread
        finally:
            self.acted.put(True)
        return 0            # spin on GO

    def release(self) -> None:
        """Let the spinning guest go on: the BQL held, as cpu_memory_rw_debug needs."""
        data = self.ffi.new("uint8_t[]", (1).to_bytes(4, self.byteorder))
        self.lib.bql_lock_impl(b"fastsnap_penguin.py", 0)
        try:
            rc = self.lib.cpu_memory_rw_debug(self.lib.qemu_get_cpu(0), self.go, data, 4,
                                              True)
        finally:
            self.lib.bql_unlock()
        assert rc == 0, "writing GO failed"

    def point(self, action=None) -> int:
        """The next point's number, once the vCPU has run action there."""
        i = self.points.get(timeout=WAIT)
        self.actions.put(action)
        if action is not None:
            self.acted.get(timeout=WAIT)
        return i


def loop(lane: Lane, guest: Guest, resets: int, allowlist: str) -> dict:
    out: dict = {"resets": []}
    if allowlist:
        lane.fn["set_allowlist"](allowlist.encode())
    seq = [0]

    def arm() -> None:
        seq[0] = lane.schedule("LOOP_ARM")

    out["arm_point"] = guest.point(arm)
    out["arm"] = lane.wait(seq[0])
    guest.release()
    out["first_report"] = guest.reports.get(timeout=WAIT)
    for n in range(resets):
        op = "LOOP_RESET_VERIFY" if n % 2 == 0 else "LOOP_RESET"

        def reset(op=op) -> None:
            seq[0] = lane.schedule(op)

        for _ in range(n % 3):          # run a point or two further each time
            guest.point()
            guest.reports.get(timeout=WAIT)
        point = guest.point(reset)
        result = lane.wait(seq[0])
        guest.release()
        report = guest.reports.get(timeout=WAIT)
        out["resets"].append({"op": op, "point": point, "report": report, **result})
    return out


def block_ops(lane: Lane, guest: Guest) -> dict:
    """The device block, digests, dirty accounting, RAM and fork ops one by one, the
    guest spinning at a point meanwhile."""
    out: dict = {}
    guest.point(lambda: None)
    for op in ("TAKE", "PROBE", "RESTORE_VERIFY", "STATE_DIGEST", "DIRTY_ARM",
               "DIRTY_COUNT", "DIRTY_STOP", "RAM_SNAPSHOT", "RAM_RESTORE", "RAM_RELEASE",
               "FORK_REF", "FORK_DIFF", "FORK_DROP", "RELEASE", "RESTORE"):
        out[op] = lane.run(op)
    seq = lane.fn["seq"]()
    lane.fn["schedule"](99)
    out["bad_op"] = {"seq_moved": lane.fn["seq"]() == seq + 1,
                     "rc": lane.fn["last_rc"]()}
    guest.release()
    guest.reports.get(timeout=WAIT)
    return out


def main() -> int:
    spec = json.loads(sys.argv[1])
    ffi = cffi.FFI()
    ffi.cdef(shim_cdef_text(open(spec["header"]).read(), spec["bits"]))
    lib = ffi.dlopen(spec["library"], os.RTLD_NOW | os.RTLD_GLOBAL)
    lane = Lane(ffi, lib)
    guest = Guest(ffi, lib, spec["byteorder"])
    result: dict = {"before_init": {}}
    # Before qemu_init: an op completes at once, refused.
    seq = lane.fn["seq"]()
    lane.fn["schedule"](OPS["LOOP_ARM"])
    result["before_init"] = {"seq_moved": lane.fn["seq"]() == seq + 1,
                             "rc": lane.fn["last_rc"](),
                             "reason": ffi.string(lib.penguin_last_error()).decode()}

    @ffi.callback("penguin_guest_hypercall_cb_t")
    def on_hypercall(cpu, nr, a0, a1, a2, a3, a4, a5, ret, opaque):
        if nr == NR_FS_POINT:
            ret[0] = guest.on_point(a0, a1)
        elif nr == NR_FS_REPORT:
            guest.reports.put([a0, a1, a2])
            ret[0] = 0
        else:
            return 1
        return 0

    lib.set_penguin_guest_hypercall_callback(on_hypercall, ffi.NULL)
    for nr in (NR_FS_POINT, NR_FS_REPORT):
        lib.penguin_register_guest_hypercall(nr)

    def control() -> None:
        try:
            if spec.get("shared"):
                guest.point(lambda: None)
                result["fork_ref"] = lane.run("FORK_REF")
                result["loop_arm"] = lane.run("LOOP_ARM")
                result["loop_reset_verify"] = lane.run("LOOP_RESET_VERIFY")
                guest.release()
            else:
                result.update(loop(lane, guest, spec["resets"], spec.get("allowlist", "")))
                result["block_ops"] = block_ops(lane, guest)
        except BaseException:  # noqa: BLE001 - reported to the test
            result["error"] = traceback.format_exc()
        finally:
            guest.finished.set()
            guest.actions.put(None)
            lib.qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT)

    threading.Thread(target=control, daemon=True).start()
    args = [ffi.new("char[]", a.encode()) for a in ["qemu", *spec["args"]]]
    argv = ffi.new("char *[]", args + [ffi.NULL])
    lib.qemu_init(len(args), argv)
    if lib.bql_locked():
        lib.bql_unlock()
    lib.replay_mutex_unlock()
    lib.replay_mutex_lock()
    lib.bql_lock_impl(b"fastsnap_penguin.py", 0)
    status = lib.qemu_main_loop()
    lib.qemu_cleanup(status)
    with open(spec["result"], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
