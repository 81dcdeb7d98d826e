"""The API-mode module's cdef and C source: the records under their C names, each
partial ("...;"), so the C compiler lays them out from the real QEMU headers."""

from __future__ import annotations

from dataclasses import dataclass, field

from .common import ENV_NAME
from .layout_check import FieldCheck
from .model import Member, Pointer, Record, dims_suffix, element_of, member_problem
from .naming import TypeNames, name_types

MODULE_SOURCE = '#include "qemu/osdep.h"\n#include "cpu.h"\n'


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
    gives it one (naming.py: typedef __typeof__(((Owner *)0)->member)
    penguin_env_Owner_member), so it can be partial too and the compiler lays it out
    like every other type.
    """

    def __init__(self, names: TypeNames) -> None:
        self.names = names
        self.records: dict[int, ApiRecord] = {}
        self.order: list[ApiRecord] = []
        self.dropped: list[str] = []

    def emit(self, record: Record) -> ApiRecord:
        done = self.records.get(id(record))
        if done is not None:
            return done
        c_name = self.names.of(record).c_name
        out = ApiRecord(record, c_name)
        self.records[id(record)] = out
        label = c_name.split(" ")[-1]
        lines, out.checks = self._body(record, label)
        body = [f"    {line}" for line in lines + ["...;"]]
        if record.tag:
            out.text = "\n".join([f"{c_name} {{"] + body + ["};"])
        else:
            out.text = "\n".join([f"typedef {record.kind} {{"] + body + [f"}} {c_name};"])
        self.order.append(out)
        return out

    def _body(self, record: Record, label: str) -> tuple[list[str], list[FieldCheck]]:
        lines: list[str] = []
        checks: list[FieldCheck] = []
        for member in record.members:
            what = f"{label}.{member.name or '<anonymous>'}"
            try:
                decl, m_checks = self._declare(member, what)
            except Inexpressible as exc:
                self.dropped.append(f"{what} ({exc})")
                continue
            offset = 0 if record.kind == "union" else member.offset
            lines.extend(decl)
            checks.extend(FieldCheck(c.path, c.offset + offset, c.size) for c in m_checks)
        return lines, checks

    def _declare(self, member: Member, what: str) -> tuple[list[str], list[FieldCheck]]:
        problem = member_problem(member)
        if problem is not None:
            raise Inexpressible(problem)
        node = member.type
        elem = element_of(node)
        if member.name is None and isinstance(node, Record):
            # Anonymous member: inline (cffi allows no "...;" there); its fields are
            # flattened into the partial parent, whose offsets come from the compiler,
            # so members may be left out.
            lines, checks = self._body(node, what)
            if not lines:
                raise Inexpressible("no member cffi can declare")
            return [f"{node.kind} {{"] + [f"    {x}" for x in lines] + ["};"], checks
        if isinstance(elem, Record):
            text = self.emit(elem).c_name
        elif isinstance(elem, Pointer):
            text = "void *"
        else:
            text = elem.cdecl
        sep = "" if text.endswith("*") else " "
        return [f"{text}{sep}{member.name}{dims_suffix(node)};"], \
            [FieldCheck((member.name,), 0, node.size)]


@dataclass
class ApiCdef:
    text: str
    source: str
    records: list[ApiRecord]
    dropped: list[str]


def render_api_cdef(env: Record, names: TypeNames | None = None) -> ApiCdef:
    """The module's cdef and C source (cpu.h plus names for anonymous types); names
    defaults to a fresh naming of env."""
    names = names if names is not None else name_types(env)
    emitter = ApiEmitter(names)
    top = emitter.emit(env)
    parts = [rec.text + "\n" for rec in emitter.order]
    if top.c_name != ENV_NAME:
        parts.append(f"typedef {top.c_name} {ENV_NAME};\n")
    source = MODULE_SOURCE + "".join(line + "\n" for line in names.module_typedefs())
    return ApiCdef("\n".join(parts), source, list(emitter.order), emitter.dropped)
