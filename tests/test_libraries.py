"""Every library name loads by absolute path and exports the embedding lifecycle."""

from __future__ import annotations

import subprocess

import pytest

from conftest import ARCHES, run_helper, stage_lib

LIFECYCLE_SYMBOLS = [
    "qemu_init", "qemu_main_loop", "qemu_cleanup", "qemu_main", "bql_lock_impl",
    "bql_unlock", "bql_locked", "replay_mutex_lock", "replay_mutex_unlock",
    "qemu_system_shutdown_request", "cpu_memory_rw_debug",
]


def defined_dynamic_symbols(path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


@pytest.mark.parametrize("arch", ARCHES, ids=lambda a: a.name)
def test_library_exports_lifecycle(stage, arch):
    lib = stage_lib(arch.name)
    assert lib.exists(), f"{lib} missing"
    missing = [s for s in LIFECYCLE_SYMBOLS if s not in defined_dynamic_symbols(lib)]
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
