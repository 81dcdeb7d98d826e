#!/usr/bin/env python3
"""Edit the patch series in git, and export it back byte for byte.

    penguin_patches.py import --tree DIR    the pinned tarball in DIR as a git repository:
                                            tag `upstream`, then one commit per patch of
                                            patches/series (branch `penguin`)
    penguin_patches.py export --tree DIR    every commit after `upstream` back to a patch,
                                            patches/series rewritten, the tree hash
                                            recorded in configs/upstream.conf

Between the two, edit DIR with git as usual: amend a commit, rebase -i, add a commit
(its file name is then made from its subject). Commits carry their patch's file name
in a `Penguin-Patch:` trailer. Export is deterministic (fixed author and dates, full
context of 3 lines, 8-digit blob ids), so import followed by export changes nothing
(tests/test_patches.py).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from penguin_common import (PATCH_DIR, REPO, UPSTREAM_CONF, atomic_write,  # noqa: E402
                            read_conf, read_series, sha256_file, tree_hash)

AUTHOR = "penguin-qemu"
GIT_ENV = {
    "GIT_AUTHOR_NAME": AUTHOR, "GIT_AUTHOR_EMAIL": "penguin-qemu@invalid",
    "GIT_COMMITTER_NAME": AUTHOR, "GIT_COMMITTER_EMAIL": "penguin-qemu@invalid",
    "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent",
}
TRAILER = "Penguin-Patch:"
SERIES_HEADER = """\
# Quilt series: small edits to upstream QEMU files, applied in order with
# `patch -p1 --fuzz=0` by scripts/penguin-prepare.py. New files live in the
# repository at their QEMU-tree path (penguin/, include/, target/, ...), not here.
# Edit through git: scripts/penguin_patches.py import, then export.
"""


class PatchError(Exception):
    """A refusal with a message for the user."""


@dataclass
class Patch:
    name: str
    subject: str
    body: str          # the description, without the trailing blank line
    diff: str          # from the first "diff --git" line

    @classmethod
    def parse(cls, path: Path) -> "Patch":
        text = path.read_text()
        head, sep, diff = text.partition("\n---\n")
        if not sep or not head.startswith("From: ") or "\nSubject: [PATCH] " not in head:
            raise PatchError(f"{path.name}: not a patch of this series (From:, Subject: "
                             "[PATCH], description, ---, diff)")
        lines = head.split("\n")
        subject = lines[1].removeprefix("Subject: [PATCH] ")
        body = "\n".join(lines[3:]).rstrip("\n")
        return cls(path.name, subject, body, diff)

    def text(self) -> str:
        return (f"From: {AUTHOR}\nSubject: [PATCH] {self.subject}\n\n{self.body}\n\n---\n"
                f"{self.diff}")


def git(tree: Path, *args: str, stdin: str | None = None) -> str:
    r = subprocess.run(["git", "-C", str(tree), *args], input=stdin, capture_output=True,
                       text=True, env={**os.environ, **GIT_ENV})
    if r.returncode != 0:
        raise PatchError(f"git {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def unpack(tarball: Path, tree: Path) -> None:
    conf = read_conf()
    if sha256_file(tarball) != conf["QEMU_ORIG_SHA256"]:
        raise PatchError(f"wrong tarball hash: {tarball} is not the pinned "
                         f"{conf['QEMU_ORIG_TARBALL']}")
    tree.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(tarball), "-C", str(tree), "--no-same-owner",
                    "--strip-components=1"], check=True)


def commit_all(tree: Path, message: str) -> None:
    git(tree, "add", "-A", "-f", ".")
    git(tree, "commit", "-q", "--allow-empty", "-F", "-", stdin=message)


def import_series(tarball: Path, tree: Path, patch_dir: Path = PATCH_DIR) -> int:
    if tree.exists():
        raise PatchError(f"{tree} exists: import makes a new tree")
    unpack(tarball, tree)
    git(tree, "init", "-q", "-b", "penguin")
    commit_all(tree, f"upstream QEMU {read_conf()['QEMU_VERSION']}\n")
    git(tree, "tag", "upstream")
    patches = read_series(patch_dir)
    for path in patches:
        patch = Patch.parse(path)
        r = subprocess.run(["patch", "-p1", "--fuzz=0", "--forward", "--batch", "--quiet",
                            "--no-backup-if-mismatch", "-r", "-", "-d", str(tree)],
                           input=patch.diff, capture_output=True, text=True)
        if r.returncode != 0:
            raise PatchError(f"patch {path.name} does not apply:\n{r.stdout}{r.stderr}")
        commit_all(tree, f"{patch.subject}\n\n{patch.body}\n\n{TRAILER} {patch.name}\n")
    return len(patches)


def slug(subject: str) -> str:
    """File-name words of a subject, whole words up to about 50 characters."""
    words = re.sub(r"[^a-z0-9]+", " ", subject.lower()).split()
    out = ""
    for word in words:
        if out and len(out) + 1 + len(word) > 50:
            break
        out = f"{out}-{word}" if out else word
    return out


def commit_patch(tree: Path, commit: str, number: int) -> Patch:
    message = git(tree, "log", "-1", "--format=%B", commit).rstrip("\n")
    lines = message.split("\n")
    trailer = [line for line in lines if line.startswith(TRAILER)]
    body_lines = [line for line in lines[2:] if not line.startswith(TRAILER)]
    name = (trailer[-1].removeprefix(TRAILER).strip() if trailer
            else f"{number:04d}-{slug(lines[0])}.patch")
    diff = git(tree, "diff-tree", "-p", "--no-renames", "--no-color", "--abbrev=8",
               "-U3",
               "--format=", commit)
    return Patch(name, lines[0], "\n".join(body_lines).rstrip("\n"), diff.lstrip("\n"))


def export_series(tree: Path, patch_dir: Path = PATCH_DIR,
                  conf_path: Path = UPSTREAM_CONF) -> int:
    commits = git(tree, "rev-list", "--reverse", "upstream..HEAD").split()
    if git(tree, "status", "--porcelain"):
        raise PatchError(f"{tree} has uncommitted changes: commit them first")
    patches = [commit_patch(tree, c, i + 1) for i, c in enumerate(commits)]
    names = [p.name for p in patches]
    if len(set(names)) != len(names):
        raise PatchError(f"two commits name the same patch: {names}")
    for old in read_series(patch_dir):
        if old.name not in names and old.exists():
            old.unlink()
    for patch in patches:
        atomic_write(patch_dir / patch.name, patch.text())
    atomic_write(patch_dir / "series", SERIES_HEADER + "".join(f"{n}\n" for n in names))
    record_tree_hash(conf_path, tree_hash(tree))
    return len(patches)


def record_tree_hash(conf_path: Path, value: str) -> None:
    text = re.sub(r"^QEMU_TREE_SHA256=.*$", f"QEMU_TREE_SHA256={value}",
                  conf_path.read_text(), flags=re.M)
    atomic_write(conf_path, text)


def default_tarball() -> Path:
    out = subprocess.run([str(REPO / "scripts" / "penguin-fetch-qemu.sh")], check=True,
                         capture_output=True, text=True).stdout.split()
    return Path(out[-1])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("command", choices=("import", "export"))
    p.add_argument("--tree", type=Path, required=True, help="the git tree to make or read")
    p.add_argument("--tarball", type=Path, help="the pinned tarball (default: fetched)")
    p.add_argument("--patches", type=Path, default=PATCH_DIR, help=argparse.SUPPRESS)
    p.add_argument("--conf", type=Path, default=UPSTREAM_CONF, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if shutil.which("git") is None:
        p.error("git is not installed")
    try:
        if args.command == "import":
            n = import_series(args.tarball or default_tarball(), args.tree, args.patches)
            print(f"penguin_patches: {n} patches imported into {args.tree} (branch "
                  "penguin, base tag upstream)")
        else:
            n = export_series(args.tree, args.patches, args.conf)
            print(f"penguin_patches: {n} patches exported to {args.patches}; tree hash "
                  f"recorded in {args.conf}")
    except PatchError as e:
        print(f"penguin_patches: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
