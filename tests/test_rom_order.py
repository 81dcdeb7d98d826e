"""A -device loader image over the machine's default firmware wins, as in the executable.

QEMU writes ROMs at reset in the order rom_insert() keeps; where two overlap the later
one wins. The loader device's ROM is in the CPU's address space (on the heap), the
firmware's in address_space_memory (a global): upstream ordered the two by pointer, which
put the loader last in an executable and first in a shared library, so in the library
the firmware overwrote the loaded image (QEMU's TCG test issue1060 hung on riscv64).
Patch 0050 puts address_space_memory's ROMs first wherever globals are mapped.

Each case boots a hypercall guest of tests/guests over the default firmware (OpenSBI at
0x80000000 on riscv64 virt, SeaBIOS's top 64 KiB on x86_64 pc) and needs its verdict:
the firmware running instead never makes a hypercall.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pytest

from conftest import run_helper, stage_lib
from guests.guests import GUESTS

BY_NAME = {g.name: g for g in GUESTS}
NR_ARGS64 = 0x50454E11
# The guest's own checks take well under a second; the firmware never ends.
TIMEOUT = 30

CASES = {
    # An ELF linked at 0x80000000, OpenSBI's load address; the reset vector in the
    # MROM jumps there in M-mode.
    "riscv64-virt-opensbi": ("riscv64", "riscv64", ["-M", "virt"],
                             "file={image}"),
    # The 64 KiB image the CPU's reset vector is in: the last 64 KiB of bios-256k.bin
    # (also seen through the isa-bios alias at 0xf0000, where the guest's code runs).
    "x86_64-pc-seabios": ("x86", "x86_64", ["-M", "pc", "-no-reboot"],
                          "file={image},addr=0xffff0000,force-raw=on"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_loader_image_over_the_firmware_runs(stage, case, tmp_path):
    guest_name, target, machine, loader = CASES[case]
    guest = BY_NAME[guest_name]
    image = guest.build()
    console, result_file = tmp_path / "console.txt", tmp_path / "result.json"
    # No -bios/-kernel: the machine loads its default firmware from the staged
    # share/qemu, as Penguin passes it (-L).
    spec = {
        "library": str(stage_lib(target)), "name": target, "result": str(result_file),
        "registers": dataclasses.asdict(guest.registers),
        "args": [*machine, "-L", str(stage / "share" / "qemu"),
                 "-device", "loader," + loader.format(image=image),
                 "-nodefaults", "-display", "none", "-monitor", "none",
                 "-serial", f"file:{console}"],
    }
    try:
        result = run_helper("hypercall_guest.py", json.dumps(spec), timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        text = console.read_text(errors="replace") if console.exists() else ""
        pytest.fail(f"no verdict in {TIMEOUT} s: the firmware ran instead of the "
                    f"loaded image (ROM order)\nconsole:\n{text[-2000:]}")
    text = console.read_text(errors="replace") if console.exists() else ""
    assert result.returncode == 0 and result_file.exists(), (
        f"rc={result.returncode}\n{result.stdout}\n{result.stderr}\nconsole:\n{text}")
    seen = json.loads(result_file.read_text())
    assert seen["verdict"] == 0, f"guest fail mask {seen['verdict']}\n{text}"
    assert any(call[0] == NR_ARGS64 for call in seen["args"]), seen
