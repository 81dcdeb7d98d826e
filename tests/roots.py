"""Root file systems the release archive is tried in (tests/test_portable.py).

- Debian 13 (trixie), `debootstrap --variant=minbase` from Debian's archive (the mirror
  this machine's apt sources name) with python3 (3.13) and python3-cffi: another
  distribution, another Python, none of the build machine's libraries. Made once and
  cached in /var/cache/penguin-qemu/roots (PENGUIN_ROOT_CACHE overrides) under a key of
  its recipe; test.sh prepares it before pytest so that the slow step prints progress.
- Debian 12 (bookworm) for arm64, the same minbase recipe (python3 3.11, python3-cffi),
  for the arm64 host release (tests/test_arm64_host.py): its programs run under
  qemu-user's qemu-aarch64 through binfmt_misc (tests/binfmt.py registers it), debootstrap
  included (one stage: flag F makes the interpreter work inside the new root). Cached the
  same way; its emulated second stage takes minutes, once.
- Nothing but glibc: the files of this machine's own libc6 package (Debian 12's glibc,
  the oldest the release supports) and a few device nodes, made afresh in a test's
  temporary folder in about a second. Not even a shell: a Debian root, minbase included,
  always has zlib, zstd and pcre2, which dpkg, apt and libselinux need.

    python3 tests/roots.py [--cache DIR] [--arm64]

prints where the trixie root (--arm64: the arm64 bookworm root) is, its Python and cffi
versions and how long it took.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent))

import binfmt  # noqa: E402
from smoke.debian_kernels import debian_mirror  # noqa: E402

DEFAULT_CACHE = Path(os.environ.get("PENGUIN_ROOT_CACHE", "/var/cache/penguin-qemu/roots"))
# debootstrap's own resolver does not follow virtual packages: python3-pycparser (a
# dependency of python3-cffi) needs python3-ply-lex-3.10, which only python3-ply
# provides, so python3-ply is named too. apt would install the same set.
PACKAGES = ("python3", "python3-cffi", "python3-ply")
RECIPE_VERSION = 1
# Absolute: commands in a root run with that root's PATH, which has no sbin.
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"
# Device nodes QEMU and Python open (major, minor).
DEVICES = {"null": (1, 3), "zero": (1, 5), "random": (1, 8), "urandom": (1, 9)}


class RootError(RuntimeError):
    """A root file system cannot be made: the message says why."""


@dataclass(frozen=True)
class Recipe:
    suite: str
    arch: str | None    # None: this machine's
    packages: tuple[str, ...] = PACKAGES

    @property
    def name(self) -> str:
        return f"{self.suite}-python3" if self.arch is None else \
            f"{self.suite}-{self.arch}-python3"


TRIXIE = Recipe("trixie", None)
BOOKWORM_ARM64 = Recipe("bookworm", "arm64")


@dataclass(frozen=True)
class Root:
    path: Path
    origin: str      # what it is: suite, packages, Python and cffi versions


def progress(start: float, what: str) -> None:
    print(f"roots: {what} ({time.monotonic() - start:.0f} s)", flush=True)


def recipe_key(recipe: Recipe) -> str:
    text = f"{RECIPE_VERSION} {recipe.suite} minbase {' '.join(recipe.packages)}"
    if recipe.arch is not None:
        text += f" arch={recipe.arch}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@contextlib.contextmanager
def locked(lock: Path, start: float) -> Iterator[None]:
    """Hold an exclusive lock on the file lock (released when the process dies, too)."""
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(start, f"waiting for another run holding {lock}")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below path, deepest first."""
    prefix = str(path.resolve())
    points = []
    with open("/proc/self/mounts") as f:
        for line in f:
            point = line.split()[1].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                points.append(point)
    return sorted(points, key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """rm -rf path, after unmounting whatever a failed debootstrap left mounted in it."""
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", point], check=False)
    if mounts_under(path):
        raise RootError(f"{path} still has mounts: {mounts_under(path)}")
    shutil.rmtree(path, ignore_errors=True)


def in_root(root: Path) -> list[str]:
    """The command prefix that runs a program inside root, with /proc mounted there (in
    a mount namespace of its own, gone when the program ends): glibc finds an
    executable's $ORIGIN through /proc/self/exe, as on any running system."""
    return ["unshare", f"--mount-proc={root}/proc", CHROOT, str(root)]


def chroot_output(root: Path, *cmd: str) -> str:
    p = subprocess.run([*in_root(root), *cmd], capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"})
    if p.returncode != 0:
        raise RootError(f"chroot {root} {' '.join(cmd)} failed: {p.stderr.strip()}")
    return p.stdout.strip()


def loader_list(root: Path, loader: str, path: str) -> dict[str, str]:
    """DT_NEEDED name -> resolved path for path's whole closure, from the glibc loader
    inside root (`ld.so --list` is what ldd runs; a root may have no shell for ldd)."""
    p = subprocess.run([*in_root(root), loader, "--list", path], capture_output=True,
                       text=True, timeout=600, env={"PATH": "/usr/bin:/bin",
                                                    "LANG": "C.UTF-8"})
    if p.returncode != 0 or "not found" in p.stdout:
        raise RootError(f"{path} in {root}: {loader} --list: {p.stdout}{p.stderr}")
    resolved = {}
    for line in p.stdout.splitlines():
        m = re.match(r"\s*(\S+) => (\S+)", line)
        if m:
            resolved[m.group(1)] = os.path.normpath(m.group(2))   # bin/../lib/...
    return resolved


def describe(root: Path, recipe: Recipe) -> str:
    versions = chroot_output(root, "/usr/bin/python3", "-c",
                             "import sys, cffi; "
                             "print(sys.version.split()[0], cffi.__version__)")
    python, cffi = versions.split()
    arch = f" {recipe.arch}" if recipe.arch else ""
    return (f"Debian {recipe.suite}{arch} minbase + {', '.join(recipe.packages)}: "
            f"Python {python}, cffi {cffi}")


def debootstrap(dest: Path, recipe: Recipe, start: float) -> None:
    if shutil.which("debootstrap") is None:
        raise RootError("debootstrap is not installed "
                        "(scripts/penguin-install-deps.sh test)")
    mirror = debian_mirror()
    arch = [f"--arch={recipe.arch}"] if recipe.arch else []
    progress(start, f"debootstrap {' '.join(arch)} --variant=minbase {recipe.suite} "
                    f"from {mirror}")
    # Downloads kept for the next recipe; a foreign root's apart, since test.sh makes
    # both at once.
    debs = dest.parent / ("debs" if recipe.arch is None else f"debs-{recipe.arch}")
    debs.mkdir(exist_ok=True)
    p = subprocess.run(["debootstrap", *arch, "--variant=minbase",
                        f"--include={','.join(recipe.packages)}", f"--cache-dir={debs}",
                        recipe.suite, str(dest), mirror],
                       capture_output=True, text=True)
    if p.returncode != 0:
        log = dest / "debootstrap" / "debootstrap.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        raise RootError(f"debootstrap {recipe.suite} failed ({p.returncode}): "
                        f"{p.stderr.strip()[-2000:]}\n{tail}")
    # The downloaded packages and indexes are not needed to run anything.
    for sub in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in (dest / sub).glob("*"):
            if entry.is_file():
                entry.unlink()


def cached_root(recipe: Recipe, cache: Path = DEFAULT_CACHE) -> Root:
    """The cached root of recipe, made first when it is missing."""
    start = time.monotonic()
    if recipe.arch == "arm64":
        try:
            progress(start, f"binfmt {binfmt.ensure_aarch64()}")
        except binfmt.BinfmtError as e:
            raise RootError(str(e)) from e
    key = recipe_key(recipe)
    root, done = cache / f"{recipe.name}-{key}", cache / f"{recipe.name}-{key}.done"
    if done.is_file() and root.is_dir():
        return Root(root, done.read_text().strip())
    cache.mkdir(parents=True, exist_ok=True)
    lock_name = recipe.suite if recipe.arch is None else f"{recipe.suite}-{recipe.arch}"
    with locked(cache / f".lock-{lock_name}-{key}", start):
        if done.is_file() and root.is_dir():
            return Root(root, done.read_text().strip())
        tmp = cache / f".tmp-{lock_name}-{key}-{os.getpid()}"
        remove_tree(tmp)
        remove_tree(root)
        try:
            debootstrap(tmp, recipe, start)
            origin = describe(tmp, recipe)
            os.replace(tmp, root)
        finally:
            if tmp.exists():
                remove_tree(tmp)
        seconds = time.monotonic() - start
        done.write_text(f"{origin}; made in {seconds:.0f} s\n")
        progress(start, f"done: {root}")
    return Root(root, done.read_text().strip())


def trixie_root(cache: Path = DEFAULT_CACHE) -> Root:
    """The cached Debian 13 root, made first when it is missing."""
    return cached_root(TRIXIE, cache)


def bookworm_arm64_root(cache: Path = DEFAULT_CACHE) -> Root:
    """The cached Debian 12 arm64 root (binfmt registered first), made when missing."""
    return cached_root(BOOKWORM_ARM64, cache)


def copy_root(src: Path, dest: Path) -> None:
    """A private copy of a cached root (tests write into theirs)."""
    subprocess.run(["cp", "-a", "--reflink=auto", f"{src}/.", str(dest)], check=True)


def make_devices(root: Path) -> None:
    dev = root / "dev"
    dev.mkdir(exist_ok=True)
    for name, (major, minor) in DEVICES.items():
        node = dev / name
        if not node.exists():
            os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
            node.chmod(0o666)


def native(package: str) -> str:
    """PACKAGE of this machine's own architecture: once a foreign architecture is added
    (./build.sh --host=arm64 adds arm64), a bare libc6 names two installed packages and
    dpkg-query -L refuses it."""
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True,
                          text=True, check=True).stdout.strip()
    return f"{package}:{arch}"


def package_files(package: str) -> list[Path]:
    out = subprocess.run(["dpkg-query", "-L", native(package)], capture_output=True,
                         text=True, check=True).stdout
    return [Path(line) for line in out.splitlines() if line.startswith("/")]


def glibc_root(dest: Path) -> str:
    """A root of nothing but this machine's glibc (package libc6); returns its version."""
    for path in package_files("libc6"):
        target = dest / path.relative_to("/")
        if path.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True)
            link = os.readlink(path)
            if not target.is_symlink():
                target.symlink_to(link)
            if path.is_dir() and not os.path.isabs(link):   # merged /usr: /lib -> usr/lib
                (target.parent / link).mkdir(parents=True, exist_ok=True)
        elif path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
    for sub in ("tmp", "usr/local", "proc"):
        (dest / sub).mkdir(parents=True, exist_ok=True)
    (dest / "tmp").chmod(0o1777)
    make_devices(dest)
    version = subprocess.run(["dpkg-query", "-W", "-f=${Version}", native("libc6")],
                             capture_output=True, text=True, check=True).stdout.strip()
    return f"libc6 {version}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Make the cached Debian 13 root file system.")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--arm64", action="store_true",
                   help="the Debian 12 arm64 root instead (run under qemu-aarch64)")
    args = p.parse_args(argv)
    recipe = BOOKWORM_ARM64 if args.arm64 else TRIXIE
    start = time.monotonic()
    try:
        root = cached_root(recipe, args.cache)
    except RootError as e:
        print(f"roots: error: {e}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - start
    print(f"roots: {recipe.name}: {root.path} ({root.origin}) in {elapsed:.1f} s",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
