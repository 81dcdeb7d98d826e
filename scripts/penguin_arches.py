"""The library names of configs/arches.tsv: one place that says which names exist."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ARCHES_TSV = Path(__file__).resolve().parent.parent / "configs" / "arches.tsv"


@dataclass(frozen=True)
class Arch:
    name: str          # Penguin's name: libqemu-system-<name>.so
    qemu_target: str   # e.g. mips-softmmu
    bits: int          # guest word size
    endian: str        # "le" or "be"

    @property
    def target(self) -> str:
        """The QEMU target name without -softmmu (mips, ppc64, x86_64, ...)."""
        return self.qemu_target.removesuffix("-softmmu")

    @property
    def library(self) -> str:
        return f"libqemu-system-{self.name}.so"

    @property
    def canonical_library(self) -> str:
        """The file the build produces; every other name of the target links to it."""
        return f"libqemu-system-{self.target}.so"

    @property
    def is_alias(self) -> bool:
        return self.name != self.target


def load(path: Path = ARCHES_TSV) -> list[Arch]:
    arches = []
    for line in path.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        name, target, bits, endian = fields
        if endian not in ("le", "be") or bits not in ("32", "64"):
            raise ValueError(f"{path}: bad line {line!r}")
        arches.append(Arch(name, target, int(bits), endian))
    return arches


def by_name(name: str, path: Path = ARCHES_TSV) -> Arch:
    for arch in load(path):
        if arch.name == name:
            return arch
    known = ", ".join(a.name for a in load(path))
    raise KeyError(f"unknown architecture {name!r}; known: {known}")


def targets(path: Path = ARCHES_TSV) -> list[str]:
    """Unique QEMU targets (without -softmmu), in file order."""
    seen: dict[str, None] = {}
    for arch in load(path):
        seen.setdefault(arch.target)
    return list(seen)
