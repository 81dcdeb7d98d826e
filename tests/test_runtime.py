"""CONTRACT section 7 through the libraries: after-guest-init, reset requests, QMP."""

from __future__ import annotations

import json
import struct

import pytest

from conftest import run_helper, stage_lib
from guests.guests import GUESTS, INCLUDE, Guest
from spin_guests import EM_MIPS, elf_image

NR_VERDICT = 0x50454E03
SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET, SHUTDOWN_CAUSE_GUEST_RESET = 3, 7
AARCH64 = next(g for g in GUESTS if g.name == "aarch64")


def result_of(proc) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[0][len("RESULT "):])


def aarch64_args(tmp_path) -> list[str]:
    return ["-M", "virt", "-cpu", "cortex-a57", "-kernel", str(AARCH64.build()),
            "-nodefaults", "-display", "none", "-monitor", "none",
            "-serial", f"file:{tmp_path / 'console'}"]


def test_after_guest_init_runs_once_before_the_guest(stage, tmp_path):
    proc = run_helper("runtime_checks.py", "after-init", str(stage_lib("aarch64")),
                      "aarch64", "--", *aarch64_args(tmp_path))
    events = result_of(proc)["events"]
    inits = [e for e in events if e[0] == "init"]
    assert inits == [["init", True, True]], events   # once, BQL held, a machine
    assert events[0][0] == "init"                      # before the first hypercall
    assert ["hypercall", NR_VERDICT] in events          # and the guest did run


def test_failing_after_guest_init_stops_start_up(stage, tmp_path):
    proc = run_helper("runtime_checks.py", "after-init-fails", str(stage_lib("aarch64")),
                      "aarch64", "--", *aarch64_args(tmp_path))
    assert proc.returncode == 1
    assert "after-guest-init callback failed (returned 7)" in proc.stderr
    assert "RESULT" not in proc.stdout


def malta_reset_guest(path) -> str:
    """mipsel: write 0x42 to the malta FPGA's SOFTRES register (a guest reset)."""
    code = struct.pack("<6I", 0x3C08BF00,   # lui   t0, 0xbf00
                       0x35080500,          # ori   t0, t0, 0x0500
                       0x24090042,          # li    t1, 0x42
                       0xAD090000,          # sw    t1, 0(t0)
                       0x1000FFFF,          # b     .
                       0x00000000)          # nop
    path.write_bytes(elf_image(32, "le", EM_MIPS, 0x80100000, code))
    return str(path)


def test_reset_callback_sees_a_guest_reset(stage, tmp_path):
    proc = run_helper("runtime_checks.py", "reset", str(stage_lib("mipsel")), "mipsel",
                      "--", "-M", "malta", "-nodefaults", "-display", "none", "-no-reboot",
                      "-kernel", malta_reset_guest(tmp_path / "reset.elf"))
    assert result_of(proc)["events"] == [SHUTDOWN_CAUSE_GUEST_RESET]


def test_custom_qmp_commands_over_a_unix_socket(stage, tmp_path):
    sock = tmp_path / "qmp.sock"
    proc = run_helper("runtime_checks.py", "qmp", str(stage_lib("aarch64")), "aarch64",
                      "--", *aarch64_args(tmp_path),
                      "-qmp", f"unix:{sock},server=on,wait=off")
    events = result_of(proc)["events"]
    (before,) = [e["before"] for e in events if isinstance(e, dict) and "before" in e]
    answers = [e for e in events if isinstance(e, dict) and "before" not in e]
    # Before capability negotiation nothing reaches Penguin, whatever the name.
    for answer in before:
        assert answer["error"]["class"] == "CommandNotFound", before
        assert "capabilities negotiation" in answer["error"]["desc"], before
    before_at = events.index({"before": before})
    early = [e for e in events[:before_at] if isinstance(e, list) and
             e[0] in ("callback", "handler")]
    assert not early, early
    fail, fail_bare, echo, empty, bad, unknown, status, system_reset = answers
    # The handler's structured error reaches the client as that error.
    assert fail == {"error": {"class": "DeviceNotFound", "desc": "no widget 7"}}
    assert fail_bare["error"]["class"] == "GenericError"
    assert "penguin-fail-bare failed without a description" in fail_bare["error"]["desc"]
    assert ["callback", "penguin-fail"] not in events    # the handler answered it
    assert echo == {"return": {"echo": {"x": 1, "s": "two"}}}
    assert empty == {"return": {}}
    assert bad["error"]["class"] == "GenericError"
    assert "invalid JSON" in bad["error"]["desc"]
    assert unknown["error"]["class"] == "CommandNotFound"
    assert status["return"]["status"] in ("running", "paused")   # QEMU's own commands work
    assert system_reset == {"return": {}}
    assert ["reset", SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET] in events


MMIO_GUESTS = {
    # name: (library, region base, machine)
    "mmio-aarch64": ("aarch64", 0x0B000000, ["-M", "virt", "-cpu", "cortex-a57"]),
    "mmio-mips64": ("mips64", 0x1E400000,
                    ["-M", "malta", "-cpu", "MIPS64R2-generic", "-vga", "none",
                     "-nic", "none"]),
}
EXPECTED_WRITES = [["write", 0x10, 1, 0x11], ["write", 0x20, 2, 0x2233],
                   ["write", 0x40, 4, 0x44556677], ["write", 0x80, 8, 0x8899AABBCCDDEEFF]]


def mmio_guest(name: str) -> Guest:
    if name == "mmio-aarch64":
        commands = [f"aarch64-linux-gnu-as -I {INCLUDE} -o OBJ SRC",
                    "aarch64-linux-gnu-ld -N --no-warn-rwx-segments -Ttext=0x40000000 "
                    "-e _start -o OUT OBJ"]
    else:
        commands = ["mips64-linux-gnuabi64-as -non_shared -msym32 -march=mips64r2 -EB "
                    f"--defsym N64=1 -I {INCLUDE} -o OBJ SRC",
                    "mips64-linux-gnuabi64-ld -N --no-warn-rwx-segments -EB "
                    "-Ttext-segment=0xffffffff80100000 -e _start -o OUT OBJ"]
    return Guest(name, f"{name}.S", commands, "OUT", "-kernel", [])


def test_mmio_region_at_an_odd_base(stage, tmp_path):
    """A region at an odd base (one byte below the guest's) answers the guest's aligned
    1-, 2-, 4- and 8-byte accesses, which fall at odd offsets in it, whole (issue 25)."""
    target, base, machine = MMIO_GUESTS["mmio-aarch64"]
    proc = run_helper("runtime_checks.py", "mmio", str(stage_lib(target)), target,
                      hex(base), "1", "--", *machine, "-kernel",
                      str(mmio_guest("mmio-aarch64").build()), "-nodefaults", "-display",
                      "none", "-serial", f"file:{tmp_path / 'console'}")
    events = result_of(proc)["events"]
    assert events[0] == ["add", 0]
    accesses = [e for e in events if e[0] in ("read", "write")]
    assert [e for e in accesses if e[0] == "write"] == [
        ["write", off + 1, size, value] for _, off, size, value in EXPECTED_WRITES]
    assert [e[1:3] for e in accesses if e[0] == "read"] == [
        [0x102, 1], [0x103, 2], [0x105, 4], [0x109, 8]]
    verdict = next(e for e in events if e[0] == "verdict")
    assert verdict[1] == 0, f"guest fail mask {verdict[1]:#x}"     # it read our values


@pytest.mark.parametrize("name", sorted(MMIO_GUESTS))
def test_mmio_region_sizes_offsets_and_removal(stage, name, tmp_path):
    """Sizes 1, 2, 4 and 8 on a little-endian (aarch64) and a big-endian (mips64) guest:
    the callbacks see region-relative offsets, sizes and the values the guest stored;
    after removal the guest's accesses no longer reach them; bad requests are refused."""
    target, base, machine = MMIO_GUESTS[name]
    proc = run_helper("runtime_checks.py", "mmio", str(stage_lib(target)), target,
                      hex(base), "--", *machine, "-kernel", str(mmio_guest(name).build()),
                      "-nodefaults", "-display", "none",
                      "-serial", f"file:{tmp_path / 'console'}")
    events = result_of(proc)["events"]
    assert events[0] == ["add", 0]
    accesses = [e for e in events if e[0] in ("read", "write")]
    assert [e for e in accesses if e[0] == "write"] == EXPECTED_WRITES
    assert [e[1:3] for e in accesses if e[0] == "read"] == [
        [0x101, 1], [0x102, 2], [0x104, 4], [0x108, 8]]
    removed_at = events.index(["remove", 0])
    assert all(e[0] not in ("read", "write") for e in events[removed_at:]), events
    verdict = next(e for e in events if e[0] == "verdict")
    assert verdict[1] == 0, f"guest fail mask {verdict[1]:#x}"
    refused = next(e for e in events if e[0] == "refused")[1]
    assert all(code < 0 for code in refused.values()), refused
    assert ["top", 0] in events and ["top-removed", 0] in events   # may end at 2^64
    (save,) = [e for e in events if e[0] == "save-from-mmio"]
    assert save[1] is False and "from a vCPU thread" in save[2], save
    assert refused["top_again"] == refused["beside_top"] == -17    # -EEXIST
    assert refused["past_2_64"] == refused["size_max"] == refused["size_max_at_0"] == -22
    assert "bad size" in next(e for e in events if e[0] == "last-error")[1]
    assert "need the BQL" in proc.stderr and "overlaps" in proc.stderr
