"""Every library name loads by absolute path and exports the embedding lifecycle; the
host's KVM name (libqemu-kvm-<name>.so, a link to its target's system library) too, with
every symbol of CONTRACT sections 3 to 7."""

from __future__ import annotations

import subprocess

import pytest

import penguin_arches
from conftest import ARCHES, STAGE, TARGETS, run_helper, stage_lib

KVM_ARCHES = penguin_arches.kvm_arches()

LIFECYCLE_SYMBOLS = [
    "qemu_init", "qemu_main_loop", "qemu_cleanup", "qemu_main", "bql_lock_impl",
    "bql_unlock", "bql_locked", "replay_mutex_lock", "replay_mutex_unlock",
    "qemu_system_shutdown_request", "cpu_memory_rw_debug",
]

# CONTRACT sections 3 to 7, every function and data symbol named there.
CONTRACT_SYMBOLS = [
    *LIFECYCLE_SYMBOLS,
    # 4: hypercalls
    "set_penguin_guest_hypercall_callback", "set_kvm_penguin_hypercall_callback",
    "penguin_register_guest_hypercall", "penguin_unregister_guest_hypercall",
    "penguin_clear_guest_hypercalls", "penguin_guest_hypercall_registered",
    "penguin_handle_guest_hypercall",
    # 5: registers, env, sync
    "penguin_read_guest_reg", "penguin_write_guest_reg", "penguin_cpu_env",
    "penguin_sync_cpu_state",
    # 7: runtime extras
    "set_kvm_penguin_after_guest_init_callback", "penguin_qemu_add_mmio_region",
    "penguin_save_snapshot", "penguin_load_snapshot", "penguin_schedule_snapshot",
    "set_penguin_reset_request_callback", "set_penguin_qmp_callback",
]


def defined_dynamic_symbols(path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("arch", ARCHES, ids=lambda a: a.name)
def test_library_exports_lifecycle(stage, arch):
    lib = stage_lib(arch.name)
    assert lib.exists(), f"{lib} missing"
    exported = defined_dynamic_symbols(lib)   # once: nm -D takes a second
    missing = [s for s in LIFECYCLE_SYMBOLS if s not in exported]
    assert not missing, f"{lib.name} lacks {missing}"


@pytest.mark.parametrize("arch", ARCHES, ids=lambda a: a.name)
def test_library_dlopens_with_null_qemu_main(stage, arch):
    lib = stage_lib(arch.name)
    result = run_helper("load_library.py", str(lib.absolute()))
    assert result.returncode == 0, result.stderr
    assert "QEMU_MAIN=NULL" in result.stdout


@pytest.mark.parametrize("arch", [a for a in ARCHES if a.is_alias], ids=lambda a: a.name)
def test_alias_is_a_symlink_to_its_target(stage, arch):
    lib = stage_lib(arch.name)
    assert lib.is_symlink()
    assert lib.resolve() == stage_lib(arch.target).resolve()


def contract_cases() -> list[tuple[str, str]]:
    """(mode, name) of every system target's library and each KVM name."""
    return ([("system", f"libqemu-system-{t}.so") for t in TARGETS]
            + [("kvm", a.library) for a in KVM_ARCHES])


@pytest.mark.parametrize("mode,library", contract_cases(), ids=lambda v: str(v))
def test_library_exports_every_contract_symbol(stage, mode, library):
    lib = STAGE / "lib" / library
    assert lib.is_file(), f"{lib} missing"
    exported = defined_dynamic_symbols(lib)
    missing = [s for s in CONTRACT_SYMBOLS if s not in exported]
    assert not missing, f"{library} lacks {missing}"


@pytest.mark.parametrize("mode,library", contract_cases(), ids=lambda v: str(v))
def test_library_uses_tls_descriptors(stage, mode, library):
    """configs/features.conf builds thread-locals with TLS descriptors: no STATIC_TLS
    flag (glibc may put the block in dynamic TLS, so the library always loads), no
    __tls_get_addr (a call per access cost 2% of a Linux boot), and TLSDESC
    relocations instead (bench/RESULTS.md has the speed)."""
    lib = STAGE / "lib" / library
    dynamic = subprocess.run(["readelf", "-dW", str(lib)], check=True, capture_output=True,
                             text=True).stdout
    flags = next(line for line in dynamic.splitlines() if "(FLAGS)" in line)
    assert "STATIC_TLS" not in flags.split(), flags
    undefined = subprocess.run(["nm", "-D", "--undefined-only", str(lib)], check=True,
                               capture_output=True, text=True).stdout.split()
    assert not [s for s in undefined if s.split("@")[0] == "__tls_get_addr"]
    relocs = subprocess.run(["readelf", "-rW", str(lib)], check=True, capture_output=True,
                            text=True).stdout
    assert "R_X86_64_TLSDESC" in relocs


@pytest.mark.parametrize("arch", KVM_ARCHES, ids=lambda a: a.name)
def test_kvm_library_is_another_name_of_the_system_library(stage, arch):
    """libqemu-kvm-<name>.so links to its target's system library (built with KVM beside
    TCG); the host's KVM names are the only libqemu-kvm-* files."""
    lib = STAGE / "lib" / arch.library
    assert lib.is_symlink(), f"{lib} missing or not a symlink"
    assert lib.samefile(stage_lib(arch.target))
    assert sorted(p.name for p in (STAGE / "lib").glob("libqemu-kvm-*.so")) == sorted(
        a.library for a in KVM_ARCHES)


@pytest.mark.parametrize("arch", KVM_ARCHES, ids=lambda a: a.name)
def test_kvm_library_dlopens_with_null_qemu_main(stage, arch):
    result = run_helper("load_library.py", str((STAGE / "lib" / arch.library).absolute()))
    assert result.returncode == 0, result.stderr
    assert "QEMU_MAIN=NULL" in result.stdout
