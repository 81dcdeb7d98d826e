"""Fast snapshots (penguin_fast_snapshot_*, Qemu.fast_snapshots) on every target.

Each target boots its fast-snapshot guest (tests/guests/FASTSNAP.md), which changes its
registers, RAM, its own code and a device register in a loop. Snapshots are taken and
restored both ways Penguin uses them: scheduled from the guest's hypercalls, and
synchronously from a thread holding the BQL with the VM paused (QMP stop), where every
GDB register and every byte of the guest's memory are compared with the snapshot.
"""

from __future__ import annotations

import json
import subprocess
import zlib
from pathlib import Path

import pytest

from conftest import run_helper, stage_lib
from guests.fastsnap import FASTSNAP_GUESTS
from guests.guests import Boot, Guest
from smoke import initramfs
from smoke.boots import (BY_NAME, CMDLINE_NR, LIBC_NR, LIBC_STAGE, SMOKE_NR, STAGE_NR,
                         expected_cmdline, libc_line)
from smoke.kernel import KernelError
from smoke.kernels import kernel_for

CASES = [(g, b) for g in FASTSNAP_GUESTS for b in g.boots]
LR, CTR = 67, 68          # PowerPC's core GDB numbers
# Registers set by events rather than by the program, left out of the comparisons of
# running guests (the paused ones compare them too): MIPS Cause (36), whose
# interrupt-pending bits follow the CP0 timer and the board's interrupt lines. Clocks
# (time bases, decrementers) are found by the helper: they move while a vCPU stands
# still in a hypercall.
EVENT_DRIVEN = {"fastsnap-mips.S": [36]}


def dev(i: int) -> int:
    return (i ^ 0x5A) & 0xFF


def run_guest(guest: Guest, boot: Boot, workdir: Path, scenario: str, cycles: int = 0,
              timeout: float = 120, extra: tuple[str, ...] = (),
              spec_extra: dict | None = None) -> dict:
    console, result_file = workdir / "console.txt", workdir / "result.json"
    spec = {"library": str(stage_lib(boot.target)), "name": boot.target,
            "result": str(result_file), "scenario": scenario, "cycles": cycles,
            "event_driven": EVENT_DRIVEN.get(guest.source, []),
            "args": [*boot.machine, *extra, guest.load, str(guest.build()), "-nodefaults",
                     "-display", "none", "-monitor", "none", "-serial", f"file:{console}"],
            **(spec_extra or {})}
    proc = run_helper("fastsnap_guest.py", json.dumps(spec), timeout=timeout)
    assert proc.returncode == 0 and result_file.exists(), (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(result_file.read_text())
    assert "error" not in result, result["error"]
    return result


def changed(before: dict, after: dict, ignore: list[int] = ()) -> list[int]:
    return [int(n) for n in before if int(n) not in ignore and before[n] != after[n]]


def check_reports(result: dict) -> dict:
    """Every report ran the slot it wrote, read back its device value and saw its RAM;
    returns them by name."""
    for name, report in result["reports"]:
        i = report["i"]
        assert report["slot"] == i & 0xFF, f"{name}: the code slot ran {report['slot']}, " \
            f"not the {i & 0xFF} written at iteration {i} (a stale translation)"
        assert report["dev"] == dev(i), f"{name}: device register {report['dev']:#x}, " \
            f"expected {dev(i):#x}"
        assert report["buf_ok"], f"{name}: RAM buffer is not iteration {i}'s"
    return {name: report for name, report in result["reports"] if name != "run"}


@pytest.mark.parametrize("guest,boot", CASES,
                         ids=[b.target if len(g.boots) == 1 else f"{g.name}-on-{b.target}"
                              for g, b in CASES])
def test_fast_snapshot_restores_everything(stage, guest, boot, tmp_path):
    result = run_guest(guest, boot, tmp_path, "exact")
    reports = check_reports(result)
    clocks = result["clock_regs"] + EVENT_DRIVEN.get(guest.source, [])
    assert len(result["regnums"]) > 30, result["regnums"]
    print(f"{boot.target}: {len(result['regnums'])} GDB registers, clocks {clocks}")

    # Paused: the state after a restore is the state the take recorded, every register
    # (clocks included: the virtual clock is part of the snapshot) and every byte.
    paused = result["paused"]
    at_take, restored = paused["after_take"], paused["after_restore"]
    assert changed(paused["before_restore"]["regs"], at_take["regs"]), "nothing changed"
    assert paused["before_restore"]["mem"] != at_take["mem"]
    assert changed(at_take["regs"], restored["regs"]) == []
    assert restored["mem"] == at_take["mem"]
    # Taking changes no register, but for PowerPC's SPR-list copies of LR and CTR,
    # which QEMU's gdbstub reads from env->spr[] and the CPU's vmstate pre_save
    # refreshes from the live registers.
    for n in changed(paused["before_take"]["regs"], at_take["regs"]):
        value = at_take["regs"][str(n)]
        assert guest.source.startswith("fastsnap-ppc") and value in (
            at_take["regs"][str(LR)], at_take["regs"][str(CTR)]), f"the take changed {n}"
    assert paused["before_take"]["mem"] == at_take["mem"]
    # After the paused restore the guest goes on from the snapshot's point 1.
    first, again = reports["after-paused-take"], reports["after-paused-restore"]
    assert first["i"] == again["i"] == 1
    assert changed(first["regs"], again["regs"], clocks) == []

    # Scheduled from hypercalls: the take at point 2 and both restores (from points 5
    # and 4) report point 2 with the same registers.
    assert result["take"][0] > 0 and result["restore1"] == [0, ""]
    assert result["restore2"] == [0, ""] and result["drop"] == [0, ""]
    taken = reports["after-take"]
    assert taken["i"] == 2
    for name in ("after-restore-1", "after-restore-2"):
        assert reports[name]["i"] == 2, name
        assert changed(taken["regs"], reports[name]["regs"], clocks) == [], name


# -- Linux ------------------------------------------------------------------------------

# One architecture per family. loongarch64 runs no glibc stage: it is a known failure of
# the smoke boot (test_smoke.LIBC_STAGE_KNOWN_FAILURES), not of snapshots.
LINUX_ARCHES = ("aarch64", "mipsel", "powerpc64el", "riscv64", "loongarch64", "x86_64")
NO_LIBC_STAGE = ("loongarch64",)
LINUX_ROUNDS = 4
LINUX_TIMEOUT = 150


@pytest.mark.parametrize("name", LINUX_ARCHES)
def test_linux_restored_after_init_started_keeps_running(release_prefix, name, tmp_path):
    """init's first hypercall takes a snapshot; each time init has made its last one, the
    snapshot is restored: init goes through everything after its first hypercall again
    (reads /proc/cmdline, forks and runs the glibc program, prints), every round the
    same, and the console keeps printing."""
    arch = BY_NAME[name]
    try:
        kernel = kernel_for(name)
    except KernelError as e:
        pytest.fail(f"{name}: no kernel: {e}")
    include = release_prefix / "include"
    stages = name not in NO_LIBC_STAGE
    programs = {LIBC_STAGE: arch.build_libc_stage(include)} if stages else {}
    initrd = initramfs.write(arch.build_init(include), tmp_path / "initrd.gz", programs)
    record = [CMDLINE_NR, LIBC_NR, STAGE_NR] if stages else [CMDLINE_NR]
    console, result_file = tmp_path / "console.txt", tmp_path / "result.json"
    append = arch.cmdline()
    spec = {"prefix": str(release_prefix), "name": name, "console": str(console),
            "result": str(result_file), "timeout": LINUX_TIMEOUT, "rounds": LINUX_ROUNDS,
            "smoke_nr": SMOKE_NR, "answer": arch.answer(), "record": record,
            "last_nr": record[-1],
            "args": [*arch.machine, "-kernel", str(kernel.path), "-initrd", str(initrd),
                     "-append", append, "-L", str(release_prefix / "share" / "qemu"),
                     "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
                     "-serial", f"file:{console}"]}
    proc = run_helper("fastsnap_linux.py", json.dumps(spec), timeout=LINUX_TIMEOUT + 60)
    assert proc.returncode == 0 and result_file.exists(), (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    seen = json.loads(result_file.read_text())
    tail = seen["console"].replace("\r\n", "\n")[-3000:]
    assert not seen.get("timed_out"), f"{name}: init did not run {LINUX_ROUNDS + 1} " \
        f"times\n{seen['events']}\n{tail}"

    done = [e[1:] for e in seen["events"] if e[0] == "done"]
    assert done[0][0] == "take" and done[0][1] > 0, done
    assert done[1:] == [["restore", 0, ""]] * LINUX_ROUNDS, done
    calls = [e[1:] for e in seen["events"] if e[0] == "call"]
    assert calls[0] == [SMOKE_NR, *arch.args()], calls[0]
    rounds = [calls[1 + i * len(record):1 + (i + 1) * len(record)]
              for i in range(LINUX_ROUNDS + 1)]
    assert [[c[0] for c in r] for r in rounds] == [record] * (LINUX_ROUNDS + 1), calls
    assert len(calls) == 1 + len(record) * (LINUX_ROUNDS + 1), calls
    assert all(r == rounds[0] for r in rounds), rounds
    expected = expected_cmdline(name, append, initrd.stat().st_size).encode()
    assert rounds[0][0][1:] == [0, len(expected), zlib.crc32(expected), 0, 0, 0]
    if stages:
        line, value = libc_line()
        assert rounds[0][1][1:] == [len(line), zlib.crc32(line.encode()), value, 0, 0, 0]
        assert rounds[0][2][1:] == [0] * 6      # the stage exited 0
    # The last round ran to init's last line (earlier ones were stopped by their
    # restore, at a point after their last hypercall that the main loop decides).
    last_round = seen["console"].rsplit("PENGUIN-SMOKE cmdline length=", 1)[-1]
    assert "PENGUIN-SMOKE done\n" in last_round, tail


# -- many cycles, shared RAM, refusals ----------------------------------------------------

CYCLES = 10_000
CYCLES_TARGET = "aarch64"
# The process may grow this much over the cycles (after the first RSS sample): a leak of
# 400 bytes a cycle would pass it; one of a RAM copy or a device-state buffer would not.
RSS_SLACK_KIB = 4 * 1024
# A restore drops the translations of the pages it copies back, and the guest translates
# them again into fresh space of TCG's code buffer, which is reused only after the
# buffer fills and QEMU flushes it (1 GiB by default: about 3.6 KiB of it a restore
# here). The cycles run with a 2 MiB buffer, so that growth is bounded by it and what
# the RSS shows is everything else.
SMALL_CODE_BUFFER = ("-accel", "tcg,tb-size=2")


def case(target: str) -> tuple[Guest, Boot]:
    return next((g, b) for g, b in CASES if b.target == target)


def test_ten_thousand_restores_leave_the_same_state_and_memory(stage, tmp_path):
    """10,000 scheduled restores of one snapshot, each followed by the full report
    (every register but the clocks, the slot, the device, the RAM buffer); one cycle in
    100 also takes a second snapshot (its report compared too) and drops it."""
    guest, boot = case(CYCLES_TARGET)
    result = run_guest(guest, boot, tmp_path, "cycles", cycles=CYCLES, timeout=1200,
                       extra=SMALL_CODE_BUFFER)
    assert result["mismatches"] == [], result["mismatches"][:2]
    assert result["cycles"] == CYCLES and result["takes"] == CYCLES // 100
    assert result["take"][0] > 0 and result["base_regs"] > 30
    rss = [kib for _, kib in result["rss"]]
    assert max(rss[1:]) - rss[1] < RSS_SLACK_KIB, f"RSS grew: {result['rss']}"
    times = sorted(result["times"])
    print(f"{CYCLES} restores on {boot.target}: schedule-to-done median "
          f"{times[len(times) // 2] * 1e3:.3f} ms, 99th percentile "
          f"{times[len(times) * 99 // 100] * 1e3:.3f} ms; RSS {rss[0]} -> {rss[-1]} KiB")


def test_shared_file_backed_ram_is_restored(stage, tmp_path):
    """RAM in a shared memory-backend-file (as Penguin runs guests), which a process
    other than QEMU could write: every page of it is restored."""
    guest, boot = case("aarch64")
    ram = ["-object", f"memory-backend-file,id=ram,size=128M,mem-path={tmp_path / 'ram'},"
           "share=on", "-machine", "memory-backend=ram"]
    result = run_guest(guest, boot, tmp_path, "exact", extra=tuple(ram))
    check_reports(result)
    paused = result["paused"]
    assert changed(paused["after_take"]["regs"], paused["after_restore"]["regs"]) == []
    assert paused["after_restore"]["mem"] == paused["after_take"]["mem"]
    assert paused["before_restore"]["mem"] != paused["after_take"]["mem"]


ENODEV, EDEADLK, EPERM, ENOENT, EINVAL, EBUSY = -19, -35, -1, -2, -22, -16


def test_refusals_give_their_errno_and_reason(stage, tmp_path):
    guest, boot = case("aarch64")
    out = run_guest(guest, boot, tmp_path, "errors")
    early = out["before_init"]
    for call in ("take", "restore", "drop"):
        assert early[call][0] == ENODEV and "no VM yet" in early[call][1], early
    assert early["schedule_done"] == [[ENODEV, early["take"][1]]], early
    assert early["bad_op"][0] == EINVAL and "unknown operation 7" in early["bad_op"][1]
    vcpu = out["vcpu"]
    for call in ("take", "restore", "drop", "take_bql"):
        assert vcpu[call][0] == EDEADLK and "from a vCPU thread" in vcpu[call][1], vcpu
    for call in ("take", "restore", "drop"):
        no_bql = out["no_bql"][call]
        assert no_bql[0] == EPERM and f"fast snapshot {call} needs the BQL" in no_bql[1]
    assert out["unknown"][0] == ENOENT and "12345 does not exist" in out["unknown"][1]
    assert out["drop"] == [None]          # dropped: no error
    for call in ("restore_dropped", "drop_dropped"):
        assert out[call][0] == ENOENT and "dropped, or never taken" in out[call][1], out
    assert out["bad_op"][0] == EINVAL and "unknown operation -1" in out["bad_op"][1]
    op, handle, code, reason = out["scheduled_unknown"]
    assert (op, handle, code) == ("restore", 777, ENOENT) and "777 does not exist" in reason
    # An internal snapshot cannot run while fast snapshots exist (their migration
    # blocker), and can once the last is dropped; a fast one cannot run inside it.
    saved, why = out["savevm_with_snapshot"]
    assert not saved and "fast snapshots exist" in why, why
    saved, why = out["savevm_after_drop"]
    assert not saved and "fast snapshots exist" not in why, why
    busy = out["during_internal"]
    assert busy["take"][0] == EBUSY and "another snapshot operation" in busy["take"][1]
    assert out["take_after"][0] > 0


DRIVE_SHAPES = {"writable": "", "snapshot-on": ",snapshot=on", "readonly": ",readonly=on"}


def image_bytes(stage: Path, disk: Path, tmp_path: Path, offset: int, length: int) -> bytes:
    raw = tmp_path / "disk.raw"
    subprocess.run([str(stage / "bin" / "qemu-img"), "convert", "-O", "raw", str(disk),
                    str(raw)], check=True)
    with raw.open("rb") as f:
        f.seek(offset)
        return f.read(length)


@pytest.mark.parametrize("shape", DRIVE_SHAPES)
def test_a_writable_drive_is_restored(stage, tmp_path, shape):
    """Penguin's drive is writable (cache=unsafe, with or without snapshot=on): what
    is written to it after a take reads as before after the restore, 100 times over;
    the image file is not written while the snapshot exists, and what was written
    after the last restore reaches it once the snapshot is dropped (snapshot=on: never,
    its overlay is thrown away). A read-only drive is simply left alone."""
    disk = tmp_path / "disk.qcow2"
    subprocess.run([str(stage / "bin" / "qemu-img"), "create", "-q", "-f", "qcow2",
                    str(disk), "16M"], check=True)
    drive = f"if=none,id=d0,format=qcow2,cache=unsafe,file={disk}" + DRIVE_SHAPES[shape]
    guest, boot = case("aarch64")
    # The device takes the drive's write permission, as Penguin's virtio-blk does.
    out = run_guest(guest, boot, tmp_path, "drive",
                    extra=("-drive", drive, "-device", "virtio-blk-device,drive=d0"))
    assert out["take"][0] > 0, out
    assert out["drop"] == [None], out
    image = image_bytes(stage, disk, tmp_path, 0, 65536)
    if shape == "readonly":
        assert image == bytes(65536)
        return
    assert out["written"] and out["restore"] == [None], out
    assert out["restored"] and out["cycles_restored"] and out["kept_after_drop"], out
    if shape == "snapshot-on":
        assert image == bytes(65536), "snapshot=on wrote the image"
    else:
        assert image == b"\x11" * 61440 + b"\x33" * 4096


# -- hostile use -------------------------------------------------------------------------


@pytest.mark.parametrize("guest,boot", CASES,
                         ids=[b.target if len(g.boots) == 1 else f"{g.name}-on-{b.target}"
                              for g, b in CASES])
def test_hostile_restores_leave_a_sane_guest(stage, guest, boot, tmp_path):
    """A take and two restores while the VM is paused (QMP stop), then cont; then three
    threads restoring in a loop while the guest schedules a restore at every point:
    each call answers 0 or -EBUSY (the machinery is busy while another restore
    pauses the vCPUs), scheduled ones 0, and the guest afterwards reports the take's
    point with its slot, device value and RAM."""
    out = run_guest(guest, boot, tmp_path, "hostile")
    assert out["report"]["i"] == 1 and out["report"]["buf_ok"], out["report"]
    answers = {int(k): v for k, v in out["answers"].items()}
    assert set(answers) <= {0, EBUSY} and answers.get(0, 0) > 0, answers
    assert out["scheduled"] in ([], [0]), out["scheduled"]
    assert out["final_restore"] == 0, out["final_restore"]
    final = out["final"]
    assert (final["slot"], final["dev"], final["buf_ok"]) == (1, dev(1), True), final


def test_snapshots_from_qmp_handlers_and_a_drive_attached_later(stage, tmp_path):
    """QMP handlers run on the main loop with the BQL, outside the dispatcher's
    coroutine: a take, a restore and a drop work there, an internal save is refused
    while the fast snapshot exists (their migration blocker) and works, as does its
    load, once it is dropped. A writable drive attached after a take: the restore is
    refused with its name, nothing crashes."""
    disk, extra = tmp_path / "disk.qcow2", tmp_path / "extra.qcow2"
    for image in (disk, extra):
        subprocess.run([str(stage / "bin" / "qemu-img"), "create", "-q", "-f", "qcow2",
                        str(image), "16M"], check=True)
    guest, boot = case("aarch64")
    sock = tmp_path / "qmp.sock"
    out = run_guest(guest, boot, tmp_path, "context",
                    extra=("-drive", f"if=none,id=d0,format=qcow2,file={disk}",
                           "-device", "virtio-blk-device,drive=d0",
                           "-qmp", f"unix:{sock},server,nowait"),
                    spec_extra={"qmp_socket": str(sock),
                                "extra_drive": f"if=none,id=late,file={extra}"})
    assert out["take"]["return"]["handle"] > 0, out["take"]
    assert out["restore"] == {"return": {}} and out["drop"] == {"return": {}}, out
    assert "fast snapshots exist" in out["save_refused"]["error"]["desc"], out
    assert out["save"] == {"return": {}} and out["load"] == {"return": {}}, out
    code, reason = out["hotplug_restore"]
    assert code == EBUSY and "drive late was attached after the take" in reason, reason


def test_a_device_no_snapshot_can_hold_is_refused_by_name(stage, tmp_path):
    guest, boot = case("aarch64")
    out = run_guest(guest, boot, tmp_path, "refused",
                    extra=("-device", "rocker,name=sw0"))
    code, reason = out["take"]
    assert code == EBUSY and "rocker" in reason, out
