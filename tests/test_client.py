"""The Python client (python/penguin_qemu) against real guests: register names, fail
fast, and the command line that prints hypercalls."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import REPO, STAGE, run_helper, stage_lib
from guests.guests import GUESTS

# One guest per register family; its State step is where the names are exercised.
FAMILY_GUESTS = {"arm": ("arm", "arm"), "aarch64": ("aarch64", "aarch64"),
                 "mips": ("mipsel", "mipsel"), "mips64": ("mips64", "mips64"),
                 "ppc": ("ppc64", "ppc64"), "riscv64": ("riscv64", "riscv64"),
                 "loongarch64": ("loongarch64", "loongarch64"), "x86_64": ("x86", "x86_64")}
BY_NAME = {g.name: g for g in GUESTS}


def guest_args(guest_name: str, target: str, workdir) -> list[str]:
    guest = BY_NAME[guest_name]
    boot = next(b for b in guest.boots if b.target == target)
    return [*boot.machine, guest.load, str(guest.build()), "-nodefaults",
            "-display", "none", "-monitor", "none",
            "-serial", f"file:{workdir / 'console.txt'}"]


@pytest.mark.parametrize("family", sorted(FAMILY_GUESTS))
def test_register_names_round_trip(stage, family, tmp_path):
    guest, target = FAMILY_GUESTS[family]
    result = run_helper("client_checks.py", "names", str(stage_lib(target)), target, "--",
                        *guest_args(guest, target, tmp_path))
    assert "NAMES-OK" in result.stdout, result.stdout + result.stderr


def test_handler_exception_stops_the_vm_and_is_reraised(stage, tmp_path):
    result = run_helper("client_checks.py", "fail-fast", str(stage_lib("aarch64")),
                        "aarch64", "--", *guest_args("aarch64", "aarch64", tmp_path),
                        timeout=30)
    assert "RAISED ValueError handler failed on 0x50454e11" in result.stdout, result.stderr
    assert result.returncode == 0


def test_handler_answer_that_is_not_an_int_stops_the_vm(stage, tmp_path):
    """A handler returning 1.5 is a bug in it: before, cffi printed "Exception ignored"
    and the guest read 0."""
    result = run_helper("client_checks.py", "not-an-int", str(stage_lib("aarch64")),
                        "aarch64", "--", *guest_args("aarch64", "aarch64", tmp_path),
                        timeout=30)
    assert "RAISED TypeError 'float' object cannot be interpreted as an integer" in \
        result.stdout, result.stdout + result.stderr
    assert result.returncode == 0


def test_command_line_prints_each_hypercall(stage, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    cmd = ["/usr/bin/python3", "-m", "penguin_qemu", "--arch", "mipsel",
           "--prefix", str(STAGE), "--stop-on", "0x50454e03", "--",
           *guest_args("mipsel", "mipsel", tmp_path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env).stdout
    args = "0x11111111,0x22222222,0x33333333,0x44444444,0x55555555,0x66666666"
    lines = out.splitlines()
    # Nothing handles the calls, so the guest's own checks fail and say so in its verdict.
    assert lines[:4] == [f"hypercall nr=0x50454e01 args={args} -> not handled"] * 2 + [
        f"hypercall nr=0x50454e04 args={args} -> not handled",
        f"hypercall nr=0x50454e02 args={args} -> not handled"]
    # Fail bits 0x1, 0x8, 0x40 and 0x80: no answer to args, write-back, state, user mode.
    assert lines[-1].startswith("hypercall nr=0x50454e03 args=0xc9,")


def test_unknown_architecture_is_a_clear_error(stage):
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"))
    result = subprocess.run(["/usr/bin/python3", "-m", "penguin_qemu", "--arch", "sparc64",
                             "--prefix", str(STAGE), "--", "-M", "none"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 2
    assert "unknown architecture 'sparc64'" in result.stderr


# One link namespace and no optional part: glibc's static TLS surplus at its smallest.
NO_STATIC_TLS = "glibc.rtld.nns=1:glibc.rtld.optional_static_tls=0"


def open_client(tunables: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO / "python"), GLIBC_TUNABLES=tunables)
    code = ("from pathlib import Path\n"
            "from penguin_qemu import Qemu, QemuError\n"
            "try:\n"
            f"    Qemu('mipsel', prefix=Path('{STAGE}'))\n"
            "    print('LOADED')\n"
            "except QemuError as e:\n"
            "    print('QemuError:', e)\n")
    return subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                          env=env, timeout=60)


def test_loads_without_static_tls_surplus(stage):
    """TLS descriptors (configs/features.conf): with no static TLS surplus at all, glibc
    puts the library's thread-locals in dynamic TLS and the client loads it (with
    initial-exec thread-locals this failed with "cannot allocate memory in static TLS
    block")."""
    result = open_client(NO_STATIC_TLS)
    assert "LOADED" in result.stdout, result.stdout + result.stderr


MEMORY_CASES = {
    # library: (guest, scratch RAM, sentinel word, scratch bytes as stored)
    "aarch64": ("aarch64", 0x40100000, 0xD500501F, "8877665544332211"),
    "mips": ("mips", 0x80200000, 0x0000000A, "1122334455667788"),
}


@pytest.mark.parametrize("target", sorted(MEMORY_CASES))
def test_memory_and_syscall_return_value(stage, target, tmp_path):
    guest, scratch, word, stored = MEMORY_CASES[target]
    result = run_helper("client_checks.py", "memory", str(stage_lib(target)), target,
                        hex(scratch), "--", *guest_args(guest, target, tmp_path))
    lines = [line for line in result.stdout.splitlines() if line.startswith("MEMORY ")]
    assert lines, result.stdout + result.stderr
    seen = json.loads(lines[0][len("MEMORY "):])
    assert seen["sentinel_word"] == word            # fmt="int": unsigned, guest byte order
    assert seen["scratch_bytes"] == stored          # ints are written in guest byte order
    assert seen["scratch_int"] == 0x1122334455667788
    assert seen["unmapped"].startswith("QemuError: cannot read 16 bytes")
    # The syscall convention with failure negates and sets a3 = 1 on MIPS only; other
    # architectures return the negative value itself, as Penguin's shim does.
    if target == "mips":
        assert seen["retval"] == 2 and seen["a3"] == 1
    else:
        assert seen["retval"] == 2**64 - 2


def test_runtime_hooks_through_the_client(stage, tmp_path):
    """MMIO regions, QMP commands with results and errors, reset requests and scheduled
    snapshots through penguin_qemu alone (tests/helpers/client_runtime.py)."""
    from test_runtime import MMIO_GUESTS, mmio_guest
    target, base, machine = MMIO_GUESTS["mmio-aarch64"]
    sock = tmp_path / "qmp.sock"
    result = run_helper("client_runtime.py", str(stage_lib(target)), target, hex(base),
                        str(sock), "--", *machine, "-kernel",
                        str(mmio_guest("mmio-aarch64").build()), "-nodefaults", "-display",
                        "none", "-serial", f"file:{tmp_path / 'console'}",
                        "-qmp", f"unix:{sock},server=on,wait=off")
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert result.returncode == 0 and lines, result.stdout + result.stderr
    events = json.loads(lines[0][len("RESULT "):])
    kinds = [e[0] for e in events]
    assert "overlaps" in next(e[1] for e in events if e[0] == "overlap-refused")
    assert kinds.count("write") == 4 and kinds.count("read") == 4, events
    assert kinds.index("removed") > max(i for i, k in enumerate(kinds)
                                        if k in ("read", "write"))
    assert ["verdict", 0] in events
    echo, refuse, reset = next(e[1] for e in events if e[0] == "qmp")
    assert echo == {"return": {"echo": {"a": 1}}}
    assert refuse == {"error": {"class": "DeviceNotFound", "desc": "no widget here"}}
    assert reset == {"return": {}} and ["reset", 3] in events
    (snapshot,) = [e for e in events if e[0] == "snapshot"]
    assert snapshot[1:3] == ["no-drive", False] and snapshot[3], snapshot
