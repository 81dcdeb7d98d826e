"""The ABI-mode header: a layout-exact cdef of CPUArchState, every record renamed
penguin_env_<base> (naming.py), members cffi cannot express padded over, then
checked with cffi member by member against the DWARF."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .common import CPU_STATE_NAME, ENV_NAME, MAIN_HEADER_DECLS, PROG, EnvGenError, new_ffi
from .layout_check import FieldCheck, check_records
from .model import (Member, Pointer, Record, align_up, dims_suffix, element_of,
                    member_problem)
from .naming import TypeNames, name_types


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

    def __init__(self, ffi: Any, names: TypeNames) -> None:
        self.ffi = ffi
        self.names = names
        self.records: dict[int, AbiRecord] = {}
        self.order: list[AbiRecord] = []
        self.pad_counter = 0

    def emit(self, record: Record) -> AbiRecord:
        done = self.records.get(id(record))
        if done is not None:
            return done
        out = AbiRecord(record, self.names.abi_name(record),
                        self.names.of(record).c_spelling)
        self.records[id(record)] = out
        saved_counter, self.pad_counter = self.pad_counter, 0
        body = self._body(record, out)
        self.pad_counter = saved_counter
        out.align, out.checks, out.padded = body.align, body.checks, body.padded
        lines = [f"{out.cdef_name} {{"] + [f"    {line}" for line in body.lines] + ["};"]
        if body.padded:
            lines.insert(0, "/* padded over: " + "; ".join(body.padded) + " */")
        out.text = "\n".join(lines)
        self.order.append(out)
        return out

    def _pad(self, size: int, kind: str = "pad") -> str:
        name = f"_penguin_{kind}{self.pad_counter}"
        self.pad_counter += 1
        return f"uint8_t {name}[{size}];"

    def _scalar_align(self, cdecl: str) -> int:
        return self.ffi.alignof(cdecl)

    def _declare(self, member: Member, owner: AbiRecord) -> Body:
        """One member: its lines, alignment, checks (relative) and what it pads over."""
        node = member.type
        elem = element_of(node)
        if member.name is None and isinstance(node, Record):
            body = self._body(node, owner)
            lines = [f"{node.kind} {{"] + [f"    {line}" for line in body.lines] + ["};"]
            return Body(lines, body.align, body.checks, body.padded)
        if isinstance(elem, Record):
            sub = self.emit(elem)
            text, align = sub.cdef_name, sub.align
        elif isinstance(elem, Pointer):
            text, align = "void *", self._scalar_align("void *")
        else:
            text, align = elem.cdecl, self._scalar_align(elem.cdecl)
        sep = "" if text.endswith("*") else " "
        line = f"{text}{sep}{member.name}{dims_suffix(node)};"
        return Body([line], align, [FieldCheck((member.name,), 0, node.size)], [])

    def _body(self, record: Record, owner: AbiRecord) -> Body:
        """The members of record, which is owner's record or an anonymous member inlined
        into it."""
        owner_base = self.names.of(owner.record).base
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
                decl = self._declare(member, owner)
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
            checks.extend(FieldCheck(c.path, c.offset + offset, c.size)
                          for c in decl.checks)
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


def render_abi_header(env: Record, cpu_state_size: int, ffi: Any, library: str,
                      names: TypeNames | None = None) -> AbiHeader:
    """The header's text and records; names defaults to a fresh naming of env."""
    emitter = AbiEmitter(ffi, names if names is not None else name_types(env))
    top = emitter.emit(env)
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
