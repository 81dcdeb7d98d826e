"""TCG plugins and edge coverage together: a plugin built against the qemu-plugin.h the
release ships (include/penguin-qemu/qemu-plugin.h), loaded with -plugin into a library
run from Python, counts the executions of the coverage guest's blocks while coverage
records the same blocks' edges: both see every block."""

from __future__ import annotations

import subprocess

from elftools.elf.elffile import ELFFile

from conftest import REPO
from guests.coverage import BLOCKS, COVERAGE_GUESTS
from test_coverage import INPUTS, counters, run_guest

GUEST = next(g for g in COVERAGE_GUESTS if g.name == "coverage-aarch64")


def build_plugin(stage, out) -> str:
    header_dir = stage / "include" / "penguin-qemu"
    assert (header_dir / "qemu-plugin.h").is_file(), "the release has no qemu-plugin.h"
    glib = subprocess.run(["pkg-config", "--cflags", "glib-2.0"], check=True,
                          capture_output=True, text=True).stdout.split()
    source = REPO / "tests" / "plugins" / "count-blocks.c"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror",
                    *glib, f"-I{header_dir}", "-o", str(out), str(source)], check=True)
    return str(out)


def test_a_plugin_counts_the_blocks_coverage_records(stage, tmp_path):
    plugin = build_plugin(stage, tmp_path / "count-blocks.so")
    with open(GUEST.build(), "rb") as f:
        symbols = {s.name: s["st_value"]
                   for s in ELFFile(f).get_section_by_name(".symtab").iter_symbols()}
    lo, hi = symbols["cfg_start"], symbols["cfg_exit"] + 1
    result = run_guest(GUEST, GUEST.boots[0], tmp_path, "laps", inputs=INPUTS,
                       extra=("-plugin", f"{plugin},lo={lo:x},hi={hi:x}"), plugin=plugin)
    runs = [lap["plugin_blocks"] for lap in result["laps"]]
    blocks_per_run = 2 + 3 * 16            # start, 16 x (loop, even or odd, join), exit
    assert runs == [blocks_per_run * n for n in range(1, len(INPUTS) + 1)], runs
    for lap in result["laps"]:
        assert sum(counters(lap["counters"]).values()) == blocks_per_run
        assert lap["figures"]["hits"] == blocks_per_run
        assert lap["figures"]["tbs_instrumented"] <= len(BLOCKS)
