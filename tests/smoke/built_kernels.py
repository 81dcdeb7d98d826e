"""Kernels Debian does not ship (big-endian MIPS, 64-bit big-endian PowerPC), built here.

Each is built from Debian's linux-source-6.1 with `allnoconfig` plus a small Kconfig
fragment from tests/smoke/configs/<arch>.config, so that only what a smoke boot needs
(console, initramfs, ELF loader, power-off) is compiled: a few minutes per kernel on a
2-core CI machine instead of ten for a defconfig.

Cache layout (under the cache folder):
    src-<version>/linux-source-6.1/   the extracted source, shared by every arch
    build-<arch>-<key>/               make's O= folder while a build runs
    <arch>-<key>/vmlinux              the stripped result, reused while <key> holds
    .lock-<arch>-<key>                held while that kernel is being built
where <key> hashes every input: the fragment, the source version, the cross compiler and
RECIPE.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from smoke.kernel import Kernel, KernelError

# Bump when anything below changes how a kernel is made (make targets, flags, steps), so
# that cached kernels built the old way are not reused.
RECIPE = "1"

ARCHES = ("mips64eb", "mipseb", "powerpc64")

SOURCE_PACKAGE = "linux-source-6.1"
TARBALL = Path("/usr/src/linux-source-6.1.tar.xz")
CONFIG_DIR = Path(__file__).resolve().parent / "configs"
LOG_TAIL_LINES = 30


@dataclass(frozen=True)
class Toolchain:
    kernel_arch: str     # make ARCH=
    cross: str           # make CROSS_COMPILE=, the prefix of the cross tools
    package: str         # the Debian package that provides <cross>gcc


def toolchain(arch: str) -> Toolchain:
    """The kernel ARCH and Debian cross compiler for a Penguin architecture."""
    if arch == "mipseb":
        return Toolchain("mips", "mips-linux-gnu-", "gcc-mips-linux-gnu")
    if arch == "mips64eb":
        return Toolchain("mips", "mips64-linux-gnuabi64-", "gcc-mips64-linux-gnuabi64")
    if arch == "powerpc64":
        return Toolchain("powerpc", "powerpc64-linux-gnu-", "gcc-powerpc64-linux-gnu")
    raise KernelError(f"no kernel build recipe for architecture '{arch}' (known: {ARCHES})")


def build(arch: str, cache: Path) -> Kernel:
    """The cached kernel for arch, built first when its inputs changed or it is missing."""
    tools = toolchain(arch)
    fragment = CONFIG_DIR / f"{arch}.config"
    if not fragment.is_file():
        raise KernelError(f"the kernel configuration fragment {fragment} is missing")
    version = source_version()
    gcc = check_tools(tools)
    key = cache_key(fragment.read_bytes(), version, gcc)
    origin = f"{SOURCE_PACKAGE} {version}, tests/smoke/configs/{arch}.config"
    result = cache / f"{arch}-{key}"
    kernel = Kernel(arch, result / "vmlinux", origin)
    if kernel.path.is_file():
        return kernel

    cache.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    # Two runs building the same kernel would share its build folder: the second waits,
    # then finds the first one's result.
    with locked(cache / f".lock-{arch}-{key}", arch, start):
        if kernel.path.is_file():
            return kernel
        src = extract_source(cache, version, start, arch)
        build_dir = cache / f"build-{arch}-{key}"
        # A folder left by an interrupted run is reused: make redoes only what is missing.
        build_dir.mkdir(exist_ok=True)
        make = make_command(src, build_dir, tools)
        configure(make, build_dir, fragment, start, arch)
        compile_kernel(make, build_dir, start, arch)
        install(build_dir / "vmlinux", result, tools)
        # The object tree is only needed to rebuild, and the key changes whenever a
        # rebuild would be needed, so it is dead weight from here on.
        shutil.rmtree(build_dir, ignore_errors=True)
    progress(arch, start, f"done: {kernel.path}")
    return kernel


@contextlib.contextmanager
def locked(lock: Path, arch: str, start: float) -> Iterator[None]:
    """Hold an exclusive lock on the file lock (released when the process dies, too)."""
    with lock.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(arch, start, f"waiting for another build holding {lock}")
            fcntl.flock(f, fcntl.LOCK_EX)
        yield


def progress(arch: str, start: float, what: str) -> None:
    # Flushed at once: test.sh runs this before pytest and the steps take minutes.
    print(f"built_kernels: {arch}: {what} ({time.monotonic() - start:.0f} s)", flush=True)


def source_version() -> str:
    """The installed linux-source-6.1 package version, e.g. 6.1.192-2."""
    if not TARBALL.is_file():
        raise KernelError(f"{TARBALL} is missing: install the Debian package "
                          f"{SOURCE_PACKAGE}")
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", SOURCE_PACKAGE],
                             capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise KernelError(f"cannot read the version of {SOURCE_PACKAGE} "
                          f"(install the Debian package {SOURCE_PACKAGE}): {e}") from e
    if not out:
        raise KernelError(f"{SOURCE_PACKAGE} is not installed: install the Debian package")
    return out


def check_tools(tools: Toolchain) -> str:
    """Fail early, naming the package, when a tool is missing; return gcc's version line."""
    # The host tools are what kbuild needs besides the cross compiler: gcc for its helper
    # programs, flex and bison for Kconfig, bc for the timer constants.
    needed = {f"{tools.cross}gcc": tools.package, f"{tools.cross}strip": tools.package,
              "make": "make", "gcc": "gcc", "flex": "flex", "bison": "bison", "bc": "bc",
              "tar": "tar", "xz": "xz-utils"}
    for tool, package in needed.items():
        if shutil.which(tool) is None:
            raise KernelError(f"{tool} is missing: install the Debian package {package}")
    out = subprocess.run([f"{tools.cross}gcc", "--version"],
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0] if out else ""


def cache_key(fragment: bytes, version: str, gcc_version: str) -> str:
    """16 hex digits that change whenever any input of the build changes."""
    h = hashlib.sha256()
    for part in (fragment, version.encode(), gcc_version.encode(), RECIPE.encode()):
        # Length-prefixed so that moving bytes between parts changes the hash.
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def extract_source(cache: Path, version: str, start: float, arch: str) -> Path:
    """cache/src-<version>/linux-source-6.1, extracted once and shared by every arch."""
    final = cache / f"src-{version}"
    tree = final / "linux-source-6.1"
    if tree.is_dir():
        return tree
    progress(arch, start, f"extracting {TARBALL}")
    # A private temporary name, renamed when complete: an interrupted extraction never
    # looks like a finished tree, and two runs at once do not write into each other.
    tmp = cache / f".src-{version}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        run_checked(["tar", "-xJf", str(TARBALL), "-C", str(tmp)], "extract the source")
        if not (tmp / "linux-source-6.1" / "Makefile").is_file():
            raise KernelError(f"{TARBALL} has no linux-source-6.1/Makefile")
        try:
            tmp.rename(final)
        except OSError:
            if not tree.is_dir():      # not another run that finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    progress(arch, start, "extracted")
    return tree


def run_checked(cmd: list[str], what: str) -> None:
    try:
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as e:
        raise KernelError(f"cannot {what}: {' '.join(cmd)}: {e.stderr.strip()}") from e


def make_command(src: Path, build_dir: Path, tools: Toolchain) -> list[str]:
    return ["make", "-C", str(src), f"O={build_dir}", f"ARCH={tools.kernel_arch}",
            f"CROSS_COMPILE={tools.cross}", f"-j{len(os.sched_getaffinity(0))}"]


def configure(make: list[str], build_dir: Path, fragment: Path, start: float,
              arch: str) -> None:
    """allnoconfig with the fragment forced, then check every fragment line held."""
    wanted = parse_fragment(fragment)
    progress(arch, start, f"configuring allnoconfig + {fragment.name}")
    run_make(make + [f"KCONFIG_ALLCONFIG={fragment}", "allnoconfig"],
             build_dir / "configure.log", "configure")
    got = parse_config((build_dir / ".config").read_text())
    # An option whose dependencies are not met is dropped by Kconfig without a word;
    # absent from .config means "n".
    lost = [f"{name}={value} (got {got.get(name, 'n')})"
            for name, value in wanted.items() if got.get(name, "n") != value]
    if lost:
        raise KernelError(f"{fragment} options did not stick in {build_dir}/.config: "
                          + ", ".join(lost))


CONFIG_SET = re.compile(r"^(CONFIG_\w+)=(.*)$")
CONFIG_UNSET = re.compile(r"^# (CONFIG_\w+) is not set$")


def parse_config(text: str) -> dict[str, str]:
    """Option name -> value ("n" for "is not set") from .config syntax; comments skipped."""
    options: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if m := CONFIG_SET.match(line):
            options[m.group(1)] = m.group(2)
        elif m := CONFIG_UNSET.match(line):
            options[m.group(1)] = "n"
    return options


def parse_fragment(fragment: Path) -> dict[str, str]:
    """The options a fragment sets; any line that is neither a comment nor an option is an
    error, so that a typo cannot hide an option from the check."""
    for number, line in enumerate(fragment.read_text().splitlines(), 1):
        line = line.strip()
        if line and not line.startswith("#") and not CONFIG_SET.match(line):
            raise KernelError(f"{fragment}:{number}: not a Kconfig line: {line!r}")
    return parse_config(fragment.read_text())


def compile_kernel(make: list[str], build_dir: Path, start: float, arch: str) -> None:
    progress(arch, start, f"building vmlinux (log: {build_dir / 'build.log'})")
    run_make(make + ["vmlinux"], build_dir / "build.log", "build")
    progress(arch, start, "built")


def run_make(cmd: list[str], log: Path, what: str) -> None:
    """Run make with its output in log; on failure, raise with the log's tail."""
    with log.open("w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL).returncode
    if rc != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:])
        raise KernelError(f"kernel {what} failed (make exit {rc}); see {log}; "
                          f"last lines:\n{tail}")


def install(vmlinux: Path, result: Path, tools: Toolchain) -> None:
    """Strip vmlinux into result/vmlinux, publishing the folder with one rename."""
    tmp = result.with_name(f".{result.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        # Symbols are of no use to a smoke boot and make up much of the file.
        run_checked([f"{tools.cross}strip", "-o", str(tmp / "vmlinux"), str(vmlinux)],
                    "strip the kernel")
        # A folder without vmlinux (left by hand, say) would make the rename fail.
        shutil.rmtree(result, ignore_errors=True)
        tmp.rename(result)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
