"""The KVM library, libqemu-kvm-x86_64.so (CONTRACT sections 2 and 4): another name of
libqemu-system-x86_64.so, which has KVM beside TCG, driven by the Python client in kvm
mode, and the x86 hypercall guest booted under -accel kvm.

The boot needs a usable /dev/kvm (it opens it, asks KVM_GET_API_VERSION and
KVM_CREATE_VM first) and is skipped with the reason otherwise. Everything else runs
anywhere, including QEMU's own error for -accel kvm on a machine without KVM.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import subprocess
from pathlib import Path

import pytest

import penguin_arches
from conftest import REPO, STAGE
from guests.guests import GUESTS

KVM_ARCHES = penguin_arches.kvm_arches()
KVM_GET_API_VERSION, KVM_CREATE_VM = 0xAE00, 0xAE01
KVM_API_VERSION = 12     # the only version Linux has ever reported

NR_ARGS32, NR_ARGS64, NR_UNREG, NR_USER = 0x50454E01, 0x50454E11, 0x50454E04, 0x50454E07
A32 = [0x11111111 * (i + 1) for i in range(6)]
A64 = [0x1111111111111111 * (i + 1) for i in range(6)]
FAIL_NEAR = 0x2
# The translator, the TCG accelerator and an x86 TCG helper; and KVM's vCPU loop and
# the x86 KVM door of the hypercalls.
TCG_SYMBOLS = ("tcg_gen_code", "tcg_init", "tcg_exec_realizefn", "tcg_cpu_exec",
               "helper_outl")
KVM_SYMBOLS = ("kvm_cpu_exec", "penguin_kvm_io_exit")

pytestmark = pytest.mark.skipif(not KVM_ARCHES, reason="this host has no KVM library "
                                "(scripts/penguin_arches.py KVM_HOSTS)")


def kvm_unusable() -> str | None:
    """Why this machine cannot run a KVM guest, or None when it can."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"/dev/kvm: {e.strerror}"
    try:
        try:
            version = fcntl.ioctl(fd, KVM_GET_API_VERSION, 0)
        except OSError as e:
            return f"KVM_GET_API_VERSION failed: {e.strerror}"
        if version != KVM_API_VERSION:
            return f"KVM_GET_API_VERSION returned {version}, not {KVM_API_VERSION}"
        try:
            os.close(fcntl.ioctl(fd, KVM_CREATE_VM, 0))
        except OSError as e:
            return f"KVM_CREATE_VM failed: {e.strerror}"
    finally:
        os.close(fd)
    return None


def kvm_library(arch: penguin_arches.Arch) -> Path:
    lib = STAGE / "lib" / arch.library
    assert lib.is_file(), f"{lib} missing: run ./build.sh"
    return lib


def run_child(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """code in a fresh Debian python3 (one VM per process), helpers importable."""
    path = ":".join(str(REPO / p) for p in ("python", "tests", "tests/helpers"))
    return subprocess.run(["/usr/bin/python3", "-c", code, *args], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, PYTHONPATH=path))


# Start a VM through the client in kvm mode: argv[1] is the prefix, the rest QEMU's.
RUN_VM = """
import sys
from pathlib import Path
from penguin_qemu import Qemu
qemu = Qemu("x86_64", mode="kvm", prefix=Path(sys.argv[1]))
print("STATUS", qemu.run(sys.argv[2:]), flush=True)
"""


def defined_dynamic_symbols(path: Path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("arch", KVM_ARCHES, ids=lambda a: a.name)
def test_kvm_name_is_the_system_library_with_both_accelerators(stage, arch):
    """One build for both accelerators: the KVM name links to the target's system
    library, whose exports have the translator and KVM's vCPU loop."""
    lib = kvm_library(arch)
    assert lib.is_symlink() and os.readlink(lib) == arch.built_library
    exported = defined_dynamic_symbols(lib)
    assert set(TCG_SYMBOLS) <= exported, sorted(set(TCG_SYMBOLS) - exported)
    assert set(KVM_SYMBOLS) <= exported, sorted(set(KVM_SYMBOLS) - exported)


def test_accel_tcg_runs_under_the_kvm_name(stage, tmp_path):
    """-accel tcg through the KVM name boots the x86 hypercall guest as the system
    library does (the client in kvm mode: every number through the fallback)."""
    arch = KVM_ARCHES[0]
    check_x86_guest(*boot_x86_guest(arch, kvm_library(arch), tmp_path, accel="tcg"))


def test_accel_kvm_without_kvm_fails_clearly(stage):
    """A machine without (usable) KVM: QEMU's own error, exit 1, nothing else."""
    if kvm_unusable() is None:
        pytest.skip("KVM is usable here, so -accel kvm does not fail")
    r = run_child(RUN_VM, str(stage), "-accel", "kvm", "-M", "pc", "-nodefaults",
                  "-display", "none")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "-accel kvm: failed to initialize kvm" in r.stderr, r.stderr
    if not os.path.exists("/dev/kvm"):
        assert "Could not access KVM kernel module: No such file or directory" in r.stderr
    assert "STATUS" not in r.stdout


CLIENT_DISPATCH = """
import json, sys
from pathlib import Path
from penguin_qemu import NOT_HANDLED, Qemu
qemu = Qemu("x86_64", mode="kvm", prefix=Path(sys.argv[1]))
fallback_saw = []
def fallback(call):
    fallback_saw.append(call.nr)
    return NOT_HANDLED
qemu.on_hypercall(0x50454E11, lambda call: sum(call.args))
qemu.on_unregistered(fallback)
ret = qemu.ffi.new("uint64_t *", 99)
NULL = qemu.ffi.NULL
out = {
    "handled": bool(qemu.lib.penguin_handle_guest_hypercall(NULL, 0x50454E11, 1, 2, 3, 4,
                                                            5, 6, ret)),
    "ret": ret[0],
    "registered": bool(qemu.lib.penguin_guest_hypercall_registered(0x50454E11)),
    "other_handled": bool(qemu.lib.penguin_handle_guest_hypercall(NULL, 0x1234, 0, 0, 0,
                                                                  0, 0, 0, ret)),
    "fallback_saw": fallback_saw,
    "library": qemu.install.library.name, "header": qemu.install.header.name,
    "env_header": qemu.install.env_header.name, "env_module": qemu.install.env_module.name,
    "module_size": qemu.env_ffi("module").sizeof("CPUArchState"),
    "header_size": qemu.env_ffi("header").sizeof("CPUArchState"),
}
print("KVM-CLIENT " + json.dumps(out), flush=True)
"""


def test_client_kvm_mode_routes_every_number_through_the_fallback(stage):
    """Qemu(mode="kvm") opens the KVM library through the kvm manifest and, as
    Penguin does under KVM, registers nothing: the fallback ("kvm") callback gets
    every number and picks the handler itself (CONTRACT section 4)."""
    r = run_child(CLIENT_DISPATCH, str(stage))
    lines = [line for line in r.stdout.splitlines() if line.startswith("KVM-CLIENT ")]
    assert lines, r.stdout + r.stderr
    out = json.loads(lines[0][len("KVM-CLIENT "):])
    assert out["library"] == "libqemu-kvm-x86_64.so"
    assert out["header"] == "qemu_cffi_kvm_x86_64.h"
    assert out["env_header"] == "qemu_cffi_kvm_x86_64_env.h"
    assert out["env_module"].startswith("_penguin_qemu_env_kvm_x86_64.")
    assert out["handled"] and out["ret"] == 21
    assert not out["registered"], "kvm mode registered a number with the library"
    assert not out["other_handled"] and out["fallback_saw"] == [0x1234]
    assert out["module_size"] == out["header_size"] > 0


# hypercall_guest.py plays the host side of tests/guests/PROTOCOL.md; only the mode of
# its Qemu differs here.
KVM_GUEST = """
import functools, sys
import hypercall_guest
from penguin_qemu import Qemu
hypercall_guest.Qemu = functools.partial(Qemu, mode="kvm")
sys.exit(hypercall_guest.main())
"""


def boot_x86_guest(arch: penguin_arches.Arch, library: Path, workdir: Path,
                   accel: str = "kvm") -> tuple[dict, str]:
    """Boot tests/guests/x86.S on library under -accel accel; (what the host saw,
    console)."""
    guest = next(g for g in GUESTS if g.name == "x86")
    boot = next(b for b in guest.boots if b.target == arch.target)
    console, result = workdir / "console.txt", workdir / "result.json"
    spec = {
        "library": str(library), "name": arch.name, "result": str(result),
        "registers": dataclasses.asdict(guest.registers), "probe_bad_inputs": False,
        "args": [*boot.machine, "-accel", accel, guest.load, str(guest.build()),
                 "-nodefaults", "-display", "none", "-monitor", "none",
                 "-serial", f"file:{console}"],
    }
    r = run_child(KVM_GUEST, json.dumps(spec))
    text = console.read_text(errors="replace") if console.exists() else ""
    assert r.returncode == 0 and result.exists(), (
        f"rc={r.returncode}\n{r.stdout}\n{r.stderr}\nconsole:\n{text}")
    return json.loads(result.read_text()), text


def check_x86_guest(seen: dict, text: str) -> None:
    """What PROTOCOL.md promises for the x86 guest, under KVM as under TCG."""
    assert seen["verdict"] is not None, f"no verdict\n{text}"
    assert not seen["verdict"] & FAIL_NEAR, (
        f"a wrong-size OUT was taken for a hypercall\n{text}")
    # Everything the host saw, so that a failure under a KVM we cannot run here says
    # which step broke (e.g. 0x80 with or without the ring-3 call having arrived).
    assert seen["verdict"] == 0, (f"guest fail mask {seen['verdict']:#x}\n{text}\n"
                                  f"seen: {json.dumps(seen)}")
    assert seen["nearmiss"] == 0, "a near miss reached the callback"
    # One call per sentinel form (imm8, %dx) in each code size; the %dx form carries
    # dx = 0x88 in the low half of a2.
    for nr, args in ((NR_ARGS64, A64), (NR_ARGS32, A32)):
        calls = [c[1:] for c in seen["args"] if c[0] == nr]
        dx_form = [*args[:2], (args[2] & ~0xFFFF) | 0x88, *args[3:]]
        assert calls == [args, dx_form], f"{nr:#x}: {calls}"
    assert seen["user"] == [[NR_USER, *A64]], seen["user"]   # from ring 3
    assert seen["write"] == 1
    assert seen["unregistered"] == [[NR_UNREG, *A64]]
    (state,) = seen["state"]
    sentinel = state["args"][0]
    assert state["pc_reg"] == state["pc_module"] == state["pc_header"] == sentinel
    assert (state["args_reg"] == state["args_module"] == state["args_header"]
            == state["args"])
    assert state["args"][1:] == A64[1:]


@pytest.mark.parametrize("arch", KVM_ARCHES, ids=lambda a: a.name)
def test_hypercall_guest_under_kvm(stage, arch, tmp_path):
    """tests/guests/x86.S under -accel kvm: the port-0x88 door of
    target/i386/kvm/penguin-hypercall.c. Hypercalls arrive with their six arguments
    (64-bit code: rdi rsi rdx r10 r8 r9; 32-bit code: ebx ecx edx esi edi ebp), the
    return value and a callback's register writes (penguin_write_guest_reg, the env
    module, the ABI env header) reach the guest, the unregistered number reaches only
    the fallback, and byte/word OUTs to 0x88 are ignored without stopping the vCPU."""
    reason = kvm_unusable()
    if reason is not None:
        pytest.skip(f"KVM boot not run: {reason}")
    check_x86_guest(*boot_x86_guest(arch, kvm_library(arch), tmp_path))
