"""scripts/penguin-prepare.py refuses each broken input with a message naming the cause."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

PREPARE = REPO / "scripts" / "penguin-prepare.py"


@pytest.fixture(scope="module")
def tarball() -> Path:
    out = subprocess.run([str(REPO / "scripts" / "penguin-fetch-qemu.sh")], check=True,
                         capture_output=True, text=True).stdout.split()
    return Path(out[-1])


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """The parts of the repository that prepare reads, copied so they can be broken."""
    copy = tmp_path / "repo"
    for part in ("configs", "patches", "penguin"):
        shutil.copytree(REPO / part, copy / part)
    return copy


def prepare(repo: Path, tarball: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", str(PREPARE), "--repo", str(repo),
                           "--tarball", str(tarball), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)


def first_patch(repo: Path) -> Path:
    return sorted((repo / "patches").glob("0001-*.patch"))[0]


def test_pristine_copy_prepares(repo_copy, tarball, tmp_path):
    result = prepare(repo_copy, tarball, tmp_path / "src")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "src" / "penguin" / "meson.build").is_file()
    assert "penguin" in (tmp_path / "src" / "meson.build").read_text()


def test_wrong_tarball_hash(repo_copy, tmp_path):
    fake = tmp_path / "qemu_10.0.13+ds.orig.tar.xz"
    fake.write_bytes(b"not the pinned tarball")
    result = prepare(repo_copy, fake, tmp_path / "src")
    assert result.returncode != 0
    assert "wrong tarball hash" in result.stderr
    assert not (tmp_path / "src").exists()


def test_wrong_tarball_hash_from_fetch(tmp_path):
    fake = tmp_path / "qemu.tar.xz"
    fake.write_bytes(b"\xfd7zXZ\x00 corrupt")
    result = subprocess.run([str(REPO / "scripts" / "penguin-fetch-qemu.sh")],
                            env={"QEMU_TARBALL": str(fake), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert "wrong tarball hash" in result.stderr


def test_patch_that_does_not_apply(repo_copy, tarball, tmp_path):
    patch = first_patch(repo_copy)
    text = patch.read_text()
    # Change a context line: the hunk no longer matches the upstream file.
    broken = text.replace(" subdir('ebpf')\n", " subdir('ebpf-renamed')\n", 1)
    assert broken != text
    patch.write_text(broken)
    result = prepare(repo_copy, tarball, tmp_path / "src")
    assert result.returncode != 0
    assert f"patch {patch.name} does not apply" in result.stderr


def test_patch_that_applies_but_was_altered(repo_copy, tarball, tmp_path):
    patch = first_patch(repo_copy)
    text = patch.read_text()
    # Change an added line: the patch still applies, the tree differs from the record.
    altered = text.replace("+subdir('penguin')", "+subdir('penguin') # altered", 1)
    assert altered != text
    patch.write_text(altered)
    result = prepare(repo_copy, tarball, tmp_path / "src")
    assert result.returncode != 0
    assert "patched tree hash mismatch" in result.stderr


def test_overlay_may_not_replace_upstream_file(repo_copy, tarball, tmp_path):
    clash = repo_copy / "target" / "arm" / "cpu.c"
    clash.parent.mkdir(parents=True)
    clash.write_text("/* not ours to replace */\n")
    result = prepare(repo_copy, tarball, tmp_path / "src")
    assert result.returncode != 0
    assert "would replace upstream files" in result.stderr
    assert "target/arm/cpu.c" in result.stderr


def test_patch_may_not_edit_our_files(repo_copy, tarball, tmp_path):
    patch = first_patch(repo_copy)
    patch.write_text(patch.read_text()
                     + "--- a/penguin/meson.build\n+++ b/penguin/meson.build\n")
    result = prepare(repo_copy, tarball, tmp_path / "src")
    assert result.returncode != 0
    assert "edits files this project creates" in result.stderr


def test_overlay_roots_are_real_and_complete():
    """Every overlay root exists, and no other top-level directory holds C sources that
    prepare would silently leave out of the tree."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("penguin_prepare", PREPARE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    roots = set(module.OVERLAY_ROOTS)
    assert all((REPO / root).is_dir() for root in roots), roots
    scaffolding = {"tests", "bench", "guest", "python", "scripts", "docker", "configs",
                   "patches", "_build", "dist"}
    for top in REPO.iterdir():
        if (top.is_dir() and not top.name.startswith(".")
                and top.name not in roots | scaffolding):
            assert not list(top.rglob("*.[ch]")), (
                f"{top.name}/ holds C sources outside the overlay")
