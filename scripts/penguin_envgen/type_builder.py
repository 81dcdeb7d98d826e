"""DWARF DIEs -> the type model: reading the library's CPUArchState into a Model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .common import CPU_STATE_NAME, ENV_NAME, EnvGenError
from .dwarf_index import read_uleb
from .dwarf_reader import (QUALIFIER_TAGS, RECORD_TAGS, die_int, die_name, find_arch_state,
                           is_complete, open_dwarf, type_die)
from .model import Array, Member, Model, Pointer, Record, Scalar, TypeNode, Unsupported
from .timing import StepTimer, gc_paused

DW_ATE_BOOLEAN, DW_ATE_FLOAT, DW_ATE_SIGNED = 0x02, 0x04, 0x05
DW_ATE_SIGNED_CHAR, DW_ATE_UNSIGNED, DW_ATE_UNSIGNED_CHAR = 0x06, 0x07, 0x08
POINTER_TAGS = {"DW_TAG_pointer_type", "DW_TAG_reference_type",
                "DW_TAG_rvalue_reference_type", "DW_TAG_ptr_to_member_type"}


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
    if upper.form not in ("DW_FORM_data1", "DW_FORM_data2", "DW_FORM_data4",
                          "DW_FORM_data8", "DW_FORM_udata", "DW_FORM_sdata",
                          "DW_FORM_implicit_const"):
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
        while die is not None and (die.tag == "DW_TAG_typedef"
                                   or die.tag in QUALIFIER_TAGS):
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
            node = (Scalar(cdecl, size) if cdecl
                    else Unsupported(f"enum of {size} bytes", size))
        elif tag in POINTER_TAGS:
            node = Pointer(die_int(die, "DW_AT_byte_size") or self.address_size)
        elif tag == "DW_TAG_array_type":
            node = self._array(die)
        else:
            node = Unsupported(tag.replace("DW_TAG_", ""),
                               die_int(die, "DW_AT_byte_size") or 0)
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
        # Cached before the members are read: cycles go through pointers.
        self.cache[die.offset] = record
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
            raise EnvGenError(f"pyelftools {src.pyelftools_version} cannot read the "
                              f"DWARF of {library}: {type(exc).__name__}: {exc}") from exc
        finally:
            src.handle.close()
    assert isinstance(env, Record)
    timer.say(f"{ENV_NAME} is {env.label()} ({env.size} bytes, {len(builder.cache)} types) "
              f"from {found.unit_name}; sizeof({CPU_STATE_NAME}) = {found.cpu_state_size}")
    return Model(env, found.cpu_state_size, found.unit_name)
