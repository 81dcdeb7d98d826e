"""The env generator run again on a built library, as build.sh runs it, writes exactly
the header and module the build staged: the generator is deterministic, and the staged
files are what the current generator makes of the current library."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import REPO, STAGE
from penguin_common import env_module_file

SCRIPT = REPO / "scripts" / "penguin-env-cffi-gen.py"
BUILD_DIR = REPO / "_build" / "build-system"
SOURCE_DIR = REPO / "_build" / "src"
# One target keeps the test at a few seconds; riscv64's env is a mid-sized one.
TARGET = "riscv64"


@pytest.fixture(scope="module")
def regenerated(stage, tmp_path_factory) -> Path:
    if not (BUILD_DIR / "compile_commands.json").is_file():
        pytest.fail(f"{BUILD_DIR} has no compile_commands.json: run ./build.sh first")
    out = tmp_path_factory.mktemp("envgen-build")
    result = subprocess.run(
        ["/usr/bin/python3", str(SCRIPT),
         "--library", str(stage / "lib" / f"libqemu-system-{TARGET}.so"),
         "--target", TARGET, "--mode", "system",
         "--out-header", str(out / f"qemu_cffi_system_{TARGET}_env.h"),
         "--module-dir", str(out),
         "--compile-commands", str(BUILD_DIR / "compile_commands.json"),
         "--source-dir", str(SOURCE_DIR), "--build-dir", str(BUILD_DIR), "--quiet"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    return out


def test_header_is_the_staged_one(regenerated):
    name = f"qemu_cffi_system_{TARGET}_env.h"
    staged = STAGE / "include" / "penguin-qemu-cffi" / name
    assert (regenerated / name).read_bytes() == staged.read_bytes()


def test_module_is_the_staged_one(regenerated):
    name = env_module_file("system", TARGET)
    built = regenerated / name
    assert sorted(p.name for p in regenerated.glob("*.so")) == [name]
    staged = STAGE / "lib" / "penguin-qemu-env" / name
    assert built.read_bytes() == staged.read_bytes(), \
        f"{built} differs from {staged}: was the stage made by another generator?"
