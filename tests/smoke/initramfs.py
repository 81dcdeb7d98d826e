"""A gzip'd newc initramfs holding /dev/console, a static /init, an empty /proc for init
to mount, /stages with the programs init runs after its own checks (tests/smoke/init.c)
and any other files the caller adds (the vsock guests' kernel modules): the kernel
unpacks it into its root file system and runs /init as pid 1. Written in Python so that
no cpio tool and no root privileges are needed; fixed times make it reproducible."""

from __future__ import annotations

import gzip
import stat
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from types import MappingProxyType

NEWC_MAGIC = "070701"
TRAILER = "TRAILER!!!"
# What init.c can run: STAGES_MAX programs, names shorter than STAGE_NAME_MAX bytes.
STAGES_MAX = 16
STAGE_NAME_MAX = 64


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _entry(ino: int, name: str, mode: int, data: bytes = b"",
           rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One newc record: 13 hex fields, the NUL-terminated name, the data, 4-byte aligned."""
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    header = NEWC_MAGIC + "".join(f"{v:08X}" for v in fields)
    return _pad4(header.encode() + name.encode() + b"\0") + _pad4(data)


def archive(init: bytes, stages: Mapping[str, bytes] | None = None,
            files: Mapping[str, bytes] = MappingProxyType({})) -> bytes:
    """The uncompressed newc archive: /dev, /dev/console (char 5:1), /init, /proc and
    /stages holding each stage program under its name, then each of files (relative
    path -> contents, read-only) after the folders that hold it."""
    records = [
        _entry(1, "dev", stat.S_IFDIR | 0o755),
        _entry(2, "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        _entry(3, "init", stat.S_IFREG | 0o755, init),
        _entry(4, "proc", stat.S_IFDIR | 0o555),
        _entry(5, "stages", stat.S_IFDIR | 0o755),
    ]
    stages = stages or {}
    if len(stages) > STAGES_MAX:
        raise ValueError(f"{len(stages)} stage programs: init runs at most {STAGES_MAX}")
    for ino, (name, program) in enumerate(sorted(stages.items()), 6):
        if not name or "/" in name or name.startswith(".") \
                or len(name.encode()) >= STAGE_NAME_MAX:
            raise ValueError(f"stage name {name!r}: a plain file name, not hidden, shorter "
                             f"than {STAGE_NAME_MAX} bytes is needed")
        records.append(_entry(ino, f"stages/{name}", stat.S_IFREG | 0o755, program))
    folders = {"dev", "proc", "stages"}
    for name, data in sorted(files.items()):
        for parent in reversed(PurePosixPath(name).parents[:-1]):
            if str(parent) not in folders:
                folders.add(str(parent))
                records.append(_entry(len(records) + 1, str(parent), stat.S_IFDIR | 0o755))
        records.append(_entry(len(records) + 1, name, stat.S_IFREG | 0o444, data))
    records.append(_entry(0, TRAILER, 0))
    data = b"".join(records)
    return data + b"\0" * (-len(data) % 512)


def write(init: Path, out: Path, stages: Mapping[str, Path] | None = None,
          files: Mapping[str, bytes] = MappingProxyType({})) -> Path:
    """Pack the program init as /init, each stage as /stages/<name> and files into out
    (gzip without a name or a timestamp). init runs the stages in name order."""
    out.parent.mkdir(parents=True, exist_ok=True)
    programs = {name: path.read_bytes() for name, path in (stages or {}).items()}
    with open(out, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(archive(init.read_bytes(), programs, files))
    return out
