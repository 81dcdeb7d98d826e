"""Comparing the layout cffi gives a declared type with the DWARF, member by member."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .model import Record


@dataclass
class FieldCheck:
    """A member (its path of names from the record) and its offset and size in the
    DWARF."""

    path: tuple[str, ...]
    offset: int
    size: int


def walk_field(ffi: Any, ctype: Any, path: tuple[str, ...]) -> tuple[int, int]:
    offset = 0
    for name in path:
        fields = dict(ctype.fields)
        if name not in fields:
            raise KeyError(name)
        offset += fields[name].offset
        ctype = fields[name].type
    return offset, ffi.sizeof(ctype)


def check_records(ffi: Any, items: list[tuple[str, Record, list[FieldCheck]]]) -> list[str]:
    """Compares cffi's layout of each declared type with the DWARF; returns the
    differences."""
    errors = []
    for cname, record, checks in items:
        size = ffi.sizeof(cname)
        if size != record.size:
            errors.append(f"sizeof({cname}) is {size}, DWARF says {record.size}")
        ctype = ffi.typeof(cname)
        for check in checks:
            where = f"{cname}.{'.'.join(check.path)}"
            try:
                offset, fsize = walk_field(ffi, ctype, check.path)
            except KeyError:
                errors.append(f"{where} is missing")
                continue
            if (offset, fsize) != (check.offset, check.size):
                errors.append(f"{where} at offset {offset} size {fsize}, "
                              f"DWARF says offset {check.offset} size {check.size}")
    return errors


# -- a check kept for later ------------------------------------------------------------
# A cross-built module cannot be imported on the build machine, so its check is written
# down (the declared types' sizes and member offsets from the DWARF) and run on its host,
# or under qemu-user, by scripts/penguin-env-layout-check.py, which needs only cffi.

LAYOUT_SCHEMA = 1


def layout_spec(module: str, env_name: str, env_size: int,
                items: list[tuple[str, Record, list[FieldCheck]]]) -> dict[str, Any]:
    """The layout check of module as JSON-ready data."""
    return {
        "schema": LAYOUT_SCHEMA,
        "module": module,
        "env": {"name": env_name, "size": env_size},
        "records": [{"c_name": cname, "size": record.size,
                     "checks": [[list(c.path), c.offset, c.size] for c in checks]}
                    for cname, record, checks in items],
    }


def spec_items(spec: dict[str, Any]) -> list[tuple[str, Record, list[FieldCheck]]]:
    """layout_spec's data back as check_records' input; ValueError when malformed."""
    if spec.get("schema") != LAYOUT_SCHEMA:
        raise ValueError(f"layout check schema {spec.get('schema')!r}, "
                         f"not {LAYOUT_SCHEMA}")
    try:
        return [(r["c_name"],
                 Record("struct", None, None, int(r["size"]), True, 0),
                 [FieldCheck(tuple(path), int(offset), int(size))
                  for path, offset, size in r["checks"]])
                for r in spec["records"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed layout check: {exc!r}") from None


def check_spec(ffi: Any, spec: dict[str, Any]) -> list[str]:
    """Runs a written-down layout check against a module's ffi; returns the
    differences (cffi's own errors, met when it first lays out a type, included).
    ValueError when spec is not a layout check of this schema."""
    items = spec_items(spec)     # a malformed check is the caller's ValueError
    env = spec["env"]
    try:
        errors = check_records(ffi, items)
        if ffi.sizeof(env["name"]) != env["size"]:
            errors.append(f"sizeof({env['name']}) is {ffi.sizeof(env['name'])}, "
                          f"DWARF says {env['size']}")
        ffi.cast(f"{env['name']} *", 0)
    except Exception as exc:    # cffi checks the declared fields when it meets a type
        errors = [f"cffi: {type(exc).__name__}: {exc}"]
    return errors
