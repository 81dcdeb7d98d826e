"""Where a penguin-qemu install keeps each library's files (CONTRACT sections 6 and 8)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PREFIX = Path("/usr/local")
# "system": libqemu-system-<name>.so (TCG); "kvm": libqemu-kvm-<name>.so (no TCG). Each
# mode has its own manifest, qemu_cffi_<mode>_manifest.json.
MODES = ("system", "kvm")
# Penguin's only file-name fallback: the two spellings of little-endian ppc64.
ALIASES = {"powerpc64el": "powerpc64le", "powerpc64le": "powerpc64el"}


class InstallError(RuntimeError):
    """The install tree lacks something a library name needs."""


@dataclass(frozen=True)
class Installed:
    name: str
    library: Path
    header: Path
    env_header: Path
    env_module: Path | None
    qemu_target: str
    bits: int
    byteorder: str
    mode: str = "system"

    @property
    def prefix(self) -> Path:
        return self.library.parent.parent


def _manifest(include: Path, mode: str) -> dict:
    path = include / f"qemu_cffi_{mode}_manifest.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise InstallError(f"{path} does not exist") from None
    except ValueError as e:
        raise InstallError(f"{path} is not valid JSON: {e}") from None
    if data.get("mode", mode) != mode:
        raise InstallError(f"{path} is for mode {data.get('mode')!r}, not {mode!r}")
    return data


def locate(name: str, prefix: Path | None = None, library: Path | None = None,
           mode: str = "system") -> Installed:
    """The files of library name under prefix (default /usr/local), or around library,
    from the manifest of mode ("system" or "kvm")."""
    if not name or "/" in name:
        raise InstallError(f"bad architecture name {name!r}")
    if mode not in MODES:
        raise InstallError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    if library is not None:
        library = Path(library).resolve(strict=False)
        if not library.exists():
            raise InstallError(f"{library} does not exist")
        root = library.parent.parent
    else:
        root = Path(prefix or DEFAULT_PREFIX).resolve()
    include = root / "include" / "penguin-qemu-cffi"
    entries = {e["arch"]: e for e in _manifest(include, mode).get("headers", [])}
    for candidate in (name, ALIASES.get(name)):
        if candidate in entries:
            entry = entries[candidate]
            break
    else:
        known = ", ".join(sorted(entries))
        where = "" if mode == "system" else f" in {mode} mode"
        raise InstallError(f"unknown architecture {name!r}{where}; "
                           f"this install has: {known}")
    lib = library or root / "lib" / entry["library"]
    if not lib.exists():
        raise InstallError(f"no library for {name!r}: {lib} does not exist")
    module = root / "lib" / "penguin-qemu-env" / entry["env_module"]
    return Installed(name=name, library=lib, header=include / entry["header"],
                     env_header=include / entry["env_header"],
                     env_module=module if module.exists() else None,
                     qemu_target=entry["qemu_target"], bits=entry["guest_bits"],
                     byteorder="little" if entry["endian"] == "le" else "big", mode=mode)
