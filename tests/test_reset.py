"""Guest resets in the same process (issue 25, item 2): Penguin's core.allow_reboot
leaves out -no-reboot, and its plugins keep their hypercalls, MMIO regions and the
VPN's vsock across the guest's reboot.

On all 11 targets, through the libraries of the unpacked release archive in Penguin's
order (tests/helpers/reset_checks.py), a bare-metal guest (tests/guest_sdk/reset.c)
reads and writes an MMIO region added by the after-guest-init callback, reports with a
registered hypercall number and resets its machine the way a guest of that machine
does (PSCI, malta's SOFTRES, the e500 RSTCR, RTAS system-reboot, the SiFive test
device, LoongArch's GED, PCI 0xcf9):
- without -no-reboot it boots again in the same process: the region answers the second
  boot (with the value for boot 2), the number dispatches again, the reset-request
  callback saw one guest reset (cause 7), the after-guest-init callback ran once;
- with -no-reboot the run ends at the reset request instead, by itself;
- a reset-request callback that requests a shutdown (Penguin's pending change) ends the
  run instead of the reset (aarch64, mipsel, x86_64);
- a fast snapshot taken before the reset and restored after it brings back the state
  it holds (aarch64, mipsel, x86_64).
The Linux reboot test is tests/test_vsock_reboot.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import run_helper
from test_guest_sdk import BY_NAME

READ_BASE = 0x600D0000
GUEST_RESET = 7                 # QEMU's SHUTDOWN_CAUSE_GUEST_RESET


@dataclass(frozen=True)
class Target:
    sdk: str                    # tests/test_guest_sdk.py's architecture
    name: str                   # the Penguin library name it runs on
    region: int                 # the MMIO region's guest-physical base
    ram: str = "128"


TARGETS = {t.sdk: t for t in [
    Target("arm", "armel", 0x0B000000),
    Target("aarch64", "aarch64", 0x0B000000),
    Target("mips", "mipseb", 0x1E400000),
    Target("mipsel", "mipsel", 0x1E400000),
    Target("mips64", "mips64eb", 0x1E400000),
    Target("mips64el", "mips64el", 0x1E400000),
    Target("ppc", "powerpc", 0xFE00D0000),      # a hole in the e500's CCSR
    Target("ppc64", "powerpc64", 0x80000000, "256"),
    Target("riscv64", "riscv64", 0x0B000000),
    Target("loongarch64", "loongarch64", 0x1A000000),
    Target("x86_64", "x86_64", 0x10000000),
]}
SOME = ["aarch64", "mipsel", "x86_64"]


def run_reset(release: Path, target: Target, workdir: Path, no_reboot: bool = False,
              **options) -> dict:
    sdk = BY_NAME[target.sdk]
    machine = [a for a in sdk.machine if a != "-no-reboot"]
    args = [*machine, sdk.load, str(sdk.build("O2", "reset.c")), "-m", target.ram,
            "-nodefaults", "-display", "none", "-monitor", "none", "-serial", "none",
            "-L", str(release / "share" / "qemu")]
    if no_reboot:
        args.append("-no-reboot")
    spec = {"prefix": str(release), "name": target.name, "args": args,
            "region": target.region, "boots": 2, "result": str(workdir / "result.json"),
            **options}
    proc = run_helper("reset_checks.py", json.dumps(spec), timeout=120)
    result = workdir / "result.json"
    assert proc.returncode == 0 and result.exists(), (
        f"{target.sdk}: rc={proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}")
    seen = json.loads(result.read_text())
    assert ["timeout"] not in seen["events"], f"{target.sdk}: {seen['events']}"
    assert seen["status"] == 0, seen
    assert seen["inits"] == [True], seen["inits"]      # once, with the BQL
    return seen


def kinds(events: list, kind: str) -> list:
    return [e[1:] for e in events if e[0] == kind]


def boot_accesses(boot: int) -> list:
    """What one boot does to the region: read 0x10, write it back changed at 0x20."""
    value = READ_BASE + boot
    return [["read", 0x10, 4], ["write", 0x20, 4, value ^ 0x5A5A5A5A], ["boot", value]]


@pytest.mark.parametrize("sdk", sorted(TARGETS))
def test_guest_reset_keeps_what_penguin_set_up(release_prefix, sdk, tmp_path):
    events = run_reset(release_prefix, TARGETS[sdk], tmp_path)["events"]
    main = [e for e in events if e[0] in ("read", "write", "boot", "reset-request")]
    assert main == [*boot_accesses(0), ["reset-request", GUEST_RESET],
                    *boot_accesses(1)], events


@pytest.mark.parametrize("sdk", sorted(TARGETS))
def test_no_reboot_ends_the_run_instead(release_prefix, sdk, tmp_path):
    events = run_reset(release_prefix, TARGETS[sdk], tmp_path, no_reboot=True)["events"]
    assert kinds(events, "boot") == [[READ_BASE]], events
    assert kinds(events, "reset-request") == [[GUEST_RESET]], events


@pytest.mark.parametrize("sdk", SOME)
def test_reset_request_callback_can_end_the_run(release_prefix, sdk, tmp_path):
    """Penguin's pending change: the callback requests a shutdown; no second boot."""
    events = run_reset(release_prefix, TARGETS[sdk], tmp_path,
                       end_in_callback=True)["events"]
    assert kinds(events, "boot") == [[READ_BASE]], events
    assert kinds(events, "reset-request") == [[GUEST_RESET]], events


@pytest.mark.parametrize("sdk", SOME)
def test_fast_snapshot_taken_before_a_reset(release_prefix, sdk, tmp_path):
    events = run_reset(release_prefix, TARGETS[sdk], tmp_path, fast=True)["events"]
    take, restore = kinds(events, "fast")
    assert take[0] == "take" and take[1] > 0, take
    assert restore[:2] == ["restore", 0], restore
    assert kinds(events, "boot") == [[READ_BASE], [READ_BASE + 1]], events
    # Restored after the reset, the guest is back in boot 1, asking with its value.
    assert kinds(events, "asked-again") == [[READ_BASE]], events
