"""Save, then stop (issue 25, item 3): a snapshot scheduled from a hypercall callback
right before a shutdown request is taken before qemu_main_loop returns.

Penguin's core/snapshot.py with stop_after_save calls schedule_snapshot(tag) and at
once end_analysis() (qemu_system_shutdown_request(2)) from a hypercall callback. Per
architecture (aarch64, mipsel, x86_64), through the libraries of the unpacked release
archive, ROUNDS processes one after the other on one qcow2 drive
(tests/helpers/save_then_stop.py, the counting guest tests/guest_sdk/tick.c): process
i starts from process i-1's snapshot with -loadvm, and at its third tick saves tag i
and stops. Every time the snapshot completes successfully before qemu_main_loop
returns, `qemu-img snapshot -l` lists it, and the next process's guest goes on from it:
its first tick carries both counters one past the last tick before the VM stopped for
the save (the guest runs on from the request until the main loop takes the snapshot).
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import run_helper
from test_guest_sdk import BY_NAME

ROUNDS = 20
AT_TICK = 3
ARCHES = ["aarch64", "mipsel", "x86_64"]


def snapshot_tags(release: Path, disk: Path) -> list[str]:
    """The tags `qemu-img snapshot -l` lists (its second column)."""
    out = subprocess.run([str(release / "bin" / "qemu-img"), "snapshot", "-l", str(disk)],
                         capture_output=True, text=True, check=True).stdout
    return [line.split()[1] for line in out.splitlines()[2:] if line.split()]


def one_process(release: Path, arch: str, image: Path, disk: Path, workdir: Path,
                round_: int) -> dict:
    sdk = BY_NAME[arch]
    args = [*sdk.machine, sdk.load, str(image), "-m", "128", "-nodefaults",
            "-display", "none", "-monitor", "none", "-serial", "none",
            "-L", str(release / "share" / "qemu"),
            "-drive", f"if=none,id=d0,format=qcow2,file={disk}"]
    if round_ > 0:
        args += ["-loadvm", f"stop-{round_ - 1}"]
    spec = {"prefix": str(release), "name": arch, "args": args, "tag": f"stop-{round_}",
            "at_tick": AT_TICK, "result": str(workdir / f"round-{round_}.json")}
    proc = run_helper("save_then_stop.py", json.dumps(spec), timeout=60)
    result = Path(spec["result"])
    assert proc.returncode == 0 and result.exists(), (
        f"{arch} round {round_}: rc={proc.returncode}\n{proc.stderr[-3000:]}")
    return json.loads(result.read_text())


@pytest.mark.parametrize("arch", ARCHES)
def test_snapshot_scheduled_before_a_shutdown_is_taken(release_prefix, arch, tmp_path):
    image = BY_NAME[arch].build("O2", "tick.c")
    disk = tmp_path / "disk.qcow2"
    subprocess.run([str(release_prefix / "bin" / "qemu-img"), "create", "-q", "-f",
                    "qcow2", str(disk), "16M"], check=True)
    start, previous = time.monotonic(), None
    for round_ in range(ROUNDS):
        seen = one_process(release_prefix, arch, image, disk, tmp_path, round_)
        tag = f"stop-{round_}"
        assert seen["status"] == 0, seen
        # The snapshot completed once, successfully, before qemu_main_loop returned.
        assert seen["done"] == [[tag, True, "", False]], f"round {round_}: {seen['done']}"
        assert tag in snapshot_tags(release_prefix, disk), f"round {round_}: no {tag}"
        if previous is None:
            assert seen["first"] == [1, 1], seen       # a fresh boot
        else:
            # -loadvm of the previous round's snapshot: the guest goes on from it.
            assert seen["first"] == [v + 1 for v in previous["at_stop"]], (
                f"round {round_}: first tick {seen['first']}, saved after "
                f"{previous['at_stop']}")
        assert seen["at_save"] == [v + AT_TICK - 1 for v in seen["first"]], seen
        assert seen["at_stop"][0] >= seen["at_save"][0], seen
        previous = seen
    print(f"{arch}: {ROUNDS} save-then-stop processes in "
          f"{time.monotonic() - start:.1f} s")
