"""Penguin's vsock device through the release archive: a Linux guest echoes over vsock.

Penguin's VPN adds `vhost-user-vsock-pci` on a socket chardev, with guest RAM in a shared
memory-backend-file (tests/vsock/backend.py: vsock_argv). Debian 12 has no vhost-user
vsock backend, so the test starts its own (tests/vsock/vhost_user_vsock.py: the
vhost-user protocol and an echo service, without the dirty log, like Penguin's
vhost-device-vsock). The guest is a smoke-boot kernel (Debian's, with its vsock and
virtio-pci modules in the initramfs) whose init (tests/smoke/vsock-echo.c) connects to
host CID 2 and checks that every byte comes back, reporting each round by hypercall.

Checked: the modules load, every round echoes all its bytes, the backend saw the same
connections and bytes, and it exits by itself when the VM's process ends; a second
backend and a second VM process on the same socket path work again (what a snapshot
restored in a new process will need).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_helper
from smoke import initramfs
from smoke.boots import BY_NAME, SMOKE_NR, SmokeArch
from smoke.kernel import KernelError
from smoke.kernels import kernel_for
from vsock.backend import ECHO_PORT, VsockBackend, vsock_argv
from vsock.guest_link import ECHO_BYTES

VSOCK_ARCHES = ["x86_64", "aarch64", "mipsel"]
ROUNDS = 3
BOOT_TIMEOUT = 120


@pytest.fixture(scope="module")
def release(release_prefix) -> Path:
    """The release archive unpacked as `tar -C /usr/local -xzf` would (conftest)."""
    return release_prefix


def guest_initrd(arch: SmokeArch, release: Path, workdir: Path) -> tuple[Path, Path]:
    """The kernel, and an initramfs with the vsock init and the kernel's vsock modules."""
    try:
        kernel = kernel_for(arch.name)
    except KernelError as e:
        pytest.fail(f"{arch.name}: no kernel: {e}")
    if not kernel.modules:
        pytest.fail(f"{arch.name}: {kernel.origin} came without vsock modules "
                    f"(see modules_missing in its kernel.json)")
    init = arch.build_init(release / "include", vsock=True)
    files = {f"vsock/{i:02d}.ko": m.read_bytes() for i, m in enumerate(kernel.modules)}
    return kernel.path, initramfs.write(init, workdir / "initrd.gz", files=files)


def boot(arch: SmokeArch, release: Path, workdir: Path, socket: Path,
         rounds: int = ROUNDS, extra_args: tuple[str, ...] = (), no_reboot: bool = True,
         **options: object) -> dict:
    """One VM process with Penguin's vsock options, until the guest echoed rounds times;
    extra_args go to QEMU (a -drive, -loadvm) and options to vsock_boot.py's spec
    ("steps", "qmp_socket"); no_reboot=False leaves out -no-reboot, as Penguin does
    with core.allow_reboot."""
    kernel, initrd = guest_initrd(arch, release, workdir)
    console, result = workdir / "console.txt", workdir / "result.json"
    args = [*vsock_argv(arch.machine, socket, workdir / "mem0"),
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", arch.cmdline(),
            "-L", str(release / "share" / "qemu"), "-nodefaults", "-display", "none",
            "-monitor", "none", *(["-no-reboot"] if no_reboot else []),
            "-serial", f"file:{console}", *extra_args]
    spec = {"prefix": str(release), "name": arch.name, "console": str(console),
            "result": str(result), "timeout": BOOT_TIMEOUT, "port": ECHO_PORT,
            "rounds": rounds, "smoke_nr": SMOKE_NR, "smoke_answer": arch.answer(),
            "args": args, **options}
    proc = run_helper("vsock_boot.py", json.dumps(spec), timeout=BOOT_TIMEOUT + 60)
    assert proc.returncode == 0 and result.exists(), (
        f"{arch.name}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    seen = json.loads(result.read_text())
    seen["argv"] = args
    seen["stderr"] = proc.stderr
    return seen


def check_echoes(arch: str, seen: dict, backend: VsockBackend, rounds: int) -> None:
    tail = seen["console"][-3000:]
    assert not seen.get("timed_out"), f"{arch}: {len(seen['rounds'])} of {rounds} rounds " \
                                      f"in {BOOT_TIMEOUT} s\n{seen['rounds']}\n{tail}"
    assert seen["modules"] and all(err == 0 for _, err in seen["modules"]), (
        f"{arch}: module loading: {seen['modules']}\n{tail}")
    assert [r["round"] for r in seen["rounds"]] == list(range(1, rounds + 1))
    bad = [r for r in seen["rounds"] if r["step"] != "ok" or r["bytes"] != ECHO_BYTES]
    assert not bad, f"{arch}: rounds that failed: {bad}\n{tail}"
    # The backend ends by itself once the VM's process has gone, and says what it saw.
    status = backend.wait(10)
    assert status == 0, f"{arch}: backend status {status}: {backend.stderr()}"
    assert not backend.socket_path.exists(), "the backend left its socket behind"
    events = backend.events()
    kinds = [e["event"] for e in events]
    assert "protocol_error" not in kinds, events
    config = [e for e in events if e["event"] == "get_config"]
    assert config and config[0]["guest_cid"] == backend.guest_cid
    (gone,) = [e for e in events if e["event"] == "qemu_disconnected"]
    assert gone["connections"] == rounds and gone["echoed"] == rounds * ECHO_BYTES, gone
    assert gone["refused"] == 0, gone


@pytest.mark.parametrize("arch", VSOCK_ARCHES)
def test_guest_echoes_over_vhost_user_vsock(release, arch, tmp_path, record_property):
    socket = tmp_path / "vsock.sock"
    with VsockBackend(socket, tmp_path / "backend.log") as backend:
        seen = boot(BY_NAME[arch], release, tmp_path, socket)
        check_echoes(arch, seen, backend, ROUNDS)
    rounds = seen["rounds"]
    print(f"{arch}: first question {seen['first_ask_seconds']} s, rounds at "
          f"{[r['seconds'] for r in rounds]} s; argv: {' '.join(seen['argv'])}")
    record_property("vsock_echo", {"arch": arch, "first_ask": seen["first_ask_seconds"],
                                   "rounds": [r["seconds"] for r in rounds]})


def test_new_backend_and_new_process_on_the_same_socket(release, tmp_path):
    """The restart a snapshot restore will do: the first process and its backend end,
    a new backend listens on the same path, a new process boots and echoes again."""
    arch = BY_NAME["x86_64"]
    socket = tmp_path / "vsock.sock"
    for run in ("first", "second"):
        workdir = tmp_path / run
        workdir.mkdir()
        with VsockBackend(socket, workdir / "backend.log") as backend:
            seen = boot(arch, release, workdir, socket, rounds=1)
            check_echoes(f"{arch.name} ({run} process)", seen, backend, 1)
