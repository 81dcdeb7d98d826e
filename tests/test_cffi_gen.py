"""The generated cffi headers cdef together with what Penguin's shim appends to them,
for the system libraries and the host's KVM library (qemu_cffi_kvm_*)."""

from __future__ import annotations

import json
import os
import re

import cffi
import pytest

import penguin_arches
from conftest import ARCHES, STAGE, in_own_process
from shim import shim_cdef_text

KVM_ARCHES = penguin_arches.kvm_arches()

INCLUDE = STAGE / "include" / "penguin-qemu-cffi"


def manifest() -> dict:
    return json.loads((INCLUDE / "qemu_cffi_system_manifest.json").read_text())


@pytest.mark.parametrize("arch", ARCHES, ids=lambda a: a.name)
def test_header_cdefs_with_shim_appends_and_resolves(stage, arch):
    in_own_process(header_cdefs_and_resolves, stage, arch)


def header_cdefs_and_resolves(stage, arch) -> None:
    header = (INCLUDE / f"qemu_cffi_system_{arch.name}.h").read_text()
    assert "target_long" not in header and "target_ulong" not in header
    ffi = cffi.FFI()
    ffi.cdef(shim_cdef_text(header, arch.bits))
    lib = ffi.dlopen(str(stage / "lib" / arch.library), os.RTLD_NOW | os.RTLD_GLOBAL)
    for name in ("qemu_init", "qemu_main_loop", "qemu_cleanup", "cpu_memory_rw_debug",
                 "penguin_handle_guest_hypercall", "penguin_read_guest_reg"):
        assert getattr(lib, name) is not None
    assert lib.qemu_main == ffi.NULL
    assert ffi.sizeof("vaddr") == 8


def test_manifest_names_every_library(stage):
    data = manifest()
    assert data["schema"] == 1 and data["mode"] == "system"
    by_arch = {e["arch"]: e for e in data["headers"]}
    assert set(by_arch) == {a.name for a in ARCHES}
    for arch in ARCHES:
        entry = by_arch[arch.name]
        assert entry["qemu_target"] == arch.qemu_target
        assert entry["library"] == arch.library
        assert (INCLUDE / entry["header"]).is_file()
        assert (INCLUDE / entry["env_header"]).is_file()
        assert (stage / "lib" / "penguin-qemu-env" / entry["env_module"]).is_file()
        assert entry["env_module"].startswith(f"_penguin_qemu_env_system_{arch.target}.")


@pytest.mark.parametrize("arch", KVM_ARCHES, ids=lambda a: a.name)
def test_kvm_header_cdefs_with_shim_appends_and_resolves(stage, arch):
    """The KVM header with the shim's appends, then its env header in the same FFI (the
    shim's fallback when the env module does not load), against the KVM library."""
    in_own_process(kvm_header_cdefs_and_resolves, stage, arch)


def kvm_header_cdefs_and_resolves(stage, arch) -> None:
    header = (INCLUDE / f"qemu_cffi_kvm_{arch.name}.h").read_text()
    assert "target_long" not in header and "target_ulong" not in header
    assert arch.library in header.splitlines()[0]
    ffi = cffi.FFI()
    ffi.cdef(shim_cdef_text(header, arch.bits))
    env = (INCLUDE / f"qemu_cffi_kvm_{arch.name}_env.h").read_text()
    ffi.cdef(env)
    lib = ffi.dlopen(str(stage / "lib" / arch.library), os.RTLD_NOW | os.RTLD_GLOBAL)
    for name in ("qemu_init", "qemu_main_loop", "qemu_cleanup", "cpu_memory_rw_debug",
                 "set_kvm_penguin_hypercall_callback", "penguin_handle_guest_hypercall",
                 "penguin_read_guest_reg", "penguin_sync_cpu_state", "penguin_cpu_env"):
        assert getattr(lib, name) is not None
    assert lib.qemu_main == ffi.NULL
    assert ffi.sizeof("vaddr") == 8
    assert ffi.sizeof("CPUArchState") > 0
    # The KVM name is the system library: one CPUState, one size in both env headers.
    size = int(re.search(r"#define PENGUIN_CPU_STATE_SIZE (\d+)", env).group(1))
    system_env = (INCLUDE / f"qemu_cffi_system_{arch.name}_env.h").read_text()
    assert size == int(re.search(r"#define PENGUIN_CPU_STATE_SIZE (\d+)",
                                 system_env).group(1)) > 0


def test_kvm_manifest_names_the_kvm_libraries(stage):
    if not KVM_ARCHES:
        pytest.skip("this host has no KVM library")
    data = json.loads((INCLUDE / "qemu_cffi_kvm_manifest.json").read_text())
    assert data["schema"] == 1 and data["mode"] == "kvm"
    by_arch = {e["arch"]: e for e in data["headers"]}
    # The QEMU arch only: no intel64 or other alias under KVM.
    assert set(by_arch) == {a.name for a in KVM_ARCHES}
    for arch in KVM_ARCHES:
        entry = by_arch[arch.name]
        assert entry["qemu_target"] == arch.qemu_target
        assert entry["library"] == f"libqemu-kvm-{arch.name}.so"
        assert entry["header"] == f"qemu_cffi_kvm_{arch.name}.h"
        assert entry["env_header"] == f"qemu_cffi_kvm_{arch.name}_env.h"
        assert entry["vaddr_bits"] == 64
        assert entry["env_module"].startswith(f"_penguin_qemu_env_kvm_{arch.target}.")
        assert (stage / "lib" / entry["library"]).is_file()
        assert (INCLUDE / entry["header"]).is_file()
        assert (INCLUDE / entry["env_header"]).is_file()
        assert (stage / "lib" / "penguin-qemu-env" / entry["env_module"]).is_file()
