"""The library names of configs/arches.tsv: one place that says which names exist.

Two modes (CONTRACT section 2): "system", every name of arches.tsv, built with TCG as
libqemu-system-<name>.so; "kvm", libqemu-kvm-<name>.so, only for the host's own
architecture (KVM runs guests of the host's ISA only): another name of that target's
system library, which is built with KVM beside TCG.

    penguin_arches.py --mode kvm           prints one "<name> <target>" line per library
    penguin_arches.py --field qemu_target  prints that field, one line per library name

build.sh and configure read arches.tsv only through this command.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

ARCHES_TSV = Path(__file__).resolve().parent.parent / "configs" / "arches.tsv"
MODES = ("system", "kvm")
# What --field can print: the Arch attributes a shell script needs.
FIELDS = ("name", "target", "qemu_target", "library", "canonical_library")

# Host machine (uname -m) -> the arches.tsv names its KVM libraries are built for. The
# canonical name only: Penguin asks for libqemu-kvm-x86_64.so, never an alias. The
# contract's -aarch64 on arm64 hosts goes here once target/arm has a KVM door.
KVM_HOSTS = {"x86_64": ("x86_64",)}


@dataclass(frozen=True)
class Arch:
    name: str          # Penguin's name: libqemu-system-<name>.so
    qemu_target: str   # e.g. mips-softmmu
    bits: int          # guest word size
    endian: str        # "le" or "be"
    mode: str = "system"   # "system" (TCG) or "kvm" (no TCG)

    @property
    def target(self) -> str:
        """The QEMU target name without -softmmu (mips, ppc64, x86_64, ...)."""
        return self.qemu_target.removesuffix("-softmmu")

    @property
    def library(self) -> str:
        return f"libqemu-{self.mode}-{self.name}.so"

    @property
    def canonical_library(self) -> str:
        """The file the build produces; every other name of the target links to it."""
        return f"libqemu-{self.mode}-{self.target}.so"

    @property
    def built_library(self) -> str:
        """The file the build produces for this name (a KVM name is another name of its
        target's system library)."""
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
        if (len(fields) != 4 or fields[3] not in ("le", "be")
                or fields[2] not in ("32", "64")):
            raise ValueError(f"{path}: bad line {line!r} (want: name qemu_target "
                             "32|64 le|be)")
        name, target, bits, endian = fields
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


def kvm_arches(host: str | None = None, path: Path = ARCHES_TSV) -> list[Arch]:
    """The KVM libraries of host (default: this machine), in kvm mode."""
    names = KVM_HOSTS.get(host or platform.machine(), ())
    return [dataclasses.replace(by_name(name, path), mode="kvm") for name in names]


def by_mode(mode: str, path: Path = ARCHES_TSV) -> list[Arch]:
    """Every library name of mode: all of arches.tsv, or this host's KVM libraries."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    return load(path) if mode == "system" else kvm_arches(path=path)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="Print each library name of a mode and its "
                                            "QEMU target (without -softmmu).")
    p.add_argument("--mode", choices=MODES, default="system")
    p.add_argument("--field", choices=FIELDS,
                   help="print only this field, one line per library name (in file order, "
                        "repeated where names share it)")
    args = p.parse_args(argv)
    try:
        arches = by_mode(args.mode)
    except (OSError, ValueError, KeyError) as exc:
        print(f"penguin_arches: error: {exc}", file=sys.stderr)
        return 1
    for arch in arches:
        print(getattr(arch, args.field) if args.field else f"{arch.name} {arch.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
