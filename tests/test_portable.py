"""The release where Penguin runs: another distribution, nothing but glibc, a C embedder.

The archive build.sh made (dist/penguin-qemu.tar.gz) is unpacked as a user unpacks it:
- into /usr/local of a Debian 13 root (tests/roots.py: debootstrap minbase with
  python3 3.13 and python3-cffi, cached), where the hypercall guests of tests/guests
  boot through the Python client in a chroot; the callbacks read registers, the env
  through the compiled stable-ABI module (the module, not the header) and guest memory;
- into /usr/local of a root of nothing but Debian 12's glibc (no shell, no zlib), where
  the loader resolves every library and qemu-img inside the unpacked tree, qemu-img
  compresses with zlib and zstd, and a C embedder boots a guest;
- into a temporary prefix, against which tests/embedder/embed_hypercall.c is compiled
  with `pkg-config --cflags --libs penguin-qemu` and -Wall -Wextra -Werror, and boots
  guests through qemu_init, qemu_main_loop and qemu_cleanup.
Programs in a root run through tests/roots.py's in_root: chroot in a mount namespace of
their own with /proc mounted, as on any running system (glibc finds an executable's
$ORIGIN through /proc/self/exe). chroot needs root, as ./build.sh does. About 25 s.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import penguin_arches
import roots
from conftest import REPO
from guests.guests import Guest
from test_hypercalls import NR_ARGS32, NR_ARGS64, expected_args
from test_package import guest_for

RELEASE = REPO / "dist" / "penguin-qemu.tar.gz"
EMBEDDER = REPO / "tests" / "embedder" / "embed_hypercall.c"
LOADER = "/lib64/ld-linux-x86-64.so.2"
BUNDLE = "lib/penguin-qemu"
NR_USER = 0x50454E07
# At least these (CONTRACT's Penguin names); the others of tests/guests come along.
TRIXIE_ARCHES = ["mipsel", "aarch64", "riscv64", "powerpc64", "x86_64", "armel",
                 "loongarch64", "powerpc64el"]
EMBEDDER_ARCHES = ["riscv64", "mipsel", "powerpc64", "x86_64"]
# The sentinel at the NR_STATE call's a0, as an integer of (value, bytes) read in the
# guest's byte order (PROTOCOL.md); x86's OUT is two bytes.
SENTINELS = {"mips": (0x0000000A, 4), "arm": (0xEE000710, 4), "aarch64": (0xD500501F, 4),
             "ppc": (0x694A0000, 4), "riscv": (0x00004013, 4), "loongarch": (0x00006C00, 4),
             "x86_64": (0x88E7, 2)}
# What a root of nothing but glibc must not have (each is bundled in lib/penguin-qemu).
ABSENT = {"glib": "libglib-2.0.so", "pixman": "libpixman-1.so", "libfdt": "libfdt",
          "capstone": "libcapstone.so", "slirp": "libslirp.so", "zstd": "libzstd.so",
          "zlib": "libz.so", "pcre2": "libpcre2-8.so"}
TRIXIE_DIR = "/opt/penguin-test"
CHROOT_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chroot and mknod need root")


# -- helpers --------------------------------------------------------------------------

def unpack(root: Path) -> None:
    """tar -xzf penguin-qemu.tar.gz -C root, as the README says."""
    if not RELEASE.exists():
        pytest.fail(f"{RELEASE} is missing: run ./build.sh first")
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(root), "-xzf", str(RELEASE)], check=True)


def chroot(root: Path, *cmd: str, timeout: float = 120,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*roots.in_root(root), *cmd], capture_output=True, text=True,
                          timeout=timeout, env={**CHROOT_ENV, **(env or {})})


def sentinel_bytes(guest: Guest, name: str) -> str:
    """The hex of the sentinel's bytes in guest memory (as many as SENTINELS says)."""
    value, size = SENTINELS[guest.family]
    order = "big" if penguin_arches.by_name(name).endian == "be" else "little"
    return value.to_bytes(size, order).hex()


# -- Debian 13 with Python 3.13 -------------------------------------------------------

@pytest.fixture(scope="module")
def trixie(tmp_path_factory) -> Path:
    """A private copy of the cached trixie root with the release in its /usr/local and
    the client (python/penguin_qemu) and the guest helper in /opt/penguin-test."""
    try:
        cached = roots.trixie_root()
    except roots.RootError as e:
        pytest.fail(f"no Debian 13 root: {e}")
    root = tmp_path_factory.mktemp("trixie") / "root"
    root.mkdir()
    roots.copy_root(cached.path, root)
    unpack(root / "usr" / "local")
    opt = root / TRIXIE_DIR.lstrip("/")
    shutil.copytree(REPO / "python" / "penguin_qemu", opt / "python" / "penguin_qemu",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (opt / "helpers").mkdir(parents=True)
    shutil.copy(REPO / "tests" / "helpers" / "hypercall_guest.py", opt / "helpers")
    return root


def test_trixie_has_python_3_13_and_nothing_of_the_build(trixie, record_property):
    r = chroot(trixie, "/usr/bin/python3", "-c",
               "import sys, cffi; print(sys.version.split()[0], cffi.__version__)")
    assert r.returncode == 0, r.stderr
    python, cffi = r.stdout.split()
    assert python.startswith("3.13."), f"trixie's python3 is {python}"
    record_property("portable", f"Debian 13 root: CPython {python}, cffi {cffi}")
    assert not list((trixie / "usr/lib/x86_64-linux-gnu").glob("libglib-2.0.so*")), \
        "the trixie root has glib: the test would not show the bundled one is used"


def test_env_modules_import_into_python_3_13(trixie, record_property):
    """Every env module the manifests name is one .abi3.so file that CPython 3.13
    imports under the name before its first dot, as Penguin's shim does."""
    code = (
        "import importlib.util, json, sys\n"
        "inc = '/usr/local/include/penguin-qemu-cffi'\n"
        "done = []\n"
        "for mode in ('system', 'kvm'):\n"
        "    try:\n"
        "        m = json.load(open(f'{inc}/qemu_cffi_{mode}_manifest.json'))\n"
        "    except FileNotFoundError:\n"
        "        continue\n"
        "    for h in m['headers']:\n"
        "        p = '/usr/local/lib/penguin-qemu-env/' + h['env_module']\n"
        "        name = h['env_module'].split('.')[0]\n"
        "        spec = importlib.util.spec_from_file_location(name, p)\n"
        "        mod = importlib.util.module_from_spec(spec)\n"
        "        spec.loader.exec_module(mod)\n"
        "        done.append([h['arch'], h['env_module'],"
        " mod.ffi.sizeof('CPUArchState')])\n"
        "print(json.dumps([sys.version.split()[0], done]))\n")
    r = chroot(trixie, "/usr/bin/python3", "-c", code)
    assert r.returncode == 0, r.stderr
    python, done = json.loads(r.stdout)
    assert len(done) >= len(penguin_arches.load())
    for arch, module, size in done:
        assert module.endswith(".abi3.so") and module.startswith("_penguin_qemu_env_"), arch
        assert size > 0, arch
    record_property("portable", f"env modules ({len({m for _, m, _ in done})} files) "
                                f"import into CPython {python} (Debian 13)")


@pytest.mark.parametrize("name", TRIXIE_ARCHES)
def test_hypercall_guest_in_trixie(trixie, name):
    """The guest's whole protocol through the client under Python 3.13, from
    /usr/local: registers, the env via the compiled module, guest memory."""
    guest, boot = guest_for(penguin_arches.by_name(name))
    work = trixie / "tmp" / f"guest-{name}"
    work.mkdir()
    image = guest.build()
    shutil.copy(image, work / image.name)
    inside = f"/tmp/guest-{name}"
    spec = {
        "name": name, "result": f"{inside}/result.json", "env": "auto",
        "registers": dataclasses.asdict(guest.registers),
        "args": [*boot.machine, guest.load, f"{inside}/{image.name}", "-nodefaults",
                 "-display", "none", "-monitor", "none", "-serial",
                 f"file:{inside}/console.txt"],
    }
    r = chroot(trixie, "/usr/bin/python3", f"{TRIXIE_DIR}/helpers/hypercall_guest.py",
               json.dumps(spec), timeout=90, env={"PYTHONPATH": f"{TRIXIE_DIR}/python"})
    console = (work / "console.txt").read_text(errors="replace") \
        if (work / "console.txt").exists() else ""
    assert r.returncode == 0 and (work / "result.json").exists(), (
        f"rc={r.returncode}\n{r.stdout}\n{r.stderr}\nconsole:\n{console}")
    seen = json.loads((work / "result.json").read_text())
    assert seen["verdict"] == 0, f"guest fail mask {seen['verdict']}\n{console}"
    assert seen["env_auto"] == "module", "the env came from the header, not the module"
    calls = [c for c in seen["args"] if c[0] in (NR_ARGS32, NR_ARGS64)]
    assert len(calls) == guest.args32 + guest.args64
    for call in calls:
        assert call[1:] in expected_args(guest, call[0]), f"arguments {call[1:]}"
    state = seen["state"][0]
    assert state["pc_reg"] == state["pc_module"] == state["args"][0]
    assert state["args_reg"] == state["args_module"] == state["args"]
    assert state["sentinel_memory"][:2 * SENTINELS[guest.family][1]] == \
        sentinel_bytes(guest, name), "guest memory at the sentinel"


# -- nothing but glibc ----------------------------------------------------------------

@pytest.fixture(scope="module")
def glibc_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("glibc-only") / "root"
    roots.glibc_root(root)
    unpack(root / "usr" / "local")
    return root


def outside_local(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        if Path(dirpath) == root / "usr":
            dirnames[:] = [d for d in dirnames if d != "local"]
        for name in filenames:
            yield Path(dirpath) / name


def test_glibc_root_has_none_of_the_bundled_libraries(glibc_root):
    files = [p.name for p in outside_local(glibc_root)]
    assert "libc.so.6" in files
    bundled = [p.name for p in (glibc_root / "usr/local" / BUNDLE).iterdir()]
    for what, prefix in ABSENT.items():
        assert not [f for f in files if f.startswith(prefix)], f"{what} is in the root"
        # ... and the release does need it: it ships it.
        assert [f for f in bundled if f.startswith(prefix)], f"{what} is not bundled"


def test_loader_resolves_everything_inside_the_tree(glibc_root):
    """Every library (ours, the bundled ones, the env modules) and qemu-img: each
    dependency is glibc's (the root's only files) or in /usr/local/lib/penguin-qemu.
    ldd is a bash script and the root has no shell: the loader's --list is what it
    runs."""
    local = glibc_root / "usr" / "local"
    elves = [p for p in [*local.glob("bin/*"), *local.glob("lib/*.so"),
                         *local.glob(f"{BUNDLE}/*"), *local.glob("lib/penguin-qemu-env/*")]
             if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF"]
    assert len(elves) > len(penguin_arches.targets())
    # The files of package libc6, as dpkg lists them and as merged /usr spells them.
    glibc = {s for p in roots.package_files("libc6")
             for s in (str(p), str(p)[4:] if str(p).startswith("/usr/") else f"/usr{p}")}
    for elf in elves:
        inside = f"/{elf.relative_to(glibc_root)}"
        for name, path in roots.loader_list(glibc_root, LOADER, inside).items():
            assert path.startswith(f"/usr/local/{BUNDLE}/") or path in glibc, \
                f"{inside}: {name} => {path}"


def test_qemu_img_compresses_in_a_glibc_root(glibc_root):
    """qemu-img with zlib and zstd compression, from the bundled libraries."""
    data = glibc_root / "tmp" / "data.raw"
    with open(data, "wb") as f:
        for i in range(256):
            f.write(bytes([i]) * 4096 + os.urandom(64) + b"\0" * 60_000)
    for kind in ("zlib", "zstd"):
        out = f"/tmp/{kind}.qcow2"
        r = chroot(glibc_root, "/usr/local/bin/qemu-img", "convert", "-c", "-O", "qcow2",
                   "-o", f"compression_type={kind}", "/tmp/data.raw", out)
        assert r.returncode == 0, r.stderr
        r = chroot(glibc_root, "/usr/local/bin/qemu-img", "compare", "/tmp/data.raw", out)
        assert r.returncode == 0 and "Images are identical" in r.stdout, r.stdout + r.stderr
        info = chroot(glibc_root, "/usr/local/bin/qemu-img", "info", "--output=json", out)
        data_info = json.loads(info.stdout)["format-specific"]["data"]
        assert data_info["compression-type"] == kind
        assert (glibc_root / out.lstrip("/")).stat().st_size < data.stat().st_size // 2


def test_c_embedder_boots_a_guest_in_a_glibc_root(glibc_root, tmp_path):
    """Compiled against the root's /usr/local as a sysroot, run in the chroot."""
    exe = compile_embedder(tmp_path, "riscv64", sysroot=glibc_root)
    assert not [n for n in needed(exe) if "qemu" not in n and n != "libc.so.6"], \
        f"the embedder itself needs {needed(exe)}"
    shutil.copy(exe, glibc_root / "tmp" / "embed_hypercall")
    guest, boot = guest_for(penguin_arches.by_name("riscv64"))
    shutil.copy(guest.build(), glibc_root / "tmp" / "riscv64-guest")
    r = chroot(glibc_root, "/tmp/embed_hypercall",
               *embedder_args(guest, "riscv64", boot.machine, "/tmp/riscv64-guest",
                              "/tmp/riscv64-console.txt"), timeout=60)
    check_embedder_run(r, guest, "riscv64")


# -- a C embedder ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def prefix(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("prefix")
    unpack(root)
    return root


def pkg_config(prefix: Path, *args: str) -> str:
    r = subprocess.run(["pkg-config", "--define-prefix", *args, "penguin-qemu"],
                       capture_output=True, text=True,
                       env=dict(os.environ, PKG_CONFIG_PATH=str(prefix / "lib/pkgconfig")))
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def needed(path: Path) -> list[str]:
    out = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[(.*?)\]", out)


def compile_embedder(workdir: Path, name: str, prefix: Path | None = None,
                     sysroot: Path | None = None) -> Path:
    """cc with pkg-config's flags: against prefix (--define-prefix, RUNPATH there), or
    against sysroot/usr/local as installed (PKG_CONFIG_SYSROOT_DIR, RUNPATH
    /usr/local/lib for running in that root)."""
    env = dict(os.environ)
    if sysroot is not None:
        env.update(PKG_CONFIG_SYSROOT_DIR=str(sysroot),
                   PKG_CONFIG_LIBDIR=str(sysroot / "usr/local/lib/pkgconfig"))
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "penguin-qemu"],
                               capture_output=True, text=True, env=env, check=True).stdout
        rpath = "/usr/local/lib"
    else:
        assert prefix is not None
        flags = pkg_config(prefix, "--cflags", "--libs")
        rpath = pkg_config(prefix, "--variable=libdir")
    exe = workdir / f"embed_hypercall-{name}"
    cmd = ["cc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(exe),
           str(EMBEDDER), *flags.split(), f"-lqemu-system-{name}", f"-Wl,-rpath,{rpath}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr, f"{' '.join(cmd)}\n{r.stderr}"
    return exe


def embedder_args(guest: Guest, name: str, machine: list[str], image: str,
                  console: str) -> list[str]:
    regs = guest.registers
    endian = penguin_arches.by_name(name).endian
    return [endian, str(regs.pc), *map(str, regs.args), "--", *machine, guest.load, image,
            "-nodefaults", "-display", "none", "-monitor", "none", "-serial",
            f"file:{console}"]


def check_embedder_run(r: subprocess.CompletedProcess, guest: Guest, name: str) -> None:
    summary = [line for line in r.stdout.splitlines() if line.startswith("EMBED ")]
    assert summary, f"rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    seen = dict(kv.split("=", 1) for kv in summary[0].split()[1:])
    assert seen["verdict"] == "0" and seen["verdicts"] == "1", f"{summary}\n{r.stderr}"
    assert r.returncode == 0 and seen["status"] == "0", r.stdout + r.stderr
    assert (seen["write"], seen["state"], seen["state_regs_ok"]) == ("1", "1", "1"), summary
    assert (seen["unregistered"], seen["nearmiss"]) == ("1", "0"), summary
    assert seen["memory"].startswith(sentinel_bytes(guest, name)), summary
    calls = [[int(v, 16) for v in line.split()[1:]] for line in r.stdout.splitlines()
             if line.startswith("CALL ")]
    args = [c for c in calls if c[0] in (NR_ARGS32, NR_ARGS64)]
    user = [c for c in calls if c[0] == NR_USER]
    assert len(args) == guest.args32 + guest.args64, calls
    assert len(user) == guest.user_calls, calls
    for call in args:
        assert call[1:] in expected_args(guest, call[0]), f"arguments {call[1:]}"
    user_nr = NR_ARGS32 if guest.args32 and not guest.args64 else NR_ARGS64
    for call in user:
        assert call[1:] in expected_args(guest, user_nr), f"user-mode arguments {call[1:]}"


def test_env_modules_import_into_the_hosts_python(prefix, record_property):
    """The same .abi3.so files in the build machine's CPython (Debian 12's 3.11)."""
    code = ("import importlib.util, sys\n"
            "for p in sys.argv[1:]:\n"
            "    name = p.rsplit('/', 1)[1].split('.')[0]\n"
            "    spec = importlib.util.spec_from_file_location(name, p)\n"
            "    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "    assert m.ffi.sizeof('CPUArchState') > 0, p\n"
            "print(sys.version.split()[0])\n")
    modules = sorted(str(p) for p in (prefix / "lib/penguin-qemu-env").iterdir())
    assert modules and all(m.endswith(".abi3.so") for m in modules), modules
    r = subprocess.run(["/usr/bin/python3", "-c", code, *modules], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    record_property("portable", f"env modules ({len(modules)} files) import into "
                                f"CPython {r.stdout.strip()} (this machine)")


def test_pkg_config_describes_the_prefix(prefix):
    assert pkg_config(prefix, "--cflags") == f"-I{prefix}/include/penguin-qemu"
    assert pkg_config(prefix, "--libs") == f"-L{prefix}/lib"
    assert (Path(pkg_config(prefix, "--variable=includedir")) / "penguin-qemu" /
            "penguin.h").is_file()
    names = pkg_config(prefix, "--variable=system_names").split()
    assert sorted(names) == sorted(a.name for a in penguin_arches.load())
    for name in names:
        assert (prefix / "lib" / f"libqemu-system-{name}.so").exists(), name
    for name in pkg_config(prefix, "--variable=kvm_names").split():
        assert (prefix / "lib" / f"libqemu-kvm-{name}.so").exists(), name
    conf = (REPO / "configs" / "upstream.conf").read_text()
    assert f"QEMU_VERSION={pkg_config(prefix, '--modversion')}\n" in conf


@pytest.mark.parametrize("name", EMBEDDER_ARCHES)
def test_c_embedder_runs_a_guest(prefix, name, tmp_path):
    """-Wall -Wextra -Werror clean; the six arguments, register writes, the env
    pointer, guest memory and the lifecycle, from C."""
    exe = compile_embedder(tmp_path, name, prefix=prefix)
    guest, boot = guest_for(penguin_arches.by_name(name))
    r = subprocess.run([str(exe), *embedder_args(guest, name, boot.machine,
                                                 str(guest.build()),
                                                 str(tmp_path / "console.txt"))],
                       capture_output=True, text=True, timeout=60)
    check_embedder_run(r, guest, name)
