"""Small helpers the build scripts share: configs/upstream.conf, the patch series, file
hashes, atomic writes."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
UPSTREAM_CONF = REPO / "configs" / "upstream.conf"
PATCH_DIR = REPO / "patches"


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


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace path with data in one rename, so no reader sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.chmod(tmp, mode)       # mkstemp makes 0600
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_if_changed(path: Path, data: str) -> bool:
    """atomic_write unless path already holds data; whether it wrote."""
    if path.exists() and path.read_text() == data:
        return False
    atomic_write(path, data)
    return True
