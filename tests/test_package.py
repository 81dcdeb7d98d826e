"""The release archive (CONTRACT section 8): scripts/penguin-qemu-package.py and
scripts/penguin-firmware.sh.

The stage is snapshotted (hard links) and packaged twice into temporary directories, once
per module: about a minute, most of it objcopy and gzip. Nothing is written to dist/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile
import zlib
from pathlib import Path

import pytest

import penguin_arches
from conftest import ARCHES, REPO, STAGE, run_helper

PACKAGER = REPO / "scripts" / "penguin-qemu-package.py"
FIRMWARE = REPO / "scripts" / "penguin-firmware.sh"
FIRMWARE_CONF = REPO / "configs" / "firmware.conf"
ARCHIVE = "penguin-qemu.tar.gz"
DEBUG_ARCHIVE = "penguin-qemu-debug.tar.gz"
EPOCH = 1700000000
CFFI = "include/penguin-qemu-cffi"
MANIFEST = f"{CFFI}/qemu_cffi_system_manifest.json"
KVM_MANIFEST = f"{CFFI}/qemu_cffi_kvm_manifest.json"
KVM_ARCHES = penguin_arches.kvm_arches()
GUEST_HEADER = REPO / "guest" / "include" / "penguin-hypercall.h"
RUNTIME_LIBS = REPO / "_build" / "runtime-libs"
BUNDLE = "lib/penguin-qemu"
BUNDLE_DOC = "share/doc/penguin-qemu-libs"
PKGCONFIG = "lib/pkgconfig/penguin-qemu.pc"


# -- fixtures -------------------------------------------------------------------------

def snapshot(src: Path, dst: Path) -> None:
    """A hard-linked copy of src (copies across file systems), symlinks kept."""
    for dirpath, dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            s, d = Path(dirpath) / name, dst / rel / name
            if s.is_symlink():
                d.symlink_to(os.readlink(s))
            else:
                try:
                    os.link(s, d)
                except OSError:
                    shutil.copy2(s, d)


def package(stage: Path, out: Path, firmware: Path, *extra: str,
            epoch: int = EPOCH) -> subprocess.CompletedProcess:
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    return subprocess.run(["/usr/bin/python3", str(PACKAGER), "--stage", str(stage),
                           "--out", str(out), "--firmware-dir", str(firmware), *extra],
                          capture_output=True, text=True, env=env, timeout=900)


@pytest.fixture(scope="module")
def firmware(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("firmware")
    r = subprocess.run([str(FIRMWARE), str(out)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return out


@pytest.fixture(scope="module")
def stage_copy(stage, tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("stage") / "stage"
    snapshot(stage, dst)
    return dst


@pytest.fixture(scope="module")
def headers(tmp_path_factory) -> tuple[Path, Path]:
    """Copies of the repository headers that ship (so edits during the run do not race)."""
    root = tmp_path_factory.mktemp("headers")
    abi, guest = root / "penguin.h", root / "penguin-hypercall.h"
    shutil.copy(REPO / "include/penguin/penguin.h", abi)
    if GUEST_HEADER.exists():
        shutil.copy(GUEST_HEADER, guest)
    return abi, guest


@pytest.fixture(scope="module")
def outs(stage_copy, firmware, headers, tmp_path_factory) -> tuple[Path, Path]:
    dirs = []
    for name in ("out1", "out2"):
        out = tmp_path_factory.mktemp(name)
        r = package(stage_copy, out, firmware, "--abi-header", str(headers[0]),
                    "--guest-header", str(headers[1]))
        assert r.returncode == 0, r.stdout + r.stderr
        dirs.append(out)
    return dirs[0], dirs[1]


@pytest.fixture(scope="module")
def out(outs) -> Path:
    return outs[0]


@pytest.fixture(scope="module")
def members(out) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(out / ARCHIVE) as t:
        ms = t.getmembers()
    names = [m.name for m in ms]
    assert len(names) == len(set(names)), "duplicate entries"
    return {m.name: m for m in ms}


@pytest.fixture(scope="module")
def prefix(out, tmp_path_factory) -> Path:
    """The archive unpacked into a fresh prefix, as `tar -C /usr/local -xzf` would."""
    root = tmp_path_factory.mktemp("prefix")
    subprocess.run(["tar", "-C", str(root), "-xzf", str(out / ARCHIVE)], check=True)
    return root


def resolve(members: dict[str, tarfile.TarInfo], name: str) -> tarfile.TarInfo:
    """Follow symlinks inside the archive to a regular file entry."""
    for _ in range(10):
        m = members.get(name)
        assert m is not None, f"{name} is not in the archive"
        if not m.issym():
            assert m.isfile(), name
            return m
        name = os.path.normpath(os.path.join(os.path.dirname(name), m.linkname))
    raise AssertionError(f"symlink loop at {name}")


def manifest(stage: Path, name: str = MANIFEST) -> dict:
    return json.loads((stage / name).read_text())


def kvm_entries() -> set[str]:
    """The archive entries of the host's KVM libraries, from the names the contract
    gives them (not from the manifest, which is under test)."""
    if not KVM_ARCHES:
        return set()
    suffix = ".abi3.so"   # the stable ABI: one file for every CPython 3
    want = {KVM_MANIFEST}
    for a in KVM_ARCHES:
        want |= {f"lib/libqemu-kvm-{a.name}.so", f"{CFFI}/qemu_cffi_kvm_{a.name}.h",
                 f"{CFFI}/qemu_cffi_kvm_{a.name}_env.h",
                 f"lib/penguin-qemu-env/_penguin_qemu_env_kvm_{a.target}{suffix}"}
    return want


def firmware_conf() -> tuple[list[str], list[str]]:
    """(packages, share/qemu destinations of 'file' lines) of configs/firmware.conf."""
    packages, files = [], []
    for line in FIRMWARE_CONF.read_text().splitlines():
        f = line.split("#", 1)[0].split()
        if f and f[0] == "package":
            packages.append(f[1])
        elif f and f[0] == "file":
            files.append(f[3])
    return packages, files


def elf_sections(path: Path) -> dict[str, int]:
    out = subprocess.run(["readelf", "-S", "-W", str(path)], check=True,
                         capture_output=True, text=True).stdout
    sizes = {}
    for line in out.splitlines():
        m = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)",
                     line)
        if m:
            sizes[m.group(1)] = int(m.group(2), 16)
    return sizes


def section_bytes(path: Path, section: str) -> bytes:
    """The contents of one section, from readelf's hex dump."""
    out = subprocess.run(["readelf", "-x", section, str(path)], check=True,
                         capture_output=True).stdout.decode("ascii", "replace")
    data = b""
    for line in out.splitlines():
        m = re.match(r"\s*0x[0-9a-f]+ ((?:[0-9a-f]{2,8} ){1,4})", line + " ")
        if m:
            data += bytes.fromhex("".join(m.group(1).split()))
    return data


def build_id(path: Path) -> str:
    out = subprocess.run(["readelf", "-n", "-W", str(path)], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"Build ID: ([0-9a-f]+)", out)
    assert m, f"{path} has no build-id"
    return m.group(1)


def real_elves(prefix: Path, bundled: bool = True) -> list[Path]:
    """The ELF files of bin/ and lib/; without bundled: only our own (not the runtime
    libraries of lib/penguin-qemu, which ship as Debian built them)."""
    found = []
    for sub in ("bin", "lib"):
        for p in sorted((prefix / sub).rglob("*")):
            if not bundled and p.parent == prefix / BUNDLE:
                continue
            if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF":
                found.append(p)
    return found


def dynamic(path: Path, tag: str) -> list[str]:
    """The values of one dynamic-section tag (NEEDED, RUNPATH, SONAME)."""
    out = subprocess.run(["readelf", "-d", str(path)], check=True, capture_output=True,
                         text=True).stdout
    return re.findall(rf"\({tag}\)\s+[^[]*\[(.*?)\]", out)


# -- reproducibility and archive format -----------------------------------------------

def test_two_builds_are_byte_identical(outs):
    a, b = outs
    for name in (ARCHIVE, DEBUG_ARCHIVE, "SHA256SUMS"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs"


def test_unchanged_inputs_keep_the_archives(stage_copy, firmware, headers, outs):
    out = outs[1]
    before = {n: (out / n).stat().st_mtime_ns
              for n in (ARCHIVE, DEBUG_ARCHIVE, "SHA256SUMS")}
    r = package(stage_copy, out, firmware, "--abi-header", str(headers[0]),
                "--guest-header", str(headers[1]))
    assert r.returncode == 0 and "up to date" in r.stdout, r.stdout + r.stderr
    assert before == {n: (out / n).stat().st_mtime_ns for n in before}


def test_gzip_header_has_no_name_and_no_timestamp(out):
    for name in (ARCHIVE, DEBUG_ARCHIVE):
        head = (out / name).read_bytes()[:10]
        assert head[:3] == b"\x1f\x8b\x08", name
        assert head[3] & 0x08 == 0, f"{name}: gzip header carries a file name"
        assert head[4:8] == b"\0\0\0\0", f"{name}: gzip header carries a timestamp"


@pytest.mark.parametrize("archive", [ARCHIVE, DEBUG_ARCHIVE])
def test_entries_are_normalised_and_sorted(out, archive):
    with tarfile.open(out / archive) as t:
        ms = t.getmembers()
    names = [m.name for m in ms]
    assert names == sorted(names)
    for m in ms:
        assert not m.name.startswith(("/", "./")) and ".." not in m.name.split("/"), m.name
        assert (m.uid, m.gid, m.uname, m.gname) == (0, 0, "root", "root"), m.name
        assert m.mtime == EPOCH, m.name
        assert m.isfile() or m.issym(), f"{m.name}: only files and symlinks ship"
        if m.isfile():
            assert m.mode in (0o644, 0o755), f"{m.name}: mode {m.mode:o}"


def test_package_json_lists_exactly_the_entries(prefix, members):
    listing = json.loads((prefix / "penguin-qemu-package.json").read_text())
    assert listing["schema"] == 1
    header = (prefix / "include" / "penguin-qemu" / "penguin.h").read_text()
    assert f"#define PENGUIN_ABI_VERSION_MINOR {listing['abi_version'].split('.')[1]}\n" \
        in header and listing["abi_version"].startswith("1.")
    assert listing["entries"] == sorted(members)


def test_sha256sums_verify_and_catch_a_truncated_archive(out, tmp_path):
    for name in (ARCHIVE, DEBUG_ARCHIVE, "SHA256SUMS"):
        shutil.copy(out / name, tmp_path / name)
    lines = (tmp_path / "SHA256SUMS").read_text().splitlines()
    assert sorted(line.split()[1] for line in lines) == sorted([ARCHIVE, DEBUG_ARCHIVE])
    ok = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    path = tmp_path / ARCHIVE
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    bad = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert bad.returncode != 0
    assert f"{ARCHIVE}: FAILED" in bad.stdout
    assert f"{DEBUG_ARCHIVE}: OK" in bad.stdout


# -- contents -------------------------------------------------------------------------

def test_archive_holds_exactly_the_expected_entries(stage_copy, firmware, headers, members):
    """Nothing more (no stray *.tmp from the stage), nothing less."""
    want = {"bin/qemu-img", MANIFEST, "penguin-qemu-package.json",
            "include/penguin-qemu/penguin.h", "include/penguin-qemu/qemu-plugin.h",
            "share/doc/penguin-qemu/COPYING", "share/doc/penguin-qemu/LICENSE"}
    if headers[1].exists():
        want.add("include/penguin-qemu/guest/penguin-hypercall.h")
    want |= {f"lib/{a.library}" for a in ARCHES}
    want |= {f"lib/{a.canonical_library}" for a in ARCHES}
    want |= kvm_entries()
    want.add(PKGCONFIG)
    for sub in (BUNDLE, BUNDLE_DOC):
        want |= {p.relative_to(RUNTIME_LIBS).as_posix()
                 for p in (RUNTIME_LIBS / sub).rglob("*") if p.is_file()}
    kvm = manifest(stage_copy, KVM_MANIFEST)["headers"] if KVM_ARCHES else []
    for h in manifest(stage_copy)["headers"] + kvm:
        want |= {f"lib/{h['library']}", f"{CFFI}/{h['header']}",
                 f"{CFFI}/{h['env_header']}", f"lib/penguin-qemu-env/{h['env_module']}"}
        env = stage_copy / CFFI / h["env_header"]
        if env.is_symlink():
            want.add(f"{CFFI}/{os.readlink(env)}")
    for p in (firmware / "share").rglob("*"):
        if p.is_file():
            want.add(p.relative_to(firmware).as_posix())
    assert set(members) == want


def test_kvm_entries_ship_exactly(members):
    """The KVM library name (a symlink to the system library of its target), its cffi
    header, env header, env module and the kvm manifest; nothing else of KVM
    (kvmvapic.bin is firmware)."""
    if not KVM_ARCHES:
        pytest.skip("this host has no KVM library")
    shipped = {m for m in members if "kvm" in m and not m.startswith("share/")}
    assert shipped == kvm_entries()
    libraries = {f"lib/{a.library}": a.built_library for a in KVM_ARCHES}
    for name in shipped:
        if name in libraries:   # another name of the target's system library
            assert members[name].issym() and members[name].linkname == libraries[name]
            assert members[f"lib/{libraries[name]}"].mode == 0o755
        else:
            assert members[name].isfile(), f"{name}: a KVM entry is a file of its own"


@pytest.mark.parametrize("arch", ARCHES, ids=lambda a: a.name)
def test_every_library_name_ships(members, arch):
    m = members.get(f"lib/{arch.library}")
    assert m is not None, f"lib/{arch.library} missing"
    if arch.is_alias:
        assert m.issym() and m.linkname == arch.canonical_library
    else:
        assert m.isfile() and m.mode == 0o755


def test_manifest_names_files_in_the_archive(prefix, members):
    data = json.loads((prefix / MANIFEST).read_text())
    assert {h["arch"] for h in data["headers"]} >= {a.name for a in ARCHES}
    kvm = json.loads((prefix / KVM_MANIFEST).read_text()) if KVM_ARCHES else {"headers": []}
    assert {h["arch"] for h in kvm["headers"]} == {a.name for a in KVM_ARCHES}
    for h in data["headers"] + kvm["headers"]:
        for path in (f"lib/{h['library']}", f"{CFFI}/{h['header']}",
                     f"{CFFI}/{h['env_header']}",
                     f"lib/penguin-qemu-env/{h['env_module']}"):
            resolve(members, path)
            assert (prefix / path).is_file(), path


def test_abi_header_and_licences_ship(prefix, headers):
    """include/penguin/penguin.h and guest/include/penguin-hypercall.h (when it exists)."""
    abi, guest = headers
    assert (prefix / "include/penguin-qemu/penguin.h").read_bytes() == abi.read_bytes()
    shipped = prefix / "include/penguin-qemu/guest/penguin-hypercall.h"
    assert shipped.exists() == guest.exists()
    if guest.exists():
        assert shipped.read_bytes() == guest.read_bytes()
    plugin = (prefix / "include/penguin-qemu/qemu-plugin.h").read_bytes()
    assert plugin == (REPO / "_build/src/include/qemu/qemu-plugin.h").read_bytes()
    copying = prefix / "share/doc/penguin-qemu/COPYING"
    assert "GNU GENERAL PUBLIC LICENSE" in copying.read_text()
    packages, _ = firmware_conf()
    for pkg in packages:
        notice = prefix / f"share/doc/penguin-qemu-firmware/{pkg}/copyright"
        assert notice.stat().st_size > 0


def test_firmware_of_the_conf_ships(prefix):
    _, files = firmware_conf()
    for name in files:
        assert (prefix / "share/qemu" / name).stat().st_size > 0, name
    for name in ("bios-256k.bin", "vgabios-stdvga.bin", "efi-virtio.rom",
                 "efi-pcnet.rom", "efi-e1000.rom", "slof.bin", "vof.bin",
                 "linuxboot_dma.bin", "kvmvapic.bin",
                 "opensbi-riscv64-generic-fw_dynamic.bin", "edk2-loongarch64-code.fd",
                 "keymaps/en-us"):
        assert (prefix / "share/qemu" / name).is_file(), name
    provenance = (prefix / "share/doc/penguin-qemu-firmware/FILES").read_text()
    assert "share/qemu/slof.bin\tqemu-system-data=" in provenance


# -- the libraries work from the unpacked tree ----------------------------------------

@pytest.mark.parametrize("arch", ARCHES, ids=lambda a: a.name)
def test_library_dlopens_from_unpacked_prefix(prefix, arch):
    lib = prefix / "lib" / arch.library
    result = run_helper("load_library.py", str(lib))
    assert result.returncode == 0, result.stderr
    assert "QEMU_MAIN=NULL" in result.stdout


@pytest.mark.parametrize("arch", KVM_ARCHES, ids=lambda a: a.name)
def test_kvm_library_dlopens_from_unpacked_prefix(prefix, arch):
    result = run_helper("load_library.py", str(prefix / "lib" / arch.library))
    assert result.returncode == 0, result.stderr
    assert "QEMU_MAIN=NULL" in result.stdout


def test_kvm_client_and_env_from_unpacked_prefix(prefix):
    """Qemu("x86_64", mode="kvm", prefix=...) finds everything through the unpacked kvm
    manifest; its env module imports and agrees with its ABI env header."""
    if not KVM_ARCHES:
        pytest.skip("this host has no KVM library")
    from test_kvm import CLIENT_DISPATCH, run_child
    r = run_child(CLIENT_DISPATCH, str(prefix))
    lines = [line for line in r.stdout.splitlines() if line.startswith("KVM-CLIENT ")]
    assert lines, r.stdout + r.stderr
    out = json.loads(lines[0][len("KVM-CLIENT "):])
    assert out["library"] == "libqemu-kvm-x86_64.so"
    assert out["env_module"].startswith("_penguin_qemu_env_kvm_x86_64.")
    assert out["handled"] and out["ret"] == 21 and not out["registered"]
    assert out["module_size"] == out["header_size"] > 0


def test_kvm_guest_boots_from_unpacked_prefix(prefix, tmp_path):
    if not KVM_ARCHES:
        pytest.skip("this host has no KVM library")
    from test_kvm import boot_x86_guest, check_x86_guest, kvm_unusable
    reason = kvm_unusable()
    if reason is not None:
        pytest.skip(f"KVM boot not run: {reason}")
    arch = KVM_ARCHES[0]
    check_x86_guest(*boot_x86_guest(arch, prefix / "lib" / arch.library, tmp_path))


def test_ldd_resolves_every_dependency(prefix):
    """Inside the unpacked tree: each dependency but glibc's resolves to lib/penguin-qemu,
    whatever this machine has installed."""
    elves = real_elves(prefix)
    assert elves
    glibc = set((prefix / BUNDLE_DOC / "GLIBC").read_text().split())
    assert "libc.so.6" in glibc
    for path in elves:
        out = subprocess.run(["ldd", str(path)], capture_output=True, text=True).stdout
        assert "not found" not in out, f"{path.relative_to(prefix)}:\n{out}"
        for name, target in re.findall(r"^\s*(\S+) => (\S+)", out, re.M):
            if name not in glibc:   # qemu-img's RUNPATH gives bin/../lib/penguin-qemu
                assert os.path.normpath(target).startswith(f"{prefix}/{BUNDLE}/"), \
                    f"{path.relative_to(prefix)}: {name} => {target}"


def test_runtime_libraries_ship_with_their_licences(prefix, members):
    """lib/penguin-qemu holds exactly the FILES list, each with RUNPATH $ORIGIN and its
    package's copyright; glibc's names are not bundled."""
    lines = [line.split("\t") for line in
             (prefix / BUNDLE_DOC / "FILES").read_text().splitlines()]
    assert sorted(rel for rel, _, _ in lines) == sorted(
        m for m in members if m.startswith(BUNDLE + "/"))
    glibc = set((prefix / BUNDLE_DOC / "GLIBC").read_text().split())
    for rel, package, source in lines:
        lib = prefix / rel
        assert dynamic(lib, "SONAME") == [lib.name], rel
        assert dynamic(lib, "RUNPATH") == ["$ORIGIN"], rel
        assert lib.name not in glibc
        name, version = package.split("=", 1)
        assert version and source.startswith("/"), package
        assert (prefix / BUNDLE_DOC / name / "copyright").stat().st_size > 0, name
        assert members[rel].mode == 0o644
    for lib in ("libglib-2.0.so.0", "libpixman-1.so.0", "libfdt.so.1", "libz.so.1"):
        assert (prefix / BUNDLE / lib).is_file(), f"{lib} is not bundled"


def test_our_elf_files_find_the_bundle_relative_to_themselves(prefix):
    for path in real_elves(prefix, bundled=False):
        rel = path.relative_to(prefix)
        bundled = [n for n in dynamic(path, "NEEDED") if (prefix / BUNDLE / n).exists()]
        want = [] if not bundled else \
            ["$ORIGIN/" + os.path.relpath(prefix / BUNDLE, path.parent)]
        assert dynamic(path, "RUNPATH") == want, rel
    assert dynamic(prefix / "bin/qemu-img", "RUNPATH") == ["$ORIGIN/../lib/penguin-qemu"]


def test_env_modules_import_from_unpacked_prefix(prefix):
    code = (
        "import importlib.util, sys\n"
        "for p in sorted(sys.argv[1:]):\n"
        "    name = p.rsplit('/', 1)[1].split('.')[0]\n"
        "    spec = importlib.util.spec_from_file_location(name, p)\n"
        "    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "    assert m.ffi.sizeof('CPUArchState') > 0, p\n"
        "print('ENV-OK')\n")
    modules = [str(p) for p in (prefix / "lib/penguin-qemu-env").iterdir()]
    assert modules
    r = subprocess.run(["/usr/bin/python3", "-c", code, *modules], capture_output=True,
                       text=True)
    assert "ENV-OK" in r.stdout, r.stderr


def test_libraries_are_stripped_keeping_symbol_tables(prefix, stage_copy):
    for arch in [*ARCHES, *KVM_ARCHES]:
        if arch.is_alias:
            continue
        shipped = prefix / "lib" / arch.canonical_library
        staged = stage_copy / "lib" / arch.canonical_library
        s, t = elf_sections(shipped), elf_sections(staged)
        assert not [n for n in s if n.startswith(".debug_")], f"{shipped.name} keeps DWARF"
        assert ".gnu_debuglink" in s, shipped.name
        for sec in (".dynsym", ".gnu.hash", ".text"):
            assert s.get(sec) == t.get(sec), f"{shipped.name}: {sec} changed"
        # patchelf appended the RUNPATH string, and nothing else.
        runpath = "$ORIGIN/penguin-qemu"
        assert s[".dynstr"] == t[".dynstr"] + len(runpath) + 1, shipped.name
        assert dynamic(shipped, "RUNPATH") == [runpath], shipped.name
        assert s.get(".symtab", 0) > 0, f"{shipped.name}: .symtab was dropped"
        assert build_id(shipped) == build_id(staged)
        assert shipped.stat().st_size < staged.stat().st_size


def test_debug_archive_has_one_debug_file_per_elf(prefix, out, tmp_path):
    with tarfile.open(out / DEBUG_ARCHIVE) as t:
        names = t.getnames()
        t.extractall(tmp_path)
    want = {}
    for path in real_elves(prefix, bundled=False):
        bid = build_id(path)
        want[f"usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"] = path
    assert sorted(names) == sorted(want)
    for arch in [*ARCHES, *KVM_ARCHES]:   # every real library in particular
        bid = build_id(prefix / "lib" / arch.canonical_library)
        assert f"usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug" in names
    for name, path in want.items():
        debug = tmp_path / name
        assert build_id(debug) == build_id(path), name
        if path.name.startswith(("libqemu-system-", "libqemu-kvm-")):
            assert ".debug_info" in elf_sections(debug), name
    # Each stripped library's .gnu_debuglink names its .debug file with the right CRC.
    for arch in [*ARCHES, *KVM_ARCHES]:
        if arch.is_alias:
            continue
        lib = prefix / "lib" / arch.canonical_library
        bid = build_id(lib)
        raw = section_bytes(lib, ".gnu_debuglink")
        name = raw[:raw.index(b"\0")].decode()
        assert name == f"{bid[2:]}.debug", lib.name
        debug = tmp_path / f"usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"
        assert int.from_bytes(raw[-4:], "little") == zlib.crc32(debug.read_bytes()), (
            lib.name)


def test_gdb_finds_debug_info_by_build_id(prefix, out, tmp_path):
    if shutil.which("gdb") is None:
        pytest.skip("gdb is not installed")
    with tarfile.open(out / DEBUG_ARCHIVE) as t:
        t.extractall(tmp_path)
    lib = prefix / "lib" / "libqemu-system-riscv64.so"
    r = subprocess.run(["gdb", "-nx", "-batch",
                        "-ex", f"set debug-file-directory {tmp_path / 'usr/lib/debug'}",
                        "-ex", f"file {lib}", "-ex", "info line qemu_init"],
                       capture_output=True, text=True, timeout=120)
    assert re.search(r'Line \d+ of ".*vl\.c"', r.stdout), r.stdout + r.stderr


MACHINES = {   # CONTRACT section 2, with Penguin's virtio-net-pci (efi-virtio.rom)
    "x86_64-pc": ("x86_64", ["-M", "pc"]),   # default NIC e1000, VGA stdvga
    "armel-virt": ("armel", ["-M", "virt"]),
    "aarch64-virt": ("aarch64", ["-M", "virt", "-cpu", "cortex-a57"]),
    "mipsel-malta-pcnet": ("mipsel", ["-M", "malta", "-nic", "user,model=pcnet"]),
    "mips64eb-malta": ("mips64eb", ["-M", "malta"]),
    "powerpc64-pseries-slof": ("powerpc64", ["-M", "pseries"]),
    "powerpc64el-pseries-vof": ("powerpc64el", ["-M", "pseries,x-vof=on"]),
    "riscv64-virt-opensbi": ("riscv64", ["-M", "virt"]),
    "loongarch64-virt-edk2": ("loongarch64",
                              ["-M", "virt", "-bios", "edk2-loongarch64-code.fd"]),
}
NIC = ["-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0"]
BANNERS = {"riscv64-virt-opensbi": "OpenSBI", "powerpc64-pseries-slof": "SLOF"}


@pytest.mark.parametrize("case", sorted(MACHINES))
def test_machines_start_with_shipped_firmware(prefix, case, tmp_path):
    name, args = MACHINES[case]
    nic = [] if "-nic" in args else NIC
    console = tmp_path / "console.log"
    result = run_helper("lifecycle.py", "--stop-after", "2", str(prefix / "lib" /
                        f"libqemu-system-{name}.so"), name, "--",
                        "-L", str(prefix / "share/qemu"), "-display", "none",
                        "-monitor", "none", "-serial", f"file:{console}", *args, *nic,
                        timeout=120)
    assert "LIFECYCLE-RETURNED status=0" in result.stdout, result.stdout + result.stderr
    if case in BANNERS:
        assert BANNERS[case] in console.read_text(errors="replace")


def test_without_shipped_firmware_machines_fail(prefix, tmp_path):
    """Negative control: the test above really uses share/qemu of the archive."""
    # QEMU also looks in ../share/qemu beside the program (python3: /usr/share/qemu).
    for share in ("/usr/local/share/qemu", "/usr/share/qemu"):
        if Path(share, "opensbi-riscv64-generic-fw_dynamic.bin").exists():
            pytest.skip(f"{share} has firmware of its own (a Debian qemu package?)")
    result = run_helper("lifecycle.py", str(prefix / "lib/libqemu-system-riscv64.so"),
                        "riscv64", "--", "-L", str(tmp_path), "-display", "none",
                        "-M", "virt")
    assert result.returncode != 0
    assert "opensbi-riscv64-generic-fw_dynamic.bin" in result.stderr


# -- failures name their cause --------------------------------------------------------

def missing_cases() -> list[tuple[str, str]]:
    data = manifest(STAGE) if (STAGE / MANIFEST).exists() else {"headers": []}
    by = {h["arch"]: h for h in data["headers"]}
    cases = [("bin/qemu-img", "bin/qemu-img"), ("lib/libqemu-system-riscv64.so", "riscv64"),
             (MANIFEST, MANIFEST)]
    if "mips" in by:
        cases += [(f"lib/penguin-qemu-env/{by['mips']['env_module']}", "mips env module"),
                  (f"{CFFI}/{by['mips']['env_header']}", "mips env header"),
                  (f"{CFFI}/{by['mips']['header']}", "mips header")]
    # Each KVM artifact is required too (a lone KVM library would ship unusable).
    cases += [(rel, "kvm " + rel.rsplit("/", 1)[1]) for rel in sorted(kvm_entries())]
    return cases


@pytest.mark.parametrize("rel,_why", missing_cases(), ids=lambda v: str(v))
def test_missing_artifact_fails_with_its_name(stage_copy, firmware, tmp_path, rel, _why):
    broken = tmp_path / "stage"
    snapshot(stage_copy, broken)
    (broken / rel).unlink()
    out = tmp_path / "out"
    out.mkdir()
    for stale in (ARCHIVE, DEBUG_ARCHIVE, "SHA256SUMS"):   # from an earlier, good build
        (out / stale).write_text("stale")
    r = package(broken, out, firmware)
    assert r.returncode != 0
    assert rel in r.stderr, r.stderr
    assert sorted(p.name for p in out.iterdir()) == [], "a failed packaging left outputs"


def test_stale_bundle_fails_with_the_library_name(stage_copy, firmware, tmp_path):
    """A library our ELF files need that the bundle lacks: the packager names it, before
    stripping anything."""
    runtime = tmp_path / "runtime-libs"
    snapshot(RUNTIME_LIBS, runtime)
    files = runtime / BUNDLE_DOC / "FILES"
    files.unlink()   # a hard link: write a new file, not through it
    lines = (RUNTIME_LIBS / BUNDLE_DOC / "FILES").read_text().splitlines(keepends=True)
    files.write_text("".join(line for line in lines
                             if not line.startswith(f"{BUNDLE}/libglib-2.0")))
    (runtime / BUNDLE / "libglib-2.0.so.0").unlink()
    r = package(stage_copy, tmp_path / "out", firmware, "--runtime-libs-dir", str(runtime))
    assert r.returncode != 0
    assert "needs libglib-2.0.so.0" in r.stderr, r.stderr
    assert "stripped" not in r.stdout


def test_missing_bundle_fails_with_its_name(stage_copy, firmware, tmp_path):
    r = package(stage_copy, tmp_path / "out", firmware, "--runtime-libs-dir",
                str(tmp_path / "nothing"))
    assert r.returncode != 0
    assert f"{BUNDLE_DOC}/GLIBC" in r.stderr and "penguin-bundle-libs.py" in r.stderr


def test_missing_firmware_fails_with_its_name(stage_copy, firmware, tmp_path):
    fw = tmp_path / "fw"
    snapshot(firmware, fw)
    (fw / "share/qemu/slof.bin").unlink()
    r = package(stage_copy, tmp_path / "out", fw)
    assert r.returncode != 0
    assert "share/qemu/slof.bin" in r.stderr, r.stderr


def test_firmware_script_names_a_file_not_in_its_package(tmp_path):
    conf = tmp_path / "firmware.conf"
    seabios = next(line for line in FIRMWARE_CONF.read_text().splitlines()
                   if line.startswith("package seabios "))
    conf.write_text(f"{seabios}\nfile seabios usr/share/seabios/no-such.bin x.bin\n")
    r = subprocess.run([str(FIRMWARE), str(tmp_path / "out"), str(conf)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "usr/share/seabios/no-such.bin: not in package seabios" in r.stderr


def test_firmware_script_reports_an_unknown_version(tmp_path):
    conf = tmp_path / "firmware.conf"
    conf.write_text("package seabios 0.0-no-such-version bookworm " + "0" * 64 + "\n")
    r = subprocess.run([str(FIRMWARE), str(tmp_path / "out"), str(conf)],
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PENGUIN_FIRMWARE_CACHE=str(tmp_path / "cache")))
    assert r.returncode != 0
    assert "cannot download seabios=0.0-no-such-version" in r.stderr


def test_firmware_pins_match_the_cached_debs(firmware):
    """Every .deb the conf pins, once fetched, has its pinned sha256."""
    cache = Path(os.environ.get("PENGUIN_FIRMWARE_CACHE",
                                "/var/cache/penguin-qemu/firmware"))
    for line in FIRMWARE_CONF.read_text().splitlines():
        f = line.split("#", 1)[0].split()
        if not f or f[0] != "package":
            continue
        _, name, version, _suite, sha = f
        deb = cache / f"{name}_{version.replace(':', '%3a')}_all.deb"
        assert deb.exists(), f"{deb} (run scripts/penguin-firmware.sh)"
        assert hashlib.sha256(deb.read_bytes()).hexdigest() == sha, deb


# -- the Python client from the unpacked archive only --------------------------------------

def guest_for(arch: penguin_arches.Arch):
    """A hypercall guest and its boot for a library name (aliases boot their target's)."""
    from guests.guests import GUESTS
    for want in (arch.name, arch.target):
        for guest in GUESTS:
            for boot in guest.boots:
                if boot.target == want:
                    return guest, boot
    raise LookupError(arch.name)


def env_hidden_prefix(prefix: Path, tmp_path: Path) -> Path:
    """The unpacked prefix without lib/penguin-qemu-env, as symlinks."""
    hidden = tmp_path / "prefix-without-env-modules"
    (hidden / "lib").mkdir(parents=True)
    for entry in (prefix / "lib").iterdir():
        if entry.name != "penguin-qemu-env":
            (hidden / "lib" / entry.name).symlink_to(entry.resolve())
    for entry in prefix.iterdir():
        if entry.name != "lib":
            (hidden / entry.name).symlink_to(entry)
    return hidden


@pytest.mark.parametrize("arch", penguin_arches.load(), ids=lambda a: a.name)
def test_client_runs_every_name_from_the_unpacked_archive(prefix, arch, tmp_path):
    from test_hypercalls import run_guest
    guest, boot = guest_for(arch)
    (tmp_path / "m").mkdir()
    (tmp_path / "h").mkdir()
    seen, console = run_guest(guest, arch.name, boot.machine, tmp_path / "m",
                              prefix=str(prefix), library=None, env="auto")
    assert seen["verdict"] == 0, f"{arch.name}: fail mask {seen['verdict']}\n{console}"
    assert seen["env_auto"] == "module"
    hidden = env_hidden_prefix(prefix, tmp_path)
    seen, console = run_guest(guest, arch.name, boot.machine, tmp_path / "h",
                              prefix=str(hidden), library=None, env="auto")
    assert seen["verdict"] == 0, f"{arch.name}: fail mask {seen['verdict']}\n{console}"
    assert seen["env_auto"] == "header"


def test_missing_guest_header_fails_with_its_name(stage_copy, firmware, tmp_path):
    """The guest SDK header is part of the release: without it packaging stops."""
    r = package(stage_copy, tmp_path / "out", firmware, "--guest-header",
                str(tmp_path / "no-such-header.h"))
    assert r.returncode != 0
    assert "include/penguin-qemu/guest/penguin-hypercall.h" in r.stderr, r.stderr


def test_stage_holds_what_the_archive_ships(stage):
    """dist/stage is the /usr/local tree: a program pointed at it finds the ROMs a
    machine loads and the headers (it once lacked share/qemu: `failed to find romfile
    "efi-virtio.rom"`)."""
    for rel in ("share/qemu/efi-virtio.rom", "share/qemu/bios-256k.bin",
                "include/penguin-qemu/penguin.h",
                "include/penguin-qemu/guest/penguin-hypercall.h", "bin/qemu-img"):
        assert (stage / rel).is_file(), f"dist/stage lacks {rel}"
