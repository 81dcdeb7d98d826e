"""Edge coverage (penguin_coverage_*, Qemu.coverage) on every target: the map a known
control-flow graph leaves, counter by counter, against the model of penguin.h written
again in tests/guests/coverage.py; laps and their figures; two vCPUs; the translated code
with coverage off; every refusal.

The bare-metal guests are tests/guests/coverage-*.S (COVERAGE.md). One boot per target
runs three laps: an input, the same input again (the same map, nothing new), and the
input with its last branch flipped (the edges and counts that follow from it)."""

from __future__ import annotations

import ctypes
import json
import re
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from conftest import run_helper, stage_lib
from guests.coverage import (BLOCKS, COVERAGE_GUESTS, SMP_GUESTS, SMP_INPUTS, SMP_RUNS,
                             Virgin, as_map, edge_counts, path)
from guests.guests import Boot, Guest

CASES = [(g, g.boots[0]) for g in COVERAGE_GUESTS]
# Every bit odd, then the last one even: the third lap takes the even branch for the
# first time (new edges), and the odd branch's counters change bucket (16 to 15 hits).
INPUT = 0x0000FFFF
INPUTS = [INPUT, INPUT, INPUT ^ (1 << 15)]
# Map sizes across the allowed span: the smallest makes edges share counters.
MAP_SIZES = {"arm": 256, "mips64": 16 << 20, "riscv64": 1024, "ppc": 4096}
DEFAULT_SIZE = 65536


def run_guest(guest: Guest, boot: Boot, workdir: Path, scenario: str,
              extra: tuple[str, ...] = (), timeout: float = 60, **spec_extra) -> dict:
    console, result_file = workdir / "console.txt", workdir / "result.json"
    spec = {"library": str(stage_lib(boot.target)), "name": boot.target,
            "result": str(result_file), "scenario": scenario, "timeout": timeout,
            "args": [*boot.machine, *extra, guest.load, str(guest.build()), "-nodefaults",
                     "-display", "none", "-monitor", "none", "-serial",
                     f"file:{console}"], **spec_extra}
    proc = run_helper("coverage_guest.py", json.dumps(spec), timeout=timeout + 30)
    assert proc.returncode == 0 and result_file.exists(), (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(result_file.read_text())
    assert "error" not in result, result["error"]
    assert not result.get("timed_out"), result
    return result


def counters(raw: dict) -> dict[int, int]:
    return {int(i): n for i, n in raw.items()}


def guest_sum(value: int) -> int:
    return sum(2 if value >> i & 1 else 1 for i in range(16))


@pytest.mark.parametrize("guest,boot", CASES, ids=[b.target for _, b in CASES])
def test_edges_are_exactly_the_graphs(stage, guest, boot, tmp_path):
    size = MAP_SIZES.get(boot.target, DEFAULT_SIZE)
    result = run_guest(guest, boot, tmp_path, "laps", inputs=INPUTS, map_size=size)
    blocks = dict(zip(BLOCKS, result["blocks"]))
    laps = result["laps"]
    assert len(laps) == len(INPUTS), laps
    virgin = Virgin({})
    ran: set[int] = set()
    for n, (lap, value) in enumerate(zip(laps, INPUTS)):
        ran |= set(path(blocks, value))
        assert lap["sum"] == guest_sum(value)
        expected = as_map(edge_counts(path(blocks, value), size)[0])
        got = counters(lap["counters"])
        assert got == expected, f"lap {n}: {boot.target} map differs from the model"
        figures = lap["figures"]
        model = virgin.lap(expected)
        assert {k: figures[k] for k in model} == model, (n, figures, model)
        # Each of the graph's blocks run so far, translated once since the arm; the
        # code before and after it passed over by the range.
        assert figures["tbs_instrumented"] == len(ran), figures
        assert figures["tbs_filtered"] > 0, figures
    # Two runs on one input: equal, nothing new; one branch more: new edges.
    assert laps[0]["counters"] == laps[1]["counters"]
    assert laps[1]["figures"]["new_edges"] == laps[1]["figures"]["new_buckets"] == 0
    assert set(laps[2]["counters"]) > set(laps[0]["counters"])
    assert laps[2]["figures"]["new_edges"] == 2           # loop -> even -> join
    assert laps[2]["figures"]["new_buckets"] > 2


@pytest.mark.parametrize("guest", SMP_GUESTS, ids=[g.boots[0].target for g in SMP_GUESTS])
def test_two_vcpus_each_keep_their_own_edges(stage, guest, tmp_path):
    """Two vCPUs run different copies of the graph at once (MTTCG): the map is the sum
    of each vCPU's own edges, none lost and none made of one vCPU's block followed by
    the other's (which one previous location for every vCPU would give)."""
    boot, size = guest.boots[0], DEFAULT_SIZE
    with open(guest.build(), "rb") as f:
        symbols = {s.name: s["st_value"]
                   for s in ELFFile(f).get_section_by_name(".symtab").iter_symbols()}
    copies = [{b: symbols[f"{p}_{b}"] for b in BLOCKS} for p in ("cfg", "two")]
    result = run_guest(guest, boot, tmp_path, "smp", map_size=size,
                       ranges=[[c["start"], c["exit"] + 1] for c in copies])
    assert result["done"] == {"0": guest_sum(SMP_INPUTS[0]), "1": guest_sum(SMP_INPUTS[1])}
    expected = []
    for blocks, value in zip(copies, SMP_INPUTS):
        seq = path(blocks, value) * SMP_RUNS
        expected.append(edge_counts(seq, size)[0])
    assert not set(expected[0]) & set(expected[1]), "the copies share a counter"
    assert counters(result["counters"]) == as_map(expected[0] + expected[1])


# -- translated code with coverage off ----------------------------------------------

OPS_TARGETS = ("mipsel", "aarch64", "x86_64")


def translations(log: str) -> dict[int, list[str]]:
    """-d op's listings of each translation block, in the order translated, by its first
    guest address's page offset (PC-relative blocks list offsets only)."""
    blocks: dict[int, list[str]] = {}
    for text in log.split("OP:\n")[1:]:
        # exit_tb's operand is the host address of the block it leaves.
        text = re.sub(r"exit_tb \$0x[0-9a-f]+", "exit_tb", text)
        m = re.search(r"^ -{4} ([0-9a-f]+)", text, re.M)
        if m:
            blocks.setdefault(int(m.group(1), 16) & 0xFFF, []).append(text)
    return blocks


@pytest.mark.parametrize("target", OPS_TARGETS)
def test_unarmed_coverage_translates_nothing_of_its_own(stage, target, tmp_path):
    """-d op of the graph's blocks, which the laps translate three times: before
    coverage was ever armed, armed (the arm flushed the code) and disarmed (flushed
    again). Before and after are op for op the same; armed, each has the edge's ops in
    front of the guest's first instruction."""
    guest, boot = next((g, b) for g, b in CASES if b.target == target)
    log = tmp_path / "ops.log"
    result = run_guest(guest, boot, tmp_path, "ops", extra=("-d", "op", "-D", str(log)),
                       inputs=[0x5555] * 3)       # every block in every lap
    blocks = translations(log.read_text())
    for pc in result["blocks"]:
        listings = blocks[pc & 0xFFF]
        assert len(listings) == 3, f"block {pc:#x} translated {len(listings)} times"
        before, armed, after = listings
        assert before == after, f"block {pc:#x} differs once disarmed"
        prologue = armed.split(" ----", 1)[0]
        assert "ld8u_i32" in prologue and "st8_i32" in prologue, armed
        assert "ld8u_i32" not in before.split(" ----", 1)[0]


# -- refusals -------------------------------------------------------------------------

def test_bad_input_is_refused_with_a_reason(stage, tmp_path):
    guest, boot = next((g, b) for g, b in CASES if b.target == "riscv64")
    result = run_guest(guest, boot, tmp_path, "errors", inputs=[INPUT])
    bad = result["bad"]
    for key in ("size_odd", "size_small", "size_large", "size_zero"):
        assert bad[key][0] == -22 and "power of two" in bad[key][1], (key, bad[key])
    for key in ("range_reversed", "range_empty"):
        assert bad[key][0] == -22 and "start must be below its end" in bad[key][1], bad[key]
    assert bad["lane_filter_reversed"][0] is False
    assert "start must be below its end" in bad["lane_filter_reversed"][1]
    assert bad["mode"][0] == -22 and "mode 7" in bad["mode"][1]
    assert bad["lap_before_arm"][0] == -2 and "never armed" in bad["lap_before_arm"][1]
    assert bad["lap_null"][0] == -22 and bad["lap_negative"][0] == -22
    assert bad["fd_before_arm"][0] == -2 and "no memfd" in bad["fd_before_arm"][1]
    assert bad["map_before_arm"] is True
    assert bad["follow_before_init"][0] == -19 and "no CPU yet" in bad[
        "follow_before_init"][1]
    assert bad["space_null"][0] == -22
    assert bad["cmplog_written_null"][0] == -22
    assert bad["range_too_many"][0] == -28 and "at most 64" in bad["range_too_many"][1]
    assert bad["size_ok"] == [0, ""] and bad["arm"] == [0, ""]
    assert bad["size_after_arm"][0] == -16 and "since coverage was first armed" in bad[
        "size_after_arm"][1]
    assert bad["lane_size_after_arm"][0] is False
    assert bad["same_size_after_arm"] == [0, ""]
    # The caller closed one descriptor of the map: the other still shows every counter.
    first, second, distinct = result["fds"]
    assert distinct, result["fds"]
    lap = result["laps"][0]
    assert lap["counters"] and result["through_fd"] == lap["counters"]
    # The fast-snapshot restore hook: nothing while clear-on-restore is off; with it on,
    # the map cleared, and a lap ended only if nobody ended it.
    hook = result["restore_hook"]
    assert hook["off"] == len(lap["counters"])
    assert hook["ended"] == [0, {}]
    assert hook["open"] == [1, {}, 1, 3]


SHM_SIZE = 65536


def test_afl_shared_memory_is_the_map(stage, tmp_path):
    """With __AFL_SHM_ID, the map is that System V segment: what the guest left is in
    it for the fuzzer that made it; a removed segment and a bad id are refused."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    ipc_private, ipc_creat, ipc_rmid = 0, 0o1000, 0
    guest, boot = next((g, b) for g, b in CASES if b.target == "mipsel")
    shm = libc.shmget(ipc_private, SHM_SIZE, ipc_creat | 0o600)
    assert shm >= 0
    try:
        spec = {"library": str(stage_lib(boot.target)), "name": boot.target}
        shared = run_shm(spec, tmp_path, str(shm), guest, boot)
        addr = libc.shmat(shm, None, 0)
        data = ctypes.string_at(addr, SHM_SIZE)
        libc.shmdt(ctypes.c_void_p(addr))
        seen = {i: n for i, n in enumerate(data) if n}
        assert seen == counters(shared["laps"][0]["counters"]) and seen
    finally:
        libc.shmctl(shm, ipc_rmid, None)
    removed = arm_only(spec, tmp_path, str(shm))
    assert removed["arm"][0] in (-22, -43) and f"__AFL_SHM_ID={shm}" in removed["arm"][1]
    assert removed["map"] == 0
    garbage = arm_only(spec, tmp_path, "12x")
    assert garbage["arm"][0] == -22 and "not a System V" in garbage["arm"][1]


def run_shm(spec: dict, tmp_path: Path, shm_id: str, guest: Guest, boot: Boot) -> dict:
    result_file = tmp_path / "shm.json"
    full = {**spec, "result": str(result_file), "scenario": "laps", "inputs": [INPUT],
            "map_size": SHM_SIZE, "timeout": 60,
            "args": [*boot.machine, guest.load, str(guest.build()), "-nodefaults",
                     "-display", "none", "-monitor", "none", "-serial", "none"]}
    proc = run_helper("coverage_guest.py", json.dumps(full), timeout=90,
                      env={"__AFL_SHM_ID": shm_id})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(result_file.read_text())
    assert "error" not in result, result["error"]
    assert result["laps"][0]["counters"], result
    assert result["fd"][0] == -2 and "System V" in result["fd"][1], result["fd"]
    return result


def arm_only(spec: dict, tmp_path: Path, shm_id: str) -> dict:
    result_file = tmp_path / "arm.json"
    full = {**spec, "result": str(result_file), "scenario": "arm-only"}
    proc = run_helper("coverage_guest.py", json.dumps(full), timeout=30,
                      env={"__AFL_SHM_ID": shm_id})
    assert proc.returncode == 0, proc.stderr
    return json.loads(result_file.read_text())
