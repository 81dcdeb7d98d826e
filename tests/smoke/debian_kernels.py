"""Debian's own kernels for the smoke boots, downloaded once and cached.

Each architecture's kernel comes from a Debian kernel metapackage of one suite. The
.debs are foreign to this machine, so they are fetched through a private APT state
under CACHE/apt (its own sources.list, lists, archive cache and empty dpkg status,
selected with APT_CONFIG): nothing under /etc/apt or dpkg's database changes, and
nothing is installed. Only the kernel file is unpacked, into CACHE/debian/ARCH/, with
the modules a vsock guest loads under CACHE/debian/ARCH/modules/ and those a guest with
Penguin's devices loads under CACHE/debian/ARCH/device-modules/ (kernel_modules.py),
next to a kernel.json naming the package and version it came from and both module lists
in load order. While that is present the network is not touched.

    fetch("mipsel", cache) -> Kernel("mipsel", CACHE/debian/mipsel/vmlinuz-..., "...")
"""

from __future__ import annotations

import atexit
import fcntl
import functools
import json
import os
import re
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Iterator, Mapping

from smoke.kernel import Kernel, KernelError
from smoke.kernel_modules import PENGUIN_DEVICE_MODULES, VSOCK_MODULES, ModuleCollector

ARCHES = ("aarch64", "armel", "loongarch64", "mips64el", "mipsel", "powerpc64el", "riscv64",
          "x86_64")

FALLBACK_MIRROR = "http://deb.debian.org/debian"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
NATIVE_ARCH = "amd64"   # APT wants a native architecture; every other one is foreign


@dataclass(frozen=True)
class Source:
    """Where one Penguin architecture's kernel comes from."""
    debian_arch: str
    suite: str
    metapackage: str   # the unversioned name; the ABI-versioned one is resolved from it


# armel: Debian's armel kernels (marvell, rpi) fit no QEMU machine Penguin uses, so armel
# userland runs on the armhf LPAE kernel under -M virt. riscv64: bookworm has none.
# loongarch64: only sid builds loong64 in the main archive.
SOURCES: Mapping[str, Source] = MappingProxyType({
    "aarch64": Source("arm64", "bookworm", "linux-image-arm64"),
    "armel": Source("armhf", "bookworm", "linux-image-armmp-lpae"),
    "loongarch64": Source("loong64", "sid", "linux-image-loong64"),
    "mips64el": Source("mips64el", "bookworm", "linux-image-5kc-malta"),
    "mipsel": Source("mipsel", "bookworm", "linux-image-4kc-malta"),
    "powerpc64el": Source("ppc64el", "bookworm", "linux-image-powerpc64le"),
    "riscv64": Source("riscv64", "trixie", "linux-image-riscv64"),
    "x86_64": Source("amd64", "bookworm", "linux-image-cloud-amd64"),
})

# The kernel file inside a linux-image .deb: /boot/vmlinu[xz]-VERSION, or, in newer
# suites (sid's loong64), /usr/lib/modules/VERSION/vmlinuz.
KERNEL_MEMBER = re.compile(r"(boot/vmlinu[xz]-[^/]+|usr/lib/modules/[^/]+/vmlinu[xz])")
# How deep to follow metapackage dependencies: linux-image-loong64 ->
# linux-image-VER-loong64 -> linux-binary-VER-loong64 is the longest chain today.
MAX_DEPTH = 4
RECORD = "kernel.json"
# The module sets: the record's key and folder, and what a guest of that kind needs.
MODULE_SETS = {"modules": ("modules", VSOCK_MODULES),
               "device_modules": ("device-modules", PENGUIN_DEVICE_MODULES)}


def log(message: str) -> None:
    print(f"debian-kernels: {message}", flush=True)


def fetch(arch: str, cache: Path) -> Kernel:
    """The cached Debian kernel for arch, downloading and unpacking it first if needed."""
    source = SOURCES.get(arch)
    if source is None:
        raise KernelError(f"no Debian kernel is known for architecture '{arch}'")
    dest = cache / "debian" / arch
    kernel = cached(arch, source, dest)
    if kernel is not None:
        return kernel
    apt = AptState(cache / "apt")
    with locked(cache / "debian" / ".lock"):
        kernel = cached(arch, source, dest)   # another process may have fetched it
        if kernel is not None:
            return kernel
        apt.prepare()
        update_once(apt)
        return download(arch, source, apt, dest)


# -- the cache -----------------------------------------------------------------------------

def cached(arch: str, source: Source, dest: Path) -> Kernel | None:
    """The kernel recorded in dest, if it is there and came from the same source."""
    try:
        record = json.loads((dest / RECORD).read_text())
        path = dest / record["file"]
        # A record without a module set predates it: fetch again to have it.
        sets = {key: tuple(dest / folder / m for m in record[key])
                for key, (folder, _) in MODULE_SETS.items()}
        if record["source"] == asdict(source) and path.is_file() \
                and all(m.is_file() for files in sets.values() for m in files):
            return Kernel(arch, path, origin(record), **sets)
    except (OSError, ValueError, KeyError, TypeError):
        pass   # missing or unreadable: fetch again
    return None


def origin(record: dict) -> str:
    source = record["source"]
    return (f"Debian {record['package']}:{source['debian_arch']} {record['version']}"
            f" ({source['suite']})")


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Serialize fetches between processes (test.sh and pytest may run side by side)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    write_atomic(path, data)


# -- private APT state ---------------------------------------------------------------------

def debian_mirror() -> str:
    """The Debian archive this machine's apt sources name, so that a local mirror is
    used."""
    for uri, suites in apt_source_entries():
        # Skip the security and ports archives: their suites are not plain release names.
        if "debian-security" not in uri and "ports" not in uri \
                and any(re.fullmatch(r"[a-z]+", s) for s in suites):
            return uri.rstrip("/")
    return FALLBACK_MIRROR


def apt_source_entries() -> Iterator[tuple[str, list[str]]]:
    """(URI, suites) of each deb or deb-src entry in /etc/apt, deb822 and one-line forms."""
    etc = Path("/etc/apt")
    for path in sorted((etc / "sources.list.d").glob("*.sources")):
        for stanza in read_text(path).split("\n\n"):
            fields = deb822_fields(stanza)
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                yield uri, fields.get("suites", "").split()
    for path in [etc / "sources.list", *sorted((etc / "sources.list.d").glob("*.list"))]:
        for line in read_text(path).splitlines():
            line = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0])   # drop [options]
            words = line.split()
            if len(words) >= 3 and words[0] in ("deb", "deb-src"):
                yield words[1], words[2:3]


def read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def deb822_fields(stanza: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in stanza.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace() and key:
            fields[key] += " " + line.strip()
        elif ":" in line:
            key, value = line.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()
    return fields


@dataclass(frozen=True)
class AptState:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "apt.conf"

    @property
    def pkgcache(self) -> Path:
        return self.root / "cache" / "pkgcache.bin"

    def prepare(self) -> None:
        """Write sources.list and apt.conf for the suites and arches in SOURCES."""
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d",
                    "preferences.d"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        status = self.root / "status"
        if not status.exists():
            status.touch()   # nothing is installed in this private dpkg world
        # Rewritten only when changed: APT's binary cache keys on the sources.list's mtime,
        # and rebuilding it costs 10 s.
        write_if_changed(self.root / "sources.list", sources_list(debian_mirror()).encode())
        write_if_changed(self.config, apt_conf(self.root).encode())

    def run(self, args: list[str], what: str, cwd: Path | None = None) -> str:
        """Run an APT command on the private state; its stdout, or KernelError saying
        what."""
        env = dict(os.environ, APT_CONFIG=str(self.config), LC_ALL="C")
        # /etc/apt/apt.conf.d is still read, after APT_CONFIG (it may hold the site's
        # proxy). Docker images turn the binary package cache off there, and then every
        # apt-cache call parses all indexes again (9 s each): the command line wins over
        # both.
        command = [args[0], "-o", f"Dir::Cache::pkgcache={self.pkgcache}", *args[1:]]
        try:
            done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
        except OSError as e:
            raise KernelError(f"{what}: cannot run {args[0]}: {e}") from None
        if done.returncode != 0:
            detail = "; ".join(line for line in done.stderr.splitlines()
                               if line.startswith("E:"))
            raise KernelError(f"{what}: {' '.join(args)} failed with status "
                              f"{done.returncode}: {detail or done.stderr.strip()[-500:]}")
        return done.stdout


def sources_list(mirror: str) -> str:
    """One line per suite, naming only the arches fetched from it (keeps indexes small)."""
    by_suite: dict[str, list[str]] = {}
    for source in SOURCES.values():
        arches = by_suite.setdefault(source.suite, [])
        if source.debian_arch not in arches:
            arches.append(source.debian_arch)
    return "".join(f"deb [arch={','.join(arches)} signed-by={KEYRING}] {mirror} {suite}"
                   " main\n" for suite, arches in by_suite.items())


def apt_conf(root: Path) -> str:
    foreign = sorted({s.debian_arch for s in SOURCES.values()} - {NATIVE_ARCH})
    arches = " ".join(f'"{a}";' for a in [NATIVE_ARCH, *foreign])
    # Empty private source and preference folders: the machine's own sources and pins must
    # not add suites or pick another suite's version.
    return f"""\
Dir::Etc::sourcelist "{root}/sources.list";
Dir::Etc::sourceparts "{root}/sources.list.d";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "{root}/preferences.d";
Dir::State::lists "{root}/lists";
Dir::State::status "{root}/status";
Dir::Cache "{root}/cache";
APT::Architecture "{NATIVE_ARCH}";
APT::Architectures {{ {arches} }};
Acquire::Languages "none";
"""


@functools.lru_cache(maxsize=None)
def update_once(apt: AptState) -> None:
    """apt-get update of every suite (~100 MB, ~20 s): at most once per process.

    lru_cache keeps only successes, so a failed update is tried again by the next fetch.
    """
    suites = sorted({s.suite for s in SOURCES.values()})
    log(f"update: package indexes of {', '.join(suites)} from {debian_mirror()}")
    start = time.monotonic()
    # --error-on=any: without it a failed index download is only a warning and exit 0.
    apt.run(["apt-get", "update", "--error-on=any"],
            f"cannot update the Debian package indexes ({', '.join(suites)})")
    # Every update rebuilds APT's binary cache (220 MB for these arches), so keeping it
    # after this process only takes room. The lists stay: they make the next update cheaper.
    atexit.register(apt.pkgcache.unlink, missing_ok=True)
    log(f"update: done in {time.monotonic() - start:.1f} s")


# -- resolving and downloading -------------------------------------------------------------

@dataclass(frozen=True)
class Package:
    name: str
    version: str
    depends: tuple[str, ...]   # package names, without arch or version


def show(apt: AptState, name: str, source: Source) -> Package:
    """The candidate version of a package and what it depends on.

    Read from APT's binary cache (policy, showpkg: 0.3 s each) and not from the package
    record (apt-cache show: 3 s each, because the lists are kept lz4-compressed here).
    Each arch is listed in one suite only, so the candidate is that suite's version.
    """
    what = f"Debian package {name}:{source.debian_arch} not found in {source.suite}"
    spec = f"{name}:{source.debian_arch}"
    policy = apt.run(["apt-cache", "policy", spec], what)
    found = re.search(r"^\s*Candidate:\s*(\S+)", policy, re.M)
    if found is None or found[1] == "(none)":
        raise KernelError(what)
    version = found[1]
    showpkg = apt.run(["apt-cache", "showpkg", spec], what)
    deps = showpkg.split("\nDependencies:", 1)[-1].split("\nProvides:", 1)[0]
    # One line per version: "VERSION - name:arch (OP VERSION) ...", every relation type
    # (Depends, Breaks, Recommends...) mixed and unlabelled. The kernel metapackages pull in
    # the versioned package with "(= VERSION)", OP 5 (0x10 marks an alternative), which no
    # Breaks or Conflicts uses: keep only those.
    line = next((d for d in deps.splitlines() if d.startswith(f"{version} - ")), "")
    depends = tuple(m[1].split(":")[0] for m in re.finditer(r"(\S+) \((\d+) [^)]*\)", line)
                    if int(m[2]) & 0x0F == 5)
    return Package(name, version, depends)


def kernel_chain(apt: AptState, source: Source) -> list[Package]:
    """The metapackage and then each versioned linux-image/linux-binary package it pulls in.

    The kernel file is in the last one; which one that is changes between suites (sid
    splits linux-image-VER into a small metapackage and linux-binary-VER), so the caller
    looks for it from the end.
    """
    chain = [show(apt, source.metapackage, source)]
    while len(chain) < MAX_DEPTH:
        nexts = [d for d in chain[-1].depends
                 if re.match(r"linux-(image|binary)-\d", d) and d != chain[-1].name]
        if not nexts:
            break
        chain.append(show(apt, nexts[0], source))
    return chain


def download(arch: str, source: Source, apt: AptState, dest: Path) -> Kernel:
    chain = kernel_chain(apt, source)
    # The .debs (45 to 112 MB each) are thrown away once the kernel is out of them.
    with tempfile.TemporaryDirectory(dir=apt.root, prefix="download-") as tmp:
        for package in reversed(chain):
            deb = download_deb(apt, package, source, Path(tmp))
            modules = ModuleCollector()
            member = extract_kernel(deb, package, dest, modules)
            if member is not None:
                return install(arch, source, package, member, dest, modules)
    names = " -> ".join(p.name for p in chain)
    raise KernelError(f"no kernel file (/boot/vmlinu*, /usr/lib/modules/*/vmlinuz) in "
                      f"Debian packages {names} for {source.debian_arch} in {source.suite}")


def download_deb(apt: AptState, package: Package, source: Source, into: Path) -> Path:
    spec = f"{package.name}:{source.debian_arch}={package.version}"
    log(f"download: {spec} from {source.suite}")
    start = time.monotonic()
    # apt-get download checks the .deb against the signed index and writes it into the
    # current directory (as root: the temp folder is not _apt's, which APT only notes).
    apt.run(["apt-get", "download", spec],
            f"cannot download Debian package {spec} ({source.suite})", cwd=into)
    # apt-get download names the file NAME_VERSION_ARCH.deb, with an epoch's ':' as %3a.
    version = package.version.replace(":", "%3a")
    deb = into / f"{package.name}_{version}_{source.debian_arch}.deb"
    if not deb.is_file():
        raise KernelError(f"apt-get download {spec} ({source.suite}) did not leave {deb}")
    log(f"download: {deb.name} ({deb.stat().st_size / 1e6:.1f} MB) "
        f"in {time.monotonic() - start:.1f} s")
    return deb


def extract_kernel(deb: Path, package: Package, dest: Path,
                   modules: ModuleCollector) -> Path | None:
    """Unpack the deb's kernel file into dest (as a temp file); None if it holds none.
    The vsock modules' candidates go to modules."""
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    found = None
    error = None
    try:
        # Stream mode: the data tarball is read once, unpacking only what is needed.
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                name = member.name.removeprefix("./")
                if member.isfile() and KERNEL_MEMBER.fullmatch(name):
                    log(f"extract: /{name} ({member.size / 1e6:.1f} MB) from {deb.name}")
                    target = dest / f".{kernel_name(name)}.tmp"
                    with tar.extractfile(member) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out)
                    found = target   # only once complete
                elif member.isfile() and modules.wants(name):
                    with tar.extractfile(member) as src:
                        modules.take(name, src.read())
    except tarfile.TarError as e:
        error = str(e)
    finally:
        proc.stdout.close()
        proc.wait()
        stderr = proc.stderr.read().decode(errors="replace").strip()
        proc.stderr.close()
    if found is None and (error is not None or proc.returncode != 0):
        raise KernelError(f"cannot read Debian package {deb}: {stderr or error}")
    return None if found is None else unzboot(found, package)


def kernel_name(member: str) -> str:
    """vmlinuz-RELEASE for both /boot/vmlinuz-RELEASE and
    /usr/lib/modules/RELEASE/vmlinuz."""
    parts = PurePosixPath(member).parts
    return parts[-1] if parts[0] == "boot" else f"{parts[-1]}-{parts[-2]}"


def install(arch: str, source: Source, package: Package, tmp: Path, dest: Path,
            modules: ModuleCollector) -> Kernel:
    """Move the unpacked kernel and its module sets into place and record where they
    came from."""
    name = tmp.name.removeprefix(".").removesuffix(".tmp")
    # Everything is made beside what is there and moved over it, so that a process still
    # using the previous kernel (another checkout's tests) finds whole files throughout.
    record = {"source": asdict(source), "package": package.name, "version": package.version,
              "file": name, "size": tmp.stat().st_size}
    sets, made = {}, {}
    for key, (folder, wanted) in MODULE_SETS.items():
        try:
            to_load = modules.resolve(wanted)
        except KernelError as e:
            # The smoke boot needs no modules: only the guests that do fail, saying this.
            to_load, record[f"{key}_missing"] = [], f"{package.name}: {e}"
            log(f"extract: no {folder}: {record[f'{key}_missing']}")
        made[folder] = dest / f".{folder}.tmp"
        shutil.rmtree(made[folder], ignore_errors=True)
        made[folder].mkdir()
        record[key] = [f"{index:02d}-{module}.ko" for index, (module, _) in
                       enumerate(to_load)]
        for file, (_, ko) in zip(record[key], to_load):
            (made[folder] / file).write_bytes(ko)
        if to_load:
            log(f"extract: {folder} {', '.join(m for m, _ in to_load)}")
        sets[key] = tuple(dest / folder / f for f in record[key])
    os.replace(tmp, dest / name)
    for folder, new in made.items():
        old = dest / f".{folder}.old"
        shutil.rmtree(old, ignore_errors=True)
        if (dest / folder).exists():
            os.replace(dest / folder, old)
        os.replace(new, dest / folder)
        shutil.rmtree(old, ignore_errors=True)
    for old in dest.iterdir():   # an older kernel, or what a failed attempt left behind
        if old.is_file() and old.name not in (name, RECORD):
            old.unlink()
    write_atomic(dest / RECORD, (json.dumps(record, indent=2) + "\n").encode())
    return Kernel(arch, dest / name, origin(record), **sets)


# -- EFI zboot -----------------------------------------------------------------------------

def unzboot(path: Path, package: Package) -> Path:
    """Replace an EFI zboot image that QEMU cannot unpack with its decompressed payload.

    QEMU 10.0 unpacks zboot images itself, but only gzip ones; sid's loong64 kernel is
    zstd. Header: 'MZ' at 0, 'zimg' at 4, payload offset and size (LE u32) at 8 and 12,
    the compression's name NUL-terminated at 24.
    """
    with open(path, "rb") as f:
        head = f.read(64)
        if head[0:2] != b"MZ" or head[4:8] != b"zimg":
            return path   # a plain kernel
        offset, size = struct.unpack_from("<II", head, 8)
        compression = head[24:].split(b"\0", 1)[0].decode("ascii", "replace")
        if compression == "gzip":
            return path   # QEMU handles this itself
        if compression != "zstd":
            raise KernelError(f"{package.name}: EFI zboot kernel compressed with "
                              f"'{compression}', which neither QEMU nor this script "
                              "unpacks")
        f.seek(offset)
        payload = f.read(size)
    if len(payload) != size:
        raise KernelError(f"{package.name}: EFI zboot payload is truncated "
                          f"({len(payload)} of {size} bytes)")
    log(f"extract: unwrapping EFI zboot ({compression}, {size / 1e6:.1f} MB) with zstd -dc")
    out = path.with_name(path.name.removesuffix(".tmp") + ".raw.tmp")
    try:
        with open(out, "wb") as raw:
            subprocess.run(["zstd", "-dc"], input=payload, stdout=raw,
                           stderr=subprocess.PIPE, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        out.unlink(missing_ok=True)
        detail = getattr(e, "stderr", b"") or str(e).encode()
        message = detail.decode(errors="replace").strip()
        raise KernelError(f"{package.name}: cannot decompress the zstd zboot payload "
                          f"(zstd -dc): {message}") from None
    path.unlink()
    # "vmlinuz" no longer fits a raw image: call it Image, as the kernel's build tree does.
    final = path.with_name(path.name.replace("vmlinuz", "Image", 1))
    os.replace(out, final)
    return final
