"""A fast index of the compile units of .debug_info: their headers and the name of each
unit's first DIE, read without pyelftools (whose own iteration costs seconds), and the
order in which to search them for CPUArchState."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Iterator

from .common import EnvGenError


@dataclass(frozen=True)
class UnitHeader:
    offset: int
    version: int
    unit_type: int
    abbrev_offset: int
    address_size: int
    offset_size: int
    die_offset: int
    end: int


def read_uleb(buf: bytes, pos: int) -> tuple[int, int]:
    byte = buf[pos]
    if byte < 0x80:
        return byte, pos + 1
    value, shift = byte & 0x7F, 7
    while True:
        pos += 1
        byte = buf[pos]
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos + 1


def read_sleb(buf: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            if byte & 0x40:
                value -= 1 << shift
            return value, pos


def iter_unit_headers(info: bytes, little_endian: bool) -> Iterator[UnitHeader]:
    """Yields the unit headers of .debug_info; refuses versions pyelftools cannot read."""
    end_char = "<" if little_endian else ">"
    u16, u32, u64 = (struct.Struct(end_char + c) for c in "HIQ")
    offset = 0
    while offset + 11 <= len(info):
        (length,) = u32.unpack_from(info, offset)
        if length == 0xFFFFFFFF:
            (length,) = u64.unpack_from(info, offset + 4)
            pos, offset_size, word = offset + 12, 8, u64
        else:
            pos, offset_size, word = offset + 4, 4, u32
        end = pos + length
        (version,) = u16.unpack_from(info, pos)
        pos += 2
        if not 2 <= version <= 5:
            raise EnvGenError(f"DWARF version {version} (unit at .debug_info offset "
                              f"{offset:#x}) cannot be read: pyelftools reads DWARF 2 to 5")
        if version >= 5:
            unit_type, address_size = info[pos], info[pos + 1]
            (abbrev_offset,) = word.unpack_from(info, pos + 2)
            pos += 2 + offset_size
            if unit_type in (4, 5):          # skeleton, split_compile: dwo_id
                pos += 8
            elif unit_type in (2, 6):        # type units: signature, type_offset
                pos += 8 + offset_size
        else:
            unit_type = 1
            (abbrev_offset,) = word.unpack_from(info, pos)
            address_size = info[pos + offset_size]
            pos += offset_size + 1
        yield UnitHeader(offset, version, unit_type, abbrev_offset, address_size,
                         offset_size, pos, end)
        offset = end


class UnitNamer:
    """Reads DW_AT_name of a unit's first DIE without pyelftools (None if unsure)."""

    FIXED = {0x0B: 1, 0x05: 2, 0x06: 4, 0x07: 8, 0x0C: 1, 0x11: 1, 0x12: 2, 0x13: 4,
             0x14: 8, 0x1E: 16, 0x20: 8, 0x25: 1, 0x26: 2, 0x27: 3, 0x28: 4, 0x29: 1,
             0x2A: 2, 0x2B: 3, 0x2C: 4, 0x1C: 4, 0x24: 8, 0x19: 0, 0x21: 0}
    # strp, ref_addr, sec_offset, line_strp, strp_sup, GNU_ref_alt, GNU_strp_alt
    OFFSET_FORMS = {0x0E, 0x10, 0x17, 0x1F, 0x1D, 0x1F20, 0x1F21}
    ULEB_FORMS = {0x0F, 0x15, 0x1A, 0x1B, 0x22, 0x23, 0x1F01, 0x1F02}
    DW_AT_NAME = 0x03

    def __init__(self, info: bytes, abbrev: bytes, strs: bytes, line_strs: bytes,
                 byteorder: str = "little") -> None:
        self.info, self.abbrev, self.strs, self.line_strs = info, abbrev, strs, line_strs
        self.byteorder = byteorder          # the ELF file's, as for the unit headers

    def name(self, unit: UnitHeader) -> str | None:
        try:
            return self._name(unit)
        except (IndexError, struct.error, UnicodeDecodeError):
            return None

    def _name(self, unit: UnitHeader) -> str | None:
        code, pos = read_uleb(self.info, unit.die_offset)
        attrs = self._abbrev_attrs(unit.abbrev_offset, code)
        if attrs is None:
            return None
        for attr, form in attrs:
            if attr == self.DW_AT_NAME:
                return self._string(unit, form, pos)
            pos = self._skip(unit, form, pos)
            if pos is None:
                return None
        return None

    def _abbrev_attrs(self, offset: int, code: int) -> list[tuple[int, int]] | None:
        buf, pos = self.abbrev, offset
        while True:
            this_code, pos = read_uleb(buf, pos)
            if this_code == 0:
                return None
            _tag, pos = read_uleb(buf, pos)
            pos += 1                              # DW_CHILDREN_*
            attrs = []
            while True:
                attr, pos = read_uleb(buf, pos)
                form, pos = read_uleb(buf, pos)
                if form == 0x21:                  # implicit_const: value in the abbrev
                    _value, pos = read_sleb(buf, pos)
                if attr == 0 and form == 0:
                    break
                attrs.append((attr, form))
            if this_code == code:
                return attrs

    def _skip(self, unit: UnitHeader, form: int, pos: int) -> int | None:
        if form in self.FIXED:
            return pos + self.FIXED[form]
        if form in self.OFFSET_FORMS:
            return pos + unit.offset_size
        if form == 0x01:
            return pos + unit.address_size
        if form in self.ULEB_FORMS:
            return read_uleb(self.info, pos)[1]
        if form == 0x0D:
            return read_sleb(self.info, pos)[1]
        if form == 0x08:
            return self.info.index(b"\0", pos) + 1
        if form in (0x09, 0x18):
            length, pos = read_uleb(self.info, pos)
            return pos + length
        block = {0x0A: 1, 0x03: 2, 0x04: 4}.get(form)
        if block:
            return pos + block + int.from_bytes(self.info[pos:pos + block], self.byteorder)
        return None

    def _string(self, unit: UnitHeader, form: int, pos: int) -> str | None:
        if form == 0x08:
            return self.info[pos:self.info.index(b"\0", pos)].decode()
        table = {0x0E: self.strs, 0x1F: self.line_strs}.get(form)
        if table is None:
            return None
        offset = int.from_bytes(self.info[pos:pos + unit.offset_size], self.byteorder)
        return table[offset:table.index(b"\0", offset)].decode()


def is_target_unit(name: str) -> bool:
    return "/target/" in "/" + name.replace("\\", "/")


def candidate_units(units: list[UnitHeader], namer: UnitNamer) -> Iterator[UnitHeader]:
    """Compile units in the order to search: target/*/cpu.c as soon as seen, then the
    other target/ units (smallest first), then everything else."""
    targets: list[UnitHeader] = []
    others: list[UnitHeader] = []
    for unit in units:
        if unit.unit_type not in (1, 3):          # compile and partial units only
            continue
        name = namer.name(unit) or ""
        if is_target_unit(name) and os.path.basename(name) == "cpu.c":
            yield unit
        elif is_target_unit(name):
            targets.append(unit)
        else:
            others.append(unit)
    yield from sorted(targets, key=lambda u: u.end - u.offset)
    yield from others
