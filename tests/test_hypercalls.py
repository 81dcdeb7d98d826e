"""Every target boots its hypercall guest through the library (tests/guests/PROTOCOL.md).

The host counts every callback: the guest's hypercalls arrive with exactly their six
arguments, near misses never arrive, an unregistered number reaches only the fallback
and leaves the guest's registers alone, a callback's register write sticks, and the
guest's own checks end in a verdict of 0.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from conftest import run_helper, stage_lib
from guests.guests import GUESTS, Guest, Registers

NR_ARGS32, NR_ARGS64, NR_UNREG = 0x50454E01, 0x50454E11, 0x50454E04
A32 = [0x11111111 * (i + 1) for i in range(6)]
A64 = [0x1111111111111111 * (i + 1) for i in range(6)]

CASES = [(g, b) for g in GUESTS for b in g.boots]
CASE_IDS = [f"{g.name}-on-{b.target}" for g, b in CASES]


def expected_args(guest: Guest, nr: int) -> list[list[int]]:
    """The argument lists a correct NR_ARGS* call may carry."""
    args = A32 if nr == NR_ARGS32 else A64
    accepted = [args]
    if guest.dx_form_calls:
        # The %dx form of OUT needs dx = 0x88, and dx is the low half of a2.
        accepted.append([*args[:2], (args[2] & ~0xFFFF) | 0x88, *args[3:]])
    return accepted


def run_guest(guest: Guest, target: str, machine: list[str], workdir: Path,
              probe_bad_inputs: bool = False, **where) -> tuple[dict, str]:
    """Boot guest on library target (or where: library=..., prefix=..., env=auto)."""
    return run_image(guest.build(), guest.load, guest.registers, target, machine, workdir,
                     probe_bad_inputs, **where)


def run_image(image: Path, load: str, registers: Registers, target: str, machine: list[str],
              workdir: Path, probe_bad_inputs: bool = False, **where) -> tuple[dict, str]:
    """Boot image (a guest of PROTOCOL.md's host side, loaded with load, whose registers
    are registers) on library target; what the host saw and the console."""
    console, result_file = workdir / "console.txt", workdir / "result.json"
    spec = {
        "library": str(stage_lib(target)), "name": target, "result": str(result_file),
        **where,
        "registers": dataclasses.asdict(registers), "probe_bad_inputs": probe_bad_inputs,
        "args": [*machine, load, str(image), "-nodefaults", "-display", "none",
                 "-monitor", "none", "-serial", f"file:{console}"],
    }
    result = run_helper("hypercall_guest.py", json.dumps(spec), timeout=60)
    text = console.read_text(errors="replace") if console.exists() else ""
    assert result.returncode == 0 and result_file.exists(), (
        f"rc={result.returncode}\n{result.stdout}\n{result.stderr}\nconsole:\n{text}")
    return json.loads(result_file.read_text()), text


@pytest.mark.parametrize("guest,boot", CASES, ids=CASE_IDS)
def test_hypercall_guest(stage, guest, boot, tmp_path):
    seen, console = run_guest(guest, boot.target, boot.machine, tmp_path)
    assert seen["verdict"] == 0, f"guest fail mask {seen['verdict']}\n{console}"
    calls32 = [c for c in seen["args"] if c[0] == NR_ARGS32]
    calls64 = [c for c in seen["args"] if c[0] == NR_ARGS64]
    assert len(calls32) == guest.args32 and len(calls64) == guest.args64, seen
    for call in seen["args"]:
        assert call[1:] in expected_args(guest, call[0]), f"arguments {call[1:]}"
    assert seen["nearmiss"] == 0, "a near miss reached the guest callback"
    # The sentinel from user mode (U-mode, EL0, USR, PLV3, ring 3) works the same.
    assert len(seen["user"]) == guest.user_calls, seen["user"]
    for call in seen["user"]:
        user_nr = NR_ARGS32 if guest.args32 and not guest.args64 else NR_ARGS64
        assert call[1:] in expected_args(guest, user_nr)
    assert seen["write"] == 1
    # The unregistered number reached the fallback, once, with its arguments.
    assert len(seen["unregistered"]) == 1, seen["unregistered"]
    unreg = seen["unregistered"][0]
    assert unreg[0] == NR_UNREG
    assert unreg[1:] in (A32, A64)


@pytest.mark.parametrize("guest,boot", CASES, ids=CASE_IDS)
def test_registers_and_env_inside_a_hypercall(stage, guest, boot, tmp_path):
    """CONTRACT section 5 from inside a callback: PC and a0..a5 read the same through
    penguin_read_guest_reg, the compiled env module and the ABI env header, and equal
    what the guest put there (a0 = the sentinel's own address). The writes through
    each path are checked by the guest (fail bit 0x40)."""
    seen, console = run_guest(guest, boot.target, boot.machine, tmp_path)
    assert seen["verdict"] == 0, f"guest fail mask {seen['verdict']}\n{console}"
    assert len(seen["state"]) == 1
    state = seen["state"][0]
    sentinel = state["args"][0]
    assert state["pc_reg"] == state["pc_module"] == state["pc_header"] == sentinel
    assert (state["args_reg"] == state["args_module"] == state["args_header"]
            == state["args"])
    expected = A32 if guest.args32 and not guest.args64 else A64
    assert state["args"][1:] == expected[1:]


@pytest.mark.parametrize("guest,boot", CASES, ids=CASE_IDS)
def test_bad_inputs_are_refused(stage, guest, boot, tmp_path):
    """NULL CPUs and buffers, unknown register numbers, short buffers, zero and wrong
    lengths: a negative return, nothing written, no crash (CONTRACT section 5)."""
    seen, console = run_guest(guest, boot.target, boot.machine, tmp_path,
                              probe_bad_inputs=True)
    probes = seen["bad_inputs"]
    for name, value in probes.items():
        if name.startswith(("read_", "write_")):
            assert value < 0, f"{name} returned {value}"
    assert probes["buf_untouched"] and probes["reg_untouched"]
    assert probes["env_of_null"]
    # The fallback declines 0xDEAD, so the dispatch reports "not handled".
    assert probes["dispatch_null_cpu"] is False and probes["dispatch_null_ret"] is False
    assert seen["verdict"] == 0, f"guest fail mask {seen['verdict']}\n{console}"
