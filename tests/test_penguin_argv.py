"""Every smoke-boot architecture boots its Linux kernel through the library with the
whole command line Penguin builds (tests/penguin_argv.py): root qcow2 made by the
release's qemu-img in Penguin's three drive shapes, two user networks (one with a
packet dump), a compose network (a multicast socket netdev), console to a file, a 9p
shared folder, the VPN's shared memory backend and vhost-user-vsock-pci (with the
tests' backend answering the vhost-user handshake), NUMA, the RTC base, SMP and QMP;
half of them with the root shell's second serial on telnet and -no-reboot, the other
half with neither (Penguin adds the root shell only when asked, and leaves out
-no-reboot with core.allow_reboot). Init runs and makes its hypercall; QMP then reports
the VM running and shows every device, NIC and serial given, and no telnet serial
where none was asked for.
The graphics variant (VNC with a password) runs on x86_64, and so does the interactive
console: the first serial on QEMU's stdio under a pseudo-terminal, with signal=on, where
init's lines appear and ^C ends the run. Two VMs on one compose network exchange
packets: each one's firmware (SeaBIOS running the NIC's iPXE ROM) sends DHCP requests,
and the other's netdev receives them through the multicast group.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import socket
import struct
import subprocess
import termios
import time
from pathlib import Path

import pytest

from conftest import REPO, run_helper
from helpers.rfb import free_vnc_display
from penguin_argv import (Where, compose_argv, graphics_argv, interactive_console,
                          penguin_argv)
from helpers.qmp_client import qmp_exchange
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
                {"execute": "query-block"}, {"execute": "query-chardev"},
                {"execute": "query-rx-filter"}]
COMPOSE_MAC = "52:54:00:c0:00:01"
COMPOSE_TIMEOUT = 60
# Every other architecture (in the table's order) gets the root shell and -no-reboot.
ROOT_SHELL = {a.name for a in ARCHES[::2]}


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
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
                  free_port(), free_port(socket.SOCK_DGRAM))
    subprocess.run([str(release / "bin" / "qemu-img"), "create", "-q", "-f", "qcow2",
                    str(where.qcow2), "64M"], check=True)
    return where


def boot(arch: SmokeArch, release: Path, workdir: Path,
         graphics: int | None = None) -> dict:
    where = where_for(arch, release, workdir)
    root_shell = arch.name in ROOT_SHELL
    argv = penguin_argv(arch, where, root_shell=root_shell, allow_reboot=not root_shell,
                        compose_mac=COMPOSE_MAC)
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
    seen = json.loads(result.read_text())
    seen["root_shell"] = root_shell
    return seen


def check_serials_and_nics(arch: SmokeArch, seen: dict) -> None:
    """The telnet serial exists exactly when the root shell was asked for; the compose
    NIC is there with its MAC."""
    chardevs, nics = seen["qmp"][3]["return"], seen["qmp"][4]["return"]
    telnet = [c for c in chardevs if "telnet:" in c["filename"]]
    assert len(telnet) == (1 if seen["root_shell"] else 0), (arch.name, chardevs)
    macs = {n["main-mac"] for n in nics}
    assert COMPOSE_MAC in macs, (arch.name, nics)


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
    check_serials_and_nics(arch, seen)


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
    vnc = seen["qmp"][5]["return"]
    assert vnc["enabled"] and vnc["auth"] == "vnc" and vnc["service"] == str(5900 + display)


def test_readme_lists_every_option():
    """The README's table of Penguin's options is tests/penguin_argv.py's, word for word."""
    from conftest import REPO
    from penguin_argv import markdown_table
    assert markdown_table() in (REPO / "README.md").read_text()


def run_under_a_terminal(spec: dict, workdir: Path, until: str, ready: Path,
                         keys: bytes, timeout: float) -> tuple[int, bytes]:
    """Run smoke_boot.py with a pseudo-terminal as its controlling terminal, stdin and
    stdout; once `until` appeared on the terminal and the file ready exists, type keys.
    The exit status and all the terminal showed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = dict(os.environ, PYTHONPATH=f"{REPO / 'python'}:{REPO / 'tests'}",
               QEMU_AUDIO_DRV="none")
    with open(workdir / "stderr.txt", "wb") as stderr:
        proc = subprocess.Popen(["/usr/bin/python3", str(REPO / "tests" / "helpers" /
                                                         "smoke_boot.py"),
                                 json.dumps(spec)], stdin=slave, stdout=slave,
                                stderr=stderr, env=env, preexec_fn=controlling_terminal)
    os.close(slave)
    shown, typed, end = b"", False, time.monotonic() + timeout
    while time.monotonic() < end:
        readable, _, _ = select.select([master], [], [], 0.2)
        if readable:
            try:
                chunk = os.read(master, 65536)
            except OSError:          # EIO: the last process holding the terminal left
                break
            if not chunk:
                break
            shown += chunk
        if not typed and until.encode() in shown and ready.exists():
            os.write(master, keys)
            typed = True
        if proc.poll() is not None and not readable:
            break
    os.close(master)
    try:
        status = proc.wait(timeout=max(1.0, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        status = proc.wait()
    return status, shown


def test_penguin_argv_interactive_console(release_prefix, tmp_path):
    """x86_64 with the first serial on QEMU's stdio, a pseudo-terminal here, logged to
    the console file, signal=on: init's lines reach the terminal and the log, and ^C
    typed on the terminal ends the run as a signal (QEMU's own message, status 0)."""
    arch = BY_NAME["x86_64"]
    where = where_for(arch, release_prefix, tmp_path)
    argv = penguin_argv(arch, where, root_shell=False)
    at = argv.index("-serial")
    argv[at:at + 6] = interactive_console(where)
    spec = {"prefix": str(release_prefix), "name": arch.name, "nr": SMOKE_NR,
            "answer": arch.answer(), "console": str(where.console),
            "result": str(tmp_path / "result.json"), "timeout": BOOT_TIMEOUT,
            "args": argv, "stop": False, "ready": str(tmp_path / "ready"),
            "qmp": {"socket": str(where.qmp_socket), "commands": QMP_COMMANDS}}
    with VsockBackend(where.vsock_socket, tmp_path / "vsock.log"):
        status, shown = run_under_a_terminal(spec, tmp_path, "PENGUIN-SMOKE done",
                                             tmp_path / "ready", b"\x03", BOOT_TIMEOUT)
    stderr = (tmp_path / "stderr.txt").read_text(errors="replace")
    text = shown.decode(errors="replace")
    assert status == 0, f"status {status}\n{stderr[-3000:]}\n{text[-3000:]}"
    result = json.loads((tmp_path / "result.json").read_text())
    assert not result.get("timed_out"), f"^C did not end the run\n{text[-3000:]}"
    assert result["status"] == 0, result["status"]
    assert "terminating on signal 2" in stderr, stderr[-3000:]
    assert "PENGUIN-SMOKE init: running" in text and "PENGUIN-SMOKE done" in text, \
        text[-3000:]
    log = where.console.read_text(errors="replace")
    assert "PENGUIN-SMOKE init: running" in log and "Linux version" in log, log[-3000:]
    seen = {**result, "root_shell": False}
    assert seen["qmp"][0]["return"]["status"] == "running", seen["qmp"][0]
    chardevs = seen["qmp"][3]["return"]
    stdio = [c for c in chardevs if c["label"] == "char1"]
    assert stdio and stdio[0]["filename"] == "stdio", chardevs
    assert not [c for c in chardevs if "telnet:" in c["filename"]], chardevs


def pcap_frames(path: Path) -> list[bytes]:
    """The frames of a pcap file as filter-dump writes it (24-byte file header, then a
    16-byte header before each frame)."""
    data = path.read_bytes() if path.exists() else b""
    frames, at = [], 24
    while at + 16 <= len(data):
        (length,) = struct.unpack_from("<I", data, at + 8)
        frames.append(data[at + 16:at + 16 + length])
        at += 16 + length
    return frames


def sources(path: Path) -> set[str]:
    """The source MACs of the frames in a netdev's dump."""
    return {":".join(f"{b:02x}" for b in frame[6:12]) for frame in pcap_frames(path)}


def compose_vm(release: Path, workdir: Path, port: int, mac: str) -> subprocess.Popen:
    """An x86_64 VM whose firmware boots from the network (SeaBIOS runs the NIC's iPXE
    ROM, which sends DHCP requests and listens), on compose network 0 with Penguin's
    shape; its netdev's traffic dumped to workdir/compose.pcap, QMP on workdir/qmp.sock."""
    workdir.mkdir()
    args = ["-M", "pc", "-nodefaults", "-boot", "n", "-m", "128", "-display", "none",
            "-monitor", "none", "-serial", "none", "-L", str(release / "share" / "qemu"),
            *compose_argv(0, port, mac),
            "-object", f"filter-dump,id=fcompose,netdev=compose.0,"
                       f"file={workdir / 'compose.pcap'}",
            "-qmp", f"unix:{workdir / 'qmp.sock'},server,nowait"]
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'python'}:{REPO / 'tests'}")
    return subprocess.Popen(["/usr/bin/python3", str(REPO / "tests" / "helpers" /
                                                     "lifecycle.py"),
                             "--stop-after", str(COMPOSE_TIMEOUT),
                             str(release / "lib" / "libqemu-system-x86_64.so"), "x86_64",
                             "--", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def test_compose_network_exchanges_a_packet(release_prefix, tmp_path):
    """Two VMs with Penguin's compose shape on one multicast group: the frames each
    guest's firmware sends reach the other one's netdev through the group."""
    port = free_port(socket.SOCK_DGRAM)
    macs = ["52:54:00:c0:00:0a", "52:54:00:c0:00:0b"]
    dirs = [tmp_path / "a", tmp_path / "b"]
    vms = [compose_vm(release_prefix, d, port, mac) for d, mac in zip(dirs, macs)]
    end, heard = time.monotonic() + COMPOSE_TIMEOUT / 2, [set(), set()]
    while time.monotonic() < end and not all(macs[1 - i] in heard[i] for i in (0, 1)):
        time.sleep(0.2)
        heard = [sources(d / "compose.pcap") for d in dirs]
    for d in dirs:
        try:
            qmp_exchange(str(d / "qmp.sock"), [{"execute": "quit"}])
        except OSError:
            pass                                 # it ended already; its output says why
    outputs = [vm.communicate(timeout=60) for vm in vms]
    for vm, (out, err) in zip(vms, outputs):
        assert vm.returncode == 0 and "LIFECYCLE-RETURNED status=0" in out, (out, err)
    assert macs[1] in heard[0], f"a heard {heard[0]}, not b"
    assert macs[0] in heard[1], f"b heard {heard[1]}, not a"
