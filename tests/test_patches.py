"""scripts/penguin_patches.py: the patch series into a git tree and back, unchanged.

Import the pinned tarball plus patches/series into a git repository, export it again
into a copy of patches/: every byte of every patch, the series file and the recorded
tree hash come back identical. Editing a patch is then: import, change the commit,
export (README, "How the tree is made")."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO

TOOL = REPO / "scripts" / "penguin_patches.py"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", str(TOOL), *args], capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """The series imported once (about half a minute: the tarball, 15 commits)."""
    tree = tmp_path_factory.mktemp("import") / "tree"
    r = run("import", "--tree", str(tree))
    assert r.returncode == 0, r.stderr
    return tree


def test_import_then_export_is_identity(tree, tmp_path):
    patches, conf = tmp_path / "patches", tmp_path / "upstream.conf"
    shutil.copytree(REPO / "patches", patches)
    shutil.copy(REPO / "configs" / "upstream.conf", conf)
    log = subprocess.run(["git", "-C", str(tree), "log", "--format=%s",
                          "upstream..penguin"],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    assert len(log) == len([p for p in (REPO / "patches").glob("*.patch")])
    r = run("export", "--tree", str(tree), "--patches", str(patches), "--conf", str(conf))
    assert r.returncode == 0, r.stderr
    for original in sorted((REPO / "patches").iterdir()):
        assert (patches / original.name).read_bytes() == original.read_bytes(), (
            original.name)
    assert sorted(p.name for p in patches.iterdir()) == sorted(
        p.name for p in (REPO / "patches").iterdir())
    assert conf.read_bytes() == (REPO / "configs" / "upstream.conf").read_bytes()


def test_export_refuses_uncommitted_changes(tree, tmp_path):
    version = (tree / "VERSION").read_text()
    (tree / "VERSION").write_text("changed\n")
    try:
        r = run("export", "--tree", str(tree), "--patches", str(tmp_path / "p"),
                "--conf", str(tmp_path / "c"))
    finally:
        (tree / "VERSION").write_text(version)
    assert r.returncode == 1 and "uncommitted changes" in r.stderr


def test_import_refuses_an_existing_tree(tmp_path):
    r = run("import", "--tree", str(tmp_path))
    assert r.returncode == 1 and "exists" in r.stderr
