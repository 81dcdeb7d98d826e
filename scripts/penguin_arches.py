"""The library names of configs/arches.tsv: one place that says which names exist.

Two modes (CONTRACT section 2): "system", every name of arches.tsv, built with TCG as
libqemu-system-<name>.so; "kvm", libqemu-kvm-<name>.so, only for the host's own
architecture (KVM runs guests of the host's ISA only): another name of that target's
system library, which is built with KVM beside TCG.

    penguin_arches.py --mode kvm           prints one "<name> <target>" line per library
    penguin_arches.py --field qemu_target  prints that field, one line per library name
    --host arm64                           the names of a release for another host (the
                                           default is this machine: uname -m)
    --targets aarch64,x86_64               only the names of those QEMU targets

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
# canonical name only: Penguin asks for libqemu-kvm-x86_64.so, never an alias. On an
# aarch64 host QEMU's meson builds aarch64-softmmu with KVM (kvm_targets), so its
# library gets the KVM name too; no Penguin hypercall reaches it under arm64 KVM yet
# (notes/arm64-host-release.md section 4).
KVM_HOSTS = {"x86_64": ("x86_64",), "aarch64": ("aarch64",)}

# The hosts a release can be built for (./build.sh --host): Debian's architecture name
# -> the machine name (uname -m, the [arch] tags of configs/features.conf).
HOSTS = {"amd64": "x86_64", "arm64": "aarch64"}
# Machine name -> the GNU cross prefix of its Debian cross toolchain.
CROSS_PREFIXES = {"x86_64": "x86_64-linux-gnu-", "aarch64": "aarch64-linux-gnu-"}


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


def host_machine(host: str | None = None) -> str:
    """The machine name (uname -m) of host, a Debian architecture name (--host) or a
    machine name; None: this machine."""
    if host is None:
        return platform.machine()
    if host in HOSTS:
        return HOSTS[host]
    if host in HOSTS.values():
        return host
    raise ValueError(f"unknown host {host!r}; known: {', '.join(HOSTS)}")


def cross_prefix(host: str) -> str:
    """The cross tools' prefix for host ("" when it is this machine)."""
    machine = host_machine(host)
    return "" if machine == platform.machine() else CROSS_PREFIXES[machine]


def only_targets(arches: list[Arch], wanted: list[str] | None,
                 path: Path = ARCHES_TSV) -> list[Arch]:
    """The arches whose QEMU target (without -softmmu) is one of wanted (None or
    empty: all of them); an unknown target is an error."""
    if not wanted:
        return arches
    known = targets(path)
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise ValueError(f"unknown target {', '.join(map(repr, unknown))}; known: "
                         f"{', '.join(known)}")
    return [a for a in arches if a.target in wanted]


def kvm_arches(host: str | None = None, path: Path = ARCHES_TSV,
               wanted: list[str] | None = None) -> list[Arch]:
    """The KVM libraries of host (default: this machine), in kvm mode, of the wanted
    targets (default: all)."""
    names = KVM_HOSTS.get(host_machine(host), ())
    arches = [dataclasses.replace(by_name(name, path), mode="kvm") for name in names]
    return only_targets(arches, wanted, path)


def by_mode(mode: str, path: Path = ARCHES_TSV, host: str | None = None,
            wanted: list[str] | None = None) -> list[Arch]:
    """Every library name of mode: all of arches.tsv, or host's KVM libraries (default:
    this machine's), of the wanted targets (default: all)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    if mode == "system":
        return only_targets(load(path), wanted, path)
    return kvm_arches(host, path, wanted)


def target_list(text: str | None) -> list[str] | None:
    """"aarch64,x86_64" -> ["aarch64", "x86_64"]; None or "" -> None (all)."""
    if not text:
        return None
    return [t for t in text.split(",") if t]


@dataclass(frozen=True)
class Selection:
    """Which library names a script works on: those of a host (None: this machine)
    and of some targets (None: all). What --host and --targets of the release scripts
    say, checked."""
    host: str | None = None
    wanted: list[str] | None = None

    def system(self, path: Path = ARCHES_TSV) -> list[Arch]:
        return by_mode("system", path, self.host, self.wanted)

    def kvm(self, path: Path = ARCHES_TSV) -> list[Arch]:
        return kvm_arches(self.host, path, self.wanted)

    def of_mode(self, mode: str, path: Path = ARCHES_TSV) -> list[Arch]:
        return by_mode(mode, path, self.host, self.wanted)

    @property
    def machine(self) -> str:
        return host_machine(self.host)

    def tool(self, name: str) -> str:
        """A binutils program for the host's ELF files: "nm", or "aarch64-linux-gnu-nm"
        when cross-building (the build machine's are BFD-based and know only its own
        architecture)."""
        return cross_prefix(self.host) + name if self.host else name


def add_selection_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="the release's host, a Debian architecture name "
                                       f"({', '.join(HOSTS)}; default: this machine)")
    parser.add_argument("--targets", help="only these QEMU targets (without -softmmu), "
                                          "comma-separated (default: all)")


def selection(args: argparse.Namespace, path: Path = ARCHES_TSV) -> Selection:
    """The checked Selection of --host and --targets; ValueError names a bad one."""
    host_machine(args.host)
    wanted = target_list(args.targets)
    only_targets([], wanted, path)
    return Selection(args.host, wanted)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description="Print each library name of a mode and its "
                                            "QEMU target (without -softmmu).")
    p.add_argument("--mode", choices=MODES, default="system")
    add_selection_args(p)
    p.add_argument("--field", choices=FIELDS,
                   help="print only this field, one line per library name (in file order, "
                        "repeated where names share it)")
    args = p.parse_args(argv)
    try:
        arches = selection(args).of_mode(args.mode)
    except (OSError, ValueError, KeyError) as exc:
        print(f"penguin_arches: error: {exc}", file=sys.stderr)
        return 1
    for arch in arches:
        print(getattr(arch, args.field) if args.field else f"{arch.name} {arch.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
