"""Penguin's graphics mode: VNC with a password (issue: without a DES cipher QEMU
stopped with "Cipher backend does not support DES algorithm").

The library from the release archive starts with Penguin's graphics options (the
password as a secret object, virtio-gpu, keyboard, mouse, en-us keymap), on loopback;
tests/helpers/rfb.py, an RFB client with its own DES, completes VNC authentication with
the right password and is refused with a wrong one.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from conftest import REPO
from helpers.rfb import (des_encrypt_block, free_vnc_display, rfb_authenticate,
                         vnc_response)

PASSWORD = "pengu1n"


def test_des_matches_the_standard():
    """The test's own DES against FIPS 81's example and a known VNC answer."""
    key, plain = bytes.fromhex("133457799BBCDFF1"), bytes.fromhex("0123456789ABCDEF")
    assert des_encrypt_block(key, plain).hex() == "85e813540f0ab405"
    assert len(vnc_response("x", bytes(16))) == 16


@pytest.fixture
def vnc_vm(release_prefix, tmp_path):
    display = free_vnc_display(20)
    args = ["-M", "pc", "-m", "256", "-L", str(release_prefix / "share" / "qemu"),
            "-nodefaults", "-monitor", "none", "-serial", "none",
            "-object", f"secret,id=vncpasswd,data={PASSWORD}",
            "-vnc", f"127.0.0.1:{display},password-secret=vncpasswd",
            "-device", "virtio-gpu", "-device", "virtio-keyboard-pci",
            "-device", "virtio-mouse-pci", "-k", "en-us"]
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'python'}:{REPO / 'tests'}")
    proc = subprocess.Popen(["/usr/bin/python3", str(REPO / "tests/helpers/lifecycle.py"),
                             "--stop-after", "60",
                             str(release_prefix / "lib" / "libqemu-system-x86_64.so"),
                             "x86_64", "--", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    line = proc.stdout.readline()
    if "LIFECYCLE-INIT-DONE" not in line:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"QEMU did not start: {line}{out}\n{err}")
    yield display
    proc.kill()
    proc.communicate()


def test_vnc_password_authentication(vnc_vm):
    port = 5900 + vnc_vm
    for _ in range(50):                     # the listener is up once qemu_init returned
        try:
            ok, reason = rfb_authenticate("127.0.0.1", port, PASSWORD)
            break
        except ConnectionRefusedError:
            time.sleep(0.1)
    assert ok, f"the right password was refused: {reason}"
    ok, reason = rfb_authenticate("127.0.0.1", port, "wrong-pw")
    assert not ok and reason, "a wrong password was accepted"
