"""The type model the emitters work from: records (structs and unions) with their
members, arrays, pointers, scalars, and what cffi cannot express."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union


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


@dataclass
class Model:
    env: Record
    cpu_state_size: int
    unit_name: str
