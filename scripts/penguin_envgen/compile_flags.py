"""The flags a target's module is compiled with, from meson's compile_commands.json:
those of the target's cpu.c (include paths, defines and layout flags only)."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

from .common import EnvGenError
from .dwarf_index import is_target_unit

# compile_commands.json options kept for the module build. Options with a value
# (separate or joined) and whether the value is a path.
VALUE_OPTIONS = {"-I": True, "-isystem": True, "-iquote": True, "-idirafter": True,
                 "-include": True, "-imacros": True, "-D": False, "-U": False}
# Flags without a value that can change types or layout.
LAYOUT_FLAG_PREFIXES = ("-std=", "-m", "-fsigned-char", "-funsigned-char", "-fshort-enums",
                        "-fno-short-enums", "-fpack-struct", "-fshort-wchar", "-pthread")


def entry_output(entry: dict) -> str:
    if "output" in entry:
        return entry["output"]
    args = entry.get("arguments") or shlex.split(entry.get("command", ""))
    for i, arg in enumerate(args[:-1]):
        if arg == "-o":
            return args[i + 1]
    return ""


def select_entry(entries: list[dict], target: str) -> dict:
    marker = f"libqemu-{target}-softmmu.a.p/"
    matching = [e for e in entries if marker in entry_output(e)]
    if not matching:
        raise EnvGenError(f"compile_commands.json has no object in {marker}")
    for entry in matching:
        name = entry.get("file", "").replace("\\", "/")
        if is_target_unit(name) and name.endswith("/cpu.c"):
            return entry
    return matching[0]


def absolute(path: str, directory: Path) -> str:
    return path if os.path.isabs(path) else os.path.normpath(directory / path)


def split_option(arg: str) -> tuple[str, str | None] | None:
    """(option, joined value or None) for the options with a value; None otherwise."""
    for option in sorted(VALUE_OPTIONS, key=len, reverse=True):   # -isystem before -I
        if arg == option:
            return option, None
        if arg.startswith(option):
            return option, arg[len(option):]
    return None


def extract_flags(entry: dict, build_dir: Path | None = None) -> list[str]:
    """The -I/-D/-U/-include/-isystem/-iquote/... and layout flags of one entry,
    paths made absolute relative to the entry's directory."""
    args = entry.get("arguments") or shlex.split(entry["command"])
    directory = Path(entry.get("directory") or build_dir or ".")
    flags: list[str] = []
    rest = iter(args[1:])                     # args[0] is the compiler (or ccache)
    for arg in rest:
        split = split_option(arg)
        if split is None:
            if arg.startswith(LAYOUT_FLAG_PREFIXES):
                flags.append(arg)
            continue
        option, value = split
        if value is None:
            value = next(rest, None)
            if value is None:
                raise EnvGenError(f"compile_commands.json: {option} without a value")
        if VALUE_OPTIONS[option]:
            path = absolute(value, directory)
            if option in ("-include", "-imacros") and not os.path.exists(path):
                path = value                  # found through the include path
            value = path
        flags += [option, value] if len(option) > 2 else [option + value]
    return flags


def target_flags(compile_commands: Path, target: str, build_dir: Path | None = None
                 ) -> tuple[list[str], dict]:
    try:
        entries = json.loads(compile_commands.read_text())
    except (OSError, ValueError) as exc:
        raise EnvGenError(f"cannot read {compile_commands}: {exc}") from exc
    if not isinstance(entries, list):
        raise EnvGenError(f"{compile_commands} is not a list of compile commands")
    entry = select_entry(entries, target)
    directory = entry.get("directory") or build_dir
    if directory is None or not os.path.isdir(directory):
        raise EnvGenError(f"compile_commands.json: the directory {directory!r} "
                          f"of {entry.get('file')} does not exist")
    return extract_flags(entry, build_dir), entry
