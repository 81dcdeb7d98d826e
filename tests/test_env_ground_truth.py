"""CPUArchState layout: gdb reading each library's DWARF, the ABI env header and the
compiled env module agree on sizeof and on the offsets of PC and a0..a5."""

from __future__ import annotations

import importlib.util
import re
import subprocess

import cffi
import pytest

from conftest import STAGE, TARGETS
from guests.guests import FAMILIES
from helpers.env_layout import field_path

INCLUDE = STAGE / "include" / "penguin-qemu-cffi"
FAMILY_OF = {"arm": "arm", "aarch64": "aarch64", "mips": "mips", "mipsel": "mips",
             "mips64": "mips", "mips64el": "mips", "ppc": "ppc", "ppc64": "ppc",
             "riscv64": "riscv", "loongarch64": "loongarch", "x86_64": "x86_64"}


def fields_of(target: str) -> list[str]:
    regs = FAMILIES[FAMILY_OF[target]]
    return [regs.env_pc, *regs.env_args]


def gdb_layout(target: str) -> dict[str, int]:
    fields = fields_of(target)
    cmd = ["gdb", "-batch", "-nx", "-ex", "print sizeof(CPUArchState)"]
    cmd += [arg for f in fields
            for arg in ("-ex", f"print (long)&((CPUArchState *)0)->{f}")]
    out = subprocess.run([*cmd, str(STAGE / "lib" / f"libqemu-system-{target}.so")],
                         capture_output=True, text=True, check=True).stdout
    values = [int(v) for v in re.findall(r"^\$\d+ = (\d+)$", out, re.M)]
    assert len(values) == len(fields) + 1, out
    return dict(zip(["sizeof", *fields], values))


def ffi_layout(ffi, target: str) -> dict[str, int]:
    layout = {"sizeof": ffi.sizeof("CPUArchState")}
    for f in fields_of(target):
        layout[f] = ffi.offsetof("CPUArchState", *field_path(f))
    return layout


def header_ffi(target: str):
    ffi = cffi.FFI()
    ffi.cdef((INCLUDE / f"qemu_cffi_system_{target}.h").read_text())
    ffi.cdef((INCLUDE / f"qemu_cffi_system_{target}_env.h").read_text())
    return ffi


def module_ffi(target: str):
    path = next((STAGE / "lib" / "penguin-qemu-env").glob(
        f"_penguin_qemu_env_system_{target}.*"))
    spec = importlib.util.spec_from_file_location(path.name.split(".")[0], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ffi


@pytest.mark.parametrize("target", TARGETS)
def test_layout_matches_gdb(stage, target):
    truth = gdb_layout(target)
    assert ffi_layout(header_ffi(target), target) == truth
    assert ffi_layout(module_ffi(target), target) == truth


@pytest.mark.parametrize("target", TARGETS)
def test_cpu_state_size_matches_gdb(stage, target):
    out = subprocess.run(["gdb", "-batch", "-nx", "-ex", "print sizeof(struct CPUState)",
                          str(STAGE / "lib" / f"libqemu-system-{target}.so")],
                         capture_output=True, text=True, check=True).stdout
    size = int(re.search(r"= (\d+)", out).group(1))
    header = (INCLUDE / f"qemu_cffi_system_{target}_env.h").read_text()
    assert re.search(r"#define PENGUIN_CPU_STATE_SIZE (\d+)", header).group(1) == str(size)
