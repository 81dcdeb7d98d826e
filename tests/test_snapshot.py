"""Snapshots through the library (CONTRACT section 7) while an AArch64 guest counts in a
register and in RAM: a loaded snapshot restores both exactly, a failed load leaves the
VM running, scheduled snapshots from a hypercall complete and signal, and 100
save/load cycles do not grow the process."""

from __future__ import annotations

import json
import subprocess

from conftest import STAGE, run_helper, stage_lib
from guests.guests import INCLUDE, Guest

CYCLES = 100
GUEST = Guest("snapshot-aarch64", "snapshot-aarch64.S",
              [f"aarch64-linux-gnu-as -I {INCLUDE} -o OBJ SRC",
               "aarch64-linux-gnu-ld -N --no-warn-rwx-segments -Ttext=0x40000000 -e _start "
               "-o OUT OBJ"], "OUT", "-kernel", [])


def run_snapshots(tmp_path) -> dict:
    disk = tmp_path / "disk.qcow2"
    subprocess.run([str(STAGE / "bin" / "qemu-img"), "create", "-q", "-f", "qcow2",
                    str(disk), "16M"], check=True)
    proc = run_helper("snapshot_checks.py", str(stage_lib("aarch64")), "aarch64",
                      str(CYCLES), "--", "-M", "virt", "-cpu", "cortex-a57", "-m", "128",
                      "-nodefaults",
                      "-display", "none", "-kernel", str(GUEST.build()),
                      "-drive", f"if=none,id=d0,format=qcow2,file={disk}", timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(lines[0][len("RESULT "):])
    result["stderr"] = proc.stderr
    return result


def test_snapshots(stage, tmp_path):
    result = run_snapshots(tmp_path)
    events = result["events"]
    by_kind = {}
    for e in events:
        by_kind.setdefault(e[0], []).append(e[1:])

    # The synchronous API is refused on a vCPU thread, with or without the BQL, with a
    # reason the caller can read; the guest keeps running (the ticks below go on).
    (vcpu,) = by_kind["sync-from-vcpu"]
    (vcpu_bql,) = by_kind["sync-from-vcpu-bql"]
    assert vcpu[0] is False and "from a vCPU thread" in vcpu[1]
    assert vcpu_bql[0] is False and "from a vCPU thread" in vcpu_bql[1]
    # A 300-byte name is refused, scheduled or not, and the scheduled one completes.
    assert "at most 255 fit" in by_kind["long-name"][0][0]
    assert ["done", "n" * 300, False, False] in events
    (sync_long,) = by_kind["sync-long-name"]
    assert sync_long[0] is False and "at most 255 fit" in sync_long[1]
    # Scheduled from a hypercall: the save completes and signals.
    assert ["done", "s1", False, True] in events
    (after_save,) = by_kind["first-after-save"]
    (before_load,) = by_kind["before-load"]
    (after_load,) = by_kind["first-after-load"]
    assert before_load[0] >= after_save[0] + 1000
    # Register and RAM counters come back exactly to the saved point.
    assert after_load == after_save
    assert after_save[0] == after_save[1]
    # A failed load signals failure and leaves the VM running where it was.
    assert ["done", "no-such-snapshot", True, False] in events
    (after_failed,) = by_kind["first-after-failed-load"]
    assert after_failed[0] > after_load[0]
    # Ten scheduled at once from one callback: in order, each seeing the one before.
    (batch,) = by_kind["batch"]
    assert batch[0] == [[f"b{i // 2}", i % 2 == 1, True] for i in range(10)]
    assert len(by_kind["tick-after-batch"]) == 1
    # 100 cycles of save + load, each completing.
    cycles = result["cycles"]
    assert len(cycles) == CYCLES
    assert events.count(["done", "cycle", True, True]) == CYCLES
    first = min(rss for _, rss in cycles[:10])
    last = max(rss for _, rss in cycles[-10:])
    assert last - first < 32 * 1024, f"RSS grew from {first} KiB to {last} KiB"
    times = [t for t, _ in cycles]
    print(f"save+load cycle: first ten {sum(times[:10]) / 10:.4f} s, "
          f"last ten {sum(times[-10:]) / 10:.4f} s; RSS {first} -> {last} KiB")
    # The synchronous API from a plain thread holding the BQL.
    assert by_kind["sync-save"] == [[True]] and by_kind["sync-load"] == [[True]]
    assert by_kind["sync-load-missing"] == [[False]]
    assert len(by_kind["tick-after-sync"]) == 1
    assert result["completed"] == [CYCLES * 2 + 3 + 1 + 10, True]   # + long name, batch
