"""The helpers the build scripts share (scripts/penguin_common.py) and the one reader of
configs/arches.tsv (scripts/penguin_arches.py, also the command build.sh and configure
list targets and libraries with)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from pathlib import Path

import pytest

import penguin_arches
from conftest import REPO
from penguin_common import atomic_write, env_module_file, env_module_name, replacing, \
    sha256_file, write_if_changed

ARCHES_CMD = ["/usr/bin/python3", str(REPO / "scripts" / "penguin_arches.py")]


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def test_replacing_renames_over_the_file_on_success(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with replacing(path) as tmp:
        assert not tmp.exists() and tmp.parent == tmp_path
        tmp.write_bytes(b"new")
        assert path.read_bytes() == b"old"          # nobody sees the new file yet
    assert path.read_bytes() == b"new" and leftovers(tmp_path) == []


def test_replacing_keeps_the_file_on_failure(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with replacing(path) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_atomic_write_modes(tmp_path):
    new = tmp_path / "sub" / "new.txt"
    atomic_write(new, "text")
    assert new.read_text() == "text" and new.stat().st_mode & 0o777 == 0o644
    script = tmp_path / "run.sh"
    script.write_text("old")
    script.chmod(0o755)
    atomic_write(script, b"#!/bin/sh\n")
    assert script.stat().st_mode & 0o777 == 0o755
    atomic_write(script, b"#!/bin/sh\n", mode=0o600)
    assert script.stat().st_mode & 0o777 == 0o600


def test_atomic_write_from_threads(tmp_path):
    path = tmp_path / "shared"
    datas = [bytes([i]) * 100_000 for i in range(8)]
    threads = [threading.Thread(target=atomic_write, args=(path, d)) for d in datas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert path.read_bytes() in datas and leftovers(tmp_path) == []


def test_write_if_changed_leaves_an_equal_file_alone(tmp_path):
    path = tmp_path / "h.h"
    assert write_if_changed(path, "a\n") is True
    inode = path.stat().st_ino
    assert write_if_changed(path, b"a\n") is False
    assert path.stat().st_ino == inode
    assert write_if_changed(path, "b\n") is True and path.read_text() == "b\n"


def test_sha256_file_over_several_blocks(tmp_path):
    data = os.urandom((1 << 20) * 2 + 123)
    path = tmp_path / "blob"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_env_module_names():
    assert env_module_name("system", "x86_64") == "_penguin_qemu_env_system_x86_64"
    assert env_module_name("kvm", "a-b") == "_penguin_qemu_env_kvm_a_b"
    assert env_module_file("system", "mips64el") == \
        "_penguin_qemu_env_system_mips64el.abi3.so"


def test_arches_rejects_a_malformed_line(tmp_path):
    tsv = tmp_path / "arches.tsv"
    tsv.write_text("# comment\narm\tarm-softmmu\t32\tle\nmips\tmips-softmmu\t32\n")
    with pytest.raises(ValueError, match=r"bad line 'mips\\tmips-softmmu\\t32'"):
        penguin_arches.load(tsv)


def arches_cmd(*args: str) -> list[str]:
    result = subprocess.run([*ARCHES_CMD, *args], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_arches_command_prints_each_field():
    arches = penguin_arches.load()
    assert arches_cmd() == [f"{a.name} {a.target}" for a in arches]
    assert arches_cmd("--field", "qemu_target") == [a.qemu_target for a in arches]
    libraries = arches_cmd("--field", "canonical_library")
    assert len(libraries) == len(arches)
    assert sorted(set(libraries)) == sorted(f"libqemu-system-{t}.so"
                                            for t in penguin_arches.targets())
    assert arches_cmd("--mode", "kvm", "--field", "target") == \
        [a.target for a in penguin_arches.kvm_arches()]


def test_arches_command_refuses_an_unknown_field():
    result = subprocess.run([*ARCHES_CMD, "--field", "bits"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "invalid choice: 'bits'" in result.stderr
