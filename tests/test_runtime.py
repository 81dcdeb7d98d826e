"""CONTRACT section 7 through the libraries: after-guest-init, reset requests, QMP."""

from __future__ import annotations

import json
import struct

from conftest import run_helper, stage_lib
from guests.guests import GUESTS
from spin_guests import EM_MIPS, elf_image

NR_VERDICT = 0x50454E03
SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET, SHUTDOWN_CAUSE_GUEST_RESET = 3, 7
AARCH64 = next(g for g in GUESTS if g.name == "aarch64")


def result_of(proc) -> dict:
    lines = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[0][len("RESULT "):])


def aarch64_args(tmp_path) -> list[str]:
    return ["-M", "virt", "-cpu", "cortex-a57", "-kernel", str(AARCH64.build()), "-nodefaults",
            "-display", "none", "-monitor", "none", "-serial", f"file:{tmp_path / 'console'}"]


def test_after_guest_init_runs_once_before_the_guest(stage, tmp_path):
    proc = run_helper("runtime_checks.py", "after-init", str(stage_lib("aarch64")), "aarch64",
                      "--", *aarch64_args(tmp_path))
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
    proc = run_helper("runtime_checks.py", "reset", str(stage_lib("mipsel")), "mipsel", "--",
                      "-M", "malta", "-nodefaults", "-display", "none", "-no-reboot",
                      "-kernel", malta_reset_guest(tmp_path / "reset.elf"))
    assert result_of(proc)["events"] == [SHUTDOWN_CAUSE_GUEST_RESET]


def test_custom_qmp_commands_over_a_unix_socket(stage, tmp_path):
    sock = tmp_path / "qmp.sock"
    proc = run_helper("runtime_checks.py", "qmp", str(stage_lib("aarch64")), "aarch64", "--",
                      *aarch64_args(tmp_path), "-qmp", f"unix:{sock},server=on,wait=off")
    events = result_of(proc)["events"]
    answers = [e for e in events if isinstance(e, dict)]
    echo, empty, bad, unknown, status, system_reset = answers
    assert echo == {"return": {"echo": {"x": 1, "s": "two"}}}
    assert empty == {"return": {}}
    assert bad["error"]["class"] == "GenericError"
    assert "invalid JSON" in bad["error"]["desc"]
    assert unknown["error"]["class"] == "CommandNotFound"
    assert status["return"]["status"] in ("running", "paused")   # QEMU's own commands work
    assert system_reset == {"return": {}}
    assert ["reset", SHUTDOWN_CAUSE_HOST_QMP_SYSTEM_RESET] in events
