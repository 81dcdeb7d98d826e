#!/usr/bin/env python3
"""QEMU's own system-mode TCG tests (tests/tcg) run through the staged libraries.

QEMU's configure writes tests/tcg/<target>-softmmu/config-target.mak in the build
directory for every target whose tests a cross compiler on the machine can build
(aarch64, arm, riscv64 and x86_64 with test.sh's packages and configs/features.conf).
For each of them this runs `make run-tcg-tests-<target>-softmmu` in the build directory
with QEMU= pointing at a small wrapper, qemu-system-<target>, that runs
bench/run_library.c's program on dist/stage/lib/libqemu-system-<target>.so with
-L dist/stage/share/qemu: the tests and their plugin runs (tests/tcg/plugins, built
with ninja) see the library as they would see the executable. Prints one summary line
a target and the failures; the status is 1 when a test failed or did not build.

    penguin-tcg-tests.py                          every configured target of the list
    penguin-tcg-tests.py --targets riscv64        one target
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_TARGETS = "aarch64,arm,riscv64,x86_64"
# tests/tcg's own limit is 120 s of wall time a test. test.sh runs the tests at the
# lowest CPU priority beside pytest, where a test may wait long for a core: a hung test
# is stopped by its CPU time instead (ulimit -t in the wrapper; every test needs well
# under a CPU second on the library), and the wall time limit is only for a test that
# hangs without spinning.
CPU_LIMIT = 60
TIMEOUT = 1200
# Seconds the gdb wrapper waits for QEMU's gdbstub socket (write_gdb_wrapper).
GDB_WAIT = 120
# Make arguments of a target. arm: Debian 12's gcc-arm-linux-gnueabi (configure's
# --cross-prefix-arm, configs/features.conf) defaults to ARMv5TE, which has no isb for
# the tests' boot code; configure refuses -march=armv7-a in --cross-cc-cflags-arm (no =
# in a value), so it is given here, with the two flags tests/tcg adds for system tests
# (a command-line EXTRA_CFLAGS replaces the makefiles' value).
MAKE_ARGS = {
    "arm": ["EXTRA_CFLAGS=-march=armv7-a -ffreestanding -fno-stack-protector"],
}
TEST_LINE = re.compile(r"^\s+TEST\s+(.*) on (\S+)$")
FAILED_LINE = re.compile(r"\*\*\* \[[^\]]*?:\s*([^\]:]+)\] (.*)$")
SKIPPED_LINE = re.compile(r"^\s+SKIPPED\s+(.*)$")


@dataclass
class Result:
    target: str
    seconds: float = 0.0
    runs: list[str] = field(default_factory=list)      # TEST lines: runs and checks
    failed: list[str] = field(default_factory=list)    # make targets that failed
    skipped: list[str] = field(default_factory=list)
    note: str = ""                                     # why the target did not run

    def summary(self) -> str:
        if self.note:
            return f"{self.target:8} not run: {self.note}"
        plugin = sum(1 for r in self.runs if "-with-lib" in r)
        line = (f"{self.target:8} {len(self.runs) - len(self.failed)} of "
                f"{len(self.runs)} passed ({plugin} plugin runs), "
                f"{len(self.skipped)} skipped by tests/tcg, {self.seconds:.0f} s")
        if self.failed:
            line += "; FAILED: " + ", ".join(self.failed)
        return line


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def build_runner(out: Path) -> Path:
    """bench/run_library.c as a program, rebuilt when its source is newer."""
    runner, src = out / "run_library", REPO / "bench" / "run_library.c"
    if not runner.exists() or runner.stat().st_mtime < src.stat().st_mtime:
        run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(runner), str(src),
             "-ldl"])
    return runner


def write_wrapper(out: Path, runner: Path, stage: Path, target: str,
                  cpu_limit: int) -> Path:
    """qemu-system-<target>: the staged library run as the executable would be."""
    wrapper = out / "bin" / f"qemu-system-{target}"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    lib = stage / "lib" / f"libqemu-system-{target}.so"
    wrapper.write_text("#!/bin/sh\n"
                       f"ulimit -t {cpu_limit}\n"
                       f'exec "{runner}" "{lib}" -L "{stage}/share/qemu" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def write_gdb_wrapper(out: Path, gdb: str, wait: float = GDB_WAIT) -> Path:
    """gdb that starts once the gdbstub's socket listens.

    tests/guest-debug/run-test.py starts QEMU, sleeps one second and starts gdb with
    `-ex 'target remote SOCKET'`; at nice 19 beside pytest, the library may not have
    opened the socket by then, and gdb fails the test at once. The wrapper waits for
    SOCKET to listen (/proc/net/unix: flags 00010000) for up to WAIT seconds, then runs
    gdb as it was asked (gdb reports a socket that never came).
    """
    wrapper = out / "bin" / "gdb"
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    wrapper.write_text(
        "#!/bin/sh\n"
        "for arg; do\n"
        '    case "$arg" in "target remote "*) socket=${arg#target remote };; esac\n'
        "done\n"
        f"tries={max(1, round(wait * 10))}\n"
        'while [ -n "$socket" ] && [ "$tries" -gt 0 ] && ! awk -v s="$socket" \\\n'
        "        '$4 == \"00010000\" && $8 == s { found = 1 } END { exit !found }' \\\n"
        "        /proc/net/unix; do\n"
        "    tries=$((tries - 1))\n"
        "    sleep 0.1\n"
        "done\n"
        f'exec "{gdb}" "$@"\n')
    wrapper.chmod(0o755)
    return wrapper


def parse(result: Result, output: str) -> None:
    """The runs, failures and skips of one target's make output."""
    for line in output.splitlines():
        if m := TEST_LINE.match(line):
            what = m.group(1)
            if not what.startswith("check plugin"):
                result.runs.append(what)
        elif m := FAILED_LINE.search(line):
            name = m.group(1).strip()
            if name.startswith(("run-tcg-tests-", "build-tcg-tests-")) or name == "run":
                continue     # the recursive makes above the test that failed
            # run-NAME and run-plugin-NAME print their TEST line as NAME.
            name = name.removeprefix("run-plugin-").removeprefix("run-")
            if name not in result.failed:
                result.failed.append(name)
        elif m := SKIPPED_LINE.match(line):
            result.skipped.append(m.group(1))
    # A build failure stops the target before its runs: count it as a failed run.
    for name in result.failed:
        if name not in result.runs:
            result.runs.append(name)


def config_value(config: Path, name: str) -> str:
    """NAME's value in a config-target.mak, or "" when it has none."""
    for line in config.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip()
    return ""


def run_target(build: Path, out: Path, wrapper: Path, target: str, jobs: int,
               timeout: int) -> Result:
    result = Result(target)
    config = build / "tests" / "tcg" / f"{target}-softmmu" / "config-target.mak"
    if not config.exists():
        result.note = (f"QEMU's configure found no cross compiler for {target} "
                       f"({config.relative_to(build)} is missing)")
        return result
    log = out / f"{target}.log"
    make_args = [f"QEMU={wrapper}", f"TIMEOUT={timeout}", *MAKE_ARGS.get(target, [])]
    if gdb := config_value(config, "GDB"):
        make_args.append(f"GDB={write_gdb_wrapper(out, gdb)}")
    start = time.monotonic()
    proc = subprocess.run(
        ["make", "-C", str(build), "-k", f"-j{jobs}", f"run-tcg-tests-{target}-softmmu",
         *make_args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env=dict(os.environ, LC_ALL="C"))
    result.seconds = time.monotonic() - start
    log.write_text(proc.stdout)
    parse(result, proc.stdout)
    if proc.returncode != 0 and not result.failed:
        result.failed.append(f"make status {proc.returncode} (log: {log})")
    return result


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--build-dir", type=Path, default=REPO / "_build" / "build-system")
    p.add_argument("--stage", type=Path, default=REPO / "dist" / "stage")
    p.add_argument("--out", type=Path, default=REPO / "_build" / "tcg-tests",
                   help="the runner, the wrappers and one make log a target")
    p.add_argument("--targets", default=DEFAULT_TARGETS,
                   help=f"comma-separated QEMU targets (default {DEFAULT_TARGETS})")
    p.add_argument("--jobs", type=int, default=2, help="make -j of each target")
    p.add_argument("--cpu-limit", type=int, default=CPU_LIMIT,
                   help=f"CPU seconds a test may use (default {CPU_LIMIT})")
    p.add_argument("--timeout", type=int, default=TIMEOUT,
                   help=f"wall seconds a test may take (default {TIMEOUT})")
    args = p.parse_args(argv)
    build, stage, out = args.build_dir.resolve(), args.stage.resolve(), args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    # The plugins the plugin runs load (ninja's test-plugins alias).
    run(["ninja", "-C", str(build), "test-plugins"], stdout=subprocess.DEVNULL)
    runner = build_runner(out)
    results = []
    for target in args.targets.split(","):
        lib = stage / "lib" / f"libqemu-system-{target}.so"
        if not lib.exists():
            results.append(Result(target, note=f"{lib} is missing: run ./build.sh"))
            continue
        wrapper = write_wrapper(out, runner, stage, target, args.cpu_limit)
        results.append(run_target(build, out, wrapper, target, args.jobs, args.timeout))
        print(results[-1].summary(), flush=True)
    print(f"QEMU TCG tests (system mode, through the libraries) in "
          f"{time.monotonic() - start:.0f} s; logs in {out}:")
    for result in results:
        print("  " + result.summary())
    for result in results:
        if result.failed:
            log = (out / f"{result.target}.log").read_text().splitlines()
            print(f"== {result.target}: the end of {out / result.target}.log")
            print("\n".join(log[-40:]))
    return 1 if any(r.failed or r.note for r in results) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
