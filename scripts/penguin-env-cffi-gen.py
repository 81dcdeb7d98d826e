#!/usr/bin/env python3
"""Generate the typed CPUArchState artifacts of one QEMU target for Penguin's cffi.

Two artifacts per target (CONTRACT.md section 6):

1. An ABI-mode header, ``qemu_cffi_system_<name>_env.h``: a layout-exact cdef of
   ``CPUArchState`` written from the DWARF of the built library. Every struct and
   union it needs is renamed ``penguin_env_<Name>``; integers are fixed-width,
   pointers ``void *``, enums unsigned integers of their size, arrays keep their
   dimensions. Members cffi cannot express (bitfields, zero-length arrays, 128-bit
   integers, vectors, members of packed structs that sit misaligned) are padded
   over with ``uint8_t`` arrays and listed in a comment; anonymous struct/union
   members are kept inline. The header is then cdef'd by cffi together with the
   declarations of the main header, and every emitted struct is checked member by
   member (offset and size) against the DWARF: any difference is an error.

2. An API-mode module ``_penguin_qemu_env_<mode>_<target>``: the same types under
   their real C names, each struct "partial" (``...;``), compiled by cffi against
   the real QEMU headers with the target's flags from compile_commands.json, so
   the C compiler decides the layout. It is imported once built and its layout is
   compared with the DWARF as well. Failing to build it is an error, never a
   silent fallback. It is built against the stable ABI (Py_LIMITED_API) and
   installed as ``<module>.abi3.so``, so one file imports into every CPython 3.

Speed: pyelftools parses slowly, so the compile units are indexed with a small
reader of the unit headers and of the first DIE's name, and only the units under
target/ (cpu.c first) are walked, top-level DIEs only, until CPUArchState and
CPUState are found.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import json
import os
import shlex
import shutil
import struct
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Union

PROG = "penguin-env-cffi-gen"
PREFIX = "penguin_env_"
ENV_NAME = "CPUArchState"
CPU_STATE_NAME = "CPUState"

# What the main header (qemu_cffi_<mode>_<name>.h) already declares; the env
# header must cdef together with it in one FFI.
MAIN_HEADER_DECLS = (
    "typedef _Bool bool;\n"
    "typedef uint64_t vaddr;\n"
    "typedef struct CPUState CPUState;\n"
    "typedef struct MachineState MachineState;\n"
)

MODULE_SOURCE = '#include "qemu/osdep.h"\n#include "cpu.h"\n'
# -w silences the warnings of cffi's field type checks (void * for typed
# pointers, fixed-width integers for enums); the -Wno- flags keep gcc >= 14, where
# those are errors by default, from failing. -UNDEBUG: Python's CFLAGS define
# NDEBUG, which qemu/osdep.h refuses. Not -O0: at -O0 gcc keeps the unused static
# functions of QEMU's headers, whose glib calls the module cannot resolve.
# Py_LIMITED_API (CPython 3.2's stable ABI, which cffi's generated code keeps to):
# the module imports into any CPython 3, Penguin's 3.13 as well as the build's.
MODULE_EXTRA_FLAGS = ["-w", "-UNDEBUG", "-Wno-incompatible-pointer-types",
                      "-Wno-int-conversion", "-DPy_LIMITED_API=0x03020000"]
# The file name CPython gives stable-ABI extension modules.
STABLE_ABI_SUFFIX = ".abi3.so"

# compile_commands.json options kept for the module build. Options with a value
# (separate or joined) and whether the value is a path.
VALUE_OPTIONS = {"-I": True, "-isystem": True, "-iquote": True, "-idirafter": True,
                 "-include": True, "-imacros": True, "-D": False, "-U": False}
# Flags without a value that can change types or layout.
LAYOUT_FLAG_PREFIXES = ("-std=", "-m", "-fsigned-char", "-funsigned-char", "-fshort-enums",
                        "-fno-short-enums", "-fpack-struct", "-fshort-wchar", "-pthread")

DW_ATE_BOOLEAN, DW_ATE_FLOAT, DW_ATE_SIGNED = 0x02, 0x04, 0x05
DW_ATE_SIGNED_CHAR, DW_ATE_UNSIGNED, DW_ATE_UNSIGNED_CHAR = 0x06, 0x07, 0x08
QUALIFIER_TAGS = {"DW_TAG_const_type", "DW_TAG_volatile_type", "DW_TAG_restrict_type",
                  "DW_TAG_atomic_type", "DW_TAG_immutable_type"}
POINTER_TAGS = {"DW_TAG_pointer_type", "DW_TAG_reference_type",
                "DW_TAG_rvalue_reference_type", "DW_TAG_ptr_to_member_type"}
RECORD_TAGS = {"DW_TAG_structure_type": "struct", "DW_TAG_union_type": "union"}


class EnvGenError(Exception):
    """A failure with a message for the user."""


# ----------------------------------------------------------------------------
# Timing

class StepTimer:
    """Prints how long each step took, and the total."""

    def __init__(self, quiet: bool = False) -> None:
        self.start = time.monotonic()
        self.quiet = quiet
        self.steps: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        yield
        dt = time.monotonic() - t0
        self.steps.append((name, dt))
        self.say(f"{name}: {dt:.2f} s")

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"{PROG}: {text}", flush=True)

    def total(self) -> float:
        return time.monotonic() - self.start


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """pyelftools creates many small objects; the cyclic GC makes it 10x slower."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ----------------------------------------------------------------------------
# Fast index of the compile units (pyelftools' own iteration costs seconds)

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
            raise EnvGenError(f"DWARF version {version} (unit at .debug_info offset {offset:#x}) "
                              "cannot be read: pyelftools reads DWARF 2 to 5")
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


# ----------------------------------------------------------------------------
# The DWARF of the library

@dataclass
class DwarfSource:
    path: Path
    handle: Any
    dwarf: Any
    units: list[UnitHeader]
    namer: UnitNamer
    pyelftools_version: str


def import_elftools() -> tuple[Any, str]:
    try:
        import elftools
        from elftools.elf.elffile import ELFFile
    except ImportError as exc:
        raise EnvGenError(f"pyelftools is required (Debian: python3-pyelftools): {exc}") from exc
    return ELFFile, getattr(elftools, "__version__", "?")


# The sections a walk of types needs; the others (line tables, location and range
# lists, frames: most of the bytes) are never read.
TYPE_SECTIONS = {".debug_info": "debug_info_sec", ".debug_abbrev": "debug_abbrev_sec",
                 ".debug_str": "debug_str_sec", ".debug_line_str": "debug_line_str_sec",
                 ".debug_str_offsets": "debug_str_offsets_sec", ".debug_addr": "debug_addr_sec"}


def type_sections_dwarf(elf: Any) -> tuple[Any, dict[str, bytes]] | None:
    """A pyelftools DWARFInfo over the type sections only (None: use get_dwarf_info)."""
    import inspect
    from io import BytesIO
    from elftools.dwarf.dwarfinfo import DebugSectionDescriptor, DWARFInfo, DwarfConfig
    if elf.header["e_type"] == "ET_REL":
        return None                          # needs relocations
    raw: dict[str, bytes] = {}
    kwargs: dict[str, Any] = {name: None for name in inspect.signature(DWARFInfo).parameters
                              if name.endswith("_sec")}
    for name, param in TYPE_SECTIONS.items():
        section = elf.get_section_by_name(name)
        if section is None:
            continue
        if section.compressed or param not in kwargs:
            return None
        raw[name] = data = section.data()
        # BytesIO(bytes) shares the buffer until written to: no copy.
        kwargs[param] = DebugSectionDescriptor(BytesIO(data), name, section["sh_offset"],
                                               len(data), section["sh_addr"])
    config = DwarfConfig(little_endian=elf.little_endian, machine_arch=elf.get_machine_arch(),
                         default_address_size=elf.elfclass // 8)
    try:
        return DWARFInfo(config=config, **kwargs), raw
    except TypeError:                        # another pyelftools' constructor
        return None


def full_dwarf(elf: Any) -> tuple[Any, dict[str, bytes]]:
    dwarf = elf.get_dwarf_info(relocate_dwarf_sections=elf.header["e_type"] == "ET_REL")
    raw = {}
    for name, param in TYPE_SECTIONS.items():
        section = getattr(dwarf, param, None)
        raw[name] = b"" if section is None else bytes(section.stream.getbuffer())
    return dwarf, raw


def open_dwarf(path: Path) -> DwarfSource:
    elf_file_cls, version = import_elftools()
    if not path.is_file():
        raise EnvGenError(f"{path}: no such library")
    handle = path.open("rb")
    try:
        elf = elf_file_cls(handle)
        if elf.get_section_by_name(".debug_info") is None:
            raise EnvGenError(f"{path} has no .debug_info: it was built or stripped without DWARF")
        dwarf, raw = type_sections_dwarf(elf) or full_dwarf(elf)
        units = list(iter_unit_headers(raw[".debug_info"], elf.little_endian))
        namer = UnitNamer(raw[".debug_info"], raw.get(".debug_abbrev", b""),
                          raw.get(".debug_str", b""), raw.get(".debug_line_str", b""),
                          "little" if elf.little_endian else "big")
    except EnvGenError:
        handle.close()
        raise
    except Exception as exc:  # pyelftools raises many kinds
        handle.close()
        raise EnvGenError(f"pyelftools {version} cannot read {path}: "
                          f"{type(exc).__name__}: {exc}") from exc
    return DwarfSource(path, handle, dwarf, units, namer, version)


def die_name(die: Any) -> str | None:
    attr = die.attributes.get("DW_AT_name")
    if attr is None:
        return None
    value = attr.value
    return value.decode() if isinstance(value, bytes) else str(value)


def die_int(die: Any, name: str) -> int | None:
    attr = die.attributes.get(name)
    return None if attr is None or not isinstance(attr.value, int) else attr.value


def type_die(die: Any) -> Any | None:
    if "DW_AT_type" not in die.attributes:
        return None
    return die.get_DIE_from_attribute("DW_AT_type")


def strip_to_record(die: Any) -> Any | None:
    while die is not None and (die.tag == "DW_TAG_typedef" or die.tag in QUALIFIER_TAGS):
        die = type_die(die)
    return die if die is not None and die.tag in RECORD_TAGS else None


def is_complete(die: Any) -> bool:
    return "DW_AT_declaration" not in die.attributes and "DW_AT_byte_size" in die.attributes


@dataclass
class FoundTypes:
    env_die: Any
    env_typedef: Any
    cpu_state_size: int
    unit_name: str


def find_arch_state(src: DwarfSource) -> FoundTypes:
    """Finds the typedef CPUArchState (with a complete struct) and sizeof(CPUState)."""
    env = env_typedef = None
    cpu_size: int | None = None
    unit_name = ""
    for unit in candidate_units(src.units, src.namer):
        cu = src.dwarf.get_CU_at(unit.offset)
        for child in cu.get_top_DIE().iter_children():
            tag = child.tag
            if env is None and tag == "DW_TAG_typedef" and die_name(child) == ENV_NAME:
                record = strip_to_record(child)
                if record is not None and is_complete(record):
                    env, env_typedef = record, child
                    unit_name = src.namer.name(unit) or f"unit at {unit.offset:#x}"
            elif (cpu_size is None and tag == "DW_TAG_structure_type"
                  and die_name(child) == CPU_STATE_NAME and is_complete(child)):
                cpu_size = die_int(child, "DW_AT_byte_size")
            if env is not None and cpu_size is not None:
                return FoundTypes(env, env_typedef, cpu_size, unit_name)
    if env is None:
        raise EnvGenError(f"{src.path}: no compile unit defines the typedef {ENV_NAME} "
                          "with a complete struct")
    raise EnvGenError(f"{src.path}: no compile unit defines struct {CPU_STATE_NAME}")


# ----------------------------------------------------------------------------
# The type model built from the DWARF

@dataclass(eq=False)
class Scalar:
    cdecl: str
    size: int


@dataclass(eq=False)
class Pointer:
    size: int


@dataclass(eq=False)
class Unsupported:
    reason: str
    size: int


@dataclass(eq=False)
class Array:
    elem: "TypeNode"
    dims: tuple[int, ...]
    size: int


@dataclass(eq=False)
class Member:
    name: str | None
    offset: int
    type: "TypeNode"
    bit_size: int | None


@dataclass(eq=False)
class Record:
    kind: str                      # "struct" or "union"
    tag: str | None
    typedef: str | None
    size: int
    complete: bool
    die_offset: int
    members: list[Member] = field(default_factory=list)

    def label(self) -> str:
        return self.tag or self.typedef or f"<anonymous {self.kind}>"


TypeNode = Union[Scalar, Pointer, Unsupported, Array, Record]


def member_offset(die: Any) -> int | None:
    attr = die.attributes.get("DW_AT_data_member_location")
    if attr is None:
        bit_offset = die_int(die, "DW_AT_data_bit_offset")
        return None if bit_offset is None else bit_offset // 8
    if isinstance(attr.value, int):
        return attr.value
    block = list(attr.value)               # DWARF 2 style: DW_OP_plus_uconst <uleb>
    if block and block[0] == 0x23:
        return read_uleb(bytes(block[1:]), 0)[0]
    return None


def subrange_count(die: Any) -> int | None:
    count = die.attributes.get("DW_AT_count")
    if count is not None:
        return count.value if isinstance(count.value, int) else None
    upper = die.attributes.get("DW_AT_upper_bound")
    if upper is None:
        return 0                            # flexible array member: x[]
    if upper.form not in ("DW_FORM_data1", "DW_FORM_data2", "DW_FORM_data4", "DW_FORM_data8",
                          "DW_FORM_udata", "DW_FORM_sdata", "DW_FORM_implicit_const"):
        return None                         # variable length: a reference or an expression
    value = upper.value
    width = {"DW_FORM_data4": 32, "DW_FORM_data8": 64}.get(upper.form)
    if width and value == (1 << width) - 1:
        value = -1                          # x[0] as upper bound -1 (older producers)
    lower = die_int(die, "DW_AT_lower_bound") or 0
    return max(value - lower + 1, 0)


def scalar_for_base(die: Any) -> TypeNode:
    size = die_int(die, "DW_AT_byte_size") or 0
    encoding = die_int(die, "DW_AT_encoding")
    name = die_name(die) or "?"
    ints = {1: "int8_t", 2: "int16_t", 4: "int32_t", 8: "int64_t"}
    if encoding == DW_ATE_BOOLEAN and size == 1:
        return Scalar("uint8_t", 1)
    if encoding in (DW_ATE_SIGNED_CHAR, DW_ATE_UNSIGNED_CHAR) and size == 1:
        if name == "char":
            return Scalar("char", 1)
        return Scalar("int8_t" if encoding == DW_ATE_SIGNED_CHAR else "uint8_t", 1)
    if encoding in (DW_ATE_SIGNED, DW_ATE_UNSIGNED) and size in ints:
        cdecl = ints[size]
        return Scalar(cdecl if encoding == DW_ATE_SIGNED else "u" + cdecl, size)
    if encoding in (DW_ATE_SIGNED, DW_ATE_UNSIGNED) and size == 16:
        return Unsupported("128-bit integer", size)
    if encoding == DW_ATE_FLOAT:
        if size == 4:
            return Scalar("float", 4)
        if size == 8:
            return Scalar("double", 8)
        if name == "long double":
            return Scalar("long double", size)
    return Unsupported(f"base type '{name}'", size)


class TypeBuilder:
    """DIE -> TypeNode, cached by DIE offset."""

    def __init__(self, address_size: int = 8) -> None:
        self.cache: dict[int, TypeNode] = {}
        self.address_size = address_size

    def resolve(self, die: Any | None) -> TypeNode:
        typedef_name = None
        while die is not None and (die.tag == "DW_TAG_typedef" or die.tag in QUALIFIER_TAGS):
            if die.tag == "DW_TAG_typedef":
                typedef_name = die_name(die)
            die = type_die(die)
        if die is None:
            return Unsupported("void", 0)
        node = self.cache.get(die.offset)
        if node is None:
            node = self._build(die)
        if isinstance(node, Record) and node.tag is None and node.typedef is None:
            node.typedef = typedef_name
        return node

    def _build(self, die: Any) -> TypeNode:
        tag = die.tag
        if tag in RECORD_TAGS:
            return self._record(die)
        if tag == "DW_TAG_base_type":
            node: TypeNode = scalar_for_base(die)
        elif tag == "DW_TAG_enumeration_type":
            size = die_int(die, "DW_AT_byte_size") or 0
            cdecl = {1: "uint8_t", 2: "uint16_t", 4: "uint32_t", 8: "uint64_t"}.get(size)
            node = Scalar(cdecl, size) if cdecl else Unsupported(f"enum of {size} bytes", size)
        elif tag in POINTER_TAGS:
            node = Pointer(die_int(die, "DW_AT_byte_size") or self.address_size)
        elif tag == "DW_TAG_array_type":
            node = self._array(die)
        else:
            node = Unsupported(tag.replace("DW_TAG_", ""), die_int(die, "DW_AT_byte_size") or 0)
        self.cache[die.offset] = node
        return node

    def _array(self, die: Any) -> TypeNode:
        elem = self.resolve(type_die(die))
        dims = []
        for child in die.iter_children():
            if child.tag == "DW_TAG_subrange_type":
                count = subrange_count(child)
                if count is None:
                    return Unsupported("variable-length array", 0)
                dims.append(count)
        if not dims:
            dims = [0]
        if "DW_AT_GNU_vector" in die.attributes:
            count = 1
            for dim in dims:
                count *= dim
            return Unsupported("vector type", count * elem.size)
        if isinstance(elem, Array):
            dims += elem.dims
            elem = elem.elem
        count = 1
        for dim in dims:
            count *= dim
        return Array(elem, tuple(dims), count * elem.size)

    def _record(self, die: Any) -> Record:
        record = Record(kind=RECORD_TAGS[die.tag], tag=die_name(die), typedef=None,
                        size=die_int(die, "DW_AT_byte_size") or 0,
                        complete=is_complete(die), die_offset=die.offset)
        self.cache[die.offset] = record          # before the members: cycles go via pointers
        if not record.complete:
            return record
        for child in die.iter_children():
            if child.tag != "DW_TAG_member":
                continue
            offset = member_offset(child)
            if offset is None and record.kind == "union":
                offset = 0
            bit_size = die_int(child, "DW_AT_bit_size")
            member_type = self.resolve(type_die(child))
            if offset is None:
                member_type, offset = Unsupported("location is not a constant", 0), 0
            record.members.append(Member(die_name(child), offset, member_type, bit_size))
        return record


def member_problem(member: Member) -> str | None:
    """Why a member cannot be declared at all (None if it can)."""
    if member.bit_size is not None:
        return f"bitfield :{member.bit_size}"
    node = member.type
    if isinstance(node, Array):
        if node.size == 0:
            return "zero-length array"
        node = node.elem
    if isinstance(node, Unsupported):
        return node.reason
    if isinstance(node, Record) and not node.complete:
        return "incomplete type"
    if node.size == 0:
        return "zero-size type"
    return None


def dims_suffix(node: TypeNode) -> str:
    return "".join(f"[{d}]" for d in node.dims) if isinstance(node, Array) else ""


def element_of(node: TypeNode) -> TypeNode:
    return node.elem if isinstance(node, Array) else node


def align_up(value: int, align: int) -> int:
    return (value + align - 1) // align * align


# ----------------------------------------------------------------------------
# The ABI-mode header

@dataclass
class FieldCheck:
    path: tuple[str, ...]
    offset: int
    size: int


@dataclass
class AbiRecord:
    record: Record
    cdef_name: str             # "struct penguin_env_X"
    c_name: str                # how C names the original type (for tests and messages)
    align: int = 1
    text: str = ""
    checks: list[FieldCheck] = field(default_factory=list)
    padded: list[str] = field(default_factory=list)


@dataclass
class Body:
    lines: list[str]
    align: int
    checks: list[FieldCheck]
    padded: list[str]


class AbiEmitter:
    """Renders records as layout-exact cdef structs, dependencies first."""

    def __init__(self, ffi: Any) -> None:
        self.ffi = ffi
        self.records: dict[int, AbiRecord] = {}
        self.order: list[AbiRecord] = []
        self.used_names: set[str] = set()
        self.pad_counter = 0

    def emit(self, record: Record, hint: str | None = None, c_name: str | None = None) -> AbiRecord:
        done = self.records.get(id(record))
        if done is not None:
            return done
        base = self._unique(record.tag or record.typedef or hint or "anon")
        out = AbiRecord(record, f"{record.kind} {PREFIX}{base}",
                        c_name or (f"{record.kind} {record.tag}" if record.tag else
                                   record.typedef or base))
        self.records[id(record)] = out
        saved_counter, self.pad_counter = self.pad_counter, 0
        body = self._body(record, out, base)
        self.pad_counter = saved_counter
        out.align, out.checks, out.padded = body.align, body.checks, body.padded
        lines = [f"{out.cdef_name} {{"] + [f"    {line}" for line in body.lines] + ["};"]
        if body.padded:
            lines.insert(0, "/* padded over: " + "; ".join(body.padded) + " */")
        out.text = "\n".join(lines)
        self.order.append(out)
        return out

    def _unique(self, base: str) -> str:
        name, n = base, 2
        while name in self.used_names:
            name, n = f"{base}_{n}", n + 1
        self.used_names.add(name)
        return name

    def _pad(self, size: int, kind: str = "pad") -> str:
        name = f"_penguin_{kind}{self.pad_counter}"
        self.pad_counter += 1
        return f"uint8_t {name}[{size}];"

    def _scalar_align(self, cdecl: str) -> int:
        return self.ffi.alignof(cdecl)

    def _declare(self, member: Member, owner: AbiRecord, owner_base: str) -> Body:
        """One member: its lines, alignment, checks (relative) and what it pads over."""
        node = member.type
        elem = element_of(node)
        if member.name is None and isinstance(node, Record):
            body = self._body(node, owner, owner_base)
            lines = [f"{node.kind} {{"] + [f"    {line}" for line in body.lines] + ["};"]
            return Body(lines, body.align, body.checks, body.padded)
        if isinstance(elem, Record):
            index = "[0]" * (len(node.dims) if isinstance(node, Array) else 0)
            sub_c = f"__typeof__((({owner.c_name} *)0)->{member.name}{index})"
            sub = self.emit(elem, f"{owner_base}_{member.name}",
                            None if (elem.tag or elem.typedef) else sub_c)
            text, align = sub.cdef_name, sub.align
        elif isinstance(elem, Pointer):
            text, align = "void *", self._scalar_align("void *")
        else:
            text, align = elem.cdecl, self._scalar_align(elem.cdecl)
        sep = "" if text.endswith("*") else " "
        line = f"{text}{sep}{member.name}{dims_suffix(node)};"
        return Body([line], align, [FieldCheck((member.name,), 0, node.size)], [])

    def _body(self, record: Record, owner: AbiRecord, owner_base: str) -> Body:
        label = owner_base if record is owner.record else f"{owner_base}.<anonymous>"
        lines: list[str] = []
        checks: list[FieldCheck] = []
        padded: list[str] = []
        align, cur, size_in_union = 1, 0, 0
        is_union = record.kind == "union"
        for member in sorted(record.members, key=lambda m: m.offset):
            what = f"{label}.{member.name or '<anonymous>'}"
            problem = member_problem(member)
            offset = 0 if is_union else member.offset
            if problem is None:
                decl = self._declare(member, owner, owner_base)
                if offset < cur:
                    problem = "overlaps the previous member"
                elif offset % decl.align:
                    problem = "misaligned (packed)"
            if problem is not None:
                padded.append(f"{what} ({problem})")
                continue
            if not is_union and align_up(cur, decl.align) != offset:
                lines.append(self._pad(offset - cur))
            lines.extend(decl.lines)
            padded.extend(decl.padded)
            checks.extend(FieldCheck(c.path, c.offset + offset, c.size) for c in decl.checks)
            align = max(align, decl.align)
            size_in_union = max(size_in_union, member.type.size)
            if not is_union:
                cur = offset + member.type.size
        if is_union:
            if size_in_union < record.size:
                lines.append(self._pad(record.size, "union_pad"))
        elif cur < record.size:
            lines.append(self._pad(record.size - cur))
        if align_up(max(cur, size_in_union, record.size), align) != record.size:
            # A packed record whose size is no multiple of its members' alignment:
            # cffi cannot lay it out, so it becomes bytes.
            names = [f"{label}.{m.name or '<anonymous>'} (packed record, kept as bytes)"
                     for m in record.members]
            return Body([self._pad(record.size, "opaque")], 1, [], names)
        return Body(lines, align, checks, padded)


@dataclass
class AbiHeader:
    text: str
    records: list[AbiRecord]
    padded: list[str]
    env: AbiRecord


def render_abi_header(env: Record, cpu_state_size: int, ffi: Any, library: str) -> AbiHeader:
    emitter = AbiEmitter(ffi)
    top = emitter.emit(env, c_name=f"struct {env.tag}" if env.tag else ENV_NAME)
    padded = [p for rec in emitter.order for p in rec.padded]
    head = [
        f"/* Layout-exact {ENV_NAME} of {library}, for cffi's ABI mode.",
        f" * Generated by scripts/{PROG}.py from the library's DWARF; do not edit.",
        " * Every struct was checked member by member against the DWARF with cffi.",
        f" * sizeof({ENV_NAME}) = {env.size}, sizeof({CPU_STATE_NAME}) = {cpu_state_size}.",
        f" * Padded over ({len(padded)}; their bytes are uint8_t padding):",
    ]
    head += [f" *   {p}" for p in padded] or [" *   none"]
    head += [" */", f"#define PENGUIN_CPU_STATE_SIZE {cpu_state_size}", ""]
    parts = ["\n".join(head)] + [rec.text + "\n" for rec in emitter.order]
    parts.append(f"typedef {top.cdef_name} {ENV_NAME};\n")
    return AbiHeader("\n".join(parts), list(emitter.order), padded, top)


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
    """Compares cffi's layout of each declared type with the DWARF; returns the differences."""
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


def verify_abi_header(header: AbiHeader, main_header: str = MAIN_HEADER_DECLS) -> None:
    """cdefs the header after the main header's declarations in one fresh FFI, then
    checks every emitted struct member by member against the DWARF."""
    ffi = new_ffi()
    try:
        ffi.cdef(main_header + "\n" + header.text)
    except Exception as exc:
        raise EnvGenError(f"cffi rejects the generated ABI header: {exc}") from exc
    errors = check_records(ffi, [(r.cdef_name, r.record, r.checks) for r in header.records])
    if ffi.sizeof(ENV_NAME) != header.env.record.size:
        errors.append(f"sizeof({ENV_NAME}) is {ffi.sizeof(ENV_NAME)}")
    if errors:
        raise EnvGenError(f"the ABI header does not match the DWARF ({len(errors)} "
                          f"differences): " + "; ".join(errors[:5]))


def new_ffi() -> Any:
    try:
        import cffi
    except ImportError as exc:
        raise EnvGenError(f"cffi is required (Debian: python3-cffi): {exc}") from exc
    return cffi.FFI()


# ----------------------------------------------------------------------------
# The API-mode module's cdef

class Inexpressible(Exception):
    """A member the module's cdef leaves out (the compiler still places the others)."""


@dataclass
class ApiRecord:
    record: Record
    c_name: str
    text: str = ""
    checks: list[FieldCheck] = field(default_factory=list)


class ApiEmitter:
    """Renders records under their C names as partial cffi structs ("...;").

    An anonymous type used by a named member has no C name; the module's source
    gives it one (typedef __typeof__(((Owner *)0)->member) penguin_env_Owner_member),
    so it can be partial too and the compiler lays it out like every other type.
    """

    def __init__(self) -> None:
        self.records: dict[int, ApiRecord] = {}
        self.order: list[ApiRecord] = []
        self.dropped: list[str] = []
        self.c_typedefs: list[str] = []
        self.names: dict[int, str] = {}

    def c_name(self, record: Record) -> str | None:
        if record.tag:
            return f"{record.kind} {record.tag}"
        return record.typedef or self.names.get(id(record))

    def emit(self, record: Record) -> ApiRecord:
        done = self.records.get(id(record))
        if done is not None:
            return done
        c_name = self.c_name(record)
        assert c_name is not None
        out = ApiRecord(record, c_name)
        self.records[id(record)] = out
        label = c_name.split(" ")[-1]
        lines, out.checks = self._body(record, c_name, label)
        body = [f"    {line}" for line in lines + ["...;"]]
        if record.tag:
            out.text = "\n".join([f"{c_name} {{"] + body + ["};"])
        else:
            out.text = "\n".join([f"typedef {record.kind} {{"] + body + [f"}} {c_name};"])
        self.order.append(out)
        return out

    def _body(self, record: Record, owner_c: str, label: str
              ) -> tuple[list[str], list[FieldCheck]]:
        lines: list[str] = []
        checks: list[FieldCheck] = []
        for member in record.members:
            what = f"{label}.{member.name or '<anonymous>'}"
            try:
                decl, m_checks = self._declare(member, owner_c, what)
            except Inexpressible as exc:
                self.dropped.append(f"{what} ({exc})")
                continue
            offset = 0 if record.kind == "union" else member.offset
            lines.extend(decl)
            checks.extend(FieldCheck(c.path, c.offset + offset, c.size) for c in m_checks)
        return lines, checks

    def _declare(self, member: Member, owner_c: str, what: str
                 ) -> tuple[list[str], list[FieldCheck]]:
        problem = member_problem(member)
        if problem is not None:
            raise Inexpressible(problem)
        node = member.type
        elem = element_of(node)
        if member.name is None and isinstance(node, Record):
            # Anonymous member: inline (cffi allows no "...;" there); its fields are
            # flattened into the partial parent, whose offsets come from the compiler,
            # so members may be left out.
            lines, checks = self._body(node, owner_c, what)
            if not lines:
                raise Inexpressible("no member cffi can declare")
            return [f"{node.kind} {{"] + [f"    {x}" for x in lines] + ["};"], checks
        if isinstance(elem, Record):
            if self.c_name(elem) is None:
                self._name_anonymous(elem, node, member, owner_c)
            text = self.emit(elem).c_name
        elif isinstance(elem, Pointer):
            text = "void *"
        else:
            text = elem.cdecl
        sep = "" if text.endswith("*") else " "
        return [f"{text}{sep}{member.name}{dims_suffix(node)};"], \
            [FieldCheck((member.name,), 0, node.size)]

    def _name_anonymous(self, elem: Record, node: TypeNode, member: Member, owner_c: str) -> None:
        owner = owner_c.split(" ")[-1]
        base = owner if owner.startswith(PREFIX) else PREFIX + owner
        name, n = f"{base}_{member.name}", 2
        taken = set(self.names.values())
        while name in taken:
            name, n = f"{base}_{member.name}_{n}", n + 1
        self.names[id(elem)] = name
        index = "[0]" * (len(node.dims) if isinstance(node, Array) else 0)
        self.c_typedefs.append(
            f"typedef __typeof__((({owner_c} *)0)->{member.name}{index}) {name};")


@dataclass
class ApiCdef:
    text: str
    source: str
    records: list[ApiRecord]
    dropped: list[str]


def render_api_cdef(env: Record) -> ApiCdef:
    """The module's cdef and C source (cpu.h plus names for anonymous types)."""
    emitter = ApiEmitter()
    top = emitter.emit(env)
    parts = [rec.text + "\n" for rec in emitter.order]
    if top.c_name != ENV_NAME:
        parts.append(f"typedef {top.c_name} {ENV_NAME};\n")
    source = MODULE_SOURCE + "".join(line + "\n" for line in emitter.c_typedefs)
    return ApiCdef("\n".join(parts), source, list(emitter.order), emitter.dropped)


# ----------------------------------------------------------------------------
# Building the API-mode module

def module_name(mode: str, target: str) -> str:
    return f"_penguin_qemu_env_{mode}_{target.replace('-', '_')}"


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
    """Compiles the module in tmpdir; returns the path of the built extension."""
    python_headers()
    ffi = new_ffi()
    try:
        ffi.cdef(api.text)
    except Exception as exc:
        raise EnvGenError(f"cffi rejects the module cdef: {exc}") from exc
    ffi.set_source(name, api.source, extra_compile_args=flags + MODULE_EXTRA_FLAGS)
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


def install_file(built: Path, directory: Path, name: str) -> Path:
    """Installs built as <name>.abi3.so, removing the module's files of other names."""
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / f"{name}{STABLE_ABI_SUFFIX}"
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.copyfile(built, tmp)
    os.replace(tmp, dest)
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


# ----------------------------------------------------------------------------
# Driver

def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


@dataclass
class Model:
    env: Record
    cpu_state_size: int
    unit_name: str


def read_model(library: Path, timer: StepTimer) -> Model:
    with gc_paused():
        with timer.step("read DWARF unit index"):
            src = open_dwarf(library)
        try:
            with timer.step("find CPUArchState"):
                found = find_arch_state(src)
            with timer.step("type graph"):
                builder = TypeBuilder(found.env_die.cu["address_size"])
                env = builder.resolve(found.env_typedef)
        except EnvGenError:
            raise
        except Exception as exc:
            raise EnvGenError(f"pyelftools {src.pyelftools_version} cannot read the DWARF of "
                              f"{library}: {type(exc).__name__}: {exc}") from exc
        finally:
            src.handle.close()
    assert isinstance(env, Record)
    timer.say(f"{ENV_NAME} is {env.label()} ({env.size} bytes, {len(builder.cache)} types) "
              f"from {found.unit_name}; sizeof({CPU_STATE_NAME}) = {found.cpu_state_size}")
    return Model(env, found.cpu_state_size, found.unit_name)


def generate_header(model: Model, library: Path, out_header: Path, timer: StepTimer,
                    main_header: str = MAIN_HEADER_DECLS) -> AbiHeader:
    with timer.step("ABI header + cffi check"):
        header = render_abi_header(model.env, model.cpu_state_size, new_ffi(), library.name)
        verify_abi_header(header, main_header)
        write_text(out_header, header.text)
    timer.say(f"wrote {out_header} ({len(header.records)} structs, "
              f"{len(header.padded)} members padded over)")
    return header


def generate_module(model: Model, args: argparse.Namespace, timer: StepTimer) -> Path:
    name = module_name(args.mode, args.target)
    with timer.step("module flags"):
        if not (args.source_dir / "include" / "qemu" / "osdep.h").is_file():
            raise EnvGenError(f"{args.source_dir} is not a QEMU source tree "
                              "(no include/qemu/osdep.h)")
        flags, entry = target_flags(args.compile_commands, args.target, args.build_dir)
        api = render_api_cdef(model.env)
    with tempfile.TemporaryDirectory(prefix="penguin-env-build-") as tmp:
        with timer.step(f"module build ({name})"):
            built = build_module(api, flags, name, Path(tmp))
        with timer.step("module import + layout check"):
            verify_module(load_module(built, name), api, model.env)
        path = install_file(built, args.module_dir, name)
    if api.dropped:
        timer.say(f"module leaves to the compiler: {'; '.join(api.dropped)}")
    timer.say(f"wrote {path} (flags of {entry.get('file')})")
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
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
    parser.add_argument("--quiet", action="store_true", help="print errors only")
    return parser.parse_args(argv)


def run(args: argparse.Namespace, timer: StepTimer) -> None:
    if not args.build_dir.is_dir():
        raise EnvGenError(f"{args.build_dir}: no such build directory")
    main_header = MAIN_HEADER_DECLS
    if args.main_header is not None:
        try:
            main_header = args.main_header.read_text()
        except OSError as exc:
            raise EnvGenError(f"cannot read {args.main_header}: {exc}") from exc
    model = read_model(args.library, timer)
    generate_header(model, args.library, args.out_header, timer, main_header)
    generate_module(model, args, timer)
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


if __name__ == "__main__":
    sys.exit(main())
