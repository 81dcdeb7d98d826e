"""The arm64-host release (./build.sh --host=arm64, issue 27): the host selection of
configure's [arch] tags and of scripts/penguin_arches.py, the refusals of build.sh and
configure, the NEEDED walk of scripts/penguin-bundle-libs.py on Debian's real arm64
libraries, the archive names, the cross-compiled env module and its written-down
layout check, and, once built, the arm64 archive itself."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest
from elftools.elf.elffile import ELFFile

import penguin_arches
from conftest import REPO
from penguin_envgen.api_emitter import ApiCdef
from penguin_envgen.build import build_module_cross, cross_python_headers
from penguin_envgen.common import EnvGenError
from penguin_envgen.layout_check import FieldCheck, check_spec, layout_spec
from penguin_envgen.model import Record

ARM64_LIBDIR = Path("/usr/lib/aarch64-linux-gnu")
ARM64_LIBC = ARM64_LIBDIR / "libc.so.6"
ARM64_GLIB = ARM64_LIBDIR / "libglib-2.0.so.0"
ARM64_ARCHIVE = REPO / "dist" / "penguin-qemu-arm64.tar.gz"
ARM64_STAGE = REPO / "_build" / "stage-arm64"
CROSS_GCC = "aarch64-linux-gnu-gcc"
NEEDS_ARM64_LIBS = pytest.mark.skipif(
    not ARM64_GLIB.is_file(),
    reason="no arm64 libraries (scripts/penguin-install-deps.sh arm64)")


def load_script(name: str) -> ModuleType:
    """A scripts/<name>.py with a dash in its name, imported as a module."""
    path = REPO / "scripts" / f"{name}.py"
    mod_name = name.replace("-", "_")
    spec = importlib.util.spec_from_file_location(mod_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[mod_name] = module      # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


bundler = load_script("penguin-bundle-libs")
packager = load_script("penguin-qemu-package")


def machine_of(path: Path) -> str:
    with open(path, "rb") as f:
        return ELFFile(f)["e_machine"]


# -- configure's flags_of: [arch] tags against the host, not the build machine ----------

def flags_of(features: Path, optimize: str = "", *host: str) -> list[str]:
    """configure's own flags_of, run by bash from the configure script's text."""
    script = ('eval "$(sed -n \'/^flags_of() {/,/^}/p\' "$1")"; shift; '
              'flags_of "$@"')
    r = subprocess.run(["bash", "-c", script, "bash", str(REPO / "configure"),
                        str(features), optimize, *host],
                       capture_output=True, text=True, check=True)
    return r.stdout.splitlines()


@pytest.fixture
def features(tmp_path: Path) -> Path:
    path = tmp_path / "features.conf"
    path.write_text("--plain   # everywhere\n"
                    "[x86_64] --x86-only\n"
                    "[aarch64] --arm-only   # comment\n"
                    "[opt:lto] --lto-only\n")
    return path


def test_flags_of_matches_arch_tags_against_the_host_given(features):
    assert flags_of(features, "", "aarch64") == ["--plain", "--arm-only"]
    assert flags_of(features, "", "x86_64") == ["--plain", "--x86-only"]
    assert flags_of(features, "lto", "aarch64") == ["--plain", "--arm-only",
                                                    "--lto-only"]


def test_flags_of_without_a_host_is_this_machine(features):
    """The default build's flags (and so its configure stamp) stay what they were."""
    assert flags_of(features) == flags_of(features, "", os.uname().machine)


def test_the_real_features_keep_x86_tls_dialect_off_the_arm64_build():
    conf = REPO / "configs" / "features.conf"
    assert "--extra-cflags=-mtls-dialect=gnu2" in flags_of(conf, "", "x86_64")
    arm = flags_of(conf, "", "aarch64")
    assert "--extra-cflags=-mtls-dialect=gnu2" not in arm
    assert "--enable-kvm" in arm and "--enable-fdt=system" in arm


# -- scripts/penguin_arches.py: hosts, KVM names, target subsets ------------------------

def test_hosts_map_debian_names_to_machines():
    assert penguin_arches.host_machine("arm64") == "aarch64"
    assert penguin_arches.host_machine("aarch64") == "aarch64"
    assert penguin_arches.host_machine("amd64") == "x86_64"
    with pytest.raises(ValueError, match="unknown host 'sparc'"):
        penguin_arches.host_machine("sparc")


def test_cross_prefix_is_empty_for_this_machine_only():
    this = os.uname().machine
    assert penguin_arches.cross_prefix(this) == ""
    other = "aarch64" if this == "x86_64" else "x86_64"
    assert penguin_arches.cross_prefix(other) == f"{other}-linux-gnu-"


def test_arm64_host_has_the_aarch64_kvm_name():
    kvm = penguin_arches.kvm_arches("arm64")
    assert [a.library for a in kvm] == ["libqemu-kvm-aarch64.so"]
    assert kvm[0].built_library == "libqemu-system-aarch64.so"
    assert [a.library for a in penguin_arches.kvm_arches("amd64")] == \
        ["libqemu-kvm-x86_64.so"]


def test_targets_select_every_name_of_those_targets_only():
    sel = penguin_arches.Selection("arm64", ["aarch64", "x86_64", "mipsel"])
    names = {a.name for a in sel.system()}
    assert names == {"aarch64", "x86_64", "intel64", "mipsel"}
    assert [a.name for a in sel.kvm()] == ["aarch64"]
    assert penguin_arches.Selection("arm64", ["mipsel"]).kvm() == []
    assert len(penguin_arches.Selection("arm64").system()) == len(penguin_arches.load())


def test_selection_refuses_unknown_hosts_and_targets():
    def args(host, targets):
        return type("A", (), {"host": host, "targets": targets})()
    with pytest.raises(ValueError, match="unknown host"):
        penguin_arches.selection(args("sparc", None))
    with pytest.raises(ValueError, match="unknown target 'vax'"):
        penguin_arches.selection(args("arm64", "aarch64,vax"))
    assert penguin_arches.selection(args("arm64", "aarch64")).wanted == ["aarch64"]


def test_selection_tools_are_the_cross_binutils():
    this = os.uname().machine
    other = "arm64" if this == "x86_64" else "amd64"
    assert penguin_arches.Selection().tool("objcopy") == "objcopy"
    prefix = penguin_arches.cross_prefix(other)
    assert penguin_arches.Selection(other).tool("nm") == f"{prefix}nm"


def test_arches_command_refuses_unknown_host():
    r = subprocess.run(["/usr/bin/python3", str(REPO / "scripts" / "penguin_arches.py"),
                        "--host", "sparc"], capture_output=True, text=True)
    assert r.returncode == 1 and "unknown host 'sparc'" in r.stderr and not r.stdout


# -- refusals before any work -----------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--host=sparc"], "cross-builds for arm64 only"),
    (["--host=x86_64"], "cross-builds for arm64 only"),
    (["--host="], "--host= names nothing"),     # an empty variable: not the x86 build
    (["--targets="], "--targets= names nothing"),
    (["--optimize="], "--optimize= names nothing"),
    (["--host=arm64", "--host=arm64"], "--host given twice"),
    (["--host=arm64", "--targets=aarch64,,x86_64"], "has an empty item"),
    (["--stock", "--targets=aarch64"], "it takes no --optimize or --targets"),
    (["--host=arm64", "--stock"], "--stock is for bench/"),
    (["--stock", "--host=arm64"], "--stock is for bench/"),
    (["--host=arm64", "--targets=aarch64,vax"], "'vax' is not a target"),
    (["--host=arm64", "--optimize=lto"], "--host and --optimize"),
])
def test_build_refuses_bad_host_input_before_any_work(argv, message):
    r = subprocess.run([str(REPO / "build.sh"), *argv], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert "== build:" not in r.stdout   # no step (dependencies, apt) began


@pytest.mark.parametrize("argv, message", [
    (["--host", "sparc"], "unknown host 'sparc'"),
    (["--stock", "--host", "arm64"], "--host is for our build"),
    (["--host", "arm64", "--optimize", "lto"], "--host and --optimize"),
])
def test_configure_refuses_bad_host_input_before_any_work(tmp_path, argv, message):
    build = tmp_path / "build"
    r = subprocess.run([str(REPO / "configure"), *argv, "--build-dir", str(build)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr
    assert not build.exists()


# -- scripts/penguin-bundle-libs.py: the NEEDED walk on arm64 ELF files -----------------

@NEEDS_ARM64_LIBS
def test_needed_walk_resolves_glib_to_arm64_files():
    dirs = bundler.multiarch_dirs("aarch64-linux-gnu")
    found = bundler.needed_walk(ARM64_GLIB, dirs)
    assert "libc.so.6" in found and "libpcre2-8.so.0" in found
    assert "ld-linux-aarch64.so.1" in found      # libc's own DT_NEEDED
    assert {machine_of(p) for p in found.values()} == {"EM_AARCH64"}


@NEEDS_ARM64_LIBS
def test_needed_walk_skips_files_of_another_machine(tmp_path):
    """A library of the build machine's architecture under the same name, earlier in
    the search path, is not taken."""
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    native_libc = Path(os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6"))
    if not native_libc.is_file():
        pytest.skip("no x86_64 libc to use as the decoy")
    shutil.copy(native_libc, decoy / "libc.so.6")
    dirs = [decoy, *bundler.multiarch_dirs("aarch64-linux-gnu")]
    found = bundler.needed_walk(ARM64_GLIB, dirs)
    assert found["libc.so.6"].parent != decoy
    assert machine_of(found["libc.so.6"]) == "EM_AARCH64"


@NEEDS_ARM64_LIBS
def test_needed_walk_names_what_it_cannot_find(tmp_path):
    with pytest.raises(bundler.BundleError,
                       match=r"libglib-2.0.so.0: \S+ not found as a EM_AARCH64 "):
        bundler.needed_walk(ARM64_GLIB, [tmp_path])


def test_needed_walk_refuses_a_file_that_is_not_elf(tmp_path):
    junk = tmp_path / "junk.so"
    junk.write_text("not an ELF file")
    with pytest.raises(bundler.BundleError, match="not a readable ELF file"):
        bundler.needed_walk(junk, [tmp_path])


@NEEDS_ARM64_LIBS
def test_closure_for_arm64_gives_debian_arm64_packages():
    deps = {d.soname: d for d in bundler.closure([ARM64_GLIB], "arm64")}
    assert deps["libc.so.6"].package == "libc6"
    glib_pcre = deps["libpcre2-8.so.0"]
    assert glib_pcre.package == "libpcre2-8-0"
    want = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libpcre2-8-0:arm64"],
                          capture_output=True, text=True, check=True).stdout
    assert glib_pcre.version == want
    assert str(glib_pcre.path).startswith("/usr/lib/aarch64-linux-gnu/")


# -- scripts/penguin-qemu-package.py: archive names -------------------------------------

def test_archive_names_of_this_machine_are_the_contracts():
    names = packager.output_names(None)
    assert names.all == ("penguin-qemu.tar.gz", "penguin-qemu-debug.tar.gz",
                         "SHA256SUMS", ".penguin-qemu-package.stamp")
    this = "amd64" if os.uname().machine == "x86_64" else "arm64"
    assert packager.output_names(this) == names


def test_archive_names_of_another_host_carry_its_name():
    other = "arm64" if os.uname().machine == "x86_64" else "amd64"
    names = packager.output_names(other)
    assert names.archive == f"penguin-qemu-{other}.tar.gz"
    assert names.debug_archive == f"penguin-qemu-{other}-debug.tar.gz"
    assert names.sums == f"SHA256SUMS-{other}"
    assert set(names.all).isdisjoint(packager.output_names(None).all)


def test_packager_refuses_unknown_host(tmp_path):
    script = REPO / "scripts" / "penguin-qemu-package.py"
    r = subprocess.run(["/usr/bin/python3", str(script), "--host", "sparc",
                        "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "unknown host 'sparc'" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_pkgconfig_names_the_selection():
    sel = penguin_arches.Selection("arm64", ["aarch64", "x86_64"])
    text = packager.pkgconfig_text(sel)
    assert "system_names=aarch64 intel64 x86_64\n" in text
    assert "kvm_names=aarch64\n" in text


# -- env modules: the cross compile and the written-down layout check -------------------

def point_record(size: int) -> Record:
    return Record("struct", "pt", None, size, True, 0)


def spec_for(ffi_type: str, size: int, checks: list[FieldCheck]) -> dict:
    return layout_spec("m", "CPUArchState", size, [(ffi_type, point_record(size), checks)])


def test_layout_spec_passes_the_right_layout_and_names_a_wrong_one():
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("typedef struct { int32_t a; double b; } CPUArchState;")
    good = spec_for("CPUArchState", 16, [FieldCheck(("a",), 0, 4),
                                         FieldCheck(("b",), 8, 8)])
    assert check_spec(ffi, json.loads(json.dumps(good))) == []
    bad = spec_for("CPUArchState", 16, [FieldCheck(("b",), 4, 8),
                                        FieldCheck(("c",), 0, 1)])
    errors = check_spec(ffi, bad)
    assert any("CPUArchState.b at offset 8" in e for e in errors)
    assert any("CPUArchState.c is missing" in e for e in errors)
    assert check_spec(ffi, spec_for("CPUArchState", 12, [])) != []
    with pytest.raises(ValueError, match="schema"):
        check_spec(ffi, dict(good, schema=99))


def test_layout_check_command_imports_a_real_module(tmp_path):
    """The command the arm64 host runs, on a module built here for this machine."""
    import cffi
    ffi = cffi.FFI()
    ffi.cdef("typedef struct { int32_t a; ...; } CPUArchState;")
    ffi.set_source("_layout_probe", "typedef struct { char pad; int32_t a; } "
                   "CPUArchState;")
    built = Path(ffi.compile(tmpdir=str(tmp_path), verbose=False))
    modules = tmp_path / "modules"
    modules.mkdir()
    shutil.copy(built, modules / "_layout_probe.abi3.so")
    check = tmp_path / "_layout_probe.json"
    spec = layout_spec("_layout_probe", "CPUArchState", 8,
                       [("CPUArchState", point_record(8), [FieldCheck(("a",), 4, 4)])])
    check.write_text(json.dumps(spec))
    cmd = ["/usr/bin/python3", str(REPO / "scripts" / "penguin-env-layout-check.py"),
           "--modules-dir", str(modules), str(check)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "ok   _layout_probe" in r.stdout
    spec["records"][0]["checks"][0][1] = 0
    check.write_text(json.dumps(spec))
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and "FAIL _layout_probe" in r.stdout
    assert "CPUArchState.a at offset 4" in r.stdout
    (modules / "_layout_probe.abi3.so").unlink()
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 1 and "is missing" in r.stdout


def test_cross_python_headers_name_the_missing_package():
    with pytest.raises(EnvGenError, match="pyconfig.h is missing"):
        cross_python_headers("sparc64-linux-gnu-gcc")


@pytest.mark.skipif(shutil.which(CROSS_GCC) is None or
                    not Path("/usr/include/aarch64-linux-gnu/python3.11").is_dir(),
                    reason="no aarch64 cross gcc or arm64 pyconfig.h "
                           "(scripts/penguin-install-deps.sh arm64)")
def test_cross_module_is_an_aarch64_abi3_extension(tmp_path):
    api = ApiCdef(text="struct pt { int32_t x; ...; };",
                  source="struct pt { int64_t pad; int32_t x; };", records=[],
                  dropped=[])
    built = build_module_cross(api, [], "_penguin_cross_probe", tmp_path, CROSS_GCC)
    assert built.name == "_penguin_cross_probe.abi3.so"
    with open(built, "rb") as f:
        elf = ELFFile(f)
        assert elf["e_machine"] == "EM_AARCH64" and elf["e_type"] == "ET_DYN"
        symbols = {s.name for s in elf.get_section_by_name(".dynsym").iter_symbols()}
    assert "PyInit__penguin_cross_probe" in symbols
    bad = ApiCdef(text="struct pt { int32_t x; ...; };", source="#error nope\n",
                  records=[], dropped=[])
    with pytest.raises(EnvGenError, match="failed"):
        build_module_cross(bad, [], "_penguin_cross_bad", tmp_path, CROSS_GCC)


# -- the built arm64 release (after ./build.sh --host=arm64) ----------------------------

@pytest.mark.skipif(not ARM64_ARCHIVE.is_file(),
                    reason="no dist/penguin-qemu-arm64.tar.gz (./build.sh --host=arm64)")
def test_every_elf_file_of_the_arm64_archive_is_aarch64(tmp_path):
    with tarfile.open(ARM64_ARCHIVE) as tar:
        members = tar.getmembers()
        names = {m.name for m in members}
        elves = {}
        for m in members:
            if not m.isfile():
                continue
            data = tar.extractfile(m).read()
            if data[:4] == b"\x7fELF" and not m.name.startswith("share/qemu/"):
                path = tmp_path / m.name.replace("/", "_")
                path.write_bytes(data)
                elves[m.name] = path
    assert "lib/libqemu-kvm-aarch64.so" in names
    assert "lib/libqemu-kvm-x86_64.so" not in names
    assert "bin/qemu-img" in elves
    modules = [n for n in elves if n.startswith("lib/penguin-qemu-env/")]
    assert modules and all(n.endswith(".abi3.so") for n in modules)
    assert any(n.startswith("lib/penguin-qemu/") for n in elves)
    wrong = {n: machine_of(p) for n, p in elves.items() if machine_of(p) != "EM_AARCH64"}
    assert wrong == {}
