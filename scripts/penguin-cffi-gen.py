#!/usr/bin/env python3
"""Write the cffi headers and the manifest of the staged libraries (CONTRACT section 6).

For every library name of the mode (--mode system: every name of configs/arches.tsv;
--mode kvm: the host's KVM libraries, libqemu-kvm-<name>.so):
include/penguin-qemu-cffi/qemu_cffi_<mode>_<name>.h, a cdef of the exported lifecycle
and Penguin functions, written so that it cdefs together with the declarations
Penguin's shim appends (penguin-shim-notes.md, "The cdef trap"). The declarations are
include/penguin/penguin.h's, preprocessed with PENGUIN_CFFI defined and one per line:
the functions the shim appends when their exact text is missing are written there in
exactly that text; `bool`, `vaddr` (always 64-bit), `CPUState` and `MachineState` are
defined, and `target_long`/`target_ulong` are not. Every declared function must be
exported by the library, or the build stops.

Then qemu_cffi_<mode>_manifest.json ("mode": "system" or "kvm"), naming each library's
env header and compiled env module (scripts/penguin-env-cffi-gen.py --mode <mode> makes
them first); a missing one stops the build.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import penguin_arches  # noqa: E402
from penguin_common import env_module_file, write_if_changed  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
ABI_HEADER = REPO / "include" / "penguin" / "penguin.h"
# cffi knows the <stdint.h> types but not C99's bool.
PRELUDE = "typedef _Bool bool;"
DEFINE = re.compile(r"#define (PENGUIN_\w+) ((?:0x[0-9a-fA-F]+)|\d+)$")
DATA_POINTER_NAME = re.compile(r"\(\*\s*(\w+)\s*\)\s*\(")
FUNCTION_NAME = re.compile(r"(\w+)\s*\(")


def preprocess(header: Path) -> str:
    """penguin.h as cffi sees it: PENGUIN_CFFI defined, no system header, no
    comments, its own #defines kept (-dD)."""
    r = subprocess.run(["gcc", "-E", "-P", "-dD", "-undef", "-nostdinc",
                        "-DPENGUIN_CFFI", "-x", "c", str(header)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"penguin-cffi-gen: error: cannot preprocess {header}:\n"
                         f"{r.stderr}")
    return r.stdout


def normalise(statement: str) -> str:
    """One declaration on one line, as penguin.h writes the short ones."""
    text = re.sub(r"\s+", " ", statement).strip()
    return text.replace("( ", "(").replace(" )", ")") + ";"


def declarations(header: Path) -> list[str]:
    """The #define constants, typedefs and declarations of penguin.h, in order."""
    constants, code = [], []
    for line in preprocess(header).splitlines():
        if line.startswith("#"):
            m = DEFINE.match(line.strip())
            if m and m.group(1) != "PENGUIN_CFFI":
                constants.append(f"#define {m.group(1)} {m.group(2)}")
        else:
            code.append(line)
    statements = [s for s in " ".join(code).split(";") if s.strip()]
    return constants + [normalise(s) for s in statements]


def abi_version(decls: list[str]) -> str:
    """"MAJOR.MINOR" from penguin.h's PENGUIN_ABI_VERSION_MAJOR and _MINOR."""
    values = dict(d.split()[1:3] for d in decls if d.startswith("#define "))
    try:
        return (f"{int(values['PENGUIN_ABI_VERSION_MAJOR'], 0)}."
                f"{int(values['PENGUIN_ABI_VERSION_MINOR'], 0)}")
    except KeyError as e:
        raise SystemExit(f"penguin-cffi-gen: error: penguin.h does not define "
                         f"{e}") from None


def declared_symbol(declaration: str) -> str | None:
    """The symbol a declaration needs from the library; None for a typedef or
    a constant."""
    if declaration.startswith(("typedef ", "#define ")):
        return None
    m = DATA_POINTER_NAME.search(declaration) or FUNCTION_NAME.search(declaration)
    if not m:
        raise SystemExit(f"penguin-cffi-gen: error: cannot read {declaration!r}")
    return m.group(1)


def exported_symbols(library: Path, nm: str = "nm") -> set[str]:
    """The dynamic symbols library defines, by nm (a cross nm for another host's ELF
    files: this machine's nm reads only its own architecture's)."""
    out = subprocess.run([nm, "-D", "--defined-only", str(library)], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def header_text(arch: penguin_arches.Arch, decls: list[str]) -> str:
    lines = [
        f"/* penguin-qemu cffi declarations for {arch.library} "
        f"({arch.qemu_target}, {arch.bits}-bit {arch.endian.upper()}).",
        " * Generated from include/penguin-qemu/penguin.h by "
        "scripts/penguin-cffi-gen.py;",
        " * plain C for cffi.cdef(). */",
        PRELUDE,
        *decls,
    ]
    return "\n".join(lines) + "\n"


def manifest_entry(arch: penguin_arches.Arch) -> dict:
    return {
        "arch": arch.name,
        "qemu_target": arch.qemu_target,
        "library": arch.library,
        "header": f"qemu_cffi_{arch.mode}_{arch.name}.h",
        "vaddr_bits": 64,
        "guest_bits": arch.bits,
        "endian": arch.endian,
        "env_header": f"qemu_cffi_{arch.mode}_{arch.name}_env.h",
        "env_module": env_module_file(arch.mode, arch.target),
    }


def link_env_header(include: Path, name: str, arch: penguin_arches.Arch) -> None:
    link, dest = include / name, f"qemu_cffi_{arch.mode}_{arch.target}_env.h"
    if not (link.is_symlink() and str(link.readlink()) == dest):
        link.unlink(missing_ok=True)
        link.symlink_to(dest)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--stage", type=Path, required=True, help="the staged /usr/local tree")
    p.add_argument("--mode", choices=penguin_arches.MODES, default="system",
                   help="system: libqemu-system-<name>.so; kvm: the host's "
                        "libqemu-kvm-<name>.so (default: system)")
    p.add_argument("--abi-header", type=Path, default=ABI_HEADER,
                   help="the C ABI to declare (default: include/penguin/penguin.h)")
    p.add_argument("--no-env", action="store_true",
                   help="do not require env headers and modules (generator tests)")
    penguin_arches.add_selection_args(p)
    args = p.parse_args(argv)
    try:
        sel = penguin_arches.selection(args)
    except ValueError as e:
        p.error(str(e))
    include = args.stage / "include" / "penguin-qemu-cffi"
    env_dir = args.stage / "lib" / "penguin-qemu-env"
    include.mkdir(parents=True, exist_ok=True)
    entries = []
    decls = declarations(args.abi_header)
    symbols = [s for s in map(declared_symbol, decls) if s]
    arches = sel.of_mode(args.mode)
    if not arches:
        raise SystemExit(f"penguin-cffi-gen: error: no {args.mode} libraries for this host")
    for arch in arches:
        library = args.stage / "lib" / arch.library
        if not library.exists():
            raise SystemExit(f"penguin-cffi-gen: error: {library} does not exist")
        exported = exported_symbols(library, sel.tool("nm"))
        missing = [s for s in symbols if s not in exported]
        if missing:
            raise SystemExit(f"penguin-cffi-gen: error: {arch.library} does not export "
                             f"{', '.join(missing)}")
        entry = manifest_entry(arch)
        write_if_changed(include / entry["header"], header_text(arch, decls))
        if not args.no_env:
            if arch.is_alias:
                # Aliases share their target's CPUArchState, hence its env header.
                link_env_header(include, entry["env_header"], arch)
            for path in (include / entry["env_header"], env_dir / entry["env_module"]):
                if not path.exists():
                    raise SystemExit(f"penguin-cffi-gen: error: {path.name} is missing "
                                     f"for {arch.library}: run "
                                     f"scripts/penguin-env-cffi-gen.py --mode {arch.mode}")
        entries.append(entry)
    manifest = {"schema": 1, "mode": args.mode, "abi_version": abi_version(decls),
                "headers": entries}
    write_if_changed(include / f"qemu_cffi_{args.mode}_manifest.json",
                     json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"penguin-cffi-gen: {len(entries)} {args.mode} headers and the manifest "
          f"in {include}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
