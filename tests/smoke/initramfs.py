"""A gzip'd newc initramfs holding /dev/console, a static /init and any other files the
caller adds (the vsock guests' kernel modules): the kernel unpacks it into its root file
system and runs /init as pid 1. Written in Python so that no cpio tool and no root
privileges are needed; fixed times make it reproducible."""

from __future__ import annotations

import gzip
import stat
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import Mapping

NEWC_MAGIC = "070701"
TRAILER = "TRAILER!!!"


def _pad4(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 4)


def _entry(ino: int, name: str, mode: int, data: bytes = b"",
           rdev: tuple[int, int] = (0, 0)) -> bytes:
    """One newc record: 13 hex fields, the NUL-terminated name, the data, 4-byte aligned."""
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    header = NEWC_MAGIC + "".join(f"{v:08X}" for v in fields)
    return _pad4(header.encode() + name.encode() + b"\0") + _pad4(data)


def archive(init: bytes, files: Mapping[str, bytes] = MappingProxyType({})) -> bytes:
    """The uncompressed newc archive: /dev, /dev/console (char 5:1) and /init, then each
    of files (relative path -> contents, read-only) after the folders that hold it."""
    records = [
        _entry(1, "dev", stat.S_IFDIR | 0o755),
        _entry(2, "dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1)),
        _entry(3, "init", stat.S_IFREG | 0o755, init),
    ]
    folders = {"dev"}
    for name, data in sorted(files.items()):
        for parent in reversed(PurePosixPath(name).parents[:-1]):
            if str(parent) not in folders:
                folders.add(str(parent))
                records.append(_entry(len(records) + 1, str(parent), stat.S_IFDIR | 0o755))
        records.append(_entry(len(records) + 1, name, stat.S_IFREG | 0o444, data))
    records.append(_entry(0, TRAILER, 0))
    data = b"".join(records)
    return data + b"\0" * (-len(data) % 512)


def write(init: Path, out: Path, files: Mapping[str, bytes] = MappingProxyType({})) -> Path:
    """Pack the program init as /init, and files, into out (gzip without a name or a
    timestamp)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as raw:
        with gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(archive(init.read_bytes(), files))
    return out
