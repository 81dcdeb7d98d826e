#!/usr/bin/env python3
"""Stage the built libraries and tools as the /usr/local tree under dist/stage.

Each target's library is hard-linked from the build directory (no copy of a large
file); every other Penguin name of the same target is a relative symlink to it. With
--kvm-build-dir, the host's KVM libraries (libqemu-kvm-<name>.so, no aliases) are
hard-linked from that build directory too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import penguin_arches  # noqa: E402


def link_file(src: Path, dst: Path) -> None:
    """Hard-link src to dst (copy across file systems), replacing dst."""
    if not src.is_file():
        raise SystemExit(f"penguin-stage: error: {src} was not built")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and os.path.samefile(src, dst):
        return
    tmp = dst.with_name(dst.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copy2(src, tmp)
    os.replace(tmp, dst)


def symlink(target: str, dst: Path) -> None:
    if dst.is_symlink() and os.readlink(dst) == target:
        return
    dst.unlink(missing_ok=True)
    dst.symlink_to(target)


def stage_libraries(build: Path, lib: Path, mode: str = "system") -> int:
    arches = penguin_arches.by_mode(mode)
    for arch in arches:
        if not arch.is_alias:
            link_file(build / arch.canonical_library, lib / arch.canonical_library)
    for arch in arches:
        if arch.is_alias:
            symlink(arch.canonical_library, lib / arch.library)
    return len(arches)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--build-dir", type=Path, required=True)
    p.add_argument("--stage", type=Path, required=True)
    p.add_argument("--kvm-build-dir", type=Path,
                   help="also stage the KVM libraries built there (./configure --kvm)")
    args = p.parse_args(argv)
    names = stage_libraries(args.build_dir, args.stage / "lib")
    link_file(args.build_dir / "qemu-img", args.stage / "bin" / "qemu-img")
    kvm = ""
    if args.kvm_build_dir is not None:
        kvm = f", {stage_libraries(args.kvm_build_dir, args.stage / 'lib', 'kvm')} KVM"
    print(f"penguin-stage: {names} library names{kvm} and bin/qemu-img in {args.stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
