#!/usr/bin/env python3
"""Stage the built libraries and tools as the /usr/local tree under dist/stage.

Each target's library is hard-linked from the build directory (no copy of a large
file); every other Penguin name of the same target is a relative symlink to it, and so
is each of the host's KVM names (libqemu-kvm-<name>.so: the host's target is built with
KVM beside TCG). With --firmware-dir and the header options,
share/qemu and include/penguin-qemu are staged as the archive ships them, so a program
pointed at the stage finds its ROMs and headers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import penguin_arches  # noqa: E402
from penguin_common import replacing  # noqa: E402


def link_file(src: Path, dst: Path) -> None:
    """Hard-link src to dst (copy across file systems), replacing dst."""
    if not src.is_file():
        raise SystemExit(f"penguin-stage: error: {src} was not built")
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and os.path.samefile(src, dst):
        return
    with replacing(dst) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copy2(src, tmp)


def symlink(target: str, dst: Path) -> None:
    if dst.is_symlink() and os.readlink(dst) == target:
        return
    dst.unlink(missing_ok=True)
    dst.symlink_to(target)


def stage_libraries(build: Path, lib: Path,
                    sel: penguin_arches.Selection = penguin_arches.Selection()
                    ) -> tuple[int, int]:
    """Every system name, then every KVM name (of sel's host and targets); returns how
    many of each."""
    arches = sel.system()
    for arch in arches:
        if not arch.is_alias:
            link_file(build / arch.canonical_library, lib / arch.canonical_library)
    for arch in arches:
        if arch.is_alias:
            symlink(arch.canonical_library, lib / arch.library)
    kvm_arches = sel.kvm()
    for arch in kvm_arches:
        symlink(arch.built_library, lib / arch.library)
    return len(arches), len(kvm_arches)


def stage_tree(src: Path, dst: Path) -> int:
    """Hard-link every file under src to the same path under dst; stale files go."""
    wanted = set()
    for path in sorted(src.rglob("*")):
        if path.is_file() or path.is_symlink():
            rel = path.relative_to(src)
            wanted.add(rel)
            if path.is_symlink():
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                symlink(os.readlink(path), dst / rel)
            else:
                link_file(path, dst / rel)
    for path in sorted(dst.rglob("*")) if dst.exists() else []:
        if (path.is_file() or path.is_symlink()) and path.relative_to(dst) not in wanted:
            path.unlink()
    return len(wanted)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--build-dir", type=Path, required=True)
    p.add_argument("--stage", type=Path, required=True)
    p.add_argument("--firmware-dir", type=Path,
                   help="scripts/penguin-firmware.sh's output: stage its share/qemu")
    p.add_argument("--abi-header", type=Path,
                   help="stage as include/penguin-qemu/penguin.h")
    p.add_argument("--guest-header", type=Path,
                   help="stage as include/penguin-qemu/guest/penguin-hypercall.h")
    p.add_argument("--plugin-header", type=Path,
                   help="QEMU's include/qemu/qemu-plugin.h: stage as "
                        "include/penguin-qemu/qemu-plugin.h")
    penguin_arches.add_selection_args(p)
    args = p.parse_args(argv)
    try:
        sel = penguin_arches.selection(args)
    except ValueError as e:
        p.error(str(e))
    names, kvm_names = stage_libraries(args.build_dir, args.stage / "lib", sel)
    link_file(args.build_dir / "qemu-img", args.stage / "bin" / "qemu-img")
    extra = ""
    if args.firmware_dir is not None:
        n = stage_tree(args.firmware_dir / "share" / "qemu", args.stage / "share" / "qemu")
        extra += f", {n} firmware files"
    if args.abi_header is not None:
        link_file(args.abi_header, args.stage / "include" / "penguin-qemu" / "penguin.h")
    if args.guest_header is not None:
        link_file(args.guest_header,
                  args.stage / "include" / "penguin-qemu" / "guest" / "penguin-hypercall.h")
    if args.plugin_header is not None:
        link_file(args.plugin_header,
                  args.stage / "include" / "penguin-qemu" / "qemu-plugin.h")
    print(f"penguin-stage: {names} library names, {kvm_names} KVM{extra} and "
          f"bin/qemu-img in {args.stage}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
