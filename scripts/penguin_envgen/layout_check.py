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
