"""Small helpers the build scripts share: configs/upstream.conf, the patch series, file
hashes, atomic writes, the env module's name."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
UPSTREAM_CONF = REPO / "configs" / "upstream.conf"
PATCH_DIR = REPO / "patches"
# The file name CPython gives stable-ABI extension modules.
STABLE_ABI_SUFFIX = ".abi3.so"


def read_conf(path: Path = UPSTREAM_CONF) -> dict[str, str]:
    """KEY=value lines; # comments and blank lines ignored."""
    conf = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            conf[key.strip()] = value.strip()
    return conf


def read_series(patch_dir: Path = PATCH_DIR) -> list[Path]:
    """The patches of patch_dir/series, in order (quilt's format: one name a line)."""
    patches = []
    for line in (patch_dir / "series").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            patches.append(patch_dir / line.split()[0])
    return patches


def sha256_file(path: Path) -> str:
    """The hex sha256 of a file's content, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hash(tree: Path, exclude: set[str] | frozenset[str] = frozenset()) -> str:
    """sha256 over sorted (path, executable bit, content hash) of every regular file
    under tree except the relative paths in exclude and anything under .git/."""
    h = hashlib.sha256()
    entries = []
    for dirpath, dirnames, filenames in os.walk(tree):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(tree).as_posix()
            if rel in exclude or path.is_symlink():
                continue
            entries.append(rel)
    for rel in sorted(entries):
        path = tree / rel
        mode = "x" if os.access(path, os.X_OK) else "-"
        h.update(f"{rel}\0{mode}\0{sha256_file(path)}\n".encode())
    return h.hexdigest()


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path next to path for the block to create; renamed over path when
    the block succeeds, removed when it fails, so no reader sees half a file. The name
    is unique per process and thread (the packager writes in threads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Replace path with data in one rename. The file gets mode, else keeps the mode it
    had, else 0644."""
    raw = data.encode() if isinstance(data, str) else data
    if mode is None:
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    with replacing(path) as tmp:
        tmp.write_bytes(raw)
        os.chmod(tmp, mode)


def write_if_changed(path: Path, data: bytes | str, mode: int | None = None) -> bool:
    """atomic_write unless path already holds data; whether it wrote."""
    raw = data.encode() if isinstance(data, str) else data
    if path.is_file() and path.read_bytes() == raw:
        return False
    atomic_write(path, raw, mode)
    return True


def env_module_name(mode: str, target: str) -> str:
    """The import name of a target's compiled env module (scripts/penguin_envgen)."""
    return f"_penguin_qemu_env_{mode}_{target.replace('-', '_')}"


def env_module_file(mode: str, target: str) -> str:
    """The env module's file name: built against the stable ABI, so it has CPython's
    stable-ABI suffix and imports into any CPython 3."""
    return env_module_name(mode, target) + STABLE_ABI_SUFFIX
