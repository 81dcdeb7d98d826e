"""File snapshots with Penguin's vsock device attached (issue 25, item 4).

Penguin's planned core.snapshot.backend "file": stop the VM, `migrate` it to a file with
the mapped-ram capability (one snapshot file per worker), and start a new process with
`-incoming` and a new vhost-user-vsock backend. The VPN's backend has no dirty log, so
upstream refuses every migration; patch 0043 lets a migration of a stopped VM pass those
live-only blockers, as patch 0014 lets an internal snapshot (penguin/snapshot-blockers.c).

Per architecture (aarch64, mipsel's malta with memory-backend=mem0, x86_64), through the
libraries of the unpacked release archive (tests/helpers/vsock_boot.py):
- the first process boots a Linux guest that echoes over vsock; `migrate` to a file while
  it runs is refused with upstream's message and the guest echoes on; then stop, mapped-
  ram, `migrate` to a file: the migration completes;
- a new process with `-incoming defer`, a new backend, mapped-ram and `migrate-incoming`
  of that file, then `cont` (the source was stopped, so the loaded VM waits paused): the
  guest does not boot again, its counter in RAM goes on exactly from the question it
  asked last before the stop, and it echoes again through the new backend.
"""

from __future__ import annotations

import pytest

from test_vsock_snapshot import (LIVE_MIGRATION_REFUSED, check_rounds, console_tail,
                                 new_machine)
from vsock.backend import VsockBackend
from vsock.guest_link import ECHO_BYTES

ARCHES = ["aarch64", "mipsel", "x86_64"]
FIRST_ROUNDS = 2


@pytest.mark.parametrize("arch", ARCHES)
def test_migrate_a_stopped_vm_to_a_file_and_back(release_prefix, arch, tmp_path):
    machine = new_machine(arch, release_prefix, tmp_path)
    snapshot, live = tmp_path / "snapshot.mig", tmp_path / "live.mig"
    qmp = tmp_path / "qmp.sock"
    steps = [{"qmp": [{"execute": "migrate", "arguments": {"uri": f"file:{live}"}},
                      {"execute": "query-status"}]},
             {"rounds": 1},
             {"migrate_file": str(snapshot)}]
    with VsockBackend(machine.socket, tmp_path / "backend-first.log"):
        first = machine.run("first", FIRST_ROUNDS, steps=steps, qmp=qmp)
    seen = first.seen
    assert first.returncode == 0 and seen is not None and not seen.get("timed_out"), (
        f"{arch}: first process\n{console_tail(first)}")
    refused, status = seen["steps"][0]["qmp"]
    assert refused.get("error", {}).get("desc") == LIVE_MIGRATION_REFUSED, refused
    assert status["return"]["running"] is True, status
    migrated = seen["steps"][2]
    assert migrated["ok"], f"{arch}: migrate to a file: {migrated}\n{first.stderr[-2000:]}"
    assert [a.get("return") for a in migrated["answers"]] == [{}, {}, {}], migrated
    (stop,) = migrated["stops"]                  # the QMP stop, before the migration
    check_rounds(seen["rounds"], [1, 2, 3], f"{arch}, first process")

    qmp_second = tmp_path / "qmp-second.sock"
    with VsockBackend(machine.socket, tmp_path / "backend-second.log") as backend:
        second = machine.run("second", 1, extra=["-incoming", "defer"], qmp=qmp_second,
                             options={"incoming": f"file:{snapshot}"})
        backend_status = backend.wait(10)
    seen = second.seen
    assert second.returncode == 0 and seen is not None and not seen.get("timed_out"), (
        f"{arch}: -incoming\n{console_tail(second)}")
    incoming = seen["incoming"]
    assert [a.get("return") for a in incoming["answers"]] == [{}, {}], incoming
    assert incoming["state"] == "paused" and incoming["resumed"] == [{"return": {}}], \
        incoming
    # The guest went on from the stopped state: no boot, the counter continues.
    assert "Linux version" not in seen["console"], f"{arch}: the guest booted again"
    assert seen["first_ask_counter"] == stop["last_ask"] + 1, (
        f"{arch}: first question {seen['first_ask_counter']}, stopped after "
        f"{stop['last_ask']}")
    check_rounds(seen["rounds"], [4], f"{arch} after -incoming")
    assert backend_status == 0, f"{arch}: backend status {backend_status}"
    (gone,) = [e for e in backend.events() if e["event"] == "qemu_disconnected"]
    assert gone["connections"] == 1 and gone["echoed"] == ECHO_BYTES, gone
    print(f"{arch}: migrate to a file {migrated['seconds']} s, load "
          f"{incoming['seconds']} s")
