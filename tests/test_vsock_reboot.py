"""Linux `reboot -f` without -no-reboot, with Penguin's VPN attached (issue 25, item 2).

Penguin's core.allow_reboot leaves out -no-reboot: the guest's reboot resets the machine
in the same process, and the run goes on. Per architecture (aarch64, mipsel, x86_64),
through the libraries of the unpacked release archive, the vsock smoke guest
(tests/test_vsock.py) echoes once over vhost-user-vsock, then its init makes the reboot
system call (LINUX_REBOOT_CMD_RESTART, what `reboot -f` does): the kernel boots again in
the same process, init runs again (its hypercall, its vsock modules) and echoes again
through the same backend, whose device the reset left working.
"""

from __future__ import annotations

import pytest

from smoke.boots import BY_NAME
from test_vsock import boot
from vsock.backend import VsockBackend
from vsock.guest_link import ECHO_BYTES

ARCHES = ["aarch64", "mipsel", "x86_64"]
INIT_LINE = "PENGUIN-SMOKE init: running as pid 1"


@pytest.mark.parametrize("arch", ARCHES)
def test_reboot_comes_back_to_init_and_echoes(release_prefix, arch, tmp_path):
    socket = tmp_path / "vsock.sock"
    with VsockBackend(socket, tmp_path / "backend.log") as backend:
        seen = boot(BY_NAME[arch], release_prefix, tmp_path, socket, rounds=1,
                    no_reboot=False, steps=[{"reboot": True}, {"rounds": 1}])
        status = backend.wait(10)
    tail = seen["console"][-3000:]
    assert not seen.get("timed_out"), f"{arch}: timed out\n{seen['steps']}\n{tail}"
    reboot, again = seen["steps"]
    assert reboot["ok"], f"{arch}: the guest did not come back: {reboot}\n{tail}"
    assert again["ok"], f"{arch}: no echo after the reboot: {again}\n{tail}"
    # Two boots in one process: the kernel and init ran twice, and the modules loaded
    # in each.
    assert seen["console"].count("Linux version") == 2, tail
    assert seen["console"].count(INIT_LINE) == 2, tail
    # init's hypercall (a registered number) was answered by the host in both boots.
    answered = f"PENGUIN-SMOKE ret=0x{BY_NAME[arch].answer():016x}"
    assert seen["console"].count(answered) == 2, tail
    assert "PENGUIN-VSOCK reboot -f" in seen["console"], tail
    assert seen["boots"] == 2, seen["boots"]
    indexes = [index for index, _ in seen["modules"]]
    assert len(indexes) % 2 == 0 and indexes[:len(indexes) // 2] * 2 == indexes, indexes
    assert all(err == 0 for _, err in seen["modules"]), seen["modules"]
    # One echo round per boot (each boot counts its own rounds from 1).
    rounds = seen["rounds"]
    assert [r["round"] for r in rounds] == [1, 1], rounds
    assert all(r["step"] == "ok" and r["bytes"] == ECHO_BYTES for r in rounds), rounds
    # One backend served both boots' connections.
    assert status == 0, f"{arch}: backend status {status}"
    (gone,) = [e for e in backend.events() if e["event"] == "qemu_disconnected"]
    assert gone["connections"] == 2 and gone["echoed"] == 2 * ECHO_BYTES, gone
    print(f"{arch}: reboot -f to the next boot's first question in {reboot['seconds']} s")
