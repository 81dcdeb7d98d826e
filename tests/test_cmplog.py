"""Compare tracking (penguin_cmplog_*, Qemu.cmplog) on four targets: the guest's
compares are logged at their own instruction with the right width and operands,
immediates included; a compare outside the range is not, nor one of equal operands
(AFL++'s rule); a strcmp-like routine named by the host logs both strings; disarmed,
nothing is logged.

The guests are tests/guests/cmplog-*.S (CMPLOG.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_helper, stage_lib
from guests.guests import INCLUDE, MALTA, NO_RWX, Boot, Guest, _gnu, _mips

GUESTS = [
    Guest("cmplog-aarch64", "cmplog-aarch64.S",
          _gnu("aarch64-linux-gnu-", "", "-Ttext=0x40000000"), "OUT", "-kernel",
          [Boot("aarch64", ["-M", "virt", "-cpu", "cortex-a57"])]),
    Guest("cmplog-mipsel", "cmplog-mips.S", _mips("mipsel-linux-gnu-", "-EL", False),
          "OUT", "-kernel", [Boot("mipsel", MALTA)]),
    Guest("cmplog-riscv64", "cmplog-riscv64.S",
          _gnu("riscv64-linux-gnu-", "-march=rv64imac", "-Ttext=0x80000000"), "OUT",
          "-kernel", [Boot("riscv64", ["-M", "virt", "-bios", "none"])]),
    Guest("cmplog-x86", "cmplog-x86.S",
          [f"as --32 -I {INCLUDE} -o OBJ SRC",
           f"ld -m elf_i386 -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
           "objcopy -O binary OUT.elf OUT.bin"], "OUT.bin", "-bios",
          [Boot("x86_64", ["-M", "pc", "-nodefaults", "-no-reboot"])]),
]

# (width, v0, v1) each guest's compares must log, as its comments say.
EXPECTED = {
    "aarch64": [(4, 0x11223344, 0x55667788), (8, 0x1000, 0x123),
                (8, 0x1122334455667788, 0x1122334455667799)],
    "mipsel": [(4, 0x11223344, 0x55667788), (4, 0x1000, 0x123), (4, 0x11223344, 0x41)],
    "riscv64": [(8, 0x1122334455667788, 0x1122334455667799), (8, 0x1000, 0x123),
                (8, 0x1000, 0x41424344)],
    "x86_64": [(1, 0x5A, 0x41), (2, 0x6655, 0x1234), (4, 0x11223344, 0x55667788),
               (8, 0x1122334455667788, 0x1122334455667799), (4, 0x11223344, 0x12345678)],
}
LEFT, RIGHT = b"penguin-routine-left\0", b"penguin-routine-right\0"
OUTSIDE = 0xDEADBEEF
EQUAL = 0x600D600D      # compared with itself: AFL++ logs no equal operands


def run_guest(guest: Guest, workdir: Path) -> dict:
    boot = guest.boots[0]
    result_file = workdir / "result.json"
    spec = {"library": str(stage_lib(boot.target)), "name": boot.target,
            "result": str(result_file),
            "args": [*boot.machine, guest.load, str(guest.build()), "-nodefaults",
                     "-display", "none", "-monitor", "none", "-serial", "none"]}
    proc = run_helper("cmplog_guest.py", json.dumps(spec), timeout=90)
    assert proc.returncode == 0 and result_file.exists(), (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(result_file.read_text())
    assert "error" not in result, result["error"]
    assert not result.get("timed_out"), result
    return result


@pytest.mark.parametrize("guest", GUESTS, ids=[g.boots[0].target for g in GUESTS])
def test_compares_and_routines_are_logged(stage, guest, tmp_path):
    target = guest.boots[0].target
    result = run_guest(guest, tmp_path)
    routine, lo, hi = result["hello"]
    armed, disarmed = result["laps"]
    assert disarmed == [], "compare tracking logged while disarmed"
    compares = [e for e in armed if e["kind"] == "ins"]
    logged = {(e["width"], v0, v1) for e in compares for v0, v1 in e["operands"]}
    for want in EXPECTED[target]:
        assert want in logged, f"{target}: {want} not logged; logged {sorted(logged)}"
    for e in compares:
        assert lo <= e["pc"] < hi, f"{target}: a compare at {e['pc']:#x} outside the range"
        assert e["hits"] >= 1 and e["attribute"] in (1, 2, 3, 4, 5), e
        assert all(OUTSIDE not in pair for pair in e["operands"]), e
        assert all(EQUAL not in pair for pair in e["operands"]), e
    routines = [e for e in armed if e["kind"] == "rtn"]
    assert [e["pc"] for e in routines] == [routine], routines
    (left, right), = routines[0]["operands"]
    assert bytes.fromhex(left).startswith(LEFT) and bytes.fromhex(right).startswith(RIGHT)
    assert len(bytes.fromhex(left)) == 31
