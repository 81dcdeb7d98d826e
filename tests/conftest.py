"""Shared fixtures: where the repository, the staged tree and the helpers are."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
sys.path.insert(0, str(REPO / "python"))
sys.path.insert(0, str(REPO / "tests"))

import penguin_arches  # noqa: E402

STAGE = Path(os.environ.get("PENGUIN_STAGE", REPO / "dist" / "stage"))
ARCHES = penguin_arches.load()
TARGETS = penguin_arches.targets()


def stage_lib(name: str) -> Path:
    return STAGE / "lib" / f"libqemu-system-{name}.so"


@pytest.fixture(scope="session")
def stage() -> Path:
    if not (STAGE / "lib").is_dir():
        pytest.fail(f"{STAGE} has no lib/: run ./build.sh first")
    return STAGE


def run_helper(script: str, *args: str, timeout: float = 60,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run tests/helpers/<script> in a fresh Debian python3: one VM per process."""
    cmd = ["/usr/bin/python3", str(REPO / "tests" / "helpers" / script), *args]
    full_env = dict(os.environ, PYTHONPATH=f"{REPO / 'python'}:{REPO / 'tests'}")
    full_env.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def in_own_process(check: Callable[..., None], *args: object) -> None:
    """Run check(*args) in a forked child and fail with its traceback if it raises.

    For checks that dlopen a library: each takes about 0.7 KiB of glibc's static TLS
    (initial-exec thread-locals, configs/features.conf), so one process holds one or
    two of them, never all (one VM per process, as CONTRACT says)."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        status = 0
        try:
            check(*args)
        except BaseException:
            os.write(write_end, traceback.format_exc().encode())
            status = 1
        os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read().decode(errors="replace")
    _, wait_status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0, report or "the child died"


def recorded(terminalreporter, property_name: str) -> list:
    return [value for key in ("passed", "failed")
            for report in terminalreporter.stats.get(key, [])
            for name, value in getattr(report, "user_properties", [])
            if name == property_name]


def vsock_snapshot_summary(terminalreporter) -> None:
    """What tests/test_vsock_snapshot.py measured: save and restore with the vsock
    device attached (restore: from starting the process to the guest's first question)."""
    saves = recorded(terminalreporter, "vsock_save")
    restores = recorded(terminalreporter, "vsock_restore")
    if not saves and not restores:
        return
    terminalreporter.section("snapshots with the vsock device: seconds")
    for save in sorted(saves, key=lambda s: s["arch"]):
        terminalreporter.write_line(f"{save['arch']:<12} save {save['seconds']}")
    for restore in sorted(restores, key=lambda r: (r["arch"], r["tag"])):
        terminalreporter.write_line(f"{restore['arch']:<12} restore {restore['tag']}: "
                                    f"{restore['seconds']} ({restore['phases']})")


def fastsnap_argv_summary(terminalreporter) -> None:
    """What tests/test_fastsnap_argv.py measured, boot by boot: when the guest
    program was ready, the take, the cycles, the whole run (each boot serves every test
    of its architecture, so the tests' own durations say little)."""
    rows = recorded(terminalreporter, "fastsnap_argv")
    if not rows:
        return
    terminalreporter.section("fast snapshots on Penguin's command line: seconds")
    for row in sorted(rows, key=lambda r: (r["boot"], r["phase"])):
        extra = f", RSS +{row['rss_growth_kib']} KiB" if "rss_growth_kib" in row else ""
        terminalreporter.write_line(f"{row['boot']:<26} {row['phase']:<10} "
                                    f"{row['seconds']:>8}{extra}")


def pytest_terminal_summary(terminalreporter) -> None:
    """Print what tests/test_portable.py measured (the Pythons the env modules import
    into), the vsock snapshot times and the smoke boots' table (tests/test_smoke.py
    records one row per boot)."""
    portable = recorded(terminalreporter, "portable")
    if portable:
        terminalreporter.section("the release in other root file systems")
        for line in portable:
            terminalreporter.write_line(line)
    arm64 = recorded(terminalreporter, "arm64_host")
    if arm64:
        terminalreporter.section("the arm64 release under qemu-aarch64: seconds")
        for line in arm64:
            terminalreporter.write_line(line)
    vsock_snapshot_summary(terminalreporter)
    fastsnap_argv_summary(terminalreporter)
    rows = recorded(terminalreporter, "smoke_boot")
    if not rows:
        return
    terminalreporter.section("smoke boots: seconds from qemu_init to the init program")
    for row in sorted(rows, key=lambda r: r["arch"]):
        terminalreporter.write_line(f"{row['arch']:<12} {row['seconds']:>6.2f} s  "
                                    f"{row['machine']}  {row['kernel']}")


RELEASE = REPO / "dist" / "penguin-qemu.tar.gz"


@pytest.fixture(scope="session")
def release_prefix(tmp_path_factory) -> Path:
    """dist/penguin-qemu.tar.gz unpacked once, as `tar -C /usr/local -xzf` would."""
    if not RELEASE.exists():
        pytest.fail(f"{RELEASE} is missing: run ./build.sh first")
    root = tmp_path_factory.mktemp("release-usr-local")
    subprocess.run(["tar", "-C", str(root), "-xzf", str(RELEASE)], check=True)
    return root
