"""Start each target through its library, stop it from another thread, see it return."""

from __future__ import annotations

import pytest

from conftest import TARGETS, run_helper, stage_lib
from spin_guests import qemu_args


@pytest.mark.parametrize("target", TARGETS)
def test_start_and_stop_from_another_thread(stage, target, tmp_path):
    args = qemu_args(target, tmp_path)
    result = run_helper("lifecycle.py", str(stage_lib(target)), target, "--", *args)
    out = result.stdout
    assert result.returncode == 0, f"rc={result.returncode}\n{out}\n{result.stderr}"
    assert "LIFECYCLE-INIT-DONE" in out, result.stderr
    assert "LIFECYCLE-STOP-REQUESTED" in out
    # The main loop returned its status and qemu_cleanup returned instead of exiting.
    assert "LIFECYCLE-RETURNED status=0" in out, result.stderr


def test_bad_argv_exits_with_qemu_message(stage, tmp_path):
    result = run_helper("lifecycle.py", str(stage_lib("mipsel")), "mipsel", "--",
                        "-M", "no-such-board", "-display", "none")
    assert result.returncode == 1
    assert "LIFECYCLE-INIT-DONE" not in result.stdout
    assert "no-such-board" in result.stderr
    assert "unsupported machine type" in result.stderr


def test_bad_option_exits_with_qemu_message(stage):
    result = run_helper("lifecycle.py", str(stage_lib("aarch64")), "aarch64", "--",
                        "--no-such-option")
    assert result.returncode == 1
    assert "invalid option" in result.stderr


# What Penguin's command lines use (penguin-shim-notes.md, "Running"), built in.
PENGUIN_DEVICES = ["virtio-blk-pci", "virtio-blk-device", "virtio-net-pci",
                   "virtio-net-device", "virtio-9p-pci", "virtio-9p-device",
                   "vhost-user-vsock-pci", "vhost-user-vsock-device", "virtio-gpu-pci"]


@pytest.mark.parametrize("target", TARGETS)
def test_penguin_devices_and_user_networking_are_built_in(stage, target):
    devices = run_helper("lifecycle.py", str(stage_lib(target)), target, "--",
                         "-device", "help")
    assert devices.returncode == 0, devices.stderr
    missing = [d for d in PENGUIN_DEVICES if f'"{d}"' not in devices.stdout]
    assert not missing, f"{target} lacks {missing}"
    netdevs = run_helper("lifecycle.py", str(stage_lib(target)), target, "--",
                         "-M", "none", "-netdev", "help")
    assert "user" in netdevs.stdout.split(), netdevs.stdout
