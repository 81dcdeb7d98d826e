"""Child process: boot a vsock smoke guest through the library and let it echo.

usage: vsock_boot.py SPEC-JSON
SPEC: {"prefix", "name", "console", "result", "timeout", "port", "rounds",
       "smoke_nr", "smoke_answer", "args": [qemu args],
       optional "steps": [step, ...], "qmp_socket": path,
       "backend": {"socket": path, "logs": dir}}
The guest's init (tests/smoke/init.c built with vsock-echo.c) loads its vsock modules and
asks the host, by hypercall, whether to run an echo round; this process lets it run
"rounds" of them (one after the other) against the backend behind the vsock device.
Then it runs the steps in order:
  {"save": NAME, "from": "main"}       penguin_save_snapshot from a thread holding the
                                       BQL (as Penguin's main loop calls it)
  {"save": NAME, "from": "hypercall"}  penguin_schedule_snapshot from inside the guest's
                                       next hypercall, waiting for its completion
  {"qmp": [command, ...]}              over the -qmp unix socket "qmp_socket"
  {"fast": "take"}                     penguin_fast_snapshot_take from a thread holding
                                       the BQL (its handle, or the errno and reason)
  {"fast": "restore"}                  penguin_fast_snapshot_restore of the last take,
                                       the same way (ok or the reason, and its seconds)
  {"rounds": N}                        N more echo rounds
  {"asks": N}                          wait until the guest asked N more questions
  {"reboot": true}                     answer its next question with "reboot -f" and
                                       wait until it asks again from its next boot
  {"migrate_file": PATH}               Penguin's file snapshot over QMP: stop, the
                                       mapped-ram capability, migrate to file:PATH, and
                                       wait until the migration ends
  {"backend": "kill" | "stop"}         end this process's backend: SIGKILL (a crash) or
                                       SIGTERM (it says goodbye by closing the socket)
  {"backend": "start"}                 a new backend on the same socket; done once it has
                                       started both of the device's rings
  {"backend": "broken", "seconds": S}  for S seconds, a listener on the socket that closes
                                       every connection at once (a backend that dies in
                                       its handshake)
and stops the VM (or at the timeout), writing what it saw as JSON to SPEC["result"]:
each step's outcome, every stop of the VM with the guest's counter in the last question
before it ("stops": the saves' stops say exactly which state a snapshot holds), and the
link's summary. The backend itself is the test's: it must listen before this process
starts, unless SPEC has "backend": then this process starts it (its log is
logs/backend-0.log, the next ones backend-1.log, ...) and the steps above can replace it
while the VM runs; each backend's status and log end up in the result's "backends".
A process started with "-loadvm TAG" among the args works the same way: the
restored guest goes on asking, and its counters go on from the saved ones. So does one
started with "-incoming defer" and SPEC "incoming": "file:PATH": before anything else
it loads that file over QMP (mapped-ram on, migrate-incoming), waits for the load and
resumes the VM (the source was stopped, so the VM waits paused), recording how in the
result's "incoming".
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from penguin_qemu import Qemu, QemuError, SnapshotResult
from runtime_checks import qmp_exchange
from vsock.backend import VsockBackend
from vsock.guest_link import VsockGuestLink

BACKEND_POLL = 0.05
MAPPED_RAM = {"execute": "migrate-set-capabilities",
              "arguments": {"capabilities": [{"capability": "mapped-ram", "state": True}]}}

# include/system/runstate.h: called with the BQL on every run-state change; on a stop,
# after every vCPU has paused (so no hypercall is half done).
VM_CHANGE_STATE = """
typedef struct VMChangeStateEntry VMChangeStateEntry;
VMChangeStateEntry *qemu_add_vm_change_state_handler(
    void (*cb)(void *opaque, bool running, int state), void *opaque);
"""


def save_snapshot(qemu: Qemu, link: VsockGuestLink, step: dict, timeout: float) -> dict:
    """Save step["save"] the way step["from"] says; what happened and how long it took."""
    start = time.monotonic()
    if step["from"] == "main":
        try:
            with qemu.bql():
                qemu.snapshots.save(step["save"])
            outcome = {"ok": True, "reason": ""}
        except QemuError as e:
            outcome = {"ok": False, "reason": str(e)}
    else:
        done = threading.Event()
        result: list[SnapshotResult] = []

        def finished(r: SnapshotResult) -> None:
            result.append(r)
            done.set()

        link.call_at_next_ask(lambda: qemu.snapshots.schedule(step["save"], done=finished))
        if not done.wait(timeout):
            return {**step, "ok": False, "reason": f"no completion in {timeout} s"}
        outcome = {"ok": result[0].ok, "reason": result[0].reason}
    return {**step, **outcome, "seconds": round(time.monotonic() - start, 3)}


class Backends:
    """The backends this process starts, one after the other, on one socket."""

    def __init__(self, socket_path: Path, logs: Path) -> None:
        self.socket_path = socket_path
        self.logs = logs
        self.ended: list[dict] = []
        self.current: VsockBackend | None = None

    def start(self) -> VsockBackend:
        if self.current is not None and self.current.proc.poll() is not None:
            self.end("exited")      # it served its one QEMU connection and ended
        log = self.logs / f"backend-{len(self.ended)}.log"
        self.current = VsockBackend(self.socket_path, log).start()
        return self.current

    def end(self, how: str) -> None:
        backend, self.current = self.current, None
        if backend is None:
            return
        if how == "kill":
            backend.kill()
        status = backend.stop()
        self.ended.append({"how": how, "status": status, "events": backend.events()})

    def step(self, how: str, timeout: float, seconds: float = 0) -> dict:
        """End the backend (kill, stop) or start a new one and wait until QEMU has set
        both rings up in it (start): the outcome and its time."""
        begin = time.monotonic()
        if how == "broken":
            return {"backend": how, "ok": True,
                    "accepted": refuse_handshakes(self.socket_path, float(seconds))}
        if how != "start":
            self.end(how)
            return {"backend": how, "ok": True}
        backend = self.start()
        while time.monotonic() - begin < timeout:
            started = {e["index"] for e in backend.events() if e["event"] == "vring_start"}
            if {0, 1} <= started:
                return {"backend": how, "ok": True,
                        "seconds": round(time.monotonic() - begin, 3)}
            time.sleep(BACKEND_POLL)
        return {"backend": how, "ok": False,
                "reason": f"no vring_start for both rings in {timeout} s"}


def fast_snapshot(qemu: Qemu, step: dict, handles: list[int]) -> dict:
    """A fast snapshot taken, or the last one restored, from a thread holding the BQL,
    as Penguin's main loop calls them."""
    begin = time.monotonic()
    try:
        with qemu.bql():
            if step["fast"] == "take":
                handles.append(qemu.fast_snapshots.take())
                return {**step, "ok": True, "handle": handles[-1]}
            qemu.fast_snapshots.restore(handles[-1])
            return {**step, "ok": True, "seconds": round(time.monotonic() - begin, 3)}
    except QemuError as e:
        return {**step, "ok": False, "reason": str(e)}


def refuse_handshakes(path: Path, seconds: float) -> int:
    """Listen on path for seconds, closing each connection as soon as it is made;
    how many there were."""
    accepted = 0
    end = time.monotonic() + seconds
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server:
        server.bind(str(path))
        server.listen(8)
        server.settimeout(BACKEND_POLL)
        while time.monotonic() < end:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.close()
            accepted += 1
    path.unlink()
    return accepted


def wait_asks(link: VsockGuestLink, more: int, timeout: float) -> dict:
    """Wait until the guest has asked more questions than now: it runs."""
    want = link.summary()["asks"] + more
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if link.summary()["asks"] >= want:
            return {"asks": more, "ok": True}
        time.sleep(BACKEND_POLL)
    return {"asks": more, "ok": False}


def migration_status(qmp_socket: str, timeout: float, done: tuple[str, ...]) -> str:
    """Poll query-migrate until its status is one of done (or the timeout)."""
    end, status = time.monotonic() + timeout, "none"
    while time.monotonic() < end:
        (answer,) = qmp_exchange(qmp_socket, [{"execute": "query-migrate"}])
        status = answer.get("return", {}).get("status", "none")
        if status in done:
            break
        time.sleep(BACKEND_POLL)
    return status


def migrate_to_file(qmp_socket: str, path: str, timeout: float) -> dict:
    """Stop the VM, then migrate it to file:path with mapped-ram; the outcome."""
    start = time.monotonic()
    answers = qmp_exchange(qmp_socket, [{"execute": "stop"}, MAPPED_RAM,
                                        {"execute": "migrate",
                                         "arguments": {"uri": f"file:{path}"}}])
    status = migration_status(qmp_socket, timeout, ("completed", "failed", "cancelled"))
    return {"migrate_file": path, "answers": answers, "status": status,
            "ok": status == "completed", "seconds": round(time.monotonic() - start, 3)}


def incoming(qmp_socket: str, uri: str, timeout: float) -> dict:
    """Load uri into a VM started with -incoming defer, then let it run."""
    start = time.monotonic()
    answers = qmp_exchange(qmp_socket, [MAPPED_RAM, {"execute": "migrate-incoming",
                                                     "arguments": {"uri": uri}}])
    end, state = time.monotonic() + timeout, "inmigrate"
    while state == "inmigrate" and time.monotonic() < end:
        time.sleep(BACKEND_POLL)
        (answer,) = qmp_exchange(qmp_socket, [{"execute": "query-status"}])
        state = answer.get("return", {}).get("status", "none")
    loaded = round(time.monotonic() - start, 3)
    resumed = qmp_exchange(qmp_socket, [{"execute": "cont"}]) if state == "paused" else []
    return {"answers": answers, "state": state, "resumed": resumed, "seconds": loaded}


def reboot(link: VsockGuestLink, timeout: float) -> dict:
    """Have the guest reboot -f; done when it asks from its next boot."""
    start, boots = time.monotonic(), link.summary()["boots"]
    link.request_reboot()
    ok = link.wait_boots(boots + 1, timeout)
    return {"reboot": True, "ok": ok, "seconds": round(time.monotonic() - start, 3)}


def watch_stops(qemu: Qemu, link: VsockGuestLink, stops: list) -> Callable[[Any], int]:
    """An after-guest-init handler that records each stop of the VM with the guest's
    counter in its last question before it."""
    qemu.ffi.cdef(VM_CHANGE_STATE)

    def changed(opaque: Any, running: bool, state: int) -> None:
        if not running:
            stops.append({"state": state, "last_ask": link.last_counter(),
                          "monotonic": time.monotonic()})

    # Referred to by at_init, which the Qemu object keeps: it lives as long as the VM.
    callback = qemu.ffi.callback("void(void *, bool, int)", changed)

    def at_init(machine: Any) -> int:
        qemu.lib.qemu_add_vm_change_state_handler(callback, qemu.ffi.NULL)
        return 0

    return at_init


def main() -> int:
    spec = json.loads(sys.argv[1])
    console = Path(spec["console"])
    console.unlink(missing_ok=True)
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    qemu.on_hypercall(spec["smoke_nr"], lambda call: spec["smoke_answer"])
    link = VsockGuestLink(qemu, spec["port"])
    link.request_rounds(spec["rounds"])
    seen: dict = {"steps": [], "stops": []}
    handles: list[int] = []
    qemu.on_guest_init(watch_stops(qemu, link, seen["stops"]))
    vm_ended = threading.Event()
    backends = None
    if "backend" in spec:
        backends = Backends(Path(spec["backend"]["socket"]), Path(spec["backend"]["logs"]))
        backends.start()

    start = time.monotonic()

    def wait_rounds(count: int) -> bool:
        while not link.wait_rounds(count, 0.2):
            if vm_ended.is_set():
                return False
            if time.monotonic() - start > spec["timeout"]:
                seen["timed_out"] = True
                return False
        return True

    def run_step(step: dict, rounds: int) -> tuple[dict, int]:
        if "save" in step:
            stops_before = len(seen["stops"])
            outcome = save_snapshot(qemu, link, step, spec["timeout"])
            return {**outcome, "stops": seen["stops"][stops_before:]}, rounds
        if "backend" in step:
            return backends.step(step["backend"], spec["timeout"],
                                 step.get("seconds", 0)), rounds
        if "asks" in step:
            return wait_asks(link, step["asks"], spec["timeout"]), rounds
        if "reboot" in step:
            return reboot(link, spec["timeout"]), rounds
        if "migrate_file" in step:
            stops_before = len(seen["stops"])
            outcome = migrate_to_file(spec["qmp_socket"], step["migrate_file"],
                                      spec["timeout"])
            return {**outcome, "stops": seen["stops"][stops_before:]}, rounds
        if "qmp" in step:
            return {"qmp": qmp_exchange(spec["qmp_socket"], step["qmp"])}, rounds
        if "fast" in step:
            return fast_snapshot(qemu, step, handles), rounds
        link.request_rounds(step["rounds"])
        rounds += step["rounds"]
        return {"rounds": step["rounds"], "ok": wait_rounds(rounds)}, rounds

    def watch() -> None:
        if qemu.wait_started(spec["timeout"]):
            seen["started_monotonic"] = time.monotonic()   # qemu_init (and -loadvm) done
        if "incoming" in spec:
            seen["incoming"] = incoming(spec["qmp_socket"], spec["incoming"],
                                        spec["timeout"])
        rounds = spec["rounds"]
        if wait_rounds(rounds):
            for step in spec.get("steps", []):
                outcome, rounds = run_step(step, rounds)
                seen["steps"].append(outcome)
                if vm_ended.is_set() or seen.get("timed_out"):
                    break
        if not vm_ended.is_set():
            seen["stop_seconds"] = round(time.monotonic() - start, 3)
            qemu.stop()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    seen["run_monotonic"] = time.monotonic()
    seen["status"] = qemu.run(spec["args"])
    vm_ended.set()
    watcher.join()
    if backends is not None:
        backends.end("stop")
        seen["backends"] = backends.ended
    seen.update(link.summary())
    seen["console"] = console.read_text(errors="replace") if console.exists() else ""
    Path(spec["result"]).write_text(json.dumps(seen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
