"""Child process: a careless caller's misuse of one library, raw through cffi as
Penguin's shim calls it (issue 25, item 6). One VM per process, so one run covers:

  before qemu_init  qemu_main_loop and qemu_cleanup: refused, the process goes on
  while it runs     qemu_init, qemu_main_loop (with and without the BQL) and
                    qemu_cleanup from another thread: refused
  churn             CHURN_NUMBERS register/unregister cycles with KEEP numbers
                    registered, then CHURN_MMIO MMIO add/remove cycles, while the
                    guest spins: the process's RSS before, after and once settled
  after cleanup     qemu_init again (refused, returns without the BQL), Penguin's lock
                    dance, qemu_main_loop (EXIT_FAILURE), qemu_cleanup twice, the
                    snapshot, MMIO, fast-snapshot and QMP-event calls (refused),
                    callbacks and numbers (still work)

usage: misuse_checks.py SPEC-JSON
SPEC: {"library", "header", "bits", "args": [qemu args], "result",
       "mmio_base", "churn_numbers", "churn_mmio", "keep", "settled_kib"}
"Settled" is the RSS once it is back within settled_kib of where it started, or after
SETTLE_S if it never is: QEMU's RCU thread frees, then gives the memory back to the
system (malloc_trim) once it has nothing left to free.
Writes what each call answered (return value and penguin_last_error) to SPEC["result"].
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

import cffi

from shim import shim_cdef_text

SHUTDOWN_CAUSE_HOST_QMP_QUIT = 2
CHURN_BASE = 0x70000000
SETTLE_S = 5.0
# QEMU's RCU thread runs its callbacks with the BQL: a loop that takes the BQL back the
# moment it let it go starves it, and the frees wait. Every 50 MMIO cycles the churn
# leaves the BQL alone for this long, as any caller that does something else does.
BREATHER_S = 0.005


class Misuse:
    """The library through the shim's cdef, and what each call answered."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.ffi = cffi.FFI()
        self.ffi.cdef(shim_cdef_text(open(spec["header"]).read(), spec["bits"]))
        self.lib = self.ffi.dlopen(spec["library"], os.RTLD_NOW | os.RTLD_GLOBAL)
        self.lib.penguin_set_error_printing(False)
        self.seen: dict[str, Any] = {}
        self.keep: list = []

    def error(self) -> str:
        return self.ffi.string(self.lib.penguin_last_error()).decode()

    def answer(self, name: str, value: Any) -> None:
        """Record a call's value with this thread's last error."""
        if isinstance(value, self.ffi.CData):
            value = int(self.ffi.cast("intptr_t", value))
        self.seen[name] = [value, self.error()]

    def argv(self) -> Any:
        args = [self.ffi.new("char[]", a.encode()) for a in ["qemu", *self.spec["args"]]]
        self.keep.append(args)
        return len(args), self.ffi.new("char *[]", args + [self.ffi.NULL])


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def settled(before: int, within_kib: int) -> tuple[int, float]:
    """The RSS once within within_kib of before (or at SETTLE_S), and when."""
    start = time.monotonic()
    while time.monotonic() - start < SETTLE_S:
        now = rss_kib()
        if now - before <= within_kib:
            break
        time.sleep(0.05)
    return now, round(time.monotonic() - start, 2)


def before_init(m: Misuse) -> None:
    m.answer("early_main_loop", m.lib.qemu_main_loop())
    m.lib.qemu_cleanup(0)
    m.answer("early_cleanup", None)


def while_running(m: Misuse) -> None:
    """From a plain thread while the main loop runs."""
    lib = m.lib
    argc, argv = m.argv()
    lib.qemu_init(argc, argv)
    m.answer("init_while_running", bool(lib.bql_locked()))
    m.answer("main_loop_without_bql", lib.qemu_main_loop())
    lib.bql_lock_impl(b"misuse_checks.py", 0)
    m.answer("main_loop_twice", lib.qemu_main_loop())
    lib.qemu_cleanup(0)
    m.answer("cleanup_while_running", bool(lib.bql_locked()))
    lib.bql_unlock()


def churn_numbers(m: Misuse) -> dict:
    """Register and unregister numbers while the guest spins: the copies replaced
    go through RCU, which the busy vCPU must let finish."""
    lib = m.lib
    for nr in range(m.spec["keep"]):
        lib.penguin_register_guest_hypercall(CHURN_BASE + nr)
    before, start = rss_kib(), time.monotonic()
    peak = before
    for i in range(m.spec["churn_numbers"]):
        nr = CHURN_BASE + m.spec["keep"] + i
        lib.penguin_register_guest_hypercall(nr)
        lib.penguin_unregister_guest_hypercall(nr)
        if i % 1000 == 0:
            peak = max(peak, rss_kib())
    seconds = time.monotonic() - start
    after = max(peak, rss_kib())
    rss, settle_s = settled(before, m.spec["settled_kib"])
    registered = all(lib.penguin_guest_hypercall_registered(CHURN_BASE + nr)
                     for nr in range(m.spec["keep"]))
    return {"rss_before": before, "rss_peak": after, "rss_settled": rss,
            "settle_seconds": settle_s, "seconds": round(seconds, 2),
            "kept_registered": registered}


def churn_mmio(m: Misuse) -> dict:
    """Add and remove an MMIO region (with the BQL) while the guest spins."""
    ffi, lib = m.ffi, m.lib
    rd = ffi.callback("penguin_mmio_read_cb_t", lambda off, size, opaque: 0)
    wr = ffi.callback("penguin_mmio_write_cb_t", lambda off, data, size, opaque: None)
    m.keep += [rd, wr]
    base, failed = m.spec["mmio_base"], []
    before, start = rss_kib(), time.monotonic()
    peak = before
    for i in range(m.spec["churn_mmio"]):
        lib.bql_lock_impl(b"misuse_checks.py", 0)
        added = lib.penguin_qemu_add_mmio_region(base, 0x1000, b"churn", rd, wr, ffi.NULL)
        removed = lib.penguin_qemu_remove_mmio_region(base)
        lib.bql_unlock()
        if added or removed:
            failed.append([added, removed, m.error()])
            break
        if i % 50 == 0:
            peak = max(peak, rss_kib())
            time.sleep(BREATHER_S)
    seconds = time.monotonic() - start
    after = max(peak, rss_kib())
    rss, settle_s = settled(before, m.spec["settled_kib"])
    return {"rss_before": before, "rss_peak": after, "rss_settled": rss,
            "settle_seconds": settle_s, "seconds": round(seconds, 2), "failed": failed}


def after_cleanup(m: Misuse) -> None:
    """Everything a caller might still do once qemu_cleanup returned."""
    ffi, lib = m.ffi, m.lib
    lib.qemu_cleanup(0)
    m.answer("cleanup_twice", None)
    argc, argv = m.argv()
    lib.qemu_init(argc, argv)
    m.answer("init_again", bool(lib.bql_locked()))
    # Penguin's shim goes on as after a first qemu_init (penguin-shim-notes.md).
    if lib.bql_locked():
        lib.bql_unlock()
    lib.replay_mutex_unlock()
    lib.replay_mutex_lock()
    lib.bql_lock_impl(b"misuse_checks.py", 0)
    m.answer("main_loop_after_cleanup", lib.qemu_main_loop())
    lib.qemu_cleanup(0)
    m.answer("cleanup_after_cleanup", None)
    m.answer("save", bool(lib.penguin_save_snapshot(b"late")))
    m.answer("load", bool(lib.penguin_load_snapshot(b"late")))
    done: list = []
    cb = ffi.callback("penguin_snapshot_done_cb_t",
                      lambda name, load, ok, opaque: done.append(bool(ok)))
    m.keep.append(cb)
    lib.set_penguin_snapshot_done_callback(cb, ffi.NULL)
    lib.penguin_schedule_snapshot(b"late", False)
    m.answer("scheduled", done)
    rd = ffi.callback("penguin_mmio_read_cb_t", lambda off, size, opaque: 0)
    wr = ffi.callback("penguin_mmio_write_cb_t", lambda off, data, size, opaque: None)
    m.keep += [rd, wr]
    m.answer("mmio_add", lib.penguin_qemu_add_mmio_region(m.spec["mmio_base"], 0x1000,
                                                          b"late", rd, wr, ffi.NULL))
    m.answer("mmio_remove", lib.penguin_qemu_remove_mmio_region(m.spec["mmio_base"]))
    m.answer("fast_take", lib.penguin_fast_snapshot_take())
    m.answer("qmp_event", lib.penguin_qmp_emit_event(b"late", ffi.NULL))
    lib.bql_unlock()
    lib.replay_mutex_unlock()
    lib.penguin_register_guest_hypercall(0x1234)
    m.answer("register", bool(lib.penguin_guest_hypercall_registered(0x1234)))
    lib.penguin_unregister_guest_hypercall(0x1234)
    m.answer("unregister", bool(lib.penguin_guest_hypercall_registered(0x1234)))
    reset_cb = ffi.callback("penguin_reset_request_cb_t", lambda cause, opaque: None)
    m.keep.append(reset_cb)
    lib.set_penguin_reset_request_callback(reset_cb, ffi.NULL)
    lib.set_penguin_reset_request_callback(ffi.NULL, ffi.NULL)
    m.answer("callbacks_set", True)


def run(m: Misuse) -> None:
    lib = m.lib
    before_init(m)
    argc, argv = m.argv()
    lib.qemu_init(argc, argv)
    if lib.bql_locked():
        lib.bql_unlock()
    lib.replay_mutex_unlock()
    lib.replay_mutex_lock()
    lib.bql_lock_impl(b"misuse_checks.py", 0)

    def during() -> None:
        time.sleep(0.5)
        while_running(m)
        m.seen["churn_numbers"] = churn_numbers(m)
        m.seen["churn_mmio"] = churn_mmio(m)
        lib.qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT)

    thread = threading.Thread(target=during)
    thread.start()
    m.seen["status"] = lib.qemu_main_loop()
    thread.join()
    lib.qemu_cleanup(m.seen["status"])
    lib.bql_unlock()            # what Penguin's shim releases after qemu_cleanup
    lib.replay_mutex_unlock()
    after_cleanup(m)


def main() -> int:
    spec = json.loads(sys.argv[1])
    m = Misuse(spec)
    run(m)
    with open(spec["result"], "w") as f:
        json.dump(m.seen, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
