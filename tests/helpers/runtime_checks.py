"""Child process: the runtime hooks of CONTRACT section 7 against a real VM.

usage: runtime_checks.py CHECK LIBRARY NAME -- QEMU-ARGS...
Prints one line `RESULT <json>`; QEMU's own error messages go to stderr.
  after-init        the callback's order against the guest's first hypercall
  after-init-fails  a callback returning 7 (qemu_init exits with the message)
  reset             every reset request's cause until the VM stops
  qmp               custom QMP commands over the -qmp unix socket given as SOCKET=path
  mmio BASE [SHIFT] a region at BASE - SHIFT for the MMIO guests (tests/guests/mmio-*.S),
                    which access BASE + offset (SHIFT 1: a region at an odd base, whose
                    callbacks see the guest's aligned accesses at odd offsets), and
                    every bad request the API must refuse
"""

from __future__ import annotations

import json
import sys
import threading

from penguin_qemu import NOT_HANDLED, Hypercall, Qemu
from qmp_client import qmp_exchange

NR_VERDICT, NR_MMIO_REMOVE = 0x50454E03, 0x50454E20


def after_init(qemu: Qemu, events: list) -> None:
    def init(ms, opaque) -> int:
        events.append(["init", qemu.lib.bql_locked(), ms != qemu.ffi.NULL])
        return 0

    def any_call(call: Hypercall):
        events.append(["hypercall", call.nr])
        if call.nr == NR_VERDICT:
            qemu.stop()
        return NOT_HANDLED

    qemu._keep = qemu.ffi.callback("kvm_penguin_after_guest_init_cb_t", init)
    qemu.lib.set_kvm_penguin_after_guest_init_callback(qemu._keep, qemu.ffi.NULL)
    qemu.on_unregistered(any_call)


def after_init_fails(qemu: Qemu, events: list) -> None:
    qemu._keep = qemu.ffi.callback("kvm_penguin_after_guest_init_cb_t", lambda ms, o: 7)
    qemu.lib.set_kvm_penguin_after_guest_init_callback(qemu._keep, qemu.ffi.NULL)


def reset(qemu: Qemu, events: list) -> None:
    def on_reset(cause, opaque) -> None:
        events.append(cause)

    qemu._keep = qemu.ffi.callback("penguin_reset_request_cb_t", on_reset)
    qemu.lib.set_penguin_reset_request_callback(qemu._keep, qemu.ffi.NULL)


def qmp(qemu: Qemu, events: list, path: str) -> None:
    # The client cdefs strdup (for its own QMP answers) when the header lacks it.
    def on_qmp(cmd, args_json, result, opaque) -> bool:
        name = qemu.ffi.string(cmd).decode()
        args = json.loads(qemu.ffi.string(args_json))
        events.append(["callback", name])
        if name == "penguin-echo":
            result[0] = qemu.lib.strdup(json.dumps({"echo": args}).encode())
            return True
        if name == "penguin-empty":
            return True
        if name == "penguin-bad-json":
            result[0] = qemu.lib.strdup(b"{not json")
            return True
        return False

    def on_reset(cause, opaque) -> None:
        events.append(["reset", cause])

    def on_handler(cmd, args_json, result, error_class, error_desc, opaque) -> int:
        """The failing kind: a structured error, or not ours."""
        name = qemu.ffi.string(cmd).decode()
        events.append(["handler", name])
        if name == "penguin-fail":
            error_class[0] = qemu.lib.strdup(b"DeviceNotFound")
            error_desc[0] = qemu.lib.strdup(b"no widget 7")
            return qemu.lib.PENGUIN_QMP_FAILED
        if name == "penguin-fail-bare":
            return qemu.lib.PENGUIN_QMP_FAILED
        return qemu.lib.PENGUIN_QMP_NOT_MINE

    qemu._keep = (qemu.ffi.callback("penguin_qmp_cb_t", on_qmp),
                  qemu.ffi.callback("penguin_reset_request_cb_t", on_reset),
                  qemu.ffi.callback("penguin_qmp_handler_cb_t", on_handler))
    qemu.lib.set_penguin_qmp_callback(qemu._keep[0], qemu.ffi.NULL)
    qemu.lib.set_penguin_reset_request_callback(qemu._keep[1], qemu.ffi.NULL)
    qemu.lib.set_penguin_qmp_handler(qemu._keep[2], qemu.ffi.NULL)

    def client() -> None:
        qemu.wait_started(30)
        # Before qmp_capabilities: QEMU's negotiation rule, for our names and its own.
        events.append({"before": qmp_exchange(path, [
            {"execute": "penguin-echo", "arguments": {"x": 1}},
            {"execute": "query-status"},
        ], negotiate=False)})
        events.extend(qmp_exchange(path, [
            {"execute": "penguin-fail"},
            {"execute": "penguin-fail-bare"},
            {"execute": "penguin-echo", "arguments": {"x": 1, "s": "two"}},
            {"execute": "penguin-empty"},
            {"execute": "penguin-bad-json"},
            {"execute": "penguin-unknown"},
            {"execute": "query-status"},
            {"execute": "system_reset"},
        ]))
        qemu.stop()

    threading.Thread(target=client, daemon=True).start()


def mmio(qemu: Qemu, events: list, guest_base: int, shift: int = 0) -> None:
    ffi, lib = qemu.ffi, qemu.lib
    base = guest_base - shift

    def rd(off, size, opaque) -> int:
        # The guest expects READ_BASE + its own offset from guest_base.
        value = (0x0102030405060708 + off - shift) & ((1 << (8 * size)) - 1)
        if not any(e[0] == "save-from-mmio" for e in events):
            # MMIO callbacks run on the vCPU thread with the BQL: no synchronous save.
            events.append(["save-from-mmio", bool(lib.penguin_save_snapshot(b"m")),
                           ffi.string(lib.penguin_last_error()).decode()])
        events.append(["read", off, size, value])
        return value

    def wr(off, data, size, opaque) -> None:
        events.append(["write", off, size, data])

    read_cb = ffi.callback("penguin_mmio_read_cb_t", rd)
    write_cb = ffi.callback("penguin_mmio_write_cb_t", wr)
    refused = {"no_bql": lib.penguin_qemu_add_mmio_region(base, 0x1000, b"m", read_cb,
                                                          write_cb, ffi.NULL)}

    def init(ms, opaque) -> int:
        add = lib.penguin_qemu_add_mmio_region
        events.append(["add", add(base, 0x1000, b"penguin-test", read_cb, write_cb,
                                  ffi.NULL)])
        refused["overlap"] = add(base + 0x800, 0x1000, b"o", read_cb, write_cb, ffi.NULL)
        refused["zero_size"] = add(base + 0x10000, 0, b"z", read_cb, write_cb, ffi.NULL)
        refused["wrapping"] = add(2**64 - 0x10, 0x100, b"w", read_cb, write_cb, ffi.NULL)
        refused["null_read"] = add(base + 0x10000, 0x100, b"r", ffi.NULL, write_cb,
                                   ffi.NULL)
        refused["null_name"] = add(base + 0x10000, 0x100, ffi.NULL, read_cb, write_cb,
                                   ffi.NULL)
        refused["remove_unknown"] = lib.penguin_qemu_remove_mmio_region(base + 0x10000)
        # Sizes near 2^64: a region may end exactly there, once; nothing may wrap.
        top = 2**64 - 0x1000
        events.append(["top", add(top, 0x1000, b"t", read_cb, write_cb, ffi.NULL)])
        refused["top_again"] = add(top, 0x1000, b"t2", read_cb, write_cb, ffi.NULL)
        refused["beside_top"] = add(top - 0x800, 0x1000, b"b", read_cb, write_cb, ffi.NULL)
        refused["past_2_64"] = add(top, 0x1001, b"p", read_cb, write_cb, ffi.NULL)
        refused["size_max"] = add(1, 2**64 - 1, b"h", read_cb, write_cb, ffi.NULL)
        refused["size_max_at_0"] = add(0, 2**64 - 1, b"h0", read_cb, write_cb, ffi.NULL)
        events.append(["top-removed", lib.penguin_qemu_remove_mmio_region(top)])
        events.append(["last-error", ffi.string(lib.penguin_last_error()).decode()])
        return 0

    def remove(call: Hypercall) -> int:
        lib.bql_lock_impl(__file__.encode(), 0)   # hypercalls run without the BQL
        events.append(["remove", lib.penguin_qemu_remove_mmio_region(base)])
        lib.bql_unlock()
        return 0

    def verdict(call: Hypercall) -> int:
        events.append(["verdict", call.args[0], call.args[1]])
        events.append(["refused", refused])
        qemu.stop()
        return 0

    qemu._keep = (read_cb, write_cb,
                  ffi.callback("kvm_penguin_after_guest_init_cb_t", init))
    lib.set_kvm_penguin_after_guest_init_callback(qemu._keep[2], ffi.NULL)
    qemu.on_hypercall(NR_MMIO_REMOVE, remove)
    qemu.on_hypercall(NR_VERDICT, verdict)


def main() -> int:
    check, library, name = sys.argv[1:4]
    extra = sys.argv[4:sys.argv.index("--")]
    qemu_args = sys.argv[sys.argv.index("--") + 1:]
    qemu = Qemu(name, library=library)
    events: list = []
    if check == "mmio":
        mmio(qemu, events, *(int(x, 0) for x in extra))
    elif check == "qmp":
        path = next(a for a in qemu_args if a.startswith("unix:")).split(":", 1)[1]
        qmp(qemu, events, path.split(",")[0])
    else:
        {"after-init": after_init, "after-init-fails": after_init_fails,
         "reset": reset}[check](qemu, events)
    if check == "reset":
        guard = threading.Timer(20, qemu.stop)  # a guest that never resets still ends
        guard.daemon = True
        guard.start()
    status = qemu.run(qemu_args)
    print("RESULT " + json.dumps({"events": events, "status": status}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
