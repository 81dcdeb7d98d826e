"""The one naming of the records both emitters write.

Every record reachable from CPUArchState through members cffi can declare gets a base
name, unique among all of them: its tag, else its typedef, else (an anonymous type
used by a named member) "<owner's base>_<member>", with _2, _3, ... on a clash. The
ABI header calls it "struct penguin_env_<base>". The API module keeps real C names
("struct <tag>" or the typedef) and calls an anonymous type "penguin_env_<base>",
which its C source defines as __typeof__ of the member that uses it.

Names are given in the order the emitters meet the records (members by offset,
anonymous members inline, depth first), so the first user of a name keeps it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .common import PREFIX
from .model import Array, Record, TypeNode, element_of, member_problem


@dataclass(frozen=True)
class TypeName:
    base: str                 # unique: tag, typedef or <owner>_<member>
    c_name: str               # the name in the module's cdef and C source
    c_spelling: str           # a C type that needs only the QEMU headers
    c_typedef: str | None     # for an anonymous type: the module source's typedef


class TypeNames:
    """Base and C names of records, looked up by the record itself."""

    def __init__(self) -> None:
        self.by_record: dict[int, TypeName] = {}
        self.used: set[str] = set()

    def __contains__(self, record: Record) -> bool:
        return id(record) in self.by_record

    def of(self, record: Record) -> TypeName:
        return self.by_record[id(record)]

    def abi_name(self, record: Record) -> str:
        """The ABI header's name: "struct penguin_env_<base>"."""
        return f"{record.kind} {PREFIX}{self.of(record).base}"

    def module_typedefs(self) -> list[str]:
        """The typedefs that name the anonymous types in the module's C source, each
        after the one of its owner."""
        return [name.c_typedef for name in self.by_record.values() if name.c_typedef]

    def add_named(self, record: Record) -> TypeName:
        """A record with a tag or a typedef (or CPUArchState itself)."""
        c_name = f"{record.kind} {record.tag}" if record.tag else record.typedef
        base = self._unique(record.tag or record.typedef or "anon")
        return self._add(record, TypeName(base, c_name or PREFIX + base,
                                          c_name or PREFIX + base, None))

    def add_anonymous(self, record: Record, owner: Record, member: str,
                      node: TypeNode) -> TypeName:
        """An anonymous record, the type (or element type) of owner's member."""
        owner_name = self.of(owner)
        base = self._unique(f"{owner_name.base}_{member}")
        index = "[0]" * (len(node.dims) if isinstance(node, Array) else 0)
        access = f"->{member}{index})"
        return self._add(record, TypeName(
            base, PREFIX + base,
            f"__typeof__((({owner_name.c_spelling} *)0){access}",
            f"typedef __typeof__((({owner_name.c_name} *)0){access} {PREFIX}{base};"))

    def _add(self, record: Record, name: TypeName) -> TypeName:
        self.by_record[id(record)] = name
        return name

    def _unique(self, base: str) -> str:
        name, n = base, 2
        while name in self.used:
            name, n = f"{base}_{n}", n + 1
        self.used.add(name)
        return name


def name_types(env: Record) -> TypeNames:
    """Names env and every record its declarable members reach."""
    names = TypeNames()
    names.add_named(env)
    name_members(names, env, env)
    return names


def name_members(names: TypeNames, record: Record, owner: Record) -> None:
    """Names the records of record's members; owner is the named record they belong
    to (record itself, or the record an anonymous member is inlined into)."""
    for member in sorted(record.members, key=lambda m: m.offset):
        if member_problem(member) is not None:
            continue
        node = member.type
        elem = element_of(node)
        if member.name is None and isinstance(node, Record):
            name_members(names, node, owner)
        elif isinstance(elem, Record) and elem not in names:
            if elem.tag or elem.typedef:
                names.add_named(elem)
            else:
                names.add_anonymous(elem, owner, str(member.name), node)
            name_members(names, elem, elem)
