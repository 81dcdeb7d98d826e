"""The arm64 host release, run on this x86_64 machine under emulation.

dist/penguin-qemu-arm64.tar.gz (./build.sh --host=arm64; PENGUIN_ARM64_ARCHIVE names
another copy) is unpacked into /usr/local of a Debian 12 arm64 root (tests/roots.py:
debootstrap minbase with python3 3.11 and python3-cffi, cached), whose programs run
under qemu-user's qemu-aarch64 through binfmt_misc (tests/binfmt.py registers it). In
that root, through chroot:
- the loader resolves each shipped library's dependencies, the bundled ones inside
  /usr/local/lib/penguin-qemu, and qemu-img makes and reads a qcow2 image;
- arm64 python3 with cffi dlopens libqemu-system-{aarch64,mipsel,riscv64,x86_64}.so and
  boots the bare-metal hypercall guests of tests/guests on each through the client
  (python/penguin_qemu, tests/helpers/hypercall_guest.py): each hypercall reaches the
  Python callback with its number and arguments, registers and the env (through the
  compiled module) read right, and the guest checks each return value and register write
  and reports its verdict;
- the env modules (_penguin_qemu_env_system_<target>.abi3.so) import into arm64 CPython
  and type CPUArchState as the release's ABI headers do (tests/helpers/env_layout.py),
  and every declared type as the libraries' DWARF does: the layout checks the cross
  build wrote down (_build/env-gen-arm64/layout-checks), which it cannot run itself, run
  by scripts/penguin-env-layout-check.py in the root. PENGUIN_ARM64_LAYOUT_CHECK names a
  folder laid out as that script's own archive instead (the script, penguin_envgen/,
  layout-checks/).
Everything runs translated twice (Python and QEMU's own TCG under qemu-aarch64): each
step prints its time. A missing archive fails, as a missing x86_64 one does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import roots
from conftest import REPO
from guests.guests import FAMILIES, GUESTS, Boot, Guest
from test_hypercalls import NR_ARGS32, NR_ARGS64, expected_args

ARCHIVE = Path(os.environ.get("PENGUIN_ARM64_ARCHIVE",
                              REPO / "dist" / "penguin-qemu-arm64.tar.gz"))
LAYOUT_CHECKER = REPO / "scripts" / "penguin-env-layout-check.py"
LAYOUT_CHECKS = REPO / "_build" / "env-gen-arm64" / "layout-checks"
ENVGEN_FILES = ("__init__.py", "layout_check.py", "model.py")
# The targets the arm64 release is tested with in CI (notes/arm64-host-release.md §5),
# which test.sh cross-builds; PENGUIN_ARM64_TARGETS=all (or a comma list) tries more,
# against a full release (./build.sh --host=arm64 without --targets).
CI_TARGETS = ["aarch64", "mipsel", "riscv64", "x86_64"]
ALL_TARGETS = sorted({b.target for g in GUESTS for b in g.boots})
_WANTED = os.environ.get("PENGUIN_ARM64_TARGETS", ",".join(CI_TARGETS))
TARGETS = ALL_TARGETS if _WANTED == "all" else _WANTED.split(",")


def family_of() -> dict[str, str]:
    """Each library's ISA family, for its env module's fields: that of the guest named
    after the target where there is one (aarch64 also runs the arm guest)."""
    families: dict[str, str] = {}
    for g in GUESTS:
        for b in g.boots:
            if b.target == g.name or b.target not in families:
                families[b.target] = g.family
    return families


FAMILY_OF = family_of()
CASES = [(g, b) for g in GUESTS for b in g.boots if b.target in TARGETS]
LOADER = "/lib/ld-linux-aarch64.so.1"
BUNDLE = "lib/penguin-qemu"
# Bundled libraries the loader must take from the tree, not from the root's own copies
# (the root has zlib, zstd and pcre2 of its own: minbase needs them).
BUNDLED = ("libglib-2.0.so", "libpixman-1.so", "libcapstone.so", "libslirp.so",
           "libzstd.so", "libz.so")
EM_AARCH64 = 183
INSIDE = "/opt/penguin-test"
CHROOT_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
GUEST_TIMEOUT = 900      # seconds; a guest takes tens of seconds emulated
STEP_TIMEOUT = 600

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="binfmt_misc, chroot and mknod need root")


@dataclasses.dataclass(frozen=True)
class Arm64Root:
    path: Path
    setup: list[str]     # how long its preparation took, step by step


def step(what: str, start: float, record_property=None) -> str:
    """How long a step took: printed, recorded for the summary (tests/conftest.py)."""
    line = f"{what}: {time.monotonic() - start:.1f} s"
    print(f"arm64-host: {line}", flush=True)
    if record_property is not None:
        record_property("arm64_host", line)
    return line


def chroot(root: Path, *cmd: str, timeout: float = STEP_TIMEOUT,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*roots.in_root(root), *cmd], capture_output=True, text=True,
                          timeout=timeout, env={**CHROOT_ENV, **(env or {})})


def elf_machine(path: Path) -> int:
    with path.open("rb") as f:
        header = f.read(20)
    assert header[:4] == b"\x7fELF", f"{path} is not ELF"
    return int.from_bytes(header[18:20], "little")


def unpack(archive: Path, dest: Path) -> None:
    """tar -xzf penguin-qemu-arm64.tar.gz -C /usr/local, as a user unpacks it."""
    if not archive.is_file():
        pytest.fail(f"{archive} is missing: run ./build.sh --host=arm64 first (the arm64 "
                    "host release is a required architecture, not an optional one)")
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-C", str(dest), "-xzf", str(archive)], check=True)


def install_client(root: Path) -> None:
    """The client and the child helpers, in INSIDE (the release does not ship them)."""
    opt = root / INSIDE.lstrip("/")
    shutil.copytree(REPO / "python" / "penguin_qemu", opt / "python" / "penguin_qemu",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (opt / "helpers").mkdir(parents=True)
    for helper in ("hypercall_guest.py", "env_layout.py"):
        shutil.copy(REPO / "tests" / "helpers" / helper, opt / "helpers")


@pytest.fixture(scope="module")
def arm64_root(tmp_path_factory) -> Arm64Root:
    """A private copy of the cached arm64 root, the release in its /usr/local."""
    start = time.monotonic()
    try:
        cached = roots.bookworm_arm64_root()
    except roots.RootError as e:
        pytest.fail(f"no Debian 12 arm64 root: {e}")
    setup = [step(f"arm64 root ready ({cached.origin})", start)]
    root = tmp_path_factory.mktemp("arm64") / "root"
    root.mkdir()
    start = time.monotonic()
    roots.copy_root(cached.path, root)
    unpack(ARCHIVE, root / "usr" / "local")
    install_client(root)
    setup.append(step(f"root copied, {ARCHIVE.name} unpacked", start))
    return Arm64Root(root, setup)


def test_release_is_arm64_and_python_is_emulated(arm64_root, record_property):
    for line in arm64_root.setup:
        record_property("arm64_host", line)
    local = arm64_root.path / "usr" / "local"
    for target in TARGETS:
        library = local / "lib" / f"libqemu-system-{target}.so"
        assert library.exists(), f"the arm64 release has no {library.name}"
        assert elf_machine(library.resolve()) == EM_AARCH64, f"{library.name} is not arm64"
    assert elf_machine((local / "bin" / "qemu-img").resolve()) == EM_AARCH64
    start = time.monotonic()
    r = chroot(arm64_root.path, "/usr/bin/python3", "-c",
               "import platform, sys, cffi; "
               "print(platform.machine(), sys.version.split()[0], cffi.__version__)")
    step("python3 -c 'import cffi'", start, record_property)
    assert r.returncode == 0, r.stderr
    machine, python, _ = r.stdout.split()
    assert machine == "aarch64", f"the root's python3 runs as {machine}"
    assert python.startswith("3.11."), f"bookworm's python3 is {python}"


def test_loader_takes_bundled_libraries_from_the_tree(arm64_root, record_property):
    local = arm64_root.path / "usr" / "local"
    elves = [p for p in [*local.glob("bin/*"), *local.glob("lib/*.so"),
                         *local.glob("lib/penguin-qemu-env/*")]
             if p.is_file() and not p.is_symlink() and p.read_bytes()[:4] == b"\x7fELF"]
    assert elves
    start = time.monotonic()
    for elf in elves:
        inside = f"/{elf.relative_to(arm64_root.path)}"
        for name, path in roots.loader_list(arm64_root.path, LOADER, inside).items():
            if name.startswith(BUNDLED):
                assert path.startswith(f"/usr/local/{BUNDLE}/"), \
                    f"{inside}: {name} => {path}"
    step(f"ld.so --list of {len(elves)} files", start, record_property)


def test_qemu_img_in_the_arm64_root(arm64_root, record_property):
    start = time.monotonic()
    image = "/tmp/img.qcow2"
    r = chroot(arm64_root.path, "/usr/local/bin/qemu-img", "create", "-f", "qcow2",
               "-o", "compression_type=zstd", image, "16M")
    assert r.returncode == 0, r.stderr
    r = chroot(arm64_root.path, "/usr/local/bin/qemu-img", "info", "--output=json", image)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert (info["format"], info["virtual-size"]) == ("qcow2", 16 << 20)
    assert info["format-specific"]["data"]["compression-type"] == "zstd"
    step("qemu-img create + info", start, record_property)


def guest_spec(guest: Guest, boot: Boot, inside: str, image: str) -> dict:
    return {
        "name": boot.target, "result": f"{inside}/result.json", "env": "auto",
        "registers": dataclasses.asdict(guest.registers),
        "args": [*boot.machine, guest.load, f"{inside}/{image}", "-nodefaults",
                 "-display", "none", "-monitor", "none", "-serial",
                 f"file:{inside}/console.txt"],
    }


def check_seen(seen: dict, guest: Guest, console: str) -> None:
    assert seen["verdict"] == 0, f"guest fail mask {seen['verdict']}\n{console}"
    assert seen["status"] == 0, f"qemu_main_loop returned {seen['status']}"
    assert seen["env_auto"] == "module", "the env came from the header, not the module"
    assert seen["write"] == 1, "the register-write hypercall did not arrive once"
    calls = [c for c in seen["args"] if c[0] in (NR_ARGS32, NR_ARGS64)]
    assert len(calls) == guest.args32 + guest.args64, calls
    for call in calls:
        assert call[1:] in expected_args(guest, call[0]), f"arguments {call[1:]}"
    assert len(seen["user"]) == guest.user_calls, seen["user"]
    state = seen["state"][0]
    assert state["pc_reg"] == state["pc_module"] == state["args"][0]
    assert state["args_reg"] == state["args_module"] == state["args"]


@pytest.mark.parametrize("guest,boot", CASES, ids=[f"{g.name}-on-{b.target}"
                                                   for g, b in CASES])
def test_hypercall_guest_under_emulation(arm64_root, guest, boot, record_property):
    """The guest's protocol through the client, arm64 Python and library emulated."""
    work = arm64_root.path / "tmp" / f"guest-{guest.name}-{boot.target}"
    work.mkdir()
    image = guest.build()
    shutil.copy(image, work / image.name)
    inside = f"/tmp/{work.name}"
    start = time.monotonic()
    r = chroot(arm64_root.path, "/usr/bin/python3", f"{INSIDE}/helpers/hypercall_guest.py",
               json.dumps(guest_spec(guest, boot, inside, image.name)),
               timeout=GUEST_TIMEOUT, env={"PYTHONPATH": f"{INSIDE}/python"})
    step(f"guest {guest.name} on libqemu-system-{boot.target}.so", start, record_property)
    console = (work / "console.txt").read_text(errors="replace") \
        if (work / "console.txt").exists() else ""
    assert r.returncode == 0 and (work / "result.json").exists(), (
        f"rc={r.returncode}\n{r.stdout}\n{r.stderr}\nconsole:\n{console}")
    check_seen(json.loads((work / "result.json").read_text()), guest, console)


def test_env_modules_match_the_abi_headers(arm64_root, record_property):
    """Each env module imports into arm64 CPython 3.11 and gives CPUArchState the size
    and PC, a0..a5 offsets the ABI header gives it (cffi's own layout in that root)."""
    fields = {t: [FAMILIES[FAMILY_OF[t]].env_pc, *FAMILIES[FAMILY_OF[t]].env_args]
              for t in TARGETS}
    start = time.monotonic()
    r = chroot(arm64_root.path, "/usr/bin/python3", f"{INSIDE}/helpers/env_layout.py",
               "/usr/local", json.dumps(fields))
    step(f"env modules of {', '.join(TARGETS)}", start, record_property)
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["machine"] == "aarch64"
    for target in TARGETS:
        seen = result["targets"][target]
        assert seen["module"] == seen["header"], target
        assert seen["module"]["sizeof"] > 0, target
        record_property("arm64_host", f"env module {target} imported and laid out: "
                                      f"{seen['seconds']} s")


def layout_check_source(tmp_path: Path) -> Path:
    """A folder with penguin-env-layout-check.py, penguin_envgen/ and layout-checks/:
    PENGUIN_ARM64_LAYOUT_CHECK's, or put together from this checkout."""
    given = os.environ.get("PENGUIN_ARM64_LAYOUT_CHECK")
    if given:
        return Path(given)
    if not LAYOUT_CHECKER.is_file():
        pytest.skip(f"{LAYOUT_CHECKER} is missing: this checkout has no arm64 cross build")
    if not list(LAYOUT_CHECKS.glob("*.json")):
        pytest.fail(f"{LAYOUT_CHECKS} has no layout checks: run ./build.sh --host=arm64")
    dest = tmp_path / "penguin-env-layout-check"
    (dest / "penguin_envgen").mkdir(parents=True)
    shutil.copy(LAYOUT_CHECKER, dest)
    for name in ENVGEN_FILES:
        shutil.copy(REPO / "scripts" / "penguin_envgen" / name, dest / "penguin_envgen")
    shutil.copytree(LAYOUT_CHECKS, dest / "layout-checks")
    return dest


def test_env_modules_match_their_dwarf(arm64_root, tmp_path, record_property):
    """The cross build's written-down layout checks (every declared type's size and
    members, from the libraries' DWARF) against cffi's layout in arm64 CPython."""
    source = layout_check_source(tmp_path)
    checks = sorted(p.stem for p in (source / "layout-checks").glob("*.json"))
    modules = sorted(p.name.split(".")[0] for p in
                     (arm64_root.path / "usr/local/lib/penguin-qemu-env").iterdir())
    assert checks == modules, "a layout check for each env module the release ships"
    inside = f"{INSIDE}/layout-check"
    shutil.copytree(source, arm64_root.path / inside.lstrip("/"))
    start = time.monotonic()
    r = chroot(arm64_root.path, "/usr/bin/python3", f"{inside}/penguin-env-layout-check.py",
               "--modules-dir", "/usr/local/lib/penguin-qemu-env",
               "--checks-dir", f"{inside}/layout-checks")
    step(f"layout checks of {len(checks)} env modules against DWARF", start,
         record_property)
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"{len(checks)} of {len(checks)} modules match their DWARF" in r.stdout, r.stdout
