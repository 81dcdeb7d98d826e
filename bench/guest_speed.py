#!/usr/bin/python3
"""Guest speed: the patched library against stock QEMU built from the same tarball.

Two workloads per architecture (mipsel, aarch64, riscv64, x86_64), both run unchanged by
the two builds:
  busy   a bare-metal load/add/xor/store loop (bench/guests/busy-<arch>.S) that ends by
         powering the machine off; CPU seconds (user + system) of the whole process,
         and user seconds alone
  linux  the smoke-boot kernel (tests/smoke) with its init built for benchmarks (no
         hypercall, which stock QEMU does not know; prints its line and powers off);
         wall seconds from exec to exit, CPU seconds and user seconds
User seconds are the fairest of the three: system time is mostly the host kernel zeroing
the guest's RAM and reading the kernel file, the same work for both builds, and it varies
by tens of percent from run to run with the host's transparent huge pages.
The library runs under bench/run_library.c, a C program doing what upstream's
system/main.c does, so no Python interpreter is in either measurement; the stock
executables come from `./build.sh --stock` (_build/build-stock). Runs alternate stock,
library, stock, ...; each figure is the median of --runs, and ratio = library / stock.
With --baseline-stage the other side is a second staged library tree instead of the stock
executables (default build against an optimised one, say).

The interval: each interleaved pair (one baseline run, then one library run, close in
time and so under the same host load) gives a ratio; the table prints the median of those
ratios and a distribution-free 95% confidence interval for it (order statistics of the
binomial(n, 1/2) distribution, as the sign test uses; no normality assumed). It needs at
least 6 pairs; 15 or more narrow it to a few percent on a quiet machine. An interval that
excludes 1.0 is a difference the runs can see.

usage: bench/guest_speed.py [--runs 5] [--arch A ...] [--workload busy|linux ...]
                            [--baseline-stage DIR]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

from hypercall_rate import INCLUDE, positive_int, sh  # noqa: E402  (bench/ is the script's own directory)
from smoke import initramfs  # noqa: E402
from smoke.boots import BY_NAME as SMOKE_ARCHES  # noqa: E402
from smoke.kernels import kernel_for  # noqa: E402

NO_RWX = "--no-warn-rwx-segments"
QUIET = ["-nodefaults", "-display", "none", "-monitor", "none"]


@dataclass(frozen=True)
class Arch:
    name: str                    # library name and stock qemu-system-<name>
    busy_build: list[str]        # shell; SRC, OBJ, OUT and ITER are substituted
    busy_image: str              # the file QEMU loads (OUT or OUT.bin)
    busy_args: list[str]         # machine and load option, before the image
    busy_status: int             # the exit status the busy guest ends with
    iterations: int              # busy-loop iterations: a few seconds of guest time


ARCHES = {
    "mipsel": Arch(
        "mipsel",
        [f"mipsel-linux-gnu-as -non_shared -march=mips32r2 -EL -I {INCLUDE} "
         "--defsym ITER=ITERS -o OBJ SRC",
         f"mipsel-linux-gnu-ld -N {NO_RWX} -EL -Ttext-segment=0x80100000 -e _start "
         "-o OUT OBJ"],
        "OUT", ["-M", "malta", "-vga", "none", "-nic", "none", "-no-reboot", "-kernel"], 0,
        2_000_000_000),
    "aarch64": Arch(
        "aarch64",
        [f"aarch64-linux-gnu-as -I {INCLUDE} --defsym ITER=ITERS -o OBJ SRC",
         f"aarch64-linux-gnu-ld -N {NO_RWX} -Ttext=0x40000000 -e _start -o OUT OBJ"],
        "OUT", ["-M", "virt", "-cpu", "cortex-a57", "-kernel"], 0, 2_000_000_000),
    "riscv64": Arch(
        "riscv64",
        [f"riscv64-linux-gnu-as -march=rv64imac -I {INCLUDE} --defsym ITER=ITERS "
         "-o OBJ SRC",
         f"riscv64-linux-gnu-ld -N {NO_RWX} -Ttext=0x80000000 -e _start -o OUT OBJ"],
        "OUT", ["-M", "virt", "-bios", "none", "-kernel"], 0, 2_000_000_000),
    "x86_64": Arch(
        "x86_64",
        [f"as --32 -I {INCLUDE} --defsym ITER=ITERS -o OBJ SRC",
         f"ld -m elf_i386 -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
         "objcopy -O binary OUT.elf OUT.bin"],
        "OUT.bin", ["-M", "pc", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-bios"],
        33,
        2_000_000_000),
}


@dataclass(frozen=True)
class Sample:
    wall: float
    user: float                  # CPU seconds in QEMU's own code (and the libraries')
    system: float                # CPU seconds in the host kernel: page zeroing, file reads

    @property
    def cpu(self) -> float:
        return self.user + self.system


def build_runner(workdir: Path) -> Path:
    runner = workdir / "run_library"
    sh(f"gcc -O2 -Wall -Wextra -Werror -o {runner} {HERE / 'run_library.c'} -ldl")
    return runner


def build_busy(arch: Arch, workdir: Path) -> Path:
    out = workdir / f"busy-{arch.name}"
    subst = {"SRC": str(HERE / "guests" / f"busy-{arch.name}.S"), "OBJ": f"{out}.o",
             "OUT": str(out), "ITERS": str(arch.iterations)}
    for command in arch.busy_build:
        for key, value in subst.items():
            command = command.replace(key, value)
        sh(command)
    return Path(arch.busy_image.replace("OUT", str(out)))


def linux_args(arch: Arch, workdir: Path, firmware: Path) -> tuple[list[str], Path]:
    """QEMU arguments of the smoke boot whose init powers off, and its console file."""
    smoke = SMOKE_ARCHES[arch.name]
    # The SDK header where the release installs it, which is where init.c looks.
    include = workdir / "include"
    if not include.exists():
        (include / "penguin-qemu" / "guest").mkdir(parents=True)
        (include / "penguin-qemu" / "guest" / "penguin-hypercall.h").symlink_to(
            REPO / "guest" / "include" / "penguin-hypercall.h")
    init = smoke.build_init(include, bench=True)
    initrd = initramfs.write(init, workdir / f"initrd-{arch.name}.gz")
    console = workdir / f"console-{arch.name}.txt"
    args = [*smoke.machine, "-kernel", str(kernel_for(arch.name).path),
            "-initrd", str(initrd), "-append", smoke.cmdline(), "-L", str(firmware),
            *QUIET, "-no-reboot", "-serial", f"file:{console}"]
    return args, console


def measure(cmd: list[str], status: int) -> Sample:
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, wait_status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(wait_status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != status:
        raise SystemExit(f"{cmd[0]} exited {proc.returncode}, not {status}:\n{err}")
    return Sample(wall, usage.ru_utime, usage.ru_stime)


def compare(stock: list[str], library: list[str], status: int, runs: int,
            check=None) -> dict[str, list[Sample]]:
    samples: dict[str, list[Sample]] = {"stock": [], "library": []}
    for _ in range(runs):
        for kind, cmd in (("stock", stock), ("library", library)):
            samples[kind].append(measure(cmd, status))
            if check:
                check()
    return samples


def median(samples: list[Sample], field: str) -> float:
    return statistics.median(getattr(s, field) for s in samples)


def median_interval(values: list[float], confidence: float = 0.95) -> tuple[float, float]:
    """A distribution-free interval for the median of values: the k-th smallest and
    k-th largest, with k the largest index whose binomial(n, 1/2) tails leave at least
    `confidence` between them. (nan, nan) when n is too small for any such k."""
    ordered, n = sorted(values), len(values)
    tail, k = 0.0, 0
    while True:
        tail += math.comb(n, k) / 2 ** n     # P(X <= k) after this step
        if 2 * tail > 1 - confidence:
            break
        k += 1
    if k == 0:
        return math.nan, math.nan
    return ordered[k - 1], ordered[n - k]


def row(arch: str, workload: str, field: str, samples: dict[str, list[Sample]]) -> str:
    stock, library = median(samples["stock"], field), median(samples["library"], field)
    ratios = [getattr(lib, field) / getattr(base, field)
              for base, lib in zip(samples["stock"], samples["library"])]
    lo, hi = median_interval(ratios)
    return (f"| {arch} | {workload} | {field} | {stock:.3f} | {library:.3f} | "
            f"{library / stock:.3f} | {statistics.median(ratios):.3f} | "
            f"{lo:.3f}-{hi:.3f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=positive_int, default=5)
    p.add_argument("--arch", action="append", choices=sorted(ARCHES))
    p.add_argument("--workload", action="append", choices=["busy", "linux"])
    p.add_argument("--stage", type=Path, default=REPO / "dist" / "stage")
    p.add_argument("--stock-dir", type=Path, default=REPO / "_build" / "build-stock")
    p.add_argument("--baseline-stage", type=Path,
                   help="compare against this staged tree's libraries, not stock QEMU")
    p.add_argument("--firmware", type=Path,
                   default=REPO / "_build" / "firmware" / "share" / "qemu")
    args = p.parse_args(argv)
    arches = args.arch or sorted(ARCHES)
    for name in arches:
        baseline = (args.baseline_stage / "lib" / f"libqemu-system-{name}.so"
                    if args.baseline_stage else args.stock_dir / f"qemu-system-{name}")
        for path, fix in ((baseline, "./build.sh --stock, or stage that tree"),
                          (args.stage / "lib" / f"libqemu-system-{name}.so", "./build.sh")):
            if not path.exists():
                p.error(f"{path} is missing: run {fix} first")
    base_name = "baseline" if args.baseline_stage else "stock"
    print(f"# {time.strftime('%Y-%m-%d')} on {platform.node()}: {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}, {args.runs} interleaved pairs, "
          f"medians; ratio = library / {base_name}; "
          "95% interval of the pairs' median ratio")
    print(f"| arch | workload | measure | {base_name} s | library s | ratio of medians | "
          "median ratio | 95% interval |")
    print("|---|---|---|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="guest-speed-") as tmp:
        workdir = Path(tmp)
        runner = build_runner(workdir)
        for name in arches:
            arch = ARCHES[name]
            library = [str(runner), str(args.stage / "lib" / f"libqemu-system-{name}.so")]
            if args.baseline_stage:
                stock = [str(runner),
                         str(args.baseline_stage / "lib" / f"libqemu-system-{name}.so")]
            else:
                stock = [str(args.stock_dir / f"qemu-system-{name}")]
            for workload in args.workload or ["busy", "linux"]:
                if workload == "busy":
                    qemu_args = [*arch.busy_args, str(build_busy(arch, workdir)), *QUIET,
                                 "-L", str(args.firmware)]
                    samples = compare(stock + qemu_args, library + qemu_args,
                                      arch.busy_status, args.runs)
                    for field in ("cpu", "user"):
                        print(row(name, "busy loop", field, samples), flush=True)
                else:
                    qemu_args, console = linux_args(arch, workdir, args.firmware)

                    def reached_init(console: Path = console) -> None:
                        if "PENGUIN-SMOKE ret=" not in console.read_text(errors="replace"):
                            raise SystemExit(f"{name}: the Linux boot did not reach init")

                    samples = compare(stock + qemu_args, library + qemu_args, 0, args.runs,
                                      reached_init)
                    for field in ("wall", "cpu", "user"):
                        print(row(name, "Linux boot", field, samples), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
