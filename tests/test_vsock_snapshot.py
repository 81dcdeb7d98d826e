"""Snapshots with Penguin's vsock device attached, restored in a new process (issue 14).

Penguin's VPN adds vhost-user-vsock-pci to every run; its backend (rust-vmm's
vhost-device-vsock, here tests/vsock/vhost_user_vsock.py) has no dirty log. Penguin
saves internal snapshots of such runs, synchronously from its main loop and scheduled
from a hypercall, and restores them with -loadvm in a fresh process with a fresh
backend. Per architecture (aarch64, mipsel's malta with memory-backend=mem0, x86_64),
through the libraries of the unpacked release archive:

- the first process boots a Linux guest that echoes over vsock; live migration (QMP
  `migrate` to a file: URI) is refused with upstream's message and the guest goes on
  echoing; a snapshot saved from a thread holding the BQL and one scheduled from a
  hypercall both succeed with the backend attached, the guest echoing after each;
- for each snapshot a new backend and a new process with `-loadvm TAG`: the guest does
  not boot again, its counters in RAM go on exactly from the saved state (the first
  question it asks is the one after the last it asked before the VM stopped for the
  save), and it connects and echoes again through the new backend;
- bad input at load (x86_64): a tag the drive does not hold, and a snapshot whose vsock
  backend is absent (no socket, or a socket nobody listens on) end the process with
  QEMU's error and status 1, within a bounded time.

The root drive is attached as Penguin attaches it (shim notes, "The QEMU command line
Penguin builds"), without snapshot=on since the run takes snapshots. Save and restore
times are printed (restore: from starting the process to the guest's first hypercall).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import run_helper
from smoke.boots import BY_NAME, SMOKE_NR, SmokeArch
from test_vsock import guest_initrd
from vsock.backend import ECHO_PORT, VsockBackend, vsock_argv
from vsock.guest_link import ECHO_BYTES

ARCHES = ["aarch64", "mipsel", "x86_64"]
SAVES = {"from-main": "main", "from-hypercall": "hypercall"}
# hw/virtio/vhost-user.c: the blocker a backend without VHOST_USER_PROTOCOL_F_LOG_SHMFD
# adds; live migration must still stop at it (internal snapshots pass it).
LIVE_MIGRATION_REFUSED = ("Migration disabled: vhost-user backend lacks "
                          "VHOST_USER_PROTOCOL_F_LOG_SHMFD feature.")
FIRST_ROUNDS = 2
# A restored guest runs at once: its first hypercall comes in milliseconds after
# qemu_init returns (measured: under 0.1 s). MIPS once slept until a stale CP0 timer
# deadline of its new process, up to 27 s (patches/0017).
RESUME_LIMIT = 5.0
TIMEOUT = 150          # one VM process, from start to stop
BAD_INPUT_TIMEOUT = 60


@dataclass
class Run:
    """What one VM process did: its status, stderr, and vsock_boot.py's report (None
    when the process ended before writing one)."""
    returncode: int
    stderr: str
    seen: dict | None
    spawned: float      # time.monotonic() just before the process started

    def phases(self) -> dict[str, float]:
        """Seconds from starting the process to calling qemu_init (Python, the
        library), in qemu_init (with -loadvm: the load) and from there to the guest's
        first hypercall; CLOCK_MONOTONIC is one clock for every process."""
        seen = self.seen
        first_ask = seen["link_monotonic"] + seen["first_ask_seconds"]
        marks = [self.spawned, seen["run_monotonic"], seen["started_monotonic"], first_ask]
        names = ["start", "qemu_init", "to_first_ask"]
        return {n: round(b - a, 3) for n, a, b in zip(names, marks, marks[1:])}

    def first_ask_after_spawn(self) -> float:
        return round(sum(self.phases().values()), 2)


@dataclass
class Machine:
    """One architecture's VM as Penguin would run it: files every process shares."""
    arch: SmokeArch
    release: Path
    workdir: Path
    kernel: Path
    initrd: Path
    disk: Path
    socket: Path
    mem: Path
    reconnect_ms: int | None = None     # on the vsock chardev (Penguin's has none)

    def argv(self, console: Path, extra: list[str]) -> list[str]:
        return [*vsock_argv(self.arch.machine, self.socket, self.mem, self.reconnect_ms),
                "-kernel", str(self.kernel), "-initrd", str(self.initrd),
                "-append", self.arch.cmdline(), *penguin_drive(self.arch.name, self.disk),
                "-L", str(self.release / "share" / "qemu"), "-nodefaults",
                "-display", "none", "-monitor", "none", "-no-reboot",
                "-serial", f"file:{console}", *extra]

    def run(self, name: str, rounds: int, extra: list[str] = (), steps: list[dict] = (),
            qmp: Path | None = None, timeout: float = TIMEOUT,
            own_backend: bool = False, options: dict | None = None) -> Run:
        """One process (tests/helpers/vsock_boot.py) in workdir/name; a hang fails the
        test through run_helper's timeout. With own_backend the process starts the vsock
        backend itself, and steps can replace it; options go into its spec as they are
        ("incoming")."""
        out = self.workdir / name
        out.mkdir()
        console, result = out / "console.txt", out / "result.json"
        spec = {"prefix": str(self.release), "name": self.arch.name,
                "console": str(console), "result": str(result), "timeout": timeout,
                "port": ECHO_PORT, "rounds": rounds, "smoke_nr": SMOKE_NR,
                "smoke_answer": self.arch.answer(), "steps": list(steps),
                "args": self.argv(console, list(extra))}
        if own_backend:
            spec["backend"] = {"socket": str(self.socket), "logs": str(out)}
        spec.update(options or {})
        if qmp is not None:
            spec["qmp_socket"] = str(qmp)
            spec["args"] += ["-qmp", f"unix:{qmp},server,nowait"]
        spawned = time.monotonic()
        proc = run_helper("vsock_boot.py", json.dumps(spec), timeout=timeout + 60)
        seen = json.loads(result.read_text()) if result.exists() else None
        return Run(proc.returncode, proc.stderr, seen, spawned)


def penguin_drive(arch: str, disk: Path) -> list[str]:
    """The root drive as Penguin attaches it for arch, for a run that takes snapshots
    (no snapshot=on): virtio-blk-device on arm, legacy virtio-blk-pci on MIPS,
    if=virtio elsewhere."""
    drive = f"file={disk},id=hd0,cache=unsafe"
    if arch in ("armel", "aarch64"):
        return ["-device", "virtio-blk-device,drive=hd0", "-drive", f"{drive},if=none"]
    if arch.startswith("mips"):
        return ["-device", "virtio-blk-pci,drive=hd0,disable-modern=on,disable-legacy=off",
                "-drive", f"{drive},if=none"]
    return ["-drive", f"{drive},if=virtio"]


@dataclass
class Saved:
    """The first process of an architecture: it booted, echoed and saved both tags."""
    machine: Machine
    run: Run
    backend_events: list[dict]
    backend_status: int | None


def first_process(machine: Machine) -> Saved:
    """Boot, echo, try live migration, save from the main loop and from a hypercall."""
    steps = [{"qmp": [{"execute": "migrate",
                       "arguments": {"uri": f"file:{machine.workdir / 'migration'}"}},
                      {"execute": "query-status"}]},
             {"rounds": 1}]
    for tag, where in SAVES.items():
        steps += [{"save": tag, "from": where}, {"rounds": 1}]
    with VsockBackend(machine.socket, machine.workdir / "backend-first.log") as backend:
        run = machine.run("first", FIRST_ROUNDS, steps=steps,
                          qmp=machine.workdir / "qmp.sock")
        status = backend.wait(10)
    return Saved(machine, run, backend.events(), status)


@pytest.fixture(scope="module")
def saved(release_prefix, tmp_path_factory) -> Callable[[str], Saved]:
    """Each architecture's first process, run once for every test that needs it (a
    failure is kept and raised again rather than booting a second time)."""
    runs: dict[str, Saved | BaseException] = {}

    def get(name: str) -> Saved:
        if name not in runs:
            try:
                runs[name] = first_process(new_machine(name, release_prefix,
                                                       tmp_path_factory.mktemp(name)))
            except BaseException as e:   # noqa: BLE001 - raised again for each test
                runs[name] = e
        if isinstance(runs[name], BaseException):
            raise runs[name]
        return runs[name]

    return get


def new_machine(name: str, release: Path, workdir: Path) -> Machine:
    arch = BY_NAME[name]
    kernel, initrd = guest_initrd(arch, release, workdir)
    disk = workdir / "root.qcow2"
    subprocess.run([str(release / "bin" / "qemu-img"), "create", "-q", "-f", "qcow2",
                    str(disk), "64M"], check=True)
    return Machine(arch, release, workdir, kernel, initrd, disk, workdir / "vsock.sock",
                   workdir / "mem0")


def console_tail(run: Run) -> str:
    return (run.seen or {}).get("console", "")[-2000:] + "\n" + run.stderr[-2000:]


def check_rounds(rounds: list[dict], numbers: list[int], why: str) -> None:
    assert [r["round"] for r in rounds] == numbers, f"{why}: rounds {rounds}"
    bad = [r for r in rounds if r["step"] != "ok" or r["bytes"] != ECHO_BYTES]
    assert not bad, f"{why}: rounds that failed: {bad}"


def rounds_before(steps: list[dict], index: int) -> int:
    """The echo rounds the first process had run when it reached steps[index]."""
    return FIRST_ROUNDS + sum(s.get("rounds", 0) for s in steps[:index])


def save_step(first: Run, tag: str) -> tuple[int, dict]:
    (found,) = [(i, s) for i, s in enumerate(first.seen["steps"]) if s.get("save") == tag]
    return found


@pytest.mark.parametrize("arch", ARCHES)
def test_save_with_the_backend_attached(saved, arch, record_property):
    first = saved(arch)
    run, seen = first.run, first.run.seen
    assert run.returncode == 0 and seen is not None, \
        f"{arch}: status {run.returncode}\n{console_tail(run)}"
    assert not seen.get("timed_out"), f"{arch}: timed out\n{console_tail(run)}"
    steps = seen["steps"]
    assert len(steps) == 6, steps
    # Live migration stays blocked by the backend's missing dirty log, with upstream's
    # message; the VM runs on and the guest echoes after it.
    migrate, status = steps[0]["qmp"]
    assert migrate.get("error", {}).get("desc") == LIVE_MIGRATION_REFUSED, migrate
    assert status.get("return", {}).get("running") is True, status
    assert not (first.machine.workdir / "migration").exists() \
        or (first.machine.workdir / "migration").stat().st_size == 0
    # Both snapshots succeed with the backend attached, each stopping the VM once.
    for tag in SAVES:
        _, step = save_step(run, tag)
        assert step["ok"], f"{arch}: saving {tag}: {step['reason']}\n{console_tail(run)}"
        assert len(step["stops"]) == 1 and step["stops"][0]["last_ask"] is not None, step
    # The guest echoed before, between and after: every round, in order.
    total = rounds_before(steps, len(steps))
    check_rounds(seen["rounds"], list(range(1, total + 1)), f"{arch}, first process")
    # The backend served those connections and ended when the process did.
    assert first.backend_status == 0, f"{arch}: backend status {first.backend_status}"
    kinds = [e["event"] for e in first.backend_events]
    assert "protocol_error" not in kinds, first.backend_events
    (gone,) = [e for e in first.backend_events if e["event"] == "qemu_disconnected"]
    assert gone["connections"] == total and gone["echoed"] == total * ECHO_BYTES, gone
    times = {tag: save_step(run, tag)[1]["seconds"] for tag in SAVES}
    boot = run.first_ask_after_spawn()
    print(f"{arch}: process start to the first question {boot} s ({run.phases()}); "
          f"save {times} s")
    record_property("vsock_save", {"arch": arch, "seconds": times, "boot": boot})


@pytest.mark.parametrize("tag", list(SAVES))
@pytest.mark.parametrize("arch", ARCHES)
def test_restore_in_a_new_process(saved, arch, tag, record_property):
    first = saved(arch)
    assert first.run.seen is not None, f"{arch}: the first process failed"
    index, step = save_step(first.run, tag)
    assert step["ok"], f"{arch}: {tag} was not saved: {step['reason']}"
    machine = first.machine
    log = machine.workdir / f"backend-{tag}.log"
    with VsockBackend(machine.socket, log) as backend:
        run = machine.run(f"restore-{tag}", 1, extra=["-loadvm", tag])
        backend_status = backend.wait(10)
    seen = run.seen
    assert run.returncode == 0 and seen is not None, \
        f"{arch} -loadvm {tag}: status {run.returncode}\n{console_tail(run)}"
    assert not seen.get("timed_out"), (
        f"{arch} -loadvm {tag}: timed out\n{console_tail(run)}")
    # The guest went on from the saved state: no boot, its counter in RAM continues
    # from the last question before the VM stopped for the save, and so do its rounds.
    assert "Linux version" not in seen["console"], f"{arch}: the guest booted again"
    assert seen["modules"] == [], f"{arch}: init ran again: {seen['modules']}"
    assert run.phases()["to_first_ask"] < RESUME_LIMIT, \
        f"{arch} -loadvm {tag}: the guest's first hypercall came only " \
        f"{run.phases()['to_first_ask']} s after qemu_init returned"
    saved_ask = step["stops"][0]["last_ask"]
    assert seen["first_ask_counter"] == saved_ask + 1, \
        f"{arch} -loadvm {tag}: first question {seen['first_ask_counter']}, " \
        f"saved after question {saved_ask}"
    check_rounds(seen["rounds"], [rounds_before(first.run.seen["steps"], index) + 1],
                 f"{arch} -loadvm {tag}")
    # The new backend served the restored guest's connection; the device's transport
    # reset after the load found its event buffer.
    assert backend_status == 0, f"{arch}: backend status {backend_status}"
    events = backend.events()
    assert "protocol_error" not in [e["event"] for e in events], events
    (gone,) = [e for e in events if e["event"] == "qemu_disconnected"]
    assert gone["connections"] == 1 and gone["echoed"] == ECHO_BYTES, gone
    assert "missed transport reset event" not in run.stderr, run.stderr
    restore = run.first_ask_after_spawn()
    print(f"{arch} -loadvm {tag}: process start to the first question {restore} s "
          f"({run.phases()})")
    record_property("vsock_restore", {"arch": arch, "tag": tag, "seconds": restore,
                                      "phases": run.phases()})


def check_refused(run: Run, message: str, why: str) -> None:
    """QEMU's own error, status 1, no report: the process ended in qemu_init."""
    assert run.returncode == 1 and message in run.stderr, \
        f"{why}: status {run.returncode}, stderr:\n{run.stderr[-2000:]}"
    assert run.seen is None, f"{why}: the VM ran: {run.seen}"


def test_loadvm_of_a_tag_the_drive_lacks(saved):
    machine = saved("x86_64").machine
    log = machine.workdir / "backend-missing-tag.log"
    with VsockBackend(machine.socket, log) as backend:
        run = machine.run("missing-tag", 1, extra=["-loadvm", "no-such-tag"],
                          timeout=BAD_INPUT_TIMEOUT)
        backend_status = backend.wait(10)
    check_refused(run, "Snapshot 'no-such-tag' does not exist", "-loadvm no-such-tag")
    # The backend it had connected to saw it go and ended by itself.
    assert backend_status == 0, f"backend status {backend_status}: {backend.events()}"


def test_loadvm_without_a_backend(saved):
    machine = saved("x86_64").machine
    tag = next(iter(SAVES))
    assert not machine.socket.exists()
    run = machine.run("no-socket", 1, extra=["-loadvm", tag], timeout=BAD_INPUT_TIMEOUT)
    check_refused(run, f"Failed to connect to '{machine.socket}'", "no backend socket")
    # A backend that died and left its socket file: nobody accepts there.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(machine.socket))
    stale.close()
    try:
        run = machine.run("stale-socket", 1, extra=["-loadvm", tag],
                          timeout=BAD_INPUT_TIMEOUT)
    finally:
        machine.socket.unlink()
    check_refused(run, "Connection refused", "a socket nobody listens on")
