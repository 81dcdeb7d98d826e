#!/usr/bin/env python3
"""Prepare the patched QEMU source tree from the pinned tarball.

Steps, each of which stops the build with a message naming the cause:
  1. the tarball's sha256 must equal QEMU_ORIG_SHA256 (configs/upstream.conf);
  2. every patch of patches/series must apply strictly (patch --fuzz=0) and may
     touch only upstream files;
  3. the hash of the patched upstream tree must equal QEMU_TREE_SHA256, so a patch
     that still applies but was altered is caught;
  4. our own files (the overlay: penguin/, include/, target/, ...) are copied in,
     and none of them may replace an upstream file.

The tree is prepared in a scratch directory and then synchronised into the output
directory file by file, so unchanged files keep their timestamps and ninja
rebuilds only what depends on what changed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from penguin_common import read_conf, read_series, sha256_file, tree_hash  # noqa: E402

# Top-level directories of the repository whose files are copied into the QEMU tree at
# the same relative path. Everything else in the repository is scaffolding.
# A new top-level directory of ours needs its name here (tests/test_prepare.py checks
# that every root exists and that no other directory holds C sources).
OVERLAY_ROOTS = ("penguin", "include", "target")
SKIP_NAMES = {"__pycache__", ".pytest_cache"}
STAMP = ".penguin-prepared"
OVERLAY_LIST = ".penguin-overlay"
UPSTREAM_LIST = ".penguin-upstream"
BOOKKEEPING = (STAMP, OVERLAY_LIST, UPSTREAM_LIST)
# The one patch the stock tree gets: meson setup fails on Debian's +ds tarball, which
# has no edk2 blobs, whenever bzip2 is installed.
STOCK_BUILD_FIXES = ("0002-meson-skip-missing-edk2-blobs.patch",)


class PrepareError(Exception):
    """A refusal with a message for the user."""


def check_tarball(tarball: Path, conf: dict[str, str]) -> None:
    if not tarball.is_file():
        raise PrepareError(f"tarball {tarball} does not exist")
    got = sha256_file(tarball)
    want = conf["QEMU_ORIG_SHA256"]
    if got != want:
        raise PrepareError(
            f"wrong tarball hash: {tarball} has sha256 {got}, expected {want} "
            f"(QEMU {conf['QEMU_VERSION']}, Debian {conf['QEMU_DEBIAN_VERSION']})")


def overlay_files(repo: Path) -> list[Path]:
    """Relative paths of our own files that go into the QEMU tree."""
    files = []
    for root in OVERLAY_ROOTS:
        base = repo / root
        if not base.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_NAMES)
            for name in sorted(filenames):
                files.append((Path(dirpath) / name).relative_to(repo))
    return files


def patched_paths(patch: Path) -> set[str]:
    paths = set()
    for line in patch.read_text(errors="replace").splitlines():
        m = re.match(r"^(?:\+\+\+|---) (?:[ab]/)?(\S+)", line)
        if m and m.group(1) != "/dev/null":
            paths.add(m.group(1))
    return paths


def apply_series(tree: Path, patches: list[Path], overlay: set[str]) -> None:
    for patch in patches:
        if not patch.is_file():
            raise PrepareError(f"patch {patch.name} is named in patches/series but missing")
        ours = sorted(patched_paths(patch) & overlay)
        if ours:
            raise PrepareError(f"patch {patch.name} edits files this project creates "
                               f"({', '.join(ours)}); change those files directly")
        result = subprocess.run(
            ["patch", "-p1", "--fuzz=0", "--forward", "--batch", "--quiet",
             "--no-backup-if-mismatch", "-r", "-", "-d", str(tree), "-i", str(patch)],
            capture_output=True, text=True)
        if result.returncode != 0:
            raise PrepareError(
                f"patch {patch.name} does not apply to the pinned QEMU tree "
                f"(strict: no fuzz):\n{result.stdout}{result.stderr}".rstrip())


def series_stamp(conf: dict[str, str], patches: list[Path]) -> str:
    h = hashlib.sha256()
    h.update(conf["QEMU_ORIG_SHA256"].encode())
    h.update(conf["QEMU_TREE_SHA256"].encode())
    for patch in patches:
        h.update(patch.name.encode() + b"\0" + patch.read_bytes())
    return h.hexdigest()


def extract(tarball: Path, dest: Path) -> None:
    print(f"penguin-prepare: unpacking {tarball.name}", flush=True)
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(dest), "--no-same-owner",
                    "--strip-components=1"], check=True)


def copy_if_changed(src: Path, dst: Path) -> bool:
    """Copy src over dst unless they hold the same bytes. A copy gets the time of now,
    not src's: an object built from dst's old content after src was last written would
    otherwise look newer than the new content to ninja, and never be rebuilt."""
    if dst.is_file() and not dst.is_symlink():
        if (dst.stat().st_size == src.stat().st_size
                and dst.read_bytes() == src.read_bytes()):
            return False
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".penguin-tmp")
    shutil.copyfile(src, tmp)
    shutil.copymode(src, tmp)
    os.replace(tmp, dst)
    return True


def sync_tree(new: Path, out: Path, keep: set[str]) -> int:
    """Make out identical to new (plus keep), touching only files whose content differs."""
    changed = 0
    seen = set()
    for dirpath, dirnames, filenames in os.walk(new):
        for name in filenames:
            src = Path(dirpath) / name
            rel = src.relative_to(new)
            seen.add(rel.as_posix())
            if copy_if_changed(src, out / rel):
                changed += 1
    for dirpath, dirnames, filenames in os.walk(out):
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(out).as_posix()
            if rel not in seen and rel not in keep and rel not in BOOKKEEPING:
                (out / rel).unlink()
                changed += 1
    return changed


def install_overlay(repo: Path, tree: Path, files: list[Path], upstream: set[str]) -> int:
    clashes = sorted(str(f) for f in files if f.as_posix() in upstream)
    if clashes:
        raise PrepareError("overlay files would replace upstream files (edit upstream "
                           f"files through patches/ instead): {', '.join(clashes)}")
    changed = sum(copy_if_changed(repo / f, tree / f) for f in files)
    old_list = tree / OVERLAY_LIST
    current = {f.as_posix() for f in files}
    if old_list.exists():
        for rel in old_list.read_text().split():
            if rel not in current and (tree / rel).exists():
                (tree / rel).unlink()
                changed += 1
    old_list.write_text("".join(f"{f}\n" for f in sorted(current)))
    return changed


def list_files(tree: Path) -> list[str]:
    files = []
    for dirpath, dirnames, filenames in os.walk(tree):
        for name in filenames:
            rel = (Path(dirpath) / name).relative_to(tree).as_posix()
            if rel not in BOOKKEEPING:
                files.append(rel)
    return sorted(files)


def record_tree_hash(conf_path: Path, value: str) -> None:
    text = conf_path.read_text()
    text = re.sub(r"^QEMU_TREE_SHA256=.*$", f"QEMU_TREE_SHA256={value}", text, flags=re.M)
    conf_path.write_text(text)
    print(f"penguin-prepare: recorded QEMU_TREE_SHA256={value}")


def prepare_series(args: argparse.Namespace, conf: dict[str, str], patches: list[Path],
                   overlay: set[str]) -> None:
    """Unpack, patch and check into a scratch tree, then sync it into args.out."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.out.parent, prefix=".prepare-") as scratch:
        new = Path(scratch)
        extract(args.tarball, new)
        print(f"penguin-prepare: applying {len(patches)} patches", flush=True)
        apply_series(new, patches, overlay)
        got = tree_hash(new, set())
        (new / UPSTREAM_LIST).write_text("".join(f"{f}\n" for f in list_files(new)))
        if args.record_tree_hash:
            record_tree_hash(args.repo / "configs" / "upstream.conf", got)
            conf["QEMU_TREE_SHA256"] = got
        elif got != conf["QEMU_TREE_SHA256"]:
            raise PrepareError(
                f"patched tree hash mismatch: got {got}, recorded "
                f"{conf['QEMU_TREE_SHA256']} in configs/upstream.conf. A patch applies "
                "but is not the reviewed one; after a deliberate change to patches/, "
                "run scripts/penguin-prepare.py --record-tree-hash")
        if args.out.is_dir():
            changed = sync_tree(new, args.out, overlay)
            print(f"penguin-prepare: {changed} upstream files changed", flush=True)
        else:
            new.rename(args.out)
            new.mkdir()  # for TemporaryDirectory's cleanup


def prepare_stock(args: argparse.Namespace, conf: dict[str, str]) -> None:
    """The upstream tree as released, for the benchmarks to compare against: none of our
    files and no patch but STOCK_BUILD_FIXES, without which Debian's tarball does not
    configure at all (they change no compiled code)."""
    fixes = [args.repo / "patches" / name for name in STOCK_BUILD_FIXES]
    stamp_file = args.out / STAMP
    stamp = f"stock {conf['QEMU_ORIG_SHA256']} " + " ".join(
        hashlib.sha256(p.read_bytes()).hexdigest() for p in fixes)
    if stamp_file.exists() and stamp_file.read_text() == stamp:
        print(f"penguin-prepare: stock tree ready at {args.out}")
        return
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    extract(args.tarball, args.out)
    apply_series(args.out, fixes, set())
    stamp_file.write_text(stamp)
    print(f"penguin-prepare: stock tree ready at {args.out} "
          f"(only {', '.join(STOCK_BUILD_FIXES)})")


def parse_args(argv: list[str]) -> argparse.Namespace:
    repo = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--tarball", type=Path, required=True, help="the pinned .orig.tar.xz")
    p.add_argument("--out", type=Path, required=True, help="prepared source tree")
    p.add_argument("--repo", type=Path, default=repo,
                   help="repository root holding configs/, patches/ and the overlay")
    p.add_argument("--record-tree-hash", action="store_true",
                   help="accept the patched tree and write its hash to "
                        "configs/upstream.conf")
    p.add_argument("--stock", action="store_true",
                   help="upstream for the benchmarks: none of our files and no patch but "
                        "the +ds tarball's build fix ("
                        + ", ".join(STOCK_BUILD_FIXES) + ")")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    args.out = args.out.resolve()
    conf = read_conf(args.repo / "configs" / "upstream.conf")
    patches = read_series(args.repo / "patches")
    files = overlay_files(args.repo)
    overlay = {f.as_posix() for f in files}
    try:
        check_tarball(args.tarball, conf)
        if args.stock:
            prepare_stock(args, conf)
            return 0
        stamp_file = args.out / STAMP
        stamp = series_stamp(conf, patches)
        if (args.record_tree_hash or not (args.out / UPSTREAM_LIST).exists()
                or not stamp_file.exists() or stamp_file.read_text() != stamp):
            prepare_series(args, conf, patches, overlay)
            stamp = series_stamp(conf, patches)
        upstream = set((args.out / UPSTREAM_LIST).read_text().split())
        changed = install_overlay(args.repo, args.out, files, upstream)
        stamp_file.write_text(stamp)
    except PrepareError as e:
        print(f"penguin-prepare: error: {e}", file=sys.stderr)
        return 1
    print(f"penguin-prepare: tree ready at {args.out} ({changed} of our files updated)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
