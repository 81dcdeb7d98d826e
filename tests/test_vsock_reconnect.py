"""The vsock device when its backend goes away while the VM runs (issue 14).

A vhost-user backend can crash or be restarted while the guest runs. Through the
libraries of the unpacked release archive, with a Linux guest that echoes over vsock:

- with a chardev that reconnects (`reconnect-ms`): the backend is killed (SIGKILL, no
  goodbye), the guest goes on running without it, a new backend is started on the same
  socket and QEMU sets the device's rings up in it again; the guest echoes through it.
  Then the second backend ends politely (SIGTERM), a broken one takes its place for a
  while (it closes every connection in the handshake: QEMU reports it and tries again),
  and a third takes over the same way; a snapshot saved with it attached succeeds and
  the guest echoes after it;
- with a reconnecting chardev and no backend at start-up: QEMU's connection error and
  status 1 at once (upstream would wait for a backend forever);
- with Penguin's own chardev, which does not reconnect: the backend is killed, the VM
  keeps running (the guest asks again and again, a round it tries fails without
  hanging), a snapshot can still be saved, QMP answers `running`, and the process ends
  cleanly.

The backends are the test's own (tests/vsock/vhost_user_vsock.py), started and replaced
by the VM's process (tests/helpers/vsock_boot.py) between the guest's echo rounds.
"""

from __future__ import annotations

import pytest

from test_vsock_snapshot import (BAD_INPUT_TIMEOUT, Machine, Run, check_refused,
                                 check_rounds, console_tail, new_machine)

RECONNECT_MS = 200
ASKS_WITHOUT_BACKEND = 5     # the guest's questions while no backend is there
GONE_WARNING = "vhost-user-vsock: the backend went away"


def machine_for(name: str, release, tmp_path, reconnect_ms: int | None) -> Machine:
    machine = new_machine(name, release, tmp_path)
    machine.reconnect_ms = reconnect_ms
    return machine


def checked(run: Run, why: str) -> dict:
    """The process's report, once it ran to the end with every step done."""
    seen = run.seen
    assert run.returncode == 0 and seen is not None, \
        f"{why}: status {run.returncode}\n{console_tail(run)}"
    assert not seen.get("timed_out"), f"{why}: timed out\n{console_tail(run)}"
    return seen


def connections(backend: dict) -> int:
    """How many guest connections one backend accepted."""
    return sum(1 for e in backend["events"] if e["event"] == "connect")


@pytest.mark.parametrize("arch", ["aarch64", "x86_64"])
def test_a_new_backend_on_the_same_socket(release_prefix, tmp_path, arch):
    machine = machine_for(arch, release_prefix, tmp_path, RECONNECT_MS)
    steps = [{"backend": "kill"}, {"asks": ASKS_WITHOUT_BACKEND}, {"backend": "start"},
             {"rounds": 2},
             {"backend": "stop"}, {"asks": ASKS_WITHOUT_BACKEND},
             {"backend": "broken", "seconds": 1.0}, {"asks": ASKS_WITHOUT_BACKEND},
             {"backend": "start"},
             {"rounds": 1}, {"save": "after-reconnect", "from": "main"}, {"rounds": 1}]
    run = machine.run("reconnect", 2, steps=steps, own_backend=True)
    seen = checked(run, f"{arch} with reconnect-ms")
    failed = [s for s in seen["steps"] if not s.get("ok")]
    assert not failed, f"{arch}: steps that failed: {failed}\n{console_tail(run)}"
    assert len(seen["steps"]) == len(steps), seen["steps"]
    # Every round echoed, before the first backend died and through both of its
    # successors; the snapshot with the third attached changed nothing.
    check_rounds(seen["rounds"], list(range(1, 7)), f"{arch}, across two new backends")
    first, second, third = seen["backends"]
    assert first["how"] == "kill" and first["status"] == -9, first
    # Each successor served the rounds run while it was there (the guest checked
    # every byte that came back), saw no protocol error and ended cleanly at SIGTERM.
    for backend in (second, third):
        kinds = [e["event"] for e in backend["events"]]
        assert "protocol_error" not in kinds, backend["events"]
        assert connections(backend) == 2 and backend["status"] == 0, backend
    # QEMU said each time that the backend went, and the transport reset it sends
    # the guest at each reconnection found a buffer on the event queue.
    assert run.stderr.count(GONE_WARNING) == 2, run.stderr[-3000:]
    assert "missed transport reset event" not in run.stderr, run.stderr[-3000:]
    # QEMU kept trying the broken one, saying why, and moved on to the third.
    (broken,) = [s for s in seen["steps"] if s.get("backend") == "broken"]
    assert broken["accepted"] >= 2, broken
    assert "vhost_backend_init failed" in run.stderr, run.stderr[-3000:]
    starts = [s["seconds"] for s in seen["steps"] if s.get("backend") == "start"]
    print(f"{arch}: a new backend had both rings {starts} s after it started")


def test_a_backend_that_comes_back_after_a_restore_gave_up(release_prefix, tmp_path):
    """A fast restore that loads the device renews its backend (penguin/vsock-backend.c).
    With a backend that serves one connection and exits, the renewal gives up after its
    wait (the restore still succeeds); a reconnecting chardev then goes on trying, so a
    backend started later gets the device's rings and the guest echoes through it."""
    machine = machine_for("x86_64", release_prefix, tmp_path, RECONNECT_MS)
    steps = [{"fast": "take"}, {"rounds": 1}, {"fast": "restore"},
             {"backend": "start"}, {"rounds": 1}]
    run = machine.run("renew", 1, steps=steps, own_backend=True)
    seen = checked(run, "x86_64, a restore whose backend came back later")
    failed = [s for s in seen["steps"] if not s.get("ok")]
    assert not failed, f"steps that failed: {failed}\n{console_tail(run)}"
    assert "no backend on its socket within" in run.stderr, run.stderr[-1500:]
    later = seen["backends"][-1]
    kinds = [e["event"] for e in later["events"]]
    assert "protocol_error" not in kinds and connections(later) == 1, later["events"]


def test_penguins_chardev_without_reconnect(release_prefix, tmp_path):
    machine = machine_for("x86_64", release_prefix, tmp_path, None)
    qmp = tmp_path / "qmp.sock"
    steps = [{"backend": "kill"}, {"asks": ASKS_WITHOUT_BACKEND}, {"rounds": 1},
             {"save": "without-backend", "from": "main"}, {"asks": ASKS_WITHOUT_BACKEND},
             {"qmp": [{"execute": "query-status"}]}]
    run = machine.run("no-reconnect", 2, steps=steps, own_backend=True, qmp=qmp)
    seen = checked(run, "x86_64 without reconnect")
    kill, asks, rounds, save, asks_after, query = seen["steps"]
    (status,) = query["qmp"]
    assert asks["ok"] and asks_after["ok"], seen["steps"]
    # The round without a backend ended with a report (the guest's bounded connect),
    # not a guest stuck in a system call.
    assert rounds["ok"], rounds
    check_rounds(seen["rounds"][:2], [1, 2], "x86_64, before the backend died")
    (lost,) = seen["rounds"][2:]
    assert lost["round"] == 3 and lost["step"] != "ok", lost
    assert save["ok"], f"saving with the backend gone: {save}"
    assert status.get("return", {}).get("running") is True, status
    assert GONE_WARNING in run.stderr, run.stderr[-3000:]
    (first,) = seen["backends"]
    assert first["status"] == -9, first


def test_reconnecting_chardev_without_a_backend_at_start(release_prefix, tmp_path):
    machine = machine_for("x86_64", release_prefix, tmp_path, RECONNECT_MS)
    assert not machine.socket.exists()
    run = machine.run("no-backend", 1, timeout=BAD_INPUT_TIMEOUT)
    check_refused(run, f"Failed to connect to '{machine.socket}'",
                  "reconnect-ms and no backend")
