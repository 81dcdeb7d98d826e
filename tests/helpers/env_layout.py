"""Child process: the env modules of an installed release, against its ABI headers.

usage: env_layout.py PREFIX FIELDS-JSON
FIELDS: {target: [CPUArchState field paths, like "active_tc.gpr[4]"]}
For each target, imports lib/penguin-qemu-env/_penguin_qemu_env_system_<target>.abi3.so
under the name before its first dot (as Penguin's shim does) and cdefs the ABI headers
include/penguin-qemu-cffi/qemu_cffi_system_<target>{,_env}.h into a fresh FFI, and
prints as JSON, per target, sizeof(CPUArchState) and the offsets of the fields through
each, with the Python, cffi and machine it ran on. Standard library and cffi only: it
runs in the test roots' python3.
"""

from __future__ import annotations

import importlib.util
import json
import platform
import re
import sys
import time
from pathlib import Path

import cffi


def field_path(field: str) -> list:
    """active_tc.gpr[4] -> ["active_tc", "gpr", 4], as ffi.offsetof takes it."""
    path: list = []
    for name, index in re.findall(r"(\w+)(?:\[(\d+)\])?", field):
        path.append(name)
        if index:
            path.append(int(index))
    return path


def layout(ffi, fields: list[str]) -> dict[str, int]:
    out = {"sizeof": ffi.sizeof("CPUArchState")}
    for field in fields:
        out[field] = ffi.offsetof("CPUArchState", *field_path(field))
    return out


def module_ffi(path: Path):
    name = path.name.split(".")[0]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ffi


def header_ffi(include: Path, target: str):
    ffi = cffi.FFI()
    ffi.cdef((include / f"qemu_cffi_system_{target}.h").read_text())
    ffi.cdef((include / f"qemu_cffi_system_{target}_env.h").read_text())
    return ffi


def main() -> int:
    prefix, fields = Path(sys.argv[1]), json.loads(sys.argv[2])
    include = prefix / "include" / "penguin-qemu-cffi"
    result: dict = {"python": sys.version.split()[0], "cffi": cffi.__version__,
                    "machine": platform.machine(), "targets": {}}
    for target, names in fields.items():
        start = time.monotonic()
        module = prefix / "lib" / "penguin-qemu-env" / \
            f"_penguin_qemu_env_system_{target}.abi3.so"
        result["targets"][target] = {
            "module": layout(module_ffi(module), names),
            "header": layout(header_ffi(include, target), names),
            "seconds": round(time.monotonic() - start, 1),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
