"""The runtime hooks of a Penguin library (CONTRACT section 7) for Python handlers:
MMIO regions, snapshots, QMP commands, reset requests and the after-guest-init moment.

Each class owns the cffi callbacks it hands to the library (they must outlive every
call the library makes to them) and reports failures as QemuError with the library's
own reason (penguin_last_error). A handler that raises stops the VM and the exception
is re-raised from Qemu.run(), as for hypercall handlers.
"""

from __future__ import annotations

import collections
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .qemu import Qemu

MmioRead = Callable[[int, int], int]            # (offset, size) -> value
MmioWrite = Callable[[int, int, int], None]     # (offset, value, size)
SnapshotDone = Callable[["SnapshotResult"], None]
QmpHandler = Callable[[dict], Any]              # arguments -> JSON-able result


class QmpError(Exception):
    """Raise from a QMP handler to answer with this QMP error."""

    def __init__(self, description: str, error_class: str = "GenericError"):
        super().__init__(description)
        self.description = description
        self.error_class = error_class


@dataclass(frozen=True)
class SnapshotResult:
    """How one scheduled snapshot ended; reason is the library's text when not ok."""
    name: str
    load: bool
    ok: bool
    reason: str = ""


class MmioRegions:
    """penguin_qemu_add_mmio_region / _remove_: add them from Qemu.on_guest_init (the
    BQL is held there) or while holding the BQL (Qemu.bql())."""

    def __init__(self, qemu: "Qemu"):
        self._qemu = qemu
        self._callbacks: dict[int, tuple[Any, Any]] = {}

    def add(self, base: int, size: int, name: str, read: MmioRead,
            write: MmioWrite) -> None:
        ffi, lib = self._qemu.ffi, self._qemu.lib
        rd = ffi.callback("penguin_mmio_read_cb_t", self._reader(read))
        wr = ffi.callback("penguin_mmio_write_cb_t", self._writer(write))
        rc = lib.penguin_qemu_add_mmio_region(base, size, name.encode(), rd, wr, ffi.NULL)
        self._qemu.check(rc, f"adding MMIO region {name!r} at {base:#x}")
        self._callbacks[base] = (rd, wr)

    def remove(self, base: int) -> None:
        rc = self._qemu.lib.penguin_qemu_remove_mmio_region(base)
        self._qemu.check(rc, f"removing the MMIO region at {base:#x}")
        # The library frees the region after an RCU grace period; a vCPU may still be
        # calling the old callbacks until then, so they stay alive with this object.

    def _reader(self, read: MmioRead) -> Callable[[int, int, Any], int]:
        def on_read(offset: int, size: int, opaque: Any) -> int:
            try:
                return int(read(offset, size)) & ((1 << (8 * size)) - 1)
            except BaseException as e:  # noqa: BLE001 - re-raised from run()
                self._qemu.record_error(e)
                return 0
        return on_read

    def _writer(self, write: MmioWrite) -> Callable[[int, int, int, Any], None]:
        def on_write(offset: int, value: int, size: int, opaque: Any) -> None:
            try:
                write(offset, value, size)
            except BaseException as e:  # noqa: BLE001 - re-raised from run()
                self._qemu.record_error(e)
        return on_write


class Snapshots:
    """Internal snapshots: synchronous (main loop or a thread holding the BQL, never a
    hypercall handler) or scheduled from anywhere, each with its own completion."""

    def __init__(self, qemu: "Qemu"):
        self._qemu = qemu
        self._lock = threading.Lock()
        self._pending: collections.deque[SnapshotDone | None] = collections.deque()
        self._done_cb = qemu.ffi.callback("penguin_snapshot_done_cb_t", self._on_done)
        qemu.lib.set_penguin_snapshot_done_callback(self._done_cb, qemu.ffi.NULL)

    def save(self, name: str) -> None:
        if not self._qemu.lib.penguin_save_snapshot(name.encode()):
            self._qemu.fail(f"saving snapshot {name!r}")

    def load(self, name: str) -> None:
        if not self._qemu.lib.penguin_load_snapshot(name.encode()):
            self._qemu.fail(f"loading snapshot {name!r}")

    def schedule(self, name: str, load: bool = False,
                 done: SnapshotDone | None = None) -> None:
        """Queue a save (or load) on the main loop; done(SnapshotResult) runs there when
        it ends, or at once on this thread when the library refuses the request.
        Requests run and complete in the order they were made."""
        with self._lock:
            self._pending.append(done)
            self._qemu.lib.penguin_schedule_snapshot(name.encode(), load)

    def completed(self) -> tuple[int, bool]:
        """(scheduled snapshots finished, whether the last one succeeded)."""
        last_ok = self._qemu.ffi.new("bool *")
        count = self._qemu.lib.penguin_snapshots_completed(last_ok)
        return count, bool(last_ok[0])

    def _on_done(self, name, load, ok, opaque) -> None:
        reason = "" if ok else self._qemu.last_error()
        result = SnapshotResult(self._qemu.ffi.string(name).decode(errors="replace"),
                                bool(load), bool(ok), reason)
        done = self._pending.popleft() if self._pending else None
        if done is None:
            return
        try:
            done(result)
        except BaseException as e:  # noqa: BLE001 - re-raised from run()
            self._qemu.record_error(e)


@dataclass(frozen=True)
class FastSnapshotResult:
    """How one scheduled fast-snapshot operation ended: result is the handle for a
    take, 0 for a restore or drop, or a negative errno with the library's reason."""
    op: str
    handle: int
    result: int
    reason: str = ""


FastSnapshotDone = Callable[[FastSnapshotResult], None]


class FastSnapshots:
    """In-memory snapshots (TCG): take returns a handle; restore copies back what the
    guest changed since. Synchronous calls from the main loop or a thread holding the
    BQL (Qemu.bql()); schedule() from anywhere, hypercall handlers included."""

    OPS = ("take", "restore", "drop")

    def __init__(self, qemu: "Qemu"):
        self._qemu = qemu
        self._lock = threading.Lock()
        self._pending: collections.deque[FastSnapshotDone | None] = collections.deque()
        self._done_cb = qemu.ffi.callback("penguin_fast_snapshot_done_cb_t", self._on_done)
        qemu.lib.set_penguin_fast_snapshot_done_callback(self._done_cb, qemu.ffi.NULL)

    def take(self) -> int:
        return self._qemu.check(self._qemu.lib.penguin_fast_snapshot_take(),
                                "taking a fast snapshot")

    def restore(self, handle: int) -> None:
        self._qemu.check(self._qemu.lib.penguin_fast_snapshot_restore(handle),
                         f"restoring fast snapshot {handle}")

    def drop(self, handle: int) -> None:
        self._qemu.check(self._qemu.lib.penguin_fast_snapshot_drop(handle),
                         f"dropping fast snapshot {handle}")

    def schedule(self, op: str, handle: int = 0,
                 done: FastSnapshotDone | None = None) -> None:
        """Queue op ("take", "restore" or "drop") on the main loop; done gets its
        FastSnapshotResult there (or at once, here, when refused at once)."""
        code = self.OPS.index(op)
        with self._lock:
            self._pending.append(done)
            self._qemu.lib.penguin_fast_snapshot_schedule(code, handle)

    def _on_done(self, op, handle, result, opaque) -> None:
        reason = self._qemu.last_error() if result < 0 else ""
        name = self.OPS[op] if 0 <= op < len(self.OPS) else str(op)
        done = self._pending.popleft() if self._pending else None
        if done is None:
            return
        try:
            done(FastSnapshotResult(name, int(handle), int(result), reason))
        except BaseException as e:  # noqa: BLE001 - re-raised from run()
            self._qemu.record_error(e)


class QmpCommands:
    """QMP commands of our own, answered by Python handlers (after qmp_capabilities),
    and events of our own sent to the clients."""

    def __init__(self, qemu: "Qemu"):
        self._qemu = qemu
        self._handlers: dict[str, QmpHandler] = {}
        self._cb = qemu.ffi.callback("penguin_qmp_handler_cb_t", self._on_command)
        qemu.lib.set_penguin_qmp_handler(self._cb, qemu.ffi.NULL)

    def on(self, command: str, handler: QmpHandler) -> None:
        """handler(arguments) returns the JSON-able result (None: {}), or raises
        QmpError for an error answer; any other exception becomes a GenericError."""
        self._handlers[command] = handler

    def emit(self, event: str, data: dict | None = None) -> None:
        """Send {"event": event, "data": data, "timestamp": ...} to every QMP client
        past negotiation (no "data" when data is None); from any thread, hypercall
        handlers included. The main loop sends events in the order emitted.
        QemuError when the library refuses it (a bad name, no VM)."""
        if data is not None and not isinstance(data, dict):
            raise TypeError(f"QMP event data must be a dict, not {type(data).__name__}")
        text = b"" if data is None else json.dumps(data).encode()
        rc = self._qemu.lib.penguin_qmp_emit_event(event.encode(), text)
        self._qemu.check(rc, f"emitting QMP event {event!r}")

    def _on_command(self, cmd, args_json, result, error_class, error_desc, opaque) -> int:
        lib = self._qemu.lib
        handler = self._handlers.get(self._qemu.ffi.string(cmd).decode())
        if handler is None:
            return lib.PENGUIN_QMP_NOT_MINE
        try:
            value = handler(json.loads(self._qemu.ffi.string(args_json)))
            if value is not None:
                result[0] = self._qemu.strdup(json.dumps(value))
            return lib.PENGUIN_QMP_DONE
        except QmpError as e:
            error_class[0] = self._qemu.strdup(e.error_class)
            error_desc[0] = self._qemu.strdup(e.description)
        except Exception as e:  # noqa: BLE001 - the QMP client gets it
            error_desc[0] = self._qemu.strdup(f"{type(e).__name__}: {e}")
        return lib.PENGUIN_QMP_FAILED
