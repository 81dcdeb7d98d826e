#!/usr/bin/python3
"""Train an instrumented build (gcc -fprofile-generate) for ./build.sh --optimize=pgo.

Every Penguin architecture name of the targets given boots its smoke-boot Linux kernel
(tests/smoke: the kernel Penguin's users boot on that machine, an init that prints its
line and powers the machine off) through the instrumented libqemu-system-<target>.so of
the build folder, run as a program by bench/run_library.c (what upstream's main does).
Each run's exit writes the profile counts (.gcda files beside the build's objects; gcc
adds runs of one object together). A boot that does not reach init fails the training:
a profile of a guest that never got there would teach the compiler the wrong paths.
A target none of whose names has a smoke boot (32-bit ppc) is named and left untrained.

usage: penguin-pgo-train.py --build-dir DIR --firmware DIR TARGET...
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))

import penguin_arches  # noqa: E402  (scripts/ is this script's own directory)
from smoke import initramfs  # noqa: E402
from smoke.boots import BY_NAME as SMOKE_ARCHES  # noqa: E402
from smoke.kernel import KernelError  # noqa: E402
from smoke.kernels import kernel_for  # noqa: E402

QUIET = ["-nodefaults", "-display", "none", "-monitor", "none"]
# An instrumented boot runs at about half speed; the slowest smoke boot takes 20 s.
BOOT_TIMEOUT_S = 600
REACHED_INIT = "PENGUIN-SMOKE ret="


class TrainingError(Exception):
    pass


def build_runner(workdir: Path) -> Path:
    runner = workdir / "run_library"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(runner),
                    str(REPO / "bench" / "run_library.c"), "-ldl"], check=True)
    return runner


def sdk_include(workdir: Path) -> Path:
    """The guest SDK header where the release installs it, which is where init.c looks."""
    include = workdir / "include"
    guest = include / "penguin-qemu" / "guest"
    guest.mkdir(parents=True, exist_ok=True)
    (guest / "penguin-hypercall.h").symlink_to(
        REPO / "guest" / "include" / "penguin-hypercall.h")
    return include


def names_of(target: str) -> list[str]:
    """The Penguin names built from a QEMU target that have a smoke boot (none for a
    target whose names have no smoke boot, such as 32-bit ppc)."""
    arches = [a for a in penguin_arches.by_mode("system") if a.target == target]
    if not arches:
        raise TrainingError(f"'{target}' is not a target of configs/arches.tsv")
    return [a.name for a in arches if a.name in SMOKE_ARCHES]


def plan_of(targets: list[str]) -> list[tuple[str, str]]:
    """(target, name) for every boot to run; a target without a smoke boot is named and
    left untrained (gcc optimises its own files without a profile; the files it shares
    with other targets get theirs)."""
    plan = []
    for target in targets:
        names = names_of(target)
        if not names:
            print(f"pgo-train: {target}: no smoke boot runs on it, so its own code is "
                  "built without a profile", flush=True)
        plan += [(target, name) for name in names]
    if not plan:
        raise TrainingError(f"no smoke boot runs on any of {', '.join(targets)}: "
                            "nothing to train on")
    return plan


def boot(runner: Path, library: Path, name: str, workdir: Path, include: Path,
         firmware: Path) -> float:
    """One smoke boot of name through library; its wall seconds."""
    smoke = SMOKE_ARCHES[name]
    init = smoke.build_init(include, bench=True)
    initrd = initramfs.write(init, workdir / f"initrd-{name}.gz")
    console = workdir / f"console-{name}.txt"
    cmd = [str(runner), str(library), *smoke.machine, "-kernel",
           str(kernel_for(name).path), "-initrd", str(initrd), "-append", smoke.cmdline(),
           "-L", str(firmware), *QUIET, "-no-reboot", "-serial", f"file:{console}"]
    start = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=BOOT_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise TrainingError(f"{name}: the boot did not end within {BOOT_TIMEOUT_S} s"
                            ) from e
    seen = console.read_text(errors="replace") if console.exists() else ""
    if r.returncode != 0 or REACHED_INIT not in seen:
        raise TrainingError(f"{name}: the boot did not reach init (exit {r.returncode}):\n"
                            f"{r.stderr}{seen[-2000:]}")
    return time.monotonic() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build-dir", type=Path, required=True,
                   help="the instrumented build folder (its libqemu-system-*.so)")
    p.add_argument("--firmware", type=Path, required=True,
                   help="the firmware folder given to QEMU as -L (BIOS, option ROMs)")
    p.add_argument("targets", nargs="+", help="QEMU targets, e.g. aarch64 mipsel")
    args = p.parse_args(argv)
    try:
        plan = plan_of(args.targets)
        for target in args.targets:
            library = args.build_dir / f"libqemu-system-{target}.so"
            if not library.is_file():
                raise TrainingError(f"{library} is missing: build it first")
        with tempfile.TemporaryDirectory(prefix="penguin-pgo-") as tmp:
            workdir = Path(tmp)
            runner = build_runner(workdir)
            include = sdk_include(workdir)
            for target, name in plan:
                library = args.build_dir / f"libqemu-system-{target}.so"
                seconds = boot(runner, library, name, workdir, include, args.firmware)
                print(f"pgo-train: {name} booted through {library.name} in {seconds:.1f} s",
                      flush=True)
    except (TrainingError, KernelError) as e:
        print(f"penguin-pgo-train: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
