#!/usr/bin/python3
"""Guest speed with edge coverage and compare tracking armed, against the same library
with neither: the smoke Linux boot of bench/guest_speed.py (its init powers off), with
everything the guest runs instrumented (no filter: the most the tracking can cost).

Each run is bench/run_library.c with PENGUIN_BENCH_ARM unset, "coverage" or "cmplog"
(armed before qemu_init); runs alternate plain, coverage, cmplog, ...; each figure is
the median of --runs, and ratio = armed / plain. User seconds are the fairest figure
(bench/guest_speed.py says why). The goals (issue 24): coverage 1.3x, cmplog 2x at most.

usage: bench/coverage_overhead.py [--runs 5] [--arch A ...] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

from guest_speed import ARCHES, build_runner, linux_args, measure, median  # noqa: E402
from hypercall_rate import positive_int  # noqa: E402

VARIANTS = ("plain", "coverage", "cmplog")


def run_variant(variant: str, cmd: list[str], console: Path) -> object:
    if variant == "plain":
        os.environ.pop("PENGUIN_BENCH_ARM", None)
    else:
        os.environ["PENGUIN_BENCH_ARM"] = variant
    sample = measure(cmd, 0)
    if "PENGUIN-SMOKE ret=" not in console.read_text(errors="replace"):
        raise SystemExit(f"{cmd}: the Linux boot did not reach init ({variant})")
    return sample


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=positive_int, default=5)
    p.add_argument("--arch", action="append", choices=sorted(ARCHES))
    p.add_argument("--stage", type=Path, default=REPO / "dist" / "stage")
    p.add_argument("--firmware", type=Path,
                   default=REPO / "_build" / "firmware" / "share" / "qemu")
    args = p.parse_args(argv)
    print(f"# {time.strftime('%Y-%m-%d')} on {platform.node()}: {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}, {args.runs} runs each, medians")
    print("| arch | measure | plain s | coverage s | ratio | cmplog s | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="coverage-overhead-") as tmp:
        workdir = Path(tmp)
        runner = build_runner(workdir)
        for name in args.arch or sorted(ARCHES):
            library = [str(runner), str(args.stage / "lib" / f"libqemu-system-{name}.so")]
            qemu_args, console = linux_args(ARCHES[name], workdir, args.firmware)
            samples: dict[str, list] = {v: [] for v in VARIANTS}
            for _ in range(args.runs):
                for variant in VARIANTS:
                    samples[variant].append(run_variant(variant, library + qemu_args,
                                                        console))
            for field in ("wall", "user"):
                plain, cov, cmp = (median(samples[v], field) for v in VARIANTS)
                print(f"| {name} | {field} | {plain:.3f} | {cov:.3f} | {cov / plain:.3f} | "
                      f"{cmp:.3f} | {cmp / plain:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
