#!/usr/bin/env python3
"""Package the staged /usr/local tree as penguin-qemu.tar.gz (CONTRACT section 8).

    penguin-qemu-package.py --stage dist/stage --out dist --firmware-dir _build/firmware \
        --runtime-libs-dir _build/runtime-libs

Writes, in --out:
  penguin-qemu.tar.gz
      Unpacks under /usr/local: bin/qemu-img; lib/libqemu-system-<name>.so for every name
      of configs/arches.tsv (aliases as symlinks); lib/libqemu-kvm-<name>.so for this
      host's KVM libraries (scripts/penguin_arches.py: x86_64 on an x86_64 host);
      lib/penguin-qemu-env/<module>; include/penguin-qemu-cffi/ (both manifests,
      qemu_cffi_system_manifest.json and qemu_cffi_kvm_manifest.json, and every header,
      env header and env module they name); include/penguin-qemu/penguin.h (the exported
      C ABI), include/penguin-qemu/guest/penguin-hypercall.h (the guest SDK) and
      include/penguin-qemu/qemu-plugin.h (QEMU's TCG plugin API, from the tree built);
      share/qemu/ and share/doc/penguin-qemu-firmware/ (from scripts/penguin-firmware.sh);
      share/doc/penguin-qemu/ (QEMU's COPYING and LICENSE); lib/penguin-qemu/ and
      share/doc/penguin-qemu-libs/ (every runtime library but glibc's, with the licences,
      from scripts/penguin-bundle-libs.py); lib/pkgconfig/penguin-qemu.pc (for C
      embedders); penguin-qemu-package.json =
      {"schema":1,"entries":[every entry of the archive, itself included, sorted]}.
  penguin-qemu-debug.tar.gz
      Unpacks under /: usr/lib/debug/.build-id/xx/yyyy.debug for every ELF file of our
      own in bin/ and lib/ (objcopy --only-keep-debug, debug sections zlib-compressed);
      gdb finds them by build-id. The bundled libraries of lib/penguin-qemu/ ship as
      Debian built them (their DWARF is in Debian's -dbgsym packages).
  SHA256SUMS
      `sha256sum -c` format, for both archives.

--host arm64 (a cross build, ./build.sh --host=arm64) packages another host's stage under
names of their own, so the x86_64 release beside it stays as it is:
penguin-qemu-arm64.tar.gz, penguin-qemu-arm64-debug.tar.gz and SHA256SUMS-arm64 (both
arm64 archives); their ELF files are stripped with that host's cross objcopy (this
machine's objcopy knows only its own architecture). --targets aarch64,x86_64 ships only
those targets' library names (a subset release, e.g. CI's).

Every ELF file of bin/ and lib/ ships through `objcopy --strip-debug --add-gnu-debuglink`:
the DWARF goes, the symbol tables stay (.dynsym, which cffi's dlsym needs, and .symtab).
The env generators have read the DWARF before this runs. Then `patchelf --set-rpath`
points each of them that needs a bundled library at lib/penguin-qemu, relative to itself
($ORIGIN/penguin-qemu for lib/, $ORIGIN/../lib/penguin-qemu for bin/), so the unpacked
tree needs nothing of the system but glibc, wherever it is unpacked. Every DT_NEEDED of
every shipped ELF file must be a bundled library or one of the glibc names
scripts/penguin-bundle-libs.py recorded; anything else fails the packaging with its name.

Reproducible: the same inputs give byte-identical archives. Entries are sorted, carry no
directories, uid/gid 0 root/root, mode 0755 (executables) or 0644, mtime
SOURCE_DATE_EPOCH; gzip has no name and mtime 0. SOURCE_DATE_EPOCH is --source-date-epoch,
else the environment variable, else the commit time of the repository's HEAD
(`git log -1 --format=%ct`), else 0.

Re-running with unchanged inputs (path, size, mtime, inode and mode of every input, this
script, SOURCE_DATE_EPOCH) keeps the existing archives; --force repackages.

Anything missing that a cffi manifest, arches.tsv or the host's KVM list names (or a
required firmware blob), and any staged lib/libqemu-kvm-*.so no manifest names, fails the
packaging with its name, before any work is done.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import hashlib
import io
import json
import os
import posixpath
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
import penguin_arches  # noqa: E402
from penguin_common import atomic_write, replacing, sha256_file  # noqa: E402

ARCHIVE = "penguin-qemu.tar.gz"
DEBUG_ARCHIVE = "penguin-qemu-debug.tar.gz"
SUMS = "SHA256SUMS"
PACKAGE_JSON = "penguin-qemu-package.json"
STAMP = ".penguin-qemu-package.stamp"
MANIFEST = "qemu_cffi_system_manifest.json"
KVM_MANIFEST = "qemu_cffi_kvm_manifest.json"
CFFI_DIR = "include/penguin-qemu-cffi"
ENV_DIR = "lib/penguin-qemu-env"
BUNDLE_DIR = "lib/penguin-qemu"
BUNDLE_DOC = "share/doc/penguin-qemu-libs"
PKGCONFIG = "lib/pkgconfig/penguin-qemu.pc"
UPSTREAM_CONF = REPO / "configs" / "upstream.conf"
DEBUG_ROOT = "usr/lib/debug/.build-id"

# What the machines of CONTRACT section 2 cannot start without (share/qemu/...).
REQUIRED_FIRMWARE = (
    "bios-256k.bin",                            # pc
    "vgabios-stdvga.bin",                       # pc's default VGA
    "linuxboot_dma.bin",                        # pc -kernel
    "efi-e1000.rom",                            # pc's default NIC
    "efi-virtio.rom",                           # virtio-net-pci, every machine
    "efi-pcnet.rom",                            # malta's NIC
    "slof.bin",                                 # pseries
    "vof.bin",                                  # pseries,x-vof=on
    "opensbi-riscv64-generic-fw_dynamic.bin",   # riscv64 virt
    "edk2-loongarch64-code.fd",                 # loongarch64 virt, -bios
    "keymaps/en-us",                            # VNC's default layout
)


class PackageError(Exception):
    """The inputs are incomplete or a tool failed: the message names what."""


@dataclass
class Entry:
    path: str                   # path inside the archive
    src: Path | None = None     # file to copy (None: data)
    data: bytes | None = None   # generated content
    link: str | None = None     # symlink target (relative)
    executable: bool = False


def log(msg: str) -> None:
    print(f"penguin-qemu-package: {msg}", flush=True)


# -- inputs ---------------------------------------------------------------------------

def source_date_epoch(explicit: int | None) -> int:
    if explicit is not None:
        return explicit
    env = os.environ.get("SOURCE_DATE_EPOCH")
    if env:
        if not env.isdigit():
            raise PackageError(f"SOURCE_DATE_EPOCH={env!r} is not a number of seconds")
        return int(env)
    try:
        out = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"],
                             capture_output=True, text=True, check=True).stdout.strip()
        if out.isdigit():
            return int(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    return 0


class Collector:
    """The entries of the main archive, each checked to exist in its source tree."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.missing: dict[str, list[str]] = {}   # path -> who names it

    def miss(self, rel: str, why: str) -> None:
        self.missing.setdefault(rel, []).append(why)

    def add_tree_path(self, root: Path, rel: str, why: str) -> None:
        """Add root/rel (a file or a relative symlink, followed to its target)."""
        queue = [(rel, why)]
        while queue:
            rel, why = queue.pop()
            if rel in self.entries:
                continue
            src = root / rel
            if src.is_symlink():
                target = os.readlink(src)
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel),
                                                             target))
                if target.startswith("/") or resolved.startswith("../"):
                    raise PackageError(f"{rel}: symlink to {target} leaves the tree")
                self.entries[rel] = Entry(rel, link=target)
                queue.append((resolved, f"target of {rel}"))
            elif src.is_file():
                self.entries[rel] = Entry(rel, src=src,
                                          executable=bool(src.stat().st_mode & 0o111))
            elif src.exists():
                raise PackageError(f"{rel}: not a regular file or symlink ({src})")
            else:
                self.miss(rel, why)

    def add_file(self, rel: str, src: Path, why: str, required: bool = True) -> None:
        if src.is_file():
            self.entries[rel] = Entry(rel, src=src,
                                      executable=bool(src.stat().st_mode & 0o111))
        elif required:
            self.miss(rel, f"{why}: {src}")

    def add_tree(self, root: Path, sub: str) -> int:
        """Every file and symlink under root/sub, keeping its path."""
        n = 0
        for dirpath, dirnames, filenames in os.walk(root / sub):
            dirnames.sort()
            links = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
            for name in sorted(filenames + links):
                rel = (Path(dirpath) / name).relative_to(root).as_posix()
                self.add_tree_path(root, rel, f"under {sub}")
                n += 1
        return n


def add_manifest(c: Collector, stage: Path, name: str, mode: str,
                 arches: list[penguin_arches.Arch], why: str) -> set[str]:
    """The manifest name and every file its entries name; returns the libraries named.
    Each of arches must have an entry; mode must match the manifest's own."""
    manifest_rel = f"{CFFI_DIR}/{name}"
    manifest_path = stage / manifest_rel
    if not manifest_path.is_file():
        c.miss(manifest_rel, f"the {mode} cffi manifest, {why}")
        return set()
    try:
        manifest = json.loads(manifest_path.read_text())
        headers = manifest["headers"]
        found_mode = manifest.get("mode")
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise PackageError(f"{manifest_rel}: not a valid manifest: {e}") from None
    if found_mode != mode:
        raise PackageError(f"{manifest_rel}: mode is {found_mode!r}, not {mode!r}")
    c.add_tree_path(stage, manifest_rel, f"the {mode} cffi manifest")
    seen, libraries = set(), set()
    for h in headers:
        arch = h.get("arch", "?")
        seen.add(arch)
        for key, prefix in (("library", "lib"), ("header", CFFI_DIR),
                            ("env_header", CFFI_DIR), ("env_module", ENV_DIR)):
            value = h.get(key)
            if not value or "/" in value:
                raise PackageError(f"{manifest_rel}: entry {arch} has bad {key} {value!r}")
            c.add_tree_path(stage, f"{prefix}/{value}", f"{name} entry {arch}")
        libraries.add(h["library"])
    for arch in arches:
        if arch.name not in seen:
            c.miss(f"{name} entry for {arch.name}", why)
    return libraries


@dataclass(frozen=True)
class Names:
    """The output files of one host's release."""
    archive: str
    debug_archive: str
    sums: str
    stamp: str

    @property
    def all(self) -> tuple[str, str, str, str]:
        return (self.archive, self.debug_archive, self.sums, self.stamp)


def output_names(host: str | None) -> Names:
    """This machine's release (host None, or this machine's own architecture): the
    names of CONTRACT section 8; another host's: its Debian architecture name added."""
    if host is None or not penguin_arches.cross_prefix(host):
        return Names(ARCHIVE, DEBUG_ARCHIVE, SUMS, STAMP)
    return Names(f"penguin-qemu-{host}.tar.gz", f"penguin-qemu-{host}-debug.tar.gz",
                 f"{SUMS}-{host}", f".penguin-qemu-package-{host}.stamp")


def collect(args: argparse.Namespace) -> dict[str, Entry]:
    stage: Path = args.stage
    sel: penguin_arches.Selection = args.sel
    c = Collector()
    c.add_tree_path(stage, "bin/qemu-img", "CONTRACT section 8")
    system_arches = sel.system()
    for arch in system_arches:
        c.add_tree_path(stage, f"lib/{arch.library}", "configs/arches.tsv")
    kvm_arches = sel.kvm()
    for arch in kvm_arches:
        c.add_tree_path(stage, f"lib/{arch.library}", "this host's KVM library")

    add_manifest(c, stage, MANIFEST, "system", system_arches, "configs/arches.tsv")
    staged_kvm = sorted(p.name for p in (stage / "lib").glob("libqemu-kvm-*.so"))
    if kvm_arches or staged_kvm:
        named = add_manifest(c, stage, KVM_MANIFEST, "kvm", kvm_arches,
                             "this host's KVM libraries")
        # A KVM library without its headers and env module would ship unusable.
        for lib in staged_kvm:
            if lib not in named and (stage / CFFI_DIR / KVM_MANIFEST).is_file():
                c.miss(f"{KVM_MANIFEST} entry for lib/{lib}", "a staged KVM library")

    c.add_file("include/penguin-qemu/penguin.h", args.abi_header, "the exported C ABI")
    c.add_file("include/penguin-qemu/guest/penguin-hypercall.h", args.guest_header,
               "the guest SDK header")
    c.add_file("include/penguin-qemu/qemu-plugin.h",
               args.qemu_source / "include" / "qemu" / "qemu-plugin.h",
               "QEMU's TCG plugin API")
    for name in ("COPYING", "LICENSE"):
        c.add_file(f"share/doc/penguin-qemu/{name}", args.qemu_source / name,
                   "QEMU's licence")

    runtime: Path = args.runtime_libs_dir
    for name in ("FILES", "GLIBC"):
        if not (runtime / BUNDLE_DOC / name).is_file():
            c.miss(f"{BUNDLE_DOC}/{name}",
                   f"bundled libraries: run scripts/penguin-bundle-libs.py --out {runtime}")
    if (runtime / BUNDLE_DOC / "FILES").is_file():
        c.add_tree(runtime, BUNDLE_DOC)
        for line in (runtime / BUNDLE_DOC / "FILES").read_text().splitlines():
            c.add_tree_path(runtime, line.split("\t", 1)[0], f"{BUNDLE_DOC}/FILES")
    c.entries[PKGCONFIG] = Entry(PKGCONFIG, data=pkgconfig_text(sel).encode())

    fw: Path = args.firmware_dir
    if not (fw / "share" / "qemu").is_dir():
        c.miss("share/qemu/", f"firmware: run scripts/penguin-firmware.sh {fw}")
    else:
        c.add_tree(fw, "share/qemu")
        c.add_tree(fw, "share/doc/penguin-qemu-firmware")
        for name in REQUIRED_FIRMWARE:
            if f"share/qemu/{name}" not in c.entries:
                c.miss(f"share/qemu/{name}", f"firmware the machines need, from {fw}")

    if c.missing:
        raise PackageError("missing artifacts:\n" + "".join(
            f"  {rel} ({'; '.join(why)})\n" for rel, why in c.missing.items()).rstrip())
    if PACKAGE_JSON in c.entries:
        raise PackageError(f"{PACKAGE_JSON} must not come from an input tree")
    return c.entries


def upstream_version() -> str:
    for line in UPSTREAM_CONF.read_text().splitlines():
        if line.startswith("QEMU_VERSION="):
            return line.split("=", 1)[1].strip()
    raise PackageError(f"{UPSTREAM_CONF}: no QEMU_VERSION line")


def pkgconfig_text(sel: penguin_arches.Selection = penguin_arches.Selection()) -> str:
    """penguin-qemu.pc: the header's cflags; one library per architecture, so Libs gives
    where they are and the program names one (-lqemu-system-<name>) or dlopens it."""
    names = " ".join(sorted(a.name for a in sel.system()))
    kvm = " ".join(sorted(a.name for a in sel.kvm()))
    title = f"penguin-qemu {upstream_version()}: QEMU, one shared library per guest"
    return f"""# {title} architecture.
# A C program includes <penguin.h> and links one architecture's library, NAME one of
# system_names (kvm_names: -lqemu-kvm-NAME):
#   cc $(pkg-config --cflags penguin-qemu) prog.c $(pkg-config --libs penguin-qemu)
#      -lqemu-system-NAME [-Wl,-rpath,$(pkg-config --variable=libdir penguin-qemu)]
# or dlopens ${{libdir}}/libqemu-system-NAME.so with RTLD_NOW | RTLD_GLOBAL. One
# library and one VM per process. Unpacked elsewhere than /usr/local: add
# --define-prefix (pkg-config finds the prefix from this file's place).
prefix=/usr/local
libdir=${{prefix}}/lib
includedir=${{prefix}}/include
cffidir=${{includedir}}/penguin-qemu-cffi
envmoduledir=${{libdir}}/penguin-qemu-env
firmwaredir=${{prefix}}/share/qemu
system_names={names}
kvm_names={kvm}

Name: penguin-qemu
Description: QEMU with Penguin hypercalls, one library per guest architecture
Version: {upstream_version()}
Cflags: -I${{includedir}}/penguin-qemu
Libs: -L${{libdir}}
"""


@dataclass
class Bundle:
    """What scripts/penguin-bundle-libs.py gathered: the sonames it ships and those it
    leaves to glibc."""
    bundled: set[str]
    glibc: set[str]

    @classmethod
    def read(cls, entries: dict[str, Entry]) -> Bundle:
        bundled = {posixpath.basename(rel) for rel in entries
                   if posixpath.dirname(rel) == BUNDLE_DIR}
        glibc_entry = entries[f"{BUNDLE_DOC}/GLIBC"]
        assert glibc_entry.src is not None
        glibc = set(glibc_entry.src.read_text().split())
        return cls(bundled, glibc)


def needed(path: Path) -> list[str]:
    dynamic = run(["readelf", "-d", str(path)])
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", dynamic)


def runpath(path: Path) -> str | None:
    dynamic = run(["readelf", "-d", str(path)])
    m = re.search(r"\(RUNPATH\)\s+Library runpath: \[(.*?)\]", dynamic)
    return m.group(1) if m else None


def check_needed(rel: str, path: Path, bundle: Bundle) -> list[str]:
    """path's DT_NEEDED names; each must be bundled or glibc's."""
    names = needed(path)
    stray = [n for n in names if n not in bundle.bundled and n not in bundle.glibc]
    if stray:
        raise PackageError(f"{rel} needs {', '.join(stray)}: neither bundled in "
                           f"{BUNDLE_DIR}/ nor glibc's "
                           "(re-run scripts/penguin-bundle-libs.py)")
    return names


def check_bundle(entries: dict[str, Entry], bundle: Bundle) -> None:
    for name in sorted(bundle.bundled):
        rel = f"{BUNDLE_DIR}/{name}"
        src = entries[rel].src
        assert src is not None
        check_needed(rel, src, bundle)
        if runpath(src) != "$ORIGIN":
            raise PackageError(f"{rel}: RUNPATH is {runpath(src)!r}, not '$ORIGIN'")


# -- stripping ------------------------------------------------------------------------

def is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def run(cmd: list[str]) -> str:
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise PackageError(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


def build_id(path: Path) -> str:
    m = re.search(r"Build ID: ([0-9a-f]+)", run(["readelf", "-n", "-W", str(path)]))
    if not m or len(m.group(1)) < 4:
        raise PackageError(f"{path}: has no GNU build-id (link with -Wl,--build-id)")
    return m.group(1)


def section_sizes(path: Path) -> dict[str, int]:
    sizes = {}
    for line in run(["readelf", "-S", "-W", str(path)]).splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+"
                     r"\s+([0-9a-f]+)", line)
        if m:
            sizes[m.group(1)] = int(m.group(2), 16)
    return sizes


@dataclass
class Stripped:
    rel: str
    stripped: Path
    build_id: str
    debug: Path


def set_runpath(rel: str, path: Path, bundle: Bundle) -> None:
    """Point path at the bundled libraries, relative to itself, when it needs any."""
    if not any(n in bundle.bundled for n in check_needed(rel, path, bundle)):
        return
    want = "$ORIGIN/" + posixpath.relpath(BUNDLE_DIR, posixpath.dirname(rel))
    run(["patchelf", "--set-rpath", want, str(path)])
    if runpath(path) != want:
        raise PackageError(f"{rel}: patchelf left RUNPATH {runpath(path)!r}, not {want!r}")


def strip_one(entry: Entry, work: Path, bundle: Bundle, objcopy: str = "objcopy"
              ) -> Stripped:
    src = entry.src
    assert src is not None
    bid = build_id(src)
    debug = work / "debug" / bid[:2] / f"{bid[2:]}.debug"
    debug.parent.mkdir(parents=True, exist_ok=True)
    out = work / "stripped" / entry.path
    out.parent.mkdir(parents=True, exist_ok=True)
    if not debug.exists():  # identical ELF files share one build-id and one .debug
        with replacing(debug) as tmp:
            run([objcopy, "--only-keep-debug", "--compress-debug-sections=zlib", str(src),
                 str(tmp)])
    run([objcopy, "--strip-debug", f"--add-gnu-debuglink={debug}", str(src), str(out)])
    got = build_id(out)
    if got != bid:
        raise PackageError(f"{entry.path}: build-id changed by stripping ({bid} -> {got})")
    before, after = section_sizes(src), section_sizes(out)
    for sec in (".dynsym", ".dynstr", ".gnu.hash", ".text"):
        if before.get(sec) != after.get(sec):
            raise PackageError(f"{entry.path}: stripping changed {sec} "
                               f"({before.get(sec)} -> {after.get(sec)})")
    set_runpath(entry.path, out, bundle)
    if build_id(out) != bid:
        raise PackageError(f"{entry.path}: build-id changed by patchelf")
    return Stripped(entry.path, out, bid, debug)


def strip_all(entries: dict[str, Entry], work: Path, jobs: int,
              objcopy: str = "objcopy") -> list[Stripped]:
    # Our own binaries only: firmware ELF images (OpenSBI) and the bundled libraries
    # ship as Debian built them.
    bundle = Bundle.read(entries)
    check_bundle(entries, bundle)
    elves = [e for e in entries.values()
             if e.src is not None and e.path.startswith(("bin/", "lib/"))
             and not e.path.startswith(BUNDLE_DIR + "/") and is_elf(e.src)]
    for e in elves:   # before any work: a stale bundle fails at once
        assert e.src is not None
        check_needed(e.path, e.src, bundle)
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        done = list(pool.map(lambda e: strip_one(e, work, bundle, objcopy), elves))
    for s in done:
        entries[s.rel].src = s.stripped
    return done


# -- archives -------------------------------------------------------------------------

def tar_info(name: str, mtime: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mtime = mtime
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def write_archive(dest: Path, entries: list[Entry], mtime: int, level: int) -> None:
    """A deterministic .tar.gz of entries (sorted by path), written atomically."""
    with replacing(dest) as tmp:
        _write_tar(tmp, entries, mtime, level)


def _write_tar(tmp: Path, entries: list[Entry], mtime: int, level: int) -> None:
    with open(tmp, "wb") as raw, \
         gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0,
                       compresslevel=level) as gz, \
         tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for e in sorted(entries, key=lambda e: e.path):
            ti = tar_info(e.path, mtime)
            if e.link is not None:
                ti.type = tarfile.SYMTYPE
                ti.linkname = e.link
                ti.mode = 0o777
                tar.addfile(ti)
            elif e.data is not None:
                ti.size = len(e.data)
                ti.mode = 0o644
                tar.addfile(ti, io.BytesIO(e.data))
            else:
                assert e.src is not None
                ti.size = e.src.stat().st_size
                ti.mode = 0o755 if e.executable else 0o644
                with open(e.src, "rb") as f:
                    tar.addfile(ti, f)


def fingerprint(entries: dict[str, Entry], mtime: int, level: int) -> str:
    """What the archives depend on, cheaply: each input's path, size, mtime and mode."""
    h = hashlib.sha256(Path(__file__).read_bytes())
    h.update(f"{mtime} {level}\n".encode())
    for rel in sorted(entries):
        e = entries[rel]
        if e.src is not None:
            st = e.src.stat()
            h.update(f"{rel} {e.src} {st.st_size} {st.st_mtime_ns} {st.st_ino} "
                     f"{st.st_mode}\n".encode())
        elif e.data is not None:
            h.update(f"{rel} = {hashlib.sha256(e.data).hexdigest()}\n".encode())
        else:
            h.update(f"{rel} -> {e.link}\n".encode())
    return h.hexdigest() + "\n"


def human(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def package(args: argparse.Namespace) -> None:
    start = time.monotonic()
    mtime = source_date_epoch(args.source_date_epoch)
    out: Path = args.out
    names = output_names(args.sel.host)
    try:
        entries = collect(args)   # fails before any work if something is missing
    except PackageError:
        for name in names.all:   # nothing stale is left to ship
            (out / name).unlink(missing_ok=True)
        raise
    stamp_file = out / names.stamp
    stamp = fingerprint(entries, mtime, args.compresslevel)
    if (not args.force and all((out / n).is_file() for n in names.all[:3])
            and stamp_file.is_file() and stamp_file.read_text() == stamp):
        log(f"{out / names.archive} is up to date (inputs unchanged; --force repackages)")
        return
    out.mkdir(parents=True, exist_ok=True)
    for name in names.all:   # no stale outputs after a failure
        (out / name).unlink(missing_ok=True)

    with tempfile.TemporaryDirectory(prefix=".penguin-package.", dir=out) as tmp:
        work = Path(tmp)
        stripped = strip_all(entries, work, args.jobs, args.sel.tool("objcopy"))
        log(f"stripped {len(stripped)} ELF files ({time.monotonic() - start:.0f} s)")

        paths = sorted([*entries, PACKAGE_JSON])
        listing = json.dumps({"schema": 1, "abi_version": abi_version(args.abi_header),
                              "entries": paths}, indent=1) + "\n"
        entries[PACKAGE_JSON] = Entry(PACKAGE_JSON, data=listing.encode())

        debug_entries = {}
        for s in stripped:
            rel = f"{DEBUG_ROOT}/{s.build_id[:2]}/{s.build_id[2:]}.debug"
            debug_entries[rel] = Entry(rel, src=s.debug)

        # zlib releases the GIL: both archives compress at once.
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            jobs = [pool.submit(write_archive, out / names.archive, list(entries.values()),
                                mtime, args.compresslevel),
                    pool.submit(write_archive, out / names.debug_archive,
                                list(debug_entries.values()), mtime, args.compresslevel)]
            for j in jobs:
                j.result()

    sums = "".join(f"{sha256_file(out / n)}  {n}\n"
                   for n in sorted((names.archive, names.debug_archive)))
    atomic_write(out / names.sums, sums)
    stamp_file.write_text(stamp)
    log(f"{out / names.archive}: {human((out / names.archive).stat().st_size)}, "
        f"{len(entries)} entries")
    log(f"{out / names.debug_archive}: "
        f"{human((out / names.debug_archive).stat().st_size)}, "
        f"{len(debug_entries)} .debug files")
    log(f"{out / names.sums}; SOURCE_DATE_EPOCH={mtime}; "
        f"{time.monotonic() - start:.0f} s")


def abi_version(header: Path) -> str:
    """"MAJOR.MINOR" of the C ABI the archive's penguin.h declares."""
    text = header.read_text()
    parts = [re.search(rf"#define PENGUIN_ABI_VERSION_{p} (\d+)", text) for p in
             ("MAJOR", "MINOR")]
    if not all(parts):
        raise SystemExit(f"penguin-qemu-package: error: {header} has no "
                         "PENGUIN_ABI_VERSION_MAJOR/_MINOR")
    return ".".join(m.group(1) for m in parts)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--stage", type=Path, default=REPO / "dist" / "stage",
                   help="the staged /usr/local tree (read only)")
    p.add_argument("--out", type=Path, default=REPO / "dist", help="where the archives go")
    p.add_argument("--firmware-dir", type=Path, default=REPO / "_build" / "firmware",
                   help="output of scripts/penguin-firmware.sh (holds share/qemu)")
    p.add_argument("--runtime-libs-dir", type=Path,
                   default=REPO / "_build" / "runtime-libs",
                   help="output of scripts/penguin-bundle-libs.py (holds lib/penguin-qemu)")
    p.add_argument("--abi-header", type=Path,
                   default=REPO / "include" / "penguin" / "penguin.h")
    p.add_argument("--guest-header", type=Path,
                   default=REPO / "guest" / "include" / "penguin-hypercall.h",
                   help="shipped when it exists")
    p.add_argument("--qemu-source", type=Path, default=REPO / "_build" / "src",
                   help="the prepared QEMU tree (COPYING, LICENSE, qemu-plugin.h)")
    p.add_argument("--source-date-epoch", type=int, default=None,
                   help="mtime of every entry (default: $SOURCE_DATE_EPOCH, else HEAD's "
                        "commit time, else 0)")
    p.add_argument("--compresslevel", type=int, default=6, choices=range(1, 10))
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--force", action="store_true",
                   help="repackage even when no input changed since the last run")
    penguin_arches.add_selection_args(p)
    args = p.parse_args(argv)
    try:
        args.sel = penguin_arches.selection(args)
    except ValueError as e:
        p.error(str(e))
    try:
        package(args)
    except PackageError as e:
        print(f"penguin-qemu-package: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
