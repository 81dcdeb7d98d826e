"""Building the API-mode module: compiling the cdef with cffi against the QEMU headers,
installing it as <module>.abi3.so, importing it and checking its layout."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any, Iterator

from penguin_common import STABLE_ABI_SUFFIX, atomic_write

from .api_emitter import ApiCdef
from .common import ENV_NAME, EnvGenError, new_ffi
from .layout_check import check_records, layout_spec
from .model import Record

# -w silences the warnings of cffi's field type checks (void * for typed
# pointers, fixed-width integers for enums); the -Wno- flags keep gcc >= 14, where
# those are errors by default, from failing. -UNDEBUG: Python's CFLAGS define
# NDEBUG, which qemu/osdep.h refuses. Not -O0: at -O0 gcc keeps the unused static
# functions of QEMU's headers, whose glib calls the module cannot resolve.
# Py_LIMITED_API (CPython 3.2's stable ABI, which cffi's generated code keeps to):
# the module imports into any CPython 3, Penguin's 3.13 as well as the build's.
MODULE_EXTRA_FLAGS = ["-w", "-UNDEBUG", "-Wno-incompatible-pointer-types",
                      "-Wno-int-conversion", "-DPy_LIMITED_API=0x03020000"]


@contextlib.contextmanager
def captured_output() -> Iterator[Path]:
    """Sends fds 1 and 2 (the compiler's output) to a file while the block runs."""
    with tempfile.NamedTemporaryFile(prefix="penguin-env-cc-", suffix=".log",
                                     delete=False) as log:
        path = Path(log.name)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield path
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in saved + [fd]:
            os.close(f)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    errors = [line for line in text.splitlines() if "error" in line]
    return "\n".join((errors or text.splitlines())[-lines:])


def python_headers() -> Path:
    include = Path(sysconfig.get_paths()["include"])
    if not (include / "Python.h").is_file():
        raise EnvGenError(f"cannot build the env module: no Python.h in {include} "
                          "(Debian: python3-dev)")
    return include


def build_module(api: ApiCdef, flags: list[str], name: str, tmpdir: Path) -> Path:
    """Compiles the module in tmpdir (cffi writes its C source there as <name>.c);
    returns the path of the built extension."""
    python_headers()
    ffi = new_ffi()
    try:
        ffi.cdef(api.text)
    except Exception as exc:
        raise EnvGenError(f"cffi rejects the module cdef: {exc}") from exc
    # The temporary directory's random name would be the module's DW_AT_comp_dir and
    # change its bytes and build-id from build to build: map it to ".".
    reproducible = [f"-ffile-prefix-map={tmpdir}=."]
    ffi.set_source(name, api.source,
                   extra_compile_args=flags + MODULE_EXTRA_FLAGS + reproducible)
    log = None
    try:
        with captured_output() as log:
            return Path(ffi.compile(tmpdir=str(tmpdir), verbose=False))
    except Exception as exc:
        detail = log_tail(log) if log else ""
        if detail:
            print(detail, file=sys.stderr)
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise EnvGenError(f"building {name} failed: {type(exc).__name__}: {first}") from exc
    finally:
        if log is not None:
            log.unlink(missing_ok=True)


# What cffi's setuptools route passes a native build (CPython's CFLAGS, CCSHARED and
# LDSHARED, less the hardening that is the compiler's default on Debian anyway): the
# cross route compiles and links with the same.
CROSS_COMPILE_FLAGS = ["-fPIC", "-g", "-fwrapv", "-O2", "-fstack-protector-strong"]
CROSS_LINK_FLAGS = ["-shared", "-Wl,-O1", "-Wl,-Bsymbolic-functions", "-Wl,-z,relro"]


def cross_python_headers(cc: str) -> Path:
    """Python.h's directory, checked to give cc's target its pyconfig.h: Debian's
    /usr/include/python3.X/pyconfig.h includes <TRIPLET/python3.X/pyconfig.h>, which
    libpython3.X-dev:<arch> installs."""
    include = python_headers()
    triplet = cc.rsplit("/", 1)[-1].removesuffix("gcc").rstrip("-")
    arch_config = Path("/usr/include") / triplet / include.name / "pyconfig.h"
    if not arch_config.is_file():
        raise EnvGenError(f"cannot build the env module with {cc}: {arch_config} is "
                          f"missing (Debian: lib{include.name}-dev for {triplet}; "
                          "scripts/penguin-install-deps.sh arm64)")
    return include


def build_module_cross(api: ApiCdef, flags: list[str], name: str, tmpdir: Path,
                       cc: str) -> Path:
    """The module compiled by cc (a cross compiler): cffi writes its C source
    (ffi.emit_c_code), cc builds <name>.abi3.so from it. Nothing is imported."""
    include = cross_python_headers(cc)
    ffi = new_ffi()
    try:
        ffi.cdef(api.text)
    except Exception as exc:
        raise EnvGenError(f"cffi rejects the module cdef: {exc}") from exc
    ffi.set_source(name, api.source)
    source = tmpdir / f"{name}.c"
    with captured_output() as log:      # cffi says "generating <file>"
        ffi.emit_c_code(str(source))
    log.unlink(missing_ok=True)
    out = tmpdir / f"{name}{STABLE_ABI_SUFFIX}"
    cmd = [cc, *CROSS_COMPILE_FLAGS, *flags, *MODULE_EXTRA_FLAGS,
           f"-ffile-prefix-map={tmpdir}=.", f"-I{include}", *CROSS_LINK_FLAGS,
           source.name, "-o", out.name]
    p = subprocess.run(cmd, cwd=tmpdir, capture_output=True, text=True)
    if p.returncode != 0:
        detail = "\n".join(p.stderr.splitlines()[-25:])
        print(detail, file=sys.stderr)
        raise EnvGenError(f"building {name} with {cc} failed ({p.returncode})")
    return out


def write_layout_check(path: Path, name: str, api: ApiCdef, env: Record) -> Path:
    """The module's layout check, written down for its host
    (scripts/penguin-env-layout-check.py)."""
    spec = layout_spec(name, ENV_NAME, env.size,
                       [(r.c_name, r.record, r.checks) for r in api.records])
    atomic_write(path, json.dumps(spec, indent=1, sort_keys=True) + "\n")
    return path


def install_file(built: Path, directory: Path, name: str) -> Path:
    """Installs built as <name>.abi3.so, removing the module's files of other names."""
    dest = directory / f"{name}{STABLE_ABI_SUFFIX}"
    atomic_write(dest, built.read_bytes())
    for stale in directory.glob(f"{name}.*.so"):
        if stale != dest:
            stale.unlink()
    return dest


def load_module(path: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise EnvGenError(f"cannot import {path}")
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as exc:
        raise EnvGenError(f"the built module {path} does not import: {exc}") from exc
    return module


def verify_module(module: Any, api: ApiCdef, env: Record) -> None:
    ffi = module.ffi
    try:
        errors = check_records(ffi, [(r.c_name, r.record, r.checks) for r in api.records])
        if ffi.sizeof(ENV_NAME) != env.size:
            errors.append(f"sizeof({ENV_NAME}) is {ffi.sizeof(ENV_NAME)}")
        ffi.cast(f"{ENV_NAME} *", 0)
    except Exception as exc:      # cffi checks the declared fields when it meets a type
        raise EnvGenError(f"the env module's layout check failed: {exc}") from exc
    if errors:
        raise EnvGenError(f"the env module does not match the DWARF ({len(errors)} "
                          f"differences): " + "; ".join(errors[:5]))
