"""Child process: the env modules of an installed release, against its ABI headers.

usage: env_layout.py PREFIX FIELDS-JSON
FIELDS: {target: [CPUArchState field paths, like "active_tc.gpr[4]"]}
For each target (a library name), imports the env module the system manifest names for
it (include/penguin-qemu-cffi/qemu_cffi_system_manifest.json: an alias such as
powerpc64el shares ppc64's) under the name before its first dot, as Penguin's shim does,
and cdefs its ABI headers (the manifest's header and env_header) into a fresh FFI, and
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


def header_ffi(include: Path, entry: dict):
    ffi = cffi.FFI()
    ffi.cdef((include / entry["header"]).read_text())
    ffi.cdef((include / entry["env_header"]).read_text())
    return ffi


def main() -> int:
    prefix, fields = Path(sys.argv[1]), json.loads(sys.argv[2])
    include = prefix / "include" / "penguin-qemu-cffi"
    manifest = json.loads((include / "qemu_cffi_system_manifest.json").read_text())
    entries = {e["arch"]: e for e in manifest["headers"]}
    result: dict = {"python": sys.version.split()[0], "cffi": cffi.__version__,
                    "machine": platform.machine(), "targets": {}}
    for target, names in fields.items():
        start = time.monotonic()
        entry = entries[target]
        module = prefix / "lib" / "penguin-qemu-env" / entry["env_module"]
        result["targets"][target] = {
            "module": layout(module_ffi(module), names),
            "header": layout(header_ffi(include, entry), names),
            "seconds": round(time.monotonic() - start, 1),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
