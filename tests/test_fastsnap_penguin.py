"""Penguin's fastsnap interface (penguin_fastsnap_*) driven as Penguin's shim drives it:
raw cffi, declarations from the generated header only, ops scheduled from the guest's
hypercalls and completion polled through the counter (tests/helpers/fastsnap_penguin.py).

The lane is armed at the guest's first point and reset from later points: every reset
brings the guest back to the armed point (its next report is that point's), RAM equals
the fork reference page for page, and the device sections in scope equal the block.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import penguin_arches
from conftest import STAGE, run_helper, stage_lib
from guests.fastsnap import FASTSNAP_GUESTS

INCLUDE = STAGE / "include" / "penguin-qemu-cffi"
ARCHES = ("aarch64", "mipsel", "x86_64")
RESETS = 12
EBUSY, ENOENT, EINVAL, ENODEV = -16, -2, -22, -19
# Sections a restore cannot bring back: their save reads live state (an RTC's time).
CLOCKS = {"aarch64": {"pl031"}, "mipsel": {"mc146818rtc"}, "x86_64": {"mc146818rtc"}}


def dev(i: int) -> int:
    return (i ^ 0x5A) & 0xFF


def run_lane(name: str, workdir: Path, extra: tuple[str, ...] = (), **spec) -> dict:
    arch = penguin_arches.by_name(name)
    guest, boot = next((g, b) for g in FASTSNAP_GUESTS for b in g.boots
                       if b.target == name)
    result = workdir / "result.json"
    spec.update({"library": str(stage_lib(name)), "bits": arch.bits,
                 "header": str(INCLUDE / f"qemu_cffi_system_{name}.h"),
                 "byteorder": "little" if arch.endian == "le" else "big",
                 "result": str(result),
                 "args": [*boot.machine, *extra, guest.load, str(guest.build()),
                          "-nodefaults", "-display", "none", "-monitor", "none",
                          "-serial", f"file:{workdir / 'console.txt'}"]})
    proc = run_helper("fastsnap_penguin.py", json.dumps(spec), timeout=300)
    assert proc.returncode == 0 and result.exists(), (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    out = json.loads(result.read_text())
    assert "error" not in out, out["error"]
    return out


@pytest.mark.parametrize("name", ARCHES)
def test_loop_resets_verified(stage, name, tmp_path):
    out = run_lane(name, tmp_path, resets=RESETS)
    early = out["before_init"]
    assert early["seq_moved"] and early["rc"] == ENODEV, early
    arm = out["arm"]
    assert arm["last_rc"] == 0, arm
    assert arm["section_count"] > 0 and arm["block_size"] > 0
    assert len(arm["section_names"].split("\n")) == arm["section_count"]
    i = out["arm_point"]
    assert out["first_report"] == [i, i & 0xFF, dev(i)]
    assert len(out["resets"]) == RESETS
    for r in out["resets"]:
        where = f"{r['op']} from point {r['point']}"
        assert r["last_rc"] == 0, where
        assert r["report"] == [i, i & 0xFF, dev(i)], f"{where}: {r['report']}"
        assert r["last_us"] > 0 and r["bh_done_us"] > 0, where
        assert r["ram_restored_pages"] > 0, where
        if r["op"] == "LOOP_RESET_VERIFY":
            assert r["diff_pages"] == 0 and r["diff_bytes_checked"] > 0, (
                f"{where}: {r['diff_pages']} pages differ: {r['diff_report']}")
            unrestorable = {line.split()[-1] for line in
                            r["dev_diff_report"].splitlines() if "unrestorable" in line}
            assert {s.split("/")[-1] for s in unrestorable} <= CLOCKS[name], (
                f"{where}: {r['dev_diff_report']}")
            assert r["dev_unrestorable_sections"] == len(unrestorable)
            assert r["dev_diff_sections"] == 0, f"{where}: {r['dev_diff_report']}"
    ops = out["block_ops"]
    for op in ("TAKE", "PROBE", "RESTORE_VERIFY", "STATE_DIGEST", "DIRTY_ARM",
               "DIRTY_COUNT", "DIRTY_STOP", "RAM_SNAPSHOT", "RAM_RESTORE", "RAM_RELEASE",
               "FORK_REF", "FORK_DIFF", "FORK_DROP", "RELEASE"):
        assert ops[op]["last_rc"] == 0, f"{op}: {ops[op]}"
    assert ops["RESTORE"]["last_rc"] == ENOENT      # released: nothing to restore
    assert ops["bad_op"] == {"seq_moved": True, "rc": EINVAL}
    # The guest spins meanwhile: nothing but time moves, so a fork reference taken
    # right after the RAM restore finds no page changed.
    assert ops["FORK_DIFF"]["diff_pages"] == 0, ops["FORK_DIFF"]["diff_report"]
    assert ops["DIRTY_COUNT"]["dirty_page_size"] in (4096, 16384)
    assert ops["RAM_SNAPSHOT"]["ram_snapshot_bytes"] < 64 << 20, "a full RAM copy"


@pytest.mark.parametrize("name", ["aarch64"])
def test_allowlist_digests_equal_after_restore(stage, name, tmp_path):
    """With the block limited to the CPU, a restore's digest is the take's."""
    out = run_lane(name, tmp_path, resets=2, allowlist="cpu,cpu_common")
    arm = out["arm"]
    assert set(arm["section_names"].split("\n")) <= {"cpu", "cpu_common"}, arm
    ops = out["block_ops"]
    assert ops["RESTORE_VERIFY"]["last_digest"] == ops["TAKE"]["last_digest"]
    assert ops["PROBE"]["last_digest"] != 0


def test_fork_reference_refuses_shared_ram(stage, tmp_path):
    """RAM another process may write (share=on): no fork reference, and the loop arms
    without one (its verify reports that it could not compare)."""
    ram = ("-object", f"memory-backend-file,id=ram,size=128M,mem-path={tmp_path / 'ram'},"
           "share=on", "-machine", "memory-backend=ram")
    out = run_lane("aarch64", tmp_path, extra=ram, resets=0, shared=True)
    assert out["fork_ref"]["last_rc"] == EBUSY, out["fork_ref"]
    assert out["loop_arm"]["last_rc"] == 0, out["loop_arm"]
    verify = out["loop_reset_verify"]
    assert verify["last_rc"] == 0 and verify["diff_pages"] == 2**64 - 1, verify
