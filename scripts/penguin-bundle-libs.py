#!/usr/bin/env python3
"""Gather the runtime libraries the staged ELF files need, except glibc, for the archive.

    penguin-bundle-libs.py --stage dist/stage --out _build/runtime-libs
    penguin-bundle-libs.py --host arm64 --stage _build/stage-arm64 \
        --out _build/runtime-libs-arm64

Walks the real dependency closure of every ELF file the archive ships from the stage
(bin/qemu-img, the lib/libqemu-*.so libraries, the env modules): `ldd` on this build
machine says which shared object each DT_NEEDED name resolves to, transitively, and
`dpkg-query -S` which Debian package owns it. For another host's ELF files (--host,
a cross build), which this machine's ldd cannot load, the DT_NEEDED names are walked
instead (pyelftools), each looked up in the host's multiarch directories
(/usr/lib/<triplet>, /lib/<triplet>: Debian's :<arch> packages) and taken only when it
is an ELF file of the same machine and class. Everything owned by libc6 (glibc: libc,
libm, the loader, libresolv, ...) is left to the target system; everything else is
copied, as Debian built it, to

  lib/penguin-qemu/<soname>
      the file under its DT_NEEDED name, with RUNPATH $ORIGIN (patchelf) so that the
      bundled libraries find each other (DT_RUNPATH is not inherited by dependencies).
  share/doc/penguin-qemu-libs/<package>/copyright
      each bundled package's licence, from /usr/share/doc/<package>/copyright.
  share/doc/penguin-qemu-libs/FILES
      one line per bundled file: its archive path, package=version, and the file it was
      copied from.
  share/doc/penguin-qemu-libs/GLIBC
      the DT_NEEDED names left to the target system's glibc, one per line.

The packager (penguin-qemu-package.py) ships this tree and points the RUNPATH of our
own ELF files at lib/penguin-qemu. A dependency that does not resolve here, or that
no package owns, stops the run with its name. Files whose content did not change are
not rewritten, so the packager's input fingerprint stays the same.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import penguin_arches  # noqa: E402
from penguin_common import write_if_changed  # noqa: E402

BUNDLE_DIR = "lib/penguin-qemu"
DOC_DIR = "share/doc/penguin-qemu-libs"
GLIBC_PACKAGE = "libc6"
RUNPATH = "$ORIGIN"


class BundleError(Exception):
    """A dependency cannot be bundled: the message names it."""


@dataclass(frozen=True)
class Dependency:
    soname: str       # the DT_NEEDED name
    path: Path        # the file it resolves to on this machine (symlinks followed)
    package: str      # owning Debian package, without :arch
    version: str


def run(cmd: list[str]) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise BundleError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def shipped_elves(stage: Path) -> list[Path]:
    """The staged ELF files the archive ships: bin/, lib/*.so, lib/penguin-qemu-env/."""
    found = []
    for sub in ("bin", "lib", "lib/penguin-qemu-env"):
        directory = stage / sub
        if not directory.is_dir():
            continue
        for p in sorted(directory.iterdir()):
            if p.is_file() and not p.is_symlink() and is_elf(p):
                found.append(p)
    if not found:
        raise BundleError(f"{stage}: no ELF files in bin/ or lib/ (run ./build.sh)")
    return found


LDD_LINE = re.compile(r"^\s*(\S+)\s+=>\s+(.*?)\s*(?:\(0x[0-9a-f]+\))?\s*$")
# The loader has no "=>": "/lib64/ld-linux-x86-64.so.2 (0x...)". Some libraries name it
# in DT_NEEDED (Debian's pixman does), so it is recorded under its file name.
LDD_LOADER = re.compile(r"^\s*(/\S+)\s+\(0x[0-9a-f]+\)\s*$")


def ldd(path: Path) -> dict[str, Path]:
    """DT_NEEDED name -> resolved file, for path's whole closure (the vdso left out)."""
    out = run(["ldd", str(path)])
    resolved = {}
    for line in out.splitlines():
        m = LDD_LINE.match(line)
        if m:
            name, target = m.group(1), m.group(2)
            if target == "not found" or not target:
                raise BundleError(f"{path.name}: {name} not found on this machine")
            resolved[name] = Path(target)
        elif m := LDD_LOADER.match(line):
            resolved[Path(m.group(1)).name] = Path(m.group(1))
    return resolved


@dataclass(frozen=True)
class ElfKind:
    """What makes two ELF files loadable together: machine, class and byte order."""
    machine: str
    elfclass: int
    little_endian: bool


def elf_info(path: Path) -> tuple[ElfKind, list[str]]:
    """path's ELF kind and DT_NEEDED names; BundleError when it is not an ELF file."""
    try:
        with open(path, "rb") as f:
            elf = ELFFile(f)
            kind = ElfKind(elf["e_machine"], elf.elfclass, elf.little_endian)
            names = [tag.needed for section in elf.iter_sections()
                     if isinstance(section, DynamicSection)
                     for tag in section.iter_tags() if tag.entry.d_tag == "DT_NEEDED"]
    except (OSError, ELFError) as exc:
        raise BundleError(f"{path}: not a readable ELF file: {exc}") from None
    return kind, names


def multiarch_dirs(triplet: str) -> list[Path]:
    """Where Debian's packages of an architecture put their shared libraries."""
    return [Path("/usr/lib") / triplet, Path("/lib") / triplet]


def find_needed(name: str, kind: ElfKind, dirs: list[Path]) -> Path | None:
    """The first file called name in dirs that is an ELF file of kind."""
    for directory in dirs:
        candidate = directory / name
        if candidate.is_file():
            try:
                found, _ = elf_info(candidate)
            except BundleError:
                continue
            if found == kind:
                return candidate
    return None


def needed_walk(path: Path, dirs: list[Path]) -> dict[str, Path]:
    """DT_NEEDED name -> file, for path's whole closure, resolved in dirs without
    loading anything: what ldd says, for ELF files of another machine."""
    kind, first = elf_info(path)
    resolved: dict[str, Path] = {}
    queue = [(path, name) for name in first]
    while queue:
        parent, name = queue.pop(0)
        if name in resolved:
            continue
        found = find_needed(name, kind, dirs)
        if found is None:
            raise BundleError(f"{parent.name}: {name} not found as a {kind.machine} "
                              f"library in {', '.join(map(str, dirs))}")
        resolved[name] = found
        queue += [(found, n) for n in elf_info(found)[1]]
    return resolved


def spellings(path: Path) -> list[str]:
    """path and its target, each under /lib and /usr/lib: with merged /usr a file may be
    registered in dpkg's database under either."""
    found = []
    for p in (str(path), os.path.realpath(path)):
        found += [p, p[4:] if p.startswith("/usr/") else "/usr" + p]
    return list(dict.fromkeys(found))


def owners(paths: list[Path], arch: str | None = None) -> dict[Path, tuple[str, str]]:
    """path -> (package, version) of the Debian package that installed it, asked of dpkg
    in two calls (each call reads its whole database); arch: the packages' Debian
    architecture when it is not this machine's (their versions are asked as pkg:arch)."""
    asked = {s: path for path in paths for s in spellings(path)}
    # Exit status 1 only means some spelling is unknown; each line is "pkg[:arch]: path".
    out = subprocess.run(["dpkg-query", "-S", *asked], capture_output=True,
                         text=True).stdout
    package_of: dict[Path, str] = {}
    for line in out.splitlines():
        if line.startswith("diversion by ") or ": " not in line:
            continue
        packages, spelled = line.split(": ", 1)
        if spelled in asked:
            package = packages.split(",")[0].strip().split(":")[0]
            package_of.setdefault(asked[spelled], package)
    unowned = [f"{p} ({os.path.realpath(p)})" for p in paths if p not in package_of]
    if unowned:
        raise BundleError(f"no Debian package owns {', '.join(unowned)}")
    names = sorted(set(package_of.values()))
    asked_names = [f"{n}:{arch}" for n in names] if arch else names
    versions = dict(line.split(" ", 1) for line in run(
        ["dpkg-query", "-W", "-f=${Package} ${Version}\n", *asked_names]).splitlines())
    return {p: (pkg, versions[pkg]) for p, pkg in package_of.items()}


def closure(elves: list[Path], host: str | None = None) -> list[Dependency]:
    """Every library elves need, with its package; host: a Debian architecture other
    than this machine's (the NEEDED walk through its multiarch directories)."""
    resolved: dict[str, Path] = {}
    dirs = None
    if host is not None:
        dirs = multiarch_dirs(penguin_arches.host_machine(host) + "-linux-gnu")
    for elf in elves:
        found = ldd(elf) if dirs is None else needed_walk(elf, dirs)
        for soname, path in found.items():
            if soname in resolved and (os.path.realpath(resolved[soname]) !=
                                       os.path.realpath(path)):
                raise BundleError(f"{soname} resolves to {resolved[soname]} and to {path}")
            resolved.setdefault(soname, path)
    owned = owners(list(resolved.values()), host)
    return [Dependency(soname, Path(os.path.realpath(path)), *owned[path])
            for soname, path in sorted(resolved.items())]


def soname_of(path: Path) -> str | None:
    m = re.search(r"\(SONAME\)\s+Library soname: \[(.*)\]",
                  run(["readelf", "-d", str(path)]))
    return m.group(1) if m else None


def bundled_copy(dep: Dependency, work: Path) -> bytes:
    """dep's file with RUNPATH $ORIGIN, as bytes."""
    if soname_of(dep.path) != dep.soname:
        raise BundleError(f"{dep.path}: its SONAME is {soname_of(dep.path)!r}, "
                          f"not {dep.soname!r}")
    tmp = work / dep.soname
    shutil.copyfile(dep.path, tmp)
    run(["patchelf", "--set-rpath", RUNPATH, str(tmp)])
    return tmp.read_bytes()


def licence(package: str) -> bytes:
    path = Path("/usr/share/doc") / package / "copyright"
    if not path.is_file():
        raise BundleError(f"{path} is missing: the licence of bundled package {package}")
    return path.read_bytes()


def remove_stale(out: Path, keep: set[Path]) -> None:
    for sub in (BUNDLE_DIR, DOC_DIR):
        for dirpath, _dirs, files in os.walk(out / sub, topdown=False):
            for name in files:
                p = Path(dirpath) / name
                if p not in keep:
                    p.unlink()
            if not os.listdir(dirpath):
                os.rmdir(dirpath)


def bundle(stage: Path, out: Path, host: str | None = None
           ) -> tuple[list[Dependency], list[Dependency], int]:
    deps = closure(shipped_elves(stage), host)
    system = [d for d in deps if d.package == GLIBC_PACKAGE]
    bundled = [d for d in deps if d.package != GLIBC_PACKAGE]
    keep: set[Path] = set()
    changed = 0
    with tempfile.TemporaryDirectory(prefix="penguin-bundle-") as tmp:
        for dep in bundled:
            dest = out / BUNDLE_DIR / dep.soname
            changed += write_if_changed(dest, bundled_copy(dep, Path(tmp)), 0o644)
            keep.add(dest)
    for package in sorted({d.package for d in bundled}):
        dest = out / DOC_DIR / package / "copyright"
        changed += write_if_changed(dest, licence(package), 0o644)
        keep.add(dest)
    files = "".join(f"{BUNDLE_DIR}/{d.soname}\t{d.package}={d.version}\t{d.path}\n"
                    for d in bundled)
    glibc = "".join(f"{d.soname}\n" for d in system)
    for name, text in (("FILES", files), ("GLIBC", glibc)):
        dest = out / DOC_DIR / name
        changed += write_if_changed(dest, text, 0o644)
        keep.add(dest)
    remove_stale(out, keep)
    return bundled, system, changed


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--stage", type=Path, required=True, help="the staged /usr/local tree")
    p.add_argument("--out", type=Path, required=True,
                   help="where lib/penguin-qemu and share/doc/penguin-qemu-libs go")
    p.add_argument("--host", help="the staged files' host, a Debian architecture "
                                  "other than this machine's (a cross build: arm64)")
    args = p.parse_args(argv)
    host = args.host
    try:
        if host is not None and not penguin_arches.cross_prefix(host):
            host = None   # this machine's own: ldd
    except ValueError as e:
        p.error(f"--host: {e}")
    try:
        bundled, system, changed = bundle(args.stage, args.out, host)
    except BundleError as e:
        print(f"penguin-bundle-libs: error: {e}", file=sys.stderr)
        return 1
    size = sum((args.out / BUNDLE_DIR / d.soname).stat().st_size for d in bundled)
    print(f"penguin-bundle-libs: {len(bundled)} libraries from "
          f"{len({d.package for d in bundled})} packages ({size / (1 << 20):.1f} MiB, "
          f"{changed} files written) in {args.out / BUNDLE_DIR}; left to glibc: "
          f"{' '.join(d.soname for d in system)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
