"""The command line (scripts/penguin-env-cffi-gen.py) and the driver: read the model
once, name its types once, write the ABI header, build the API module."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import penguin_arches
from penguin_common import atomic_write, env_module_name

from .abi_emitter import AbiHeader, render_abi_header, verify_abi_header
from .api_emitter import render_api_cdef
from .build import (build_module, build_module_cross, install_file, load_module,
                    verify_module, write_layout_check)
from .common import MAIN_HEADER_DECLS, PROG, EnvGenError, new_ffi
from .compile_flags import target_flags
from .model import Model
from .naming import TypeNames, name_types
from .timing import StepTimer
from .type_builder import read_model

DESCRIPTION = ("Generate the typed CPUArchState artifacts of one QEMU target for "
               "Penguin's cffi.")


def generate_header(model: Model, names: TypeNames, library: Path, out_header: Path,
                    timer: StepTimer, main_header: str = MAIN_HEADER_DECLS) -> AbiHeader:
    with timer.step("ABI header + cffi check"):
        header = render_abi_header(model.env, model.cpu_state_size, new_ffi(), library.name,
                                   names)
        verify_abi_header(header, main_header)
        atomic_write(out_header, header.text)
    timer.say(f"wrote {out_header} ({len(header.records)} structs, "
              f"{len(header.padded)} members padded over)")
    return header


def generate_module(model: Model, names: TypeNames, args: argparse.Namespace,
                    timer: StepTimer) -> Path:
    name = env_module_name(args.mode, args.target)
    with timer.step("module flags"):
        if not (args.source_dir / "include" / "qemu" / "osdep.h").is_file():
            raise EnvGenError(f"{args.source_dir} is not a QEMU source tree "
                              "(no include/qemu/osdep.h)")
        flags, entry = target_flags(args.compile_commands, args.target, args.build_dir)
        api = render_api_cdef(model.env, names)
    cc = cross_compiler(args.host)
    with tempfile.TemporaryDirectory(prefix="penguin-env-build-") as tmp:
        if cc is None:
            with timer.step(f"module build ({name})"):
                built = build_module(api, flags, name, Path(tmp))
            with timer.step("module import + layout check"):
                verify_module(load_module(built, name), api, model.env)
        else:
            with timer.step(f"module build ({name}, {cc})"):
                built = build_module_cross(api, flags, name, Path(tmp), cc)
            check = write_layout_check(args.layout_check_dir / f"{name}.json", name,
                                       api, model.env)
            timer.say(f"layout check for the host: {check} "
                      "(scripts/penguin-env-layout-check.py)")
        path = install_file(built, args.module_dir, name)
    if api.dropped:
        timer.say(f"module leaves to the compiler: {'; '.join(api.dropped)}")
    timer.say(f"wrote {path} (flags of {entry.get('file')})")
    return path


def cross_compiler(host: str | None) -> str | None:
    """The C compiler for host's modules when it is not this machine; None: native
    (cffi's own build, then the import and layout check here)."""
    if host is None:
        return None
    try:
        prefix = penguin_arches.cross_prefix(host)
    except ValueError as exc:
        raise EnvGenError(f"--host: {exc}") from exc
    return f"{prefix}gcc" if prefix else None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=DESCRIPTION)
    parser.add_argument("--library", type=Path, required=True,
                        help="a built libqemu-system-<target>.so with DWARF")
    parser.add_argument("--target", required=True, help="QEMU target without -softmmu")
    parser.add_argument("--out-header", type=Path, required=True,
                        help="path of the ABI header to write")
    parser.add_argument("--module-dir", type=Path, required=True,
                        help="directory for the compiled API-mode module")
    parser.add_argument("--compile-commands", type=Path, required=True,
                        help="meson's compile_commands.json")
    parser.add_argument("--source-dir", type=Path, required=True,
                        help="the QEMU source tree the build used")
    parser.add_argument("--build-dir", type=Path, required=True,
                        help="the QEMU build directory")
    parser.add_argument("--mode", default="system", help="library mode (default: system)")
    parser.add_argument("--main-header", type=Path,
                        help="also check that the ABI header cdefs after this main header")
    parser.add_argument("--host", help="the module's host (Debian architecture name); "
                        "another than this machine's: compile with its cross gcc and "
                        "write the layout check to --layout-check-dir instead of "
                        "importing the module")
    parser.add_argument("--layout-check-dir", type=Path,
                        help="where a cross-built module's layout check goes "
                             "(<module>.json, for scripts/penguin-env-layout-check.py)")
    parser.add_argument("--quiet", action="store_true", help="print errors only")
    args = parser.parse_args(argv)
    if args.host is not None and args.layout_check_dir is None:
        parser.error("--host needs --layout-check-dir (the layout check runs on the host)")
    return args


def read_main_header(path: Path | None) -> str:
    if path is None:
        return MAIN_HEADER_DECLS
    try:
        return path.read_text()
    except OSError as exc:
        raise EnvGenError(f"cannot read {path}: {exc}") from exc


def run(args: argparse.Namespace, timer: StepTimer) -> None:
    if not args.build_dir.is_dir():
        raise EnvGenError(f"{args.build_dir}: no such build directory")
    main_header = read_main_header(args.main_header)
    model = read_model(args.library, timer)
    names = name_types(model.env)
    generate_header(model, names, args.library, args.out_header, timer, main_header)
    generate_module(model, names, args, timer)
    timer.say(f"total: {timer.total():.2f} s")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    timer = StepTimer(quiet=args.quiet)
    try:
        run(args, timer)
    except EnvGenError as exc:
        message = " ".join(str(exc).split())
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    return 0
