"""Child process: edge coverage of a coverage test guest (tests/guests/COVERAGE.md).

usage: coverage_guest.py SPEC-JSON
SPEC: {"library", "name", "result", "args": [qemu args], "scenario", ...}

"laps": at NR_COV_HELLO the map size (SPEC["map_size"]) and the range of the graph's
blocks are set and coverage armed; each NR_COV_READY clears the map and answers the next
of SPEC["inputs"] (the VM stops after the last); each NR_COV_DONE ends a lap and records
its figures and the map's nonzero counters.
"smp": coverage armed before qemu_init with SPEC["ranges"]; each vCPU reports NR_COV_DONE
once (a0 = its CPU); the map is read when both have.
"ops": -d op logs every translation (SPEC["args"] names the log); the laps run unarmed,
armed, disarmed.
"errors": every refusal of a bad call with its errno and reason, then one lap with the
map's memfd closed by the caller and the map read back through another descriptor.
"arm-only": arm before qemu_init and report the result (AFL's __AFL_SHM_ID); no VM.

Writes what happened as JSON to SPEC["result"] once the VM stopped.
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import sys
import threading
import traceback
from typing import Any, Callable

from penguin_qemu import Hypercall, Qemu, QemuError

NR_COV_HELLO, NR_COV_READY, NR_COV_DONE = 0x50454E70, 0x50454E71, 0x50454E72
WAIT = 60.0


def attempt(qemu: Qemu, what: Callable[[], Any]) -> list:
    """[the call's result] or [the negative errno, the library's reason]."""
    try:
        return [what()]
    except QemuError as e:
        return [int(str(e).rsplit("(", 1)[1].rstrip(")")), qemu.last_error()]


def raw(qemu: Qemu, code: int) -> list:
    return [int(code), qemu.last_error() if code < 0 else ""]


class Laps:
    """The host side of COVERAGE.md's protocol for one VM."""

    def __init__(self, qemu: Qemu, spec: dict, result: dict):
        self.qemu, self.spec, self.result = qemu, spec, result
        self.inputs = list(spec.get("inputs", []))
        self.stopping = False   # the VM stops some time after qemu.stop()
        self.result.update({"laps": [], "blocks": None})
        self.ready = 0
        qemu.on_hypercall(NR_COV_HELLO, self.on_hello)
        qemu.on_hypercall(NR_COV_READY, self.on_ready)
        qemu.on_hypercall(NR_COV_DONE, self.on_done)

    def on_hello(self, call: Hypercall) -> int:
        cov = self.qemu.coverage
        self.result["blocks"] = list(call.args)
        if self.spec.get("map_size"):
            cov.set_map_size(self.spec["map_size"])
        cov.add_range(call.args[0], call.args[5] + 1)
        if self.spec["scenario"] != "ops":
            cov.arm()
            self.result["fd"] = raw(self.qemu, self.qemu.lib.penguin_coverage_map_fd())
            if self.result["fd"][0] >= 0:
                os.close(self.result["fd"][0])
        return 0

    def on_ready(self, call: Hypercall) -> int:
        lap, self.ready = self.ready, self.ready + 1
        if self.spec["scenario"] == "ops":
            if lap == 1:
                self.qemu.coverage.arm()
            elif lap == 2:
                self.qemu.coverage.disarm()
        if not self.inputs:
            # Disarmed here, the run the guest starts before the VM stops is not
            # counted: its first block comes after the flush this vCPU now owes.
            self.stopping = True
            if self.qemu.coverage.armed:
                self.qemu.coverage.disarm()
            self.qemu.stop()
            return 0
        if self.qemu.coverage.armed:
            self.qemu.coverage.clear()
        return self.inputs.pop(0)

    def on_done(self, call: Hypercall) -> int:
        cov = self.qemu.coverage
        lap: dict = {"sum": call.args[0]}
        if self.stopping:
            return 0
        if cov.armed:
            lap["figures"] = cov.lap_end().__dict__
            lap["counters"] = cov.counters()
        if self.spec.get("plugin"):
            lap["plugin_blocks"] = plugin_blocks(self.spec["plugin"])
        self.result["laps"].append(lap)
        return 0


def plugin_blocks(path: str) -> int:
    """tests/plugins/count-blocks.c's count, from the copy of the plugin -plugin
    loaded (RTLD_NOLOAD: the same handle, never a second copy)."""
    plugin = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_NOLOAD)
    return ctypes.c_uint64.in_dll(plugin, "penguin_test_blocks").value


class Smp:
    """Two vCPUs each report once; the map is read when both have."""

    def __init__(self, qemu: Qemu, spec: dict, result: dict):
        self.qemu, self.result = qemu, result
        self.lock = threading.Lock()
        self.result["done"] = {}
        cov = qemu.coverage
        cov.set_map_size(spec["map_size"])
        for lo, hi in spec["ranges"]:
            cov.add_range(lo, hi)
        cov.arm()
        qemu.on_hypercall(NR_COV_DONE, self.on_done)

    def on_done(self, call: Hypercall) -> int:
        with self.lock:
            self.result["done"][str(call.args[0])] = call.args[1]
            if len(self.result["done"]) == 2:
                self.result["counters"] = self.qemu.coverage.counters()
                self.result["figures"] = self.qemu.coverage.lap_end().__dict__
                self.qemu.stop()
        return 0


def bad_calls(qemu: Qemu) -> dict:
    """Before qemu_init: each bad input, and the calls that need what is not there."""
    lib, ffi = qemu.lib, qemu.ffi
    figures = ffi.new("uint64_t[]", 8)
    out = {
        "size_odd": raw(qemu, lib.penguin_coverage_set_map_size(1000)),
        "size_small": raw(qemu, lib.penguin_coverage_set_map_size(128)),
        "size_large": raw(qemu, lib.penguin_coverage_set_map_size(32 << 20)),
        "size_zero": raw(qemu, lib.penguin_coverage_set_map_size(0)),
        "range_reversed": raw(qemu, lib.penguin_coverage_add_range(0x2000, 0x1000)),
        "range_empty": raw(qemu, lib.penguin_coverage_add_range(0x1000, 0x1000)),
        "lane_filter_reversed": [bool(lib.penguin_fastsnap_cov_set_filter(0x20, 0x10)),
                                 qemu.last_error()],
        "mode": raw(qemu, lib.penguin_coverage_set_mode(7)),
        "lap_before_arm": raw(qemu, lib.penguin_coverage_lap_end(figures, 8)),
        "lap_null": raw(qemu, lib.penguin_coverage_lap_end(ffi.NULL, 3)),
        "lap_negative": raw(qemu, lib.penguin_coverage_lap_end(figures, -1)),
        "fd_before_arm": raw(qemu, lib.penguin_coverage_map_fd()),
        "map_before_arm": lib.penguin_coverage_map() == ffi.NULL,
        "follow_before_init": raw(qemu, lib.penguin_coverage_follow_space(1)),
        "space_null": raw(qemu, lib.penguin_coverage_current_space(ffi.NULL, ffi.NULL)),
        "cmplog_written_null": raw(qemu, lib.penguin_cmplog_written(ffi.NULL, 4)),
    }
    for i in range(lib.PENGUIN_COVERAGE_MAX_RANGES):
        lib.penguin_coverage_add_range(0x1000 * i, 0x1000 * i + 1)
    out["range_too_many"] = raw(qemu, lib.penguin_coverage_add_range(0x7000000, 0x7000001))
    lib.penguin_coverage_clear_ranges()
    out["size_ok"] = raw(qemu, lib.penguin_coverage_set_map_size(4096))
    out["arm"] = raw(qemu, lib.penguin_coverage_arm())
    out["size_after_arm"] = raw(qemu, lib.penguin_coverage_set_map_size(8192))
    out["lane_size_after_arm"] = [bool(lib.penguin_fastsnap_cov_set_map_size(8192)),
                                  qemu.last_error()]
    out["same_size_after_arm"] = raw(qemu, lib.penguin_coverage_set_map_size(4096))
    return out


class Errors(Laps):
    """bad_calls before qemu_init; then one lap of the graph, read through a memfd
    descriptor taken after the caller closed another one."""

    def __init__(self, qemu: Qemu, spec: dict, result: dict):
        result["bad"] = bad_calls(qemu)
        lib = qemu.lib
        first, second = lib.penguin_coverage_map_fd(), lib.penguin_coverage_map_fd()
        result["fds"] = [first, second, first != second and min(first, second) >= 0]
        os.close(first)
        self.fd = second
        super().__init__(qemu, spec, result)

    def on_hello(self, call: Hypercall) -> int:
        self.result["blocks"] = list(call.args)
        self.qemu.coverage.add_range(call.args[0], call.args[5] + 1)
        return 0

    def on_done(self, call: Hypercall) -> int:
        super().on_done(call)
        if self.stopping:
            return 0
        size = self.qemu.coverage.map().nbytes
        with mmap.mmap(self.fd, size, prot=mmap.PROT_READ) as view:
            data = bytes(view)
        self.result["through_fd"] = {i: n for i, n in enumerate(data) if n}
        os.close(self.fd)
        self.result["restore_hook"] = restore_hook(self.qemu, self.spec["library"])
        return 0


def restore_hook(qemu: Qemu, library: str) -> dict:
    """penguin_coverage_fast_restore_hook (internal: what a fast-snapshot restore calls),
    called as that path would: off, on after a lap_end, on with a lap not ended."""
    hook = ctypes.CDLL(library, mode=os.RTLD_NOW | os.RTLD_NOLOAD)
    cov, lib = qemu.coverage, qemu.lib
    out = {}
    hook.penguin_coverage_fast_restore_hook()
    out["off"] = len(cov.counters())
    cov.clear_on_restore(True)
    laps = lib.penguin_fastsnap_cov_laps()
    hook.penguin_coverage_fast_restore_hook()     # the lap was ended by on_done
    out["ended"] = [lib.penguin_fastsnap_cov_laps() - laps, cov.counters()]
    cov.map()[7] = 3                              # a lap nobody ended
    hook.penguin_coverage_fast_restore_hook()
    out["open"] = [lib.penguin_fastsnap_cov_laps() - laps, cov.counters(),
                   cov.last_lap().edges, cov.last_lap().hits]
    cov.clear_on_restore(False)
    return out


def arm_only(qemu: Qemu, result: dict) -> None:
    lib = qemu.lib
    result["arm"] = raw(qemu, lib.penguin_coverage_arm())
    result["map"] = int(qemu.ffi.cast("uintptr_t", lib.penguin_coverage_map()))
    result["fd"] = raw(qemu, lib.penguin_coverage_map_fd())


def watchdog(qemu: Qemu, result: dict, timeout: float) -> threading.Timer:
    def expire() -> None:
        result["timed_out"] = True
        qemu.stop()
    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    return timer


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], library=spec.get("library"), prefix=spec.get("prefix"))
    qemu.lib.penguin_set_error_printing(False)
    result: dict = {}
    try:
        if spec["scenario"] == "arm-only":
            arm_only(qemu, result)
        else:
            kind = {"smp": Smp, "errors": Errors}.get(spec["scenario"], Laps)
            kind(qemu, spec, result)
            timer = watchdog(qemu, result, spec.get("timeout", WAIT))
            result["status"] = qemu.run(spec["args"])
            timer.cancel()
    except BaseException:  # noqa: BLE001 - reported to the test
        result["error"] = traceback.format_exc()
    with open(spec["result"], "w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
