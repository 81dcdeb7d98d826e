"""Penguin's start-up order on every library name (issue: the process aborted about
30 ms after the first callback was set, when QEMU's RCU thread took the BQL that only
qemu_init creates).

Penguin opens the library, sets its callbacks, registers numbers, loads plugins for
seconds, then calls qemu_init. Each name runs tests/helpers/penguin_order.py twice, raw
through cffi as Penguin's shim does and through the client, with every other set-up
call made before qemu_init (each must be refused with an error, not crash), a 2 s wait,
then its hypercall guest (tests/guests), which must end with verdict 0. The children
run a few at a time: the waits overlap.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ARCHES, REPO, STAGE
from guests.guests import GUESTS

WAIT_S = 2.0
PARALLEL = 4
NAMES = [a.name for a in ARCHES]
ABI_1_4 = 0x10004


def guest_for(arch) -> tuple:
    """(guest, boot) of the hypercall guest that runs on arch's library; the
    little-endian ppc64 names boot the little-endian guest."""
    for guest in GUESTS:
        for boot in guest.boots:
            if boot.target == arch.name or (boot.target == arch.target and
                                            not arch.is_alias):
                return guest, boot
    for guest in GUESTS:
        for boot in guest.boots:
            if boot.target == arch.target and (guest.name == "ppc64le") == (
                    arch.endian == "le" and arch.target == "ppc64"):
                return guest, boot
    raise LookupError(f"no hypercall guest for {arch.name}")


def spec_for(arch, via: str, workdir: Path, churn: bool = False) -> dict:
    guest, boot = guest_for(arch)
    return {
        "via": via, "name": arch.name, "library": str(STAGE / "lib" / arch.library),
        "header": str(STAGE / "include" / "penguin-qemu-cffi" /
                      f"qemu_cffi_system_{arch.name}.h"),
        "bits": arch.bits, "byteorder": "little" if arch.endian == "le" else "big",
        "registers": dataclasses.asdict(guest.registers), "wait": WAIT_S, "churn": churn,
        "result": str(workdir / f"{arch.name}-{via}.json"),
        "args": [*boot.machine, guest.load, str(guest.build()), "-nodefaults",
                 "-display", "none", "-monitor", "none",
                 "-serial", f"file:{workdir / arch.name}-{via}.txt"],
    }


def run_child(spec: dict) -> dict:
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'python'}:{REPO / 'tests'}")
    proc = subprocess.run(["/usr/bin/python3", str(REPO / "tests/helpers/penguin_order.py"),
                           json.dumps(spec)], capture_output=True, text=True, timeout=120,
                          env=env)
    result = Path(spec["result"])
    console = Path(spec["args"][-1].removeprefix("file:"))
    out = {"rc": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr[-4000:],
           "console": console.read_text(errors="replace") if console.exists() else ""}
    if result.exists():
        out.update(json.loads(result.read_text()))
    return out


@pytest.fixture(scope="module")
def runs(stage) -> dict:
    """Every name, raw and through the client, a few children at a time (spec_for
    builds each guest first, so the children never race to build one)."""
    workdir = Path(tempfile.mkdtemp(prefix="penguin-order-"))
    specs = {(a.name, via): spec_for(a, via, workdir) for a in ARCHES
             for via in ("raw", "client")}
    with concurrent.futures.ThreadPoolExecutor(PARALLEL) as pool:
        futures = {key: pool.submit(run_child, spec) for key, spec in specs.items()}
        return {key: f.result() for key, f in futures.items()}


def check_run(run: dict) -> None:
    detail = f"rc={run['rc']}\n{run['stdout']}\n{run['stderr']}\nconsole:\n{run['console']}"
    assert run["rc"] == 0 and "verdict" in run, detail
    assert run["verdict"] == 0, f"guest fail mask {run['verdict']:#x}\n{detail}"
    assert 0x50454E03 in run["calls"], detail


@pytest.mark.parametrize("name", NAMES)
def test_raw_cffi_in_penguins_order(runs, name):
    run = runs[(name, "raw")]
    check_run(run)
    pre = run["preinit"]
    assert pre["abi"] == ABI_1_4
    assert pre["mmio_add"][0] == -1 and "BQL" in pre["mmio_add"][1]          # -EPERM
    assert pre["mmio_remove"][0] == -1
    assert pre["save"] == [False,
                           "penguin: snapshot 's': no VM yet (call qemu_init() first)"]
    assert pre["save_null"] == [False, "penguin: a snapshot needs a name"]
    assert pre["load"][0] is False and "no VM yet" in pre["load"][1]
    # Both scheduled requests were refused and still completed, in order.
    assert pre["done_seen"] == [["s", False], ["", False]]
    assert pre["completed"] == [2, False]
    assert pre["read_reg_null"] == -22 and pre["env_null"] and not pre["dispatch"]


@pytest.mark.parametrize("name", NAMES)
def test_client_in_penguins_order(runs, name):
    run = runs[(name, "client")]
    check_run(run)
    pre = run["preinit"]
    assert pre["abi"] == [ABI_1_4 >> 16, ABI_1_4 & 0xffff]
    assert "MMIO regions need the BQL" in pre["mmio_add"]
    assert "no VM yet" in pre["save"] and "no VM yet" in pre["load"]
    assert pre["scheduled"] == [
        ["s", False, "penguin: snapshot 's': no VM yet (call qemu_init() first)"]]


@pytest.mark.parametrize("via", ["raw", "client"])
def test_registering_from_another_thread_through_start_up(stage, via, tmp_path):
    """Another thread registers and unregisters numbers through the wait, qemu_init and
    the run; the guest's numbers stay registered and it passes."""
    arch = next(a for a in ARCHES if a.name == "mipsel")
    run = run_child(spec_for(arch, via, tmp_path, churn=True))
    check_run(run)
    assert run["churned"] > 10, "the churn thread hardly ran"
