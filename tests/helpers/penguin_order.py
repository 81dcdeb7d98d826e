"""Child process: a hypercall guest started the way Penguin starts a run.

usage: penguin_order.py SPEC-JSON
SPEC: {"via": "raw" | "client", "library", "name", "result", "args": [qemu args],
       "registers": {"pc", "args", ...} (GDB numbers), "wait": seconds,
       "churn": bool (keep registering numbers from another thread meanwhile)}

Penguin's order (penguin-shim-notes.md, "Running"): open the library, set the callbacks,
register numbers in several spellings, then spend seconds loading plugins, and only then
call qemu_init. In between, every other set-up call is made here and must be refused
with an error (or take effect later), never crash: the process must survive the wait.
"raw" does it through cffi as Penguin's shim does (its cdef appends, RTLD_NOW |
RTLD_GLOBAL, the lifecycle calls by hand); "client" through penguin_qemu.Qemu.

Writes {"verdict", "calls", "preinit", "churned"} to SPEC["result"].
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any, Callable

import cffi

from shim import shim_cdef_text

NR_ARGS32, NR_ARGS64, NR_WRITE, NR_VERDICT = 0x50454E01, 0x50454E11, 0x50454E02, 0x50454E03
NR_UNREG, NR_NEARMISS, NR_STATE, NR_USER = 0x50454E04, 0x50454E05, 0x50454E06, 0x50454E07
RET, WVAL = 0xFEDCBA9876543210, 0x5A5A5A5A5A5A5A5A
STATE_VALUES = {4: 0x0A0A0A0A0A0A0A0A, 5: 0x0B0B0B0B0B0B0B0B, 2: 0x0C0C0C0C0C0C0C0C}
REGISTERED = (NR_ARGS32, NR_ARGS64, NR_WRITE, NR_VERDICT, NR_NEARMISS, NR_STATE, NR_USER)
SHUTDOWN_CAUSE_HOST_QMP_QUIT = 2


def spellings(nr: int, bits: int) -> set[int]:
    """Raw, low 32 bits, sign-extended 32: as Penguin registers every number."""
    low = nr & 0xFFFFFFFF
    signed = low | 0xFFFFFFFF00000000 if low & 0x80000000 else low
    return {nr, low, signed} if bits == 32 else {nr, low, signed, nr & (2**64 - 1)}


class Host:
    """The host side of tests/guests/PROTOCOL.md, on top of register accessors."""

    def __init__(self, registers: dict, write_reg: Callable[[Any, int, int], None],
                 stop: Callable[[], None]):
        self.registers = registers
        self.write_reg = write_reg
        self.stop = stop
        self.verdict: int | None = None
        self.calls: list[int] = []
        self.lock = threading.Lock()

    def handle(self, cpu, nr: int, a0: int) -> int | None:
        """The return value for a handled call; None leaves the call unhandled."""
        nr &= 0xFFFFFFFF
        with self.lock:
            self.calls.append(nr)
        if nr in (NR_ARGS32, NR_ARGS64, NR_USER):
            return RET
        if nr == NR_WRITE:
            self.write_reg(cpu, self.registers["args"][3], WVAL)
            return 0x1234
        if nr == NR_STATE:
            for index, value in STATE_VALUES.items():
                self.write_reg(cpu, self.registers["args"][index], value)
            return 0x5354
        if nr == NR_VERDICT:
            self.verdict = a0
            self.stop()
            return 0
        if nr == NR_NEARMISS:
            return 0
        return None


def raw_preinit(ffi, lib, done_seen: list) -> dict:
    """Every other set-up call before qemu_init, through the raw ABI."""
    NULL = ffi.NULL

    def last_error() -> str:
        return ffi.string(lib.penguin_last_error()).decode()

    keep = []

    def cb(kind: str, fn) -> Any:
        keep.append(ffi.callback(kind, fn))
        return keep[-1]

    lib.set_penguin_reset_request_callback(cb("penguin_reset_request_cb_t",
                                              lambda c, o: None), NULL)
    lib.set_penguin_qmp_callback(cb("penguin_qmp_cb_t", lambda *a: False), NULL)
    lib.set_penguin_qmp_handler(cb("penguin_qmp_handler_cb_t", lambda *a: 0), NULL)
    lib.set_kvm_penguin_after_guest_init_callback(
        cb("kvm_penguin_after_guest_init_cb_t", lambda m, o: 0), NULL)
    lib.set_penguin_snapshot_done_callback(
        cb("penguin_snapshot_done_cb_t",
           lambda n, load, ok, o: done_seen.append([ffi.string(n).decode(), bool(ok)])),
        NULL)
    rd = cb("penguin_mmio_read_cb_t", lambda a, s, o: 0)
    wr = cb("penguin_mmio_write_cb_t", lambda a, d, s, o: None)
    out: dict = {"abi": lib.penguin_abi_version()}
    out["mmio_add"] = [lib.penguin_qemu_add_mmio_region(0x1000, 0x1000, b"x", rd, wr, NULL),
                       last_error()]
    out["mmio_remove"] = [lib.penguin_qemu_remove_mmio_region(0x1000), last_error()]
    out["save"] = [bool(lib.penguin_save_snapshot(b"s")), last_error()]
    out["save_null"] = [bool(lib.penguin_save_snapshot(NULL)), last_error()]
    out["load"] = [bool(lib.penguin_load_snapshot(b"s")), last_error()]
    lib.penguin_schedule_snapshot(b"s", False)
    lib.penguin_schedule_snapshot(NULL, True)
    last_ok = ffi.new("bool *", True)
    out["completed"] = [lib.penguin_snapshots_completed(last_ok), bool(last_ok[0])]
    out["read_reg_null"] = lib.penguin_read_guest_reg(NULL, 0, ffi.new("uint8_t[8]"), 8)
    ret = ffi.new("uint64_t *")
    out["dispatch"] = bool(lib.penguin_handle_guest_hypercall(NULL, 0xDEAD,
                                                              1, 2, 3, 4, 5, 6, ret))
    out["env_null"] = lib.penguin_cpu_env(NULL) == NULL
    lib.penguin_sync_cpu_state(NULL)
    out["keep"] = keep
    return out


def churn(register: Callable[[int], None], unregister: Callable[[int], None],
          stop: threading.Event) -> int:
    """Register and unregister numbers until stop is set; how many rounds ran."""
    rounds = 0
    while not stop.is_set():
        for nr in range(0x7000, 0x7040):
            register(nr)
        for nr in range(0x7000, 0x7040):
            unregister(nr)
        rounds += 1
    return rounds


def run_raw(spec: dict) -> dict:
    bits = spec["bits"]
    ffi = cffi.FFI()
    ffi.cdef(shim_cdef_text(open(spec["header"]).read(), bits))
    lib = ffi.dlopen(spec["library"], os.RTLD_NOW | os.RTLD_GLOBAL)
    byteorder = spec["byteorder"]

    def write_reg(cpu, regnum: int, value: int) -> None:
        buf = ffi.new("uint8_t[]", 64)
        width = lib.penguin_read_guest_reg(cpu, regnum, buf, 64)
        assert width > 0, ffi.string(lib.penguin_last_error())
        data = (value & ((1 << (8 * width)) - 1)).to_bytes(width, byteorder)
        rc = lib.penguin_write_guest_reg(cpu, regnum, ffi.new("uint8_t[]", data), width)
        assert rc == 0, ffi.string(lib.penguin_last_error())

    host = Host(spec["registers"], write_reg,
                lambda: lib.qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT))

    @ffi.callback("penguin_guest_hypercall_cb_t")
    def on_hypercall(cpu, nr, a0, a1, a2, a3, a4, a5, ret, opaque):
        value = host.handle(cpu, nr, a0)
        if value is None:
            return 1
        ret[0] = value & (2**64 - 1)
        return 0

    lib.set_penguin_guest_hypercall_callback(on_hypercall, ffi.NULL)
    for nr in REGISTERED:
        for value in spellings(nr, bits):
            lib.penguin_register_guest_hypercall(value)
    lib.penguin_unregister_guest_hypercall(NR_ARGS32)
    lib.penguin_register_guest_hypercall(NR_ARGS32)
    done_seen: list = []
    preinit = raw_preinit(ffi, lib, done_seen)
    keep = preinit.pop("keep")      # the callbacks stay set: keep them alive
    preinit["done_seen"] = done_seen
    churned = wait_then(spec, lib.penguin_register_guest_hypercall,
                        lib.penguin_unregister_guest_hypercall,
                        lambda: raw_lifecycle(ffi, lib, spec))
    del keep
    return {"verdict": host.verdict, "calls": host.calls, "preinit": preinit,
            "churned": churned}


def raw_lifecycle(ffi, lib, spec: dict) -> None:
    args = [ffi.new("char[]", a.encode()) for a in ["qemu", *spec["args"]]]
    argv = ffi.new("char *[]", args + [ffi.NULL])
    lib.qemu_init(len(args), argv)
    if lib.bql_locked():
        lib.bql_unlock()
    lib.replay_mutex_unlock()
    assert lib.qemu_main == ffi.NULL
    lib.replay_mutex_lock()
    lib.bql_lock_impl(b"penguin_order.py", 0)
    status = lib.qemu_main_loop()
    lib.qemu_cleanup(status)
    lib.bql_unlock()
    lib.replay_mutex_unlock()


def wait_then(spec: dict, register, unregister, start: Callable[[], None]) -> int:
    """Penguin's plugin loading: wait (churning registrations if asked), then start; the
    churn goes on through qemu_init and the first moments of the run."""
    stop = threading.Event()
    rounds: list[int] = []
    thread = None
    if spec.get("churn"):
        thread = threading.Thread(target=lambda: rounds.append(churn(register, unregister,
                                                                     stop)))
        thread.start()
    time.sleep(spec["wait"])
    try:
        start()
    finally:
        stop.set()
        if thread:
            thread.join()
    return rounds[0] if rounds else 0


def run_client(spec: dict) -> dict:
    from penguin_qemu import NOT_HANDLED, Qemu, QemuError

    qemu = Qemu(spec["name"], library=spec["library"])
    host = Host(spec["registers"], qemu.write_reg, qemu.stop)

    def handle(call):
        value = host.handle(call.cpu, call.nr, call.args[0])
        return NOT_HANDLED if value is None else value

    for nr in REGISTERED:
        qemu.on_hypercall(nr, handle)
    qemu.on_unregistered(handle)
    qemu.on_reset_request(lambda cause: None)
    qemu.on_guest_init(lambda machine: None)
    qemu.qmp.on("x-penguin-order", lambda args: {})
    preinit: dict = {"abi": list(qemu.abi_version)}
    for what, call in (("mmio_add", lambda: qemu.mmio.add(0x1000, 0x1000, "x",
                                                          lambda o, s: 0,
                                                          lambda o, v, s: None)),
                       ("save", lambda: qemu.snapshots.save("s")),
                       ("load", lambda: qemu.snapshots.load("s"))):
        try:
            call()
            preinit[what] = "no error"
        except QemuError as e:
            preinit[what] = str(e)
    results: list = []
    qemu.snapshots.schedule("s", done=results.append)
    preinit["scheduled"] = [[r.name, r.ok, r.reason] for r in results]
    churned = wait_then(spec, qemu.lib.penguin_register_guest_hypercall,
                        qemu.lib.penguin_unregister_guest_hypercall,
                        lambda: qemu.run(spec["args"]))
    return {"verdict": host.verdict, "calls": host.calls, "preinit": preinit,
            "churned": churned}


def main() -> int:
    spec = json.loads(sys.argv[1])
    result = run_raw(spec) if spec["via"] == "raw" else run_client(spec)
    with open(spec["result"], "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
