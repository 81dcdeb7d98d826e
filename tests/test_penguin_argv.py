"""Every smoke-boot architecture boots its Linux kernel through the library with the
whole command line Penguin builds (tests/penguin_argv.py): root qcow2 made by the
release's qemu-img in Penguin's three drive shapes, two user networks (one with a
packet dump), console to a file, a second serial on telnet, a 9p shared folder, the
VPN's shared memory backend and vhost-user-vsock-pci (with the tests' backend
answering the vhost-user handshake), NUMA, the RTC base, SMP and QMP. Init runs and
makes its hypercall; QMP then reports the VM running and shows every device given.
The graphics variant (VNC with a password) runs on x86_64.
"""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import run_helper
from helpers.rfb import free_vnc_display
from penguin_argv import Where, graphics_argv, penguin_argv
from smoke import initramfs
from smoke.boots import ARCHES, BY_NAME, SMOKE_NR, SmokeArch
from smoke.kernel import KernelError
from smoke.kernels import kernel_for
from vsock.backend import VsockBackend

BOOT_TIMEOUT = 180
VNC_PASSWORD = "pengu1n"
# The devices each boot must show, by QOM type (anonymous -device and -drive/-virtfs
# devices live under /machine/peripheral-anon).
EXPECTED = {"net": "virtio-net", "9p": "virtio-9p", "vsock": "vhost-user-vsock-pci"}
QMP_COMMANDS = [{"execute": "query-status"},
                {"execute": "qom-list", "arguments": {"path": "/machine/peripheral-anon"}},
                {"execute": "query-block"}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def where_for(arch: SmokeArch, release: Path, workdir: Path) -> Where:
    try:
        kernel = kernel_for(arch.name)
    except KernelError as e:
        pytest.fail(f"{arch.name}: no kernel: {e}")
    include = release / "include"
    initrd = initramfs.write(arch.build_init(include), workdir / "initrd.gz")
    where = Where(release, workdir, kernel.path, initrd, workdir / "vsock.sock",
                  free_port())
    subprocess.run([str(release / "bin" / "qemu-img"), "create", "-q", "-f", "qcow2",
                    str(where.qcow2), "64M"], check=True)
    return where


def boot(arch: SmokeArch, release: Path, workdir: Path,
         graphics: int | None = None) -> dict:
    where = where_for(arch, release, workdir)
    argv = penguin_argv(arch, where)
    if graphics is not None:
        at = argv.index("-display")
        argv[at:at + 2] = graphics_argv(VNC_PASSWORD, graphics)
    spec = {"prefix": str(release), "name": arch.name, "nr": SMOKE_NR,
            "answer": arch.answer(), "console": str(where.console),
            "result": str(workdir / "result.json"), "timeout": BOOT_TIMEOUT, "args": argv,
            "qmp": {"socket": str(where.qmp_socket), "commands": QMP_COMMANDS}}
    if graphics is not None:
        spec["qmp"]["commands"] = [*QMP_COMMANDS, {"execute": "query-vnc"}]
    with VsockBackend(where.vsock_socket, workdir / "vsock.log"):
        proc = run_helper("smoke_boot.py", json.dumps(spec), timeout=BOOT_TIMEOUT + 60,
                          env={"QEMU_AUDIO_DRV": "none"})
    result = workdir / "result.json"
    assert proc.returncode == 0 and result.exists(), (
        f"{arch.name}: rc={proc.returncode}\n{' '.join(argv)}\n{proc.stdout}\n"
        f"{proc.stderr[-3000:]}")
    return json.loads(result.read_text())


def check_boot(arch: SmokeArch, seen: dict) -> None:
    tail = seen["console"][-3000:]
    assert not seen.get("timed_out"), f"{arch.name}: init did not finish\n{tail}"
    assert "PENGUIN-SMOKE init: running" in seen["console"], f"{arch.name}: no init\n{tail}"
    assert [c for c in seen["calls"] if c["nr"] == SMOKE_NR] == [
        {"nr": SMOKE_NR, "args": arch.args()}], seen["calls"]
    status, anon, block = seen["qmp"][:3]
    assert status["return"]["status"] == "running", status
    types = " ".join(child["type"] for child in anon["return"])
    for what, qom_type in EXPECTED.items():
        assert qom_type in types, f"{arch.name}: no {what} device ({qom_type}) in {types}"
    drives = {b["device"]: b for b in block["return"]}
    assert "hd0" in drives and drives["hd0"]["inserted"]["image"]["format"] == "qcow2", (
        f"{arch.name}: root drive missing: {block}")
    assert "virtio-blk" in types, f"{arch.name}: no virtio-blk device in {types}"


@pytest.mark.parametrize("name", [a.name for a in ARCHES])
def test_penguin_argv(release_prefix, name, tmp_path):
    arch = BY_NAME[name]
    check_boot(arch, boot(arch, release_prefix, tmp_path))


def test_penguin_argv_graphics(release_prefix, tmp_path):
    """x86_64 with Penguin's graphics options: the same boot, virtio-gpu, keyboard and
    mouse present, and QMP reports the VNC server on with password authentication
    (tests/test_vnc.py authenticates against it)."""
    arch = BY_NAME["x86_64"]
    display = free_vnc_display(30)
    seen = boot(arch, release_prefix, tmp_path, graphics=display)
    check_boot(arch, seen)
    types = " ".join(c["type"] for c in seen["qmp"][1]["return"])
    for device in ("virtio-gpu", "virtio-keyboard", "virtio-mouse"):
        assert device in types, f"no {device} in {types}"
    vnc = seen["qmp"][3]["return"]
    assert vnc["enabled"] and vnc["auth"] == "vnc" and vnc["service"] == str(5900 + display)


def test_readme_lists_every_option():
    """The README's table of Penguin's options is tests/penguin_argv.py's, word for word."""
    from conftest import REPO
    from penguin_argv import markdown_table
    assert markdown_table() in (REPO / "README.md").read_text()
