"""Child process: fast snapshots of a fast-snapshot test guest (tests/guests/FASTSNAP.md).

usage: fastsnap_guest.py SPEC-JSON
SPEC: {"library", "name", "result", "args": [qemu args],
       "scenario": "exact" | "cycles" | "errors" | "drive" | "hostile" |
                   "context" | "refused", "cycles": N (cycles only),
       "keep": true (drive only: the VM ends with the snapshot, not dropped),
       "event_driven": [GDB numbers a running guest's reports may differ in]}

"exact": scheduled from the guest's hypercalls, take at point 1, restore twice (at point
4 and, after running on, at point 3); then, with the VM paused (QMP stop), a synchronous
take at a point and a restore three points later, reading every GDB register and the
guest's RAM around each. "cycles": take at point 1, then N times: let the guest run one
iteration on and restore (all scheduled from its hypercalls), with the report after every
restore and the process's RSS recorded. "errors": every refusal with its errno and reason
(before qemu_init, on a vCPU thread, without the BQL, unknown and dropped handles, inside
an internal snapshot) and the migration blocker's life. "drive": one take with the
command line's drives. "hostile": restores while paused then cont, restores from three
threads racing the guest's scheduled ones. "context": snapshots from QMP handlers, and a
drive attached after a take. "refused": a take with an unrestorable device.

Writes what happened as JSON to SPEC["result"] after the VM stopped.
"""

from __future__ import annotations

import hashlib
import json
import queue
import sys
import threading
import time
import traceback
from typing import Any, Callable

import cffi

from penguin_qemu import Hypercall, Qemu
from guest_registers import GuestRegisters
from penguin_qemu.qemu import QemuError
from penguin_qemu.runtime import FastSnapshotResult
from qmp_client import qmp_exchange

NR_FS_POINT, NR_FS_REPORT = 0x50454E40, 0x50454E41
WAIT = 60.0
TAKE_EVERY = 100          # cycles: one in TAKE_EVERY also takes and drops a snapshot
RSS_EVERY = 100           # cycles between two samples of the process's RSS


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class GuestHost:
    """The host side of FASTSNAP.md: the vCPU's hypercalls meet a control thread
    through queues; the control thread decides what each point does."""

    def __init__(self, qemu: Qemu):
        self.qemu = qemu
        self.points: queue.Queue[int] = queue.Queue()
        self.replies: queue.Queue[Any] = queue.Queue()
        self.reports: queue.Queue[dict] = queue.Queue()
        self.dones: queue.Queue[FastSnapshotResult] = queue.Queue()
        self.layout: dict | None = None
        self.finished = threading.Event()   # the control thread is done: points go on
        self.scheduled_restore: int | None = None   # every point restores this
        self.scheduled_count = 0                    # restores scheduled that way
        self.scheduling = threading.Lock()          # guards the two above
        self.registers = GuestRegisters(qemu)
        self.clock_regs: list[int] | None = None   # registers that count time alone
        self.event_driven: list[int] = []           # set by events, not the program
        # QMP's stop and cont, to read a paused VM's state as a debugger would.
        self.qmp_ffi = cffi.FFI()
        self.qmp_ffi.cdef("void qmp_stop(void *errp); void qmp_cont(void *errp);")
        self.qmp_ffi.cdef(BLOCK)
        self.qmp = self.qmp_ffi.dlopen(str(qemu.path))
        qemu.on_hypercall(NR_FS_POINT, self.on_point)
        qemu.on_hypercall(NR_FS_REPORT, self.on_report)

    # -- the vCPU's side -------------------------------------------------------------

    def on_point(self, call: Hypercall) -> int:
        if self.layout is None:
            go, buf, buf_len, mem, mem_len = call.args[1:6]
            self.layout = {"go": go, "buf": buf, "buf_len": buf_len, "mem": mem,
                           "mem_len": mem_len}
        with self.scheduling:
            if self.scheduled_restore is not None:
                self.qemu.fast_snapshots.schedule("restore", self.scheduled_restore,
                                                  done=self.dones.put)
                self.scheduled_count += 1
                return 0
        if self.finished.is_set():
            return 1
        self.points.put(call.args[0])
        action = self.replies.get(timeout=WAIT)
        if action == "go":
            return 1
        if callable(action):        # a check that must run on the vCPU thread
            action(call)
            return 1
        if action != "wait":
            op, handle = action
            self.qemu.fast_snapshots.schedule(op, handle, done=self.on_done)
        return 0

    def on_report(self, call: Hypercall) -> int:
        i, slot, dev = call.args[0], call.args[1], call.args[2]
        if self.clock_regs is None:
            self.clock_regs = self.registers.find_clocks(call.cpu)
        layout = self.layout
        words = call.read_memory(layout["buf"], layout["buf_len"])
        pattern = ((i & 0xFFFFFFFF).to_bytes(4, self.qemu.byteorder)
                   * (layout["buf_len"] // 4))
        self.reports.put({"i": i, "slot": slot, "dev": dev, "buf_ok": words == pattern,
                          "regs": self.read_registers(call.cpu)})
        return 0

    def on_done(self, result: FastSnapshotResult) -> None:
        """Main loop, BQL held: let the spinning guest go on."""
        self.release()
        self.dones.put(result)

    def release(self) -> None:
        go = (1).to_bytes(4, self.qemu.byteorder)
        self.qemu.write_memory(self.qemu.lib.qemu_get_cpu(0), self.layout["go"], go)

    # -- state ---------------------------------------------------------------------

    def read_registers(self, cpu) -> dict[int, str]:
        return self.registers.read(cpu)

    def memory_digest(self) -> str:
        cpu = self.qemu.lib.qemu_get_cpu(0)
        data = self.qemu.read_memory(cpu, self.layout["mem"], self.layout["mem_len"])
        return hashlib.sha256(data).hexdigest()

    def paused_state(self) -> dict:
        cpu = self.qemu.lib.qemu_get_cpu(0)
        return {"regs": self.read_registers(cpu), "mem": self.memory_digest()}

    def unsteady(self) -> list[int]:
        """Registers a running guest's reports may differ in: clocks and registers set
        by events (SPEC["event_driven"])."""
        return (self.clock_regs or []) + self.event_driven

    # -- the control thread's side ---------------------------------------------------

    def point(self, expected: int, action: Any) -> None:
        i = self.points.get(timeout=WAIT)
        if i != expected:
            raise AssertionError(f"the guest reached point {i}, expected {expected}")
        self.replies.put(action)

    def done(self) -> FastSnapshotResult:
        return self.dones.get(timeout=WAIT)

    def report(self) -> dict:
        return self.reports.get(timeout=WAIT)


def paused_take(host: GuestHost, qemu: Qemu, point: int) -> tuple[int, dict, dict]:
    """At point, with the VM paused (QMP stop), a synchronous take from this thread
    holding the BQL: (handle, state before, state after)."""
    host.point(point, "wait")
    with qemu.bql():
        host.qmp.qmp_stop(host.qmp_ffi.NULL)
        before = host.paused_state()
        handle = qemu.fast_snapshots.take()
        after = host.paused_state()
        host.release()
        host.qmp.qmp_cont(host.qmp_ffi.NULL)
    return handle, before, after


def paused_restore(host: GuestHost, qemu: Qemu, point: int,
                   handle: int) -> tuple[dict, dict]:
    host.point(point, "wait")
    with qemu.bql():
        host.qmp.qmp_stop(host.qmp_ffi.NULL)
        before = host.paused_state()
        qemu.fast_snapshots.restore(handle)
        after = host.paused_state()
        host.release()
        host.qmp.qmp_cont(host.qmp_ffi.NULL)
    return before, after


def run_points(host: GuestHost, points: range, reports: list) -> None:
    for i in points:
        host.point(i, "go")
        reports.append(["run", host.report()])


def exact(host: GuestHost, qemu: Qemu) -> dict:
    out: dict = {"reports": []}
    reports = out["reports"]
    # Synchronous, from this thread with the BQL, the VM paused around each call.
    paused, before_take, after_take = paused_take(host, qemu, 1)
    reports.append(["after-paused-take", host.report()])
    run_points(host, range(2, 4), reports)
    before_restore, after_restore = paused_restore(host, qemu, 4, paused)
    reports.append(["after-paused-restore", host.report()])
    out["paused"] = {"before_take": before_take, "after_take": after_take,
                     "before_restore": before_restore, "after_restore": after_restore}

    # Scheduled from the point's hypercall, as Penguin's plugins do.
    host.point(2, ("take", 0))
    taken = host.done()
    out["take"] = [taken.result, taken.reason]
    handle = taken.result
    reports.append(["after-take", host.report()])
    run_points(host, range(3, 5), reports)
    host.point(5, ("restore", handle))
    restored = host.done()
    out["restore1"] = [restored.result, restored.reason]
    reports.append(["after-restore-1", host.report()])
    run_points(host, range(3, 4), reports)
    host.point(4, ("restore", handle))
    restored = host.done()
    out["restore2"] = [restored.result, restored.reason]
    reports.append(["after-restore-2", host.report()])

    host.point(3, ("drop", handle))
    dropped = host.done()
    out["drop"] = [dropped.result, dropped.reason]
    with qemu.bql():
        qemu.fast_snapshots.drop(paused)
    out["handles"] = [paused, handle]
    return out


def same_report(a: dict, b: dict, clocks: list[int]) -> bool:
    """Equal reports: the same values and every register but the clocks."""
    keys = ("i", "slot", "dev", "buf_ok")
    if [a[k] for k in keys] != [b[k] for k in keys]:
        return False
    return all(a["regs"][n] == b["regs"][n] for n in a["regs"] if n not in clocks)


def cycles(host: GuestHost, qemu: Qemu, count: int) -> dict:
    """count restores of the snapshot taken at point 1, each scheduled from point 2; every
    TAKE_EVERY-th cycle first takes a second snapshot at point 2 (scheduled), restores
    from point 3 and drops the second one. Every report is compared with the first of
    its point."""
    out: dict = {"mismatches": [], "rss": [], "times": [], "takes": 0}
    host.point(1, ("take", 0))
    taken = host.done()
    out["take"] = [taken.result, taken.reason]
    base = host.report()
    out["base_regs"] = len(base["regs"])
    second_base = None
    for n in range(count):
        take_cycle = n % TAKE_EVERY == TAKE_EVERY - 1
        point = 2
        if take_cycle:
            host.point(2, ("take", 0))
            extra = host.done()
            report = host.report()
            second_base = second_base or report
            if extra.result <= 0 or not same_report(report, second_base, host.unsteady()):
                out["mismatches"].append([n, "take", extra.result, extra.reason, report])
            point = 3
        host.point(point, ("restore", taken.result))
        t0 = time.monotonic()
        restored = host.done()
        out["times"].append(time.monotonic() - t0)
        report = host.report()
        if restored.result != 0 or not same_report(report, base, host.unsteady()):
            out["mismatches"].append([n, "restore", restored.result, restored.reason,
                                      report])
        if take_cycle:
            with qemu.bql():
                qemu.fast_snapshots.drop(extra.result)
            out["takes"] += 1
        if len(out["mismatches"]) >= 5:
            break
        if n % RSS_EVERY == 0 or n == count - 1:
            out["rss"].append([n, rss_kib()])
    out["cycles"] = n + 1
    with qemu.bql():
        qemu.fast_snapshots.drop(taken.result)
    return out


def attempt(qemu: Qemu, what: Callable[[], Any]) -> list:
    """[the call's result] or [the negative errno, the library's reason]."""
    try:
        return [what()]
    except QemuError as e:
        return [int(str(e).rsplit("(", 1)[1].rstrip(")")), qemu.last_error()]


def before_init(qemu: Qemu) -> dict:
    """Every call before qemu_init: refused, and a scheduled one completes at once."""
    fast, lib = qemu.fast_snapshots, qemu.lib
    done: list = []
    fast.schedule("take", done=lambda r: done.append([r.result, r.reason]))
    return {"take": attempt(qemu, fast.take),
            "restore": attempt(qemu, lambda: fast.restore(1)),
            "drop": attempt(qemu, lambda: fast.drop(1)), "schedule_done": done,
            "bad_op": [lib.penguin_fast_snapshot_schedule(7, 0), qemu.last_error()]}


def errors(host: GuestHost, qemu: Qemu) -> dict:
    fast = qemu.fast_snapshots
    out: dict = {}
    # The synchronous calls on a vCPU thread (inside a hypercall), BQL or not.
    vcpu: dict = {}

    def on_vcpu(call: Hypercall) -> None:
        vcpu["take"] = attempt(qemu, fast.take)
        vcpu["restore"] = attempt(qemu, lambda: fast.restore(1))
        vcpu["drop"] = attempt(qemu, lambda: fast.drop(1))
        with qemu.bql():
            vcpu["take_bql"] = attempt(qemu, fast.take)

    host.point(1, on_vcpu)
    host.report()
    out["vcpu"] = vcpu
    # A plain thread without the BQL.
    out["no_bql"] = {"take": attempt(qemu, fast.take),
                     "restore": attempt(qemu, lambda: fast.restore(1)),
                     "drop": attempt(qemu, lambda: fast.drop(1))}
    # Unknown, dropped and twice-dropped handles; the migration blocker lives exactly
    # as long as a snapshot does. The guest spins at point 2 meanwhile, outside any
    # callback: a take stops the vCPUs, which a vCPU waiting in a callback for this
    # thread would never do.
    host.point(2, "wait")
    with qemu.bql():
        out["unknown"] = attempt(qemu, lambda: fast.restore(12345))
        handle = fast.take()
        out["savevm_with_snapshot"] = [bool(qemu.lib.penguin_save_snapshot(b"s")),
                                       qemu.last_error()]
        out["drop"] = attempt(qemu, lambda: fast.drop(handle))
        out["savevm_after_drop"] = [bool(qemu.lib.penguin_save_snapshot(b"s")),
                                    qemu.last_error()]
        out["restore_dropped"] = attempt(qemu, lambda: fast.restore(handle))
        out["drop_dropped"] = attempt(qemu, lambda: fast.drop(handle))
        out["bad_op"] = [qemu.lib.penguin_fast_snapshot_schedule(-1, 0), qemu.last_error()]
        host.release()
    host.report()
    # Scheduled: an unknown handle completes with the reason.
    host.point(3, ("restore", 777))
    result = host.done()
    out["scheduled_unknown"] = [result.op, result.handle, result.result, result.reason]
    host.report()
    # While an internal snapshot runs (its completion runs inside it, on the main loop).
    busy: dict = {}
    finished = threading.Event()

    def inside_internal(result) -> None:
        busy["take"] = attempt(qemu, fast.take)
        busy["internal_ok"] = result.ok
        finished.set()

    qemu.snapshots.schedule("internal", done=inside_internal)
    finished.wait(WAIT)
    out["during_internal"] = busy
    # The guest still runs, and a take works again.
    host.point(4, "wait")
    with qemu.bql():
        handle = fast.take()
        out["take_after"] = [handle]
        fast.drop(handle)
        host.release()
    host.report()
    return out


# The drive's BlockBackend, written and read as its device model does.
BLOCK = """
typedef struct BlockBackend BlockBackend;
BlockBackend *blk_by_name(const char *name);
int blk_pread(BlockBackend *blk, int64_t offset, int64_t bytes, void *buf, int flags);
int blk_pwrite(BlockBackend *blk, int64_t offset, int64_t bytes, const void *buf,
               int flags);
"""


def write_drive(host: GuestHost, offset: int, length: int, pattern: int) -> int:
    """Write pattern bytes to drive d0; the BQL held. 0 or a negative errno."""
    blk = host.qmp.blk_by_name(b"d0")
    return host.qmp.blk_pwrite(blk, offset, length, bytes([pattern]) * length, 0)


def pattern_at(host: GuestHost, offset: int, length: int, pattern: int) -> bool:
    buf = host.qmp_ffi.new("uint8_t[]", length)
    ret = host.qmp.blk_pread(host.qmp.blk_by_name(b"d0"), offset, length, buf, 0)
    return ret >= 0 and bytes(host.qmp_ffi.buffer(buf)) == bytes([pattern]) * length


def drive(host: GuestHost, qemu: Qemu, keep: bool = False) -> dict:
    """A writable drive d0 behind the overlay (the guest spinning at point 1 meanwhile,
    as in errors()): pattern 0x11 before the take, 0x22 after it, restored to 0x11;
    0x33 after the restore stays once the last snapshot is dropped (written down to the
    image). Read-only drives: take and drop only. keep: no drop, the VM ends with the
    snapshot (as a Penguin run may end)."""
    host.point(1, "wait")
    out: dict = {}
    with qemu.bql():
        readonly = write_drive(host, 0, 65536, 0x11) < 0
        out["take"] = attempt(qemu, qemu.fast_snapshots.take)
        if out["take"][0] > 0 and not readonly:
            handle = out["take"][0]
            write_drive(host, 4096, 8192, 0x22)
            out["written"] = pattern_at(host, 4096, 8192, 0x22)
            out["restore"] = attempt(qemu, lambda: qemu.fast_snapshots.restore(handle))
            out["restored"] = pattern_at(host, 0, 65536, 0x11)
            for _ in range(100):        # each restore forgets the write before it
                write_drive(host, 8192, 4096, 0x44)
                qemu.fast_snapshots.restore(handle)
            out["cycles_restored"] = pattern_at(host, 0, 65536, 0x11)
            write_drive(host, 61440, 4096, 0x33)
        if out["take"][0] > 0 and not keep:
            out["drop"] = attempt(qemu, lambda: qemu.fast_snapshots.drop(out["take"][0]))
            out["kept_after_drop"] = pattern_at(host, 61440, 4096, 0x33)
        host.release()
    host.report()
    return out


HOSTILE_THREADS = 3
HOSTILE_SECONDS = 3.0


def attempt_errno(qemu: Qemu, what: Callable[[], Any]) -> int:
    """0, or the negative errno a refused call raised."""
    result = attempt(qemu, what)
    return result[0] if isinstance(result[0], int) and result[0] < 0 else 0


def paused_twice(host: GuestHost, qemu: Qemu) -> dict:
    """With the VM paused (QMP stop), one take and two restores, then cont: the
    guest goes on from the take's point."""
    host.point(1, "wait")
    with qemu.bql():
        host.qmp.qmp_stop(host.qmp_ffi.NULL)
        handle = qemu.fast_snapshots.take()
        qemu.fast_snapshots.restore(handle)
        qemu.fast_snapshots.restore(handle)
        host.release()
        host.qmp.qmp_cont(host.qmp_ffi.NULL)
    return {"handle": handle, "report": host.report()}


def racing(host: GuestHost, qemu: Qemu, handle: int) -> dict:
    """Three threads restore synchronously in a loop while the guest schedules a
    restore at every point it reaches and a fourth thread keeps letting it go on:
    every call answers 0 or -EBUSY, and the guest keeps running."""
    stop = threading.Event()
    answers: dict[int, int] = {}
    lock = threading.Lock()

    def count(value: int) -> None:
        with lock:
            answers[value] = answers.get(value, 0) + 1

    def restorer() -> None:
        while not stop.is_set():
            with qemu.bql():
                count(attempt_errno(qemu, lambda: qemu.fast_snapshots.restore(handle)))

    def releaser() -> None:
        while not stop.is_set():
            with qemu.bql():
                host.release()
            time.sleep(0.001)

    host.scheduled_restore = handle
    host.finished.set()         # points go on by themselves from here,
    host.replies.put("go")      # the one waiting now too
    threads = [threading.Thread(target=restorer) for _ in range(HOSTILE_THREADS)]
    threads.append(threading.Thread(target=releaser))
    for t in threads:
        t.start()
    time.sleep(HOSTILE_SECONDS)
    stop.set()
    for t in threads:
        t.join()
    with host.scheduling:
        host.scheduled_restore = None
    # Every restore the guest scheduled has run before this returns: one still queued
    # on the main loop would otherwise run after the caller's next restore and leave
    # the guest at the take's point, waiting for a release nobody sends.
    scheduled = [host.dones.get(timeout=WAIT).result
                 for _ in range(host.scheduled_count)]
    reports = 0
    while not host.reports.empty():
        host.reports.get()
        reports += 1
    return {"answers": {str(k): v for k, v in answers.items()},
            "scheduled": sorted(set(scheduled)), "scheduled_count": len(scheduled),
            "reports": reports}


def hostile(host: GuestHost, qemu: Qemu) -> dict:
    out = paused_twice(host, qemu)
    out.update(racing(host, qemu, out["handle"]))
    # The guest is sane after all that: one more paused restore, a report from the
    # take's point with its slot, device value and RAM. Nothing of the race runs any
    # more (its threads ended, the restores the guest scheduled completed).
    deadline = time.monotonic() + WAIT
    with qemu.bql():
        host.qmp.qmp_stop(host.qmp_ffi.NULL)
        code = attempt_errno(qemu, lambda: qemu.fast_snapshots.restore(out["handle"]))
        if code == 0:
            host.release()
        host.qmp.qmp_cont(host.qmp_ffi.NULL)
    out["final_restore"] = code
    while time.monotonic() < deadline:
        report = host.reports.get(timeout=WAIT)
        if report["i"] == 1:
            out["final"] = report
            break
    return out


HMP = "char *qmp_human_monitor_command(const char *command_line, bool has_cpu_index, " \
      "int64_t cpu_index, void **errp);"


def qmp_handlers(qemu: Qemu) -> None:
    """QMP commands whose handlers (on the main loop, with the BQL, as penguin.h says)
    take, restore and drop fast snapshots and save and load internal ones."""
    fast, snaps = qemu.fast_snapshots, qemu.snapshots
    qemu.qmp.on("fs-take", lambda args: {"handle": fast.take()})
    qemu.qmp.on("fs-restore", lambda args: fast.restore(args["handle"]))
    qemu.qmp.on("fs-drop", lambda args: fast.drop(args["handle"]))
    qemu.qmp.on("int-save", lambda args: snaps.save(args["name"]))
    qemu.qmp.on("int-load", lambda args: snaps.load(args["name"]))


def context(host: GuestHost, qemu: Qemu, qmp_socket: str, extra_drive: str) -> dict:
    """From QMP handlers: take, restore, an internal save refused while the snapshot
    exists, drop, then the internal save and load. Then a drive attached after a take
    makes the restore refuse."""
    host.point(1, "wait")
    handle = 0

    def step(command: str, **args) -> dict:
        return qmp_exchange(qmp_socket, [{"execute": command, "arguments": args}])[0]

    out: dict = {"take": step("fs-take")}
    handle = out["take"].get("return", {}).get("handle", 0)
    out["restore"] = step("fs-restore", handle=handle)
    out["save_refused"] = step("int-save", name="s1")
    out["drop"] = step("fs-drop", handle=handle)
    out["save"] = step("int-save", name="s1")
    out["load"] = step("int-load", name="s1")
    ffi = cffi.FFI()
    ffi.cdef(HMP)
    lib = ffi.dlopen(str(qemu.path))
    with qemu.bql():
        handle = qemu.fast_snapshots.take()
        lib.qmp_human_monitor_command(f"drive_add 0 {extra_drive}".encode(), False, 0,
                                      ffi.NULL)
        out["hotplug_restore"] = attempt(qemu, lambda: qemu.fast_snapshots.restore(handle))
        qemu.fast_snapshots.drop(handle)
        host.release()
    host.report()
    return out


def refused_take(host: GuestHost, qemu: Qemu) -> dict:
    """A take with a device whose state no snapshot can hold."""
    host.point(1, "wait")
    with qemu.bql():
        out = {"take": attempt(qemu, qemu.fast_snapshots.take)}
        host.release()
    host.report()
    return out


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], library=spec.get("library"), prefix=spec.get("prefix"))
    host = GuestHost(qemu)
    host.event_driven = spec.get("event_driven", [])
    result: dict = {}
    if spec["scenario"] == "errors":
        result["before_init"] = before_init(qemu)
    if spec["scenario"] == "context":
        qmp_handlers(qemu)

    def control() -> None:
        try:
            qemu.wait_started(WAIT)
            if spec["scenario"] == "exact":
                result.update(exact(host, qemu))
            elif spec["scenario"] == "errors":
                result.update(errors(host, qemu))
            elif spec["scenario"] == "drive":
                result.update(drive(host, qemu, spec.get("keep", False)))
            elif spec["scenario"] == "hostile":
                result.update(hostile(host, qemu))
            elif spec["scenario"] == "context":
                result.update(context(host, qemu, spec["qmp_socket"], spec["extra_drive"]))
            elif spec["scenario"] == "refused":
                result.update(refused_take(host, qemu))
            else:
                result.update(cycles(host, qemu, spec["cycles"]))
        except BaseException:  # noqa: BLE001 - reported to the test
            result["error"] = traceback.format_exc()
        finally:
            host.finished.set()
            host.replies.put("go")      # for a point waiting for its reply now
            qemu.stop()

    threading.Thread(target=control, daemon=True).start()
    try:
        qemu.run(spec["args"])
    except BaseException:  # noqa: BLE001 - reported to the test
        result.setdefault("error", traceback.format_exc())
    result["regnums"] = host.registers.regnums
    result["clock_regs"] = host.clock_regs
    with open(spec["result"], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
