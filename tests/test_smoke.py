"""Smoke boots: a real Linux kernel per architecture, through the release archive.

For every Penguin architecture with a machine, the release tarball that build.sh made is
unpacked into a fresh prefix and libqemu-system-<arch>.so from it boots a Linux kernel
(Debian's, or one built from Debian's linux-source for the big-endian MIPS and 64-bit
PowerPC targets: tests/smoke/kernels.py) on the machine and CPU Penguin uses, with the
firmware shipped in share/qemu. The initramfs holds only tests/smoke/init.c, compiled
against the SDK header of the same archive: from user space it makes one hypercall with
known arguments and prints what came back. The test checks that the callback saw exactly
those arguments, that the guest printed the host's answer, and that the console shows
the kernel reached init; then the VM is stopped through the library.

A kernel that cannot be had is a failure naming what is missing, never a skip.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, run_helper
from smoke import initramfs
from smoke.boots import ARCHES, SMOKE_NR, SmokeArch
from smoke.kernel import KernelError
from smoke.kernels import kernel_for

RELEASE = REPO / "dist" / "penguin-qemu.tar.gz"
BOOT_TIMEOUT = 120


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """The release archive unpacked as `tar -C /usr/local -xzf` would."""
    if not RELEASE.exists():
        pytest.fail(f"{RELEASE} is missing: run ./build.sh first")
    root = tmp_path_factory.mktemp("usr-local")
    subprocess.run(["tar", "-C", str(root), "-xzf", str(RELEASE)], check=True)
    return root


def boot(arch: SmokeArch, release: Path, workdir: Path) -> dict:
    try:
        kernel = kernel_for(arch.name)
    except KernelError as e:
        pytest.fail(f"{arch.name}: no kernel: {e}")
    init = arch.build_init(release / "include")
    initrd = initramfs.write(init, workdir / "initrd.gz")
    console, result = workdir / "console.txt", workdir / "result.json"
    spec = {
        "prefix": str(release), "name": arch.name, "nr": SMOKE_NR, "answer": arch.answer(),
        "console": str(console), "result": str(result), "timeout": BOOT_TIMEOUT,
        "args": [*arch.machine, "-kernel", str(kernel.path), "-initrd", str(initrd),
                 "-append", arch.cmdline(), "-L", str(release / "share" / "qemu"),
                 "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
                 "-serial", f"file:{console}"],
    }
    proc = run_helper("smoke_boot.py", json.dumps(spec), timeout=BOOT_TIMEOUT + 60)
    assert proc.returncode == 0 and result.exists(), (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    seen = json.loads(result.read_text())
    seen["kernel"] = kernel.origin
    return seen


@pytest.mark.parametrize("arch", ARCHES, ids=lambda a: a.name)
def test_linux_boots_to_init_and_makes_a_hypercall(release, arch, tmp_path, record_property):
    seen = boot(arch, release, tmp_path)
    console = seen["console"]
    tail = console[-3000:]
    assert not seen.get("timed_out"), f"{arch.name}: init did not finish in time\n{tail}"
    assert "Linux version" in console, f"{arch.name}: no kernel banner\n{tail}"
    assert "PENGUIN-SMOKE init: running as pid 1" in console, f"{arch.name}: no init\n{tail}"
    assert seen["calls"] == [{"nr": SMOKE_NR, "args": arch.args()}], (
        f"{arch.name}: the callback saw {seen['calls']}\n{tail}")
    assert f"PENGUIN-SMOKE ret={arch.answer():#018x}\n" in console.replace("\r\n", "\n"), (
        f"{arch.name}: the guest did not print the host's answer\n{tail}")
    record_property("smoke_boot", {"arch": arch.name, "kernel": seen["kernel"],
                                   "machine": " ".join(arch.machine),
                                   "seconds": seen["init_seconds"]})
