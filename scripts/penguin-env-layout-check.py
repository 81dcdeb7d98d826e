#!/usr/bin/env python3
"""Run the layout checks of cross-built env modules on their host (or under qemu-user).

    penguin-env-layout-check.py --modules-dir /usr/local/lib/penguin-qemu-env \
        --checks-dir _build/env-gen-arm64/layout-checks

A cross build (./build.sh --host=arm64) cannot import the env modules it compiles, so
scripts/penguin-env-cffi-gen.py --host writes each module's layout check down instead
(<module>.json: the size of every declared type and the offset and size of its members,
from the library's DWARF). This command imports each module named by a check from
--modules-dir and compares cffi's layout with it, as a native build does at build time.
It needs only the Python standard library and cffi (python3-cffi), and of this
repository only itself and scripts/penguin_envgen/{__init__,layout_check,model}.py.
Exit status 0 when every check passes, 1 otherwise (each difference printed).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from penguin_envgen.layout_check import check_spec  # noqa: E402

STABLE_ABI_SUFFIX = ".abi3.so"


def load_module(path: Path, name: str) -> Any:
    """Imports the module at path; ImportError with the reason when it cannot."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def check_one(check: Path, modules_dir: Path) -> list[str]:
    """The differences of one written-down check; a module that is missing or does not
    import, or a malformed check, is one."""
    try:
        spec = json.loads(check.read_text())
        name = spec["module"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return [f"{check}: not a layout check: {exc!r}"]
    path = modules_dir / f"{name}{STABLE_ABI_SUFFIX}"
    if not path.is_file():
        return [f"{path} is missing"]
    try:
        module = load_module(path, name)
    except Exception as exc:    # the import runs the module's own code
        return [f"{path} does not import: {type(exc).__name__}: {exc}"]
    try:
        return check_spec(module.ffi, spec)
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{check}: not a layout check: {exc!r}"]


def checks_of(args: argparse.Namespace) -> list[Path]:
    found = list(args.checks)
    if args.checks_dir is not None:
        found += sorted(args.checks_dir.glob("*.json"))
    return found


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--modules-dir", type=Path, required=True,
                   help="the env modules' directory (lib/penguin-qemu-env)")
    p.add_argument("--checks-dir", type=Path,
                   help="every <module>.json in this directory")
    p.add_argument("checks", type=Path, nargs="*", help="<module>.json files")
    args = p.parse_args(argv)
    checks = checks_of(args)
    if not checks:
        p.error("no layout checks given (--checks-dir or files)")
    failed = 0
    for check in checks:
        errors = check_one(check, args.modules_dir)
        if errors:
            failed += 1
            print(f"FAIL {check.stem}: {len(errors)} differences", flush=True)
            for error in errors[:20]:
                print(f"  {error}")
        else:
            print(f"ok   {check.stem}", flush=True)
    print(f"penguin-env-layout-check: {len(checks) - failed} of {len(checks)} modules "
          "match their DWARF")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
