"""The optimised release build's plumbing (./build.sh --optimize, ./configure --optimize,
configs/features.conf's [opt:] lines, scripts/penguin-pgo-train.py): which flags each kind
turns on, and that bad requests fail with a clear error before any work starts. The
build itself, trained and measured, is in bench/RESULTS.md ("Optimised builds")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import REPO

FEATURES = REPO / "configs" / "features.conf"
TRAINER = REPO / "scripts" / "penguin-pgo-train.py"


def flags(optimize: str, features: Path = FEATURES) -> list[str]:
    """configure's flags_of for features under optimize, run from configure itself."""
    script = (f'source <(sed "/^main \\"\\$@\\"$/d" {REPO / "configure"}); '
              f'flags_of "$1" "$2"')
    r = subprocess.run(["bash", "-c", script, "flags", str(features), optimize],
                       capture_output=True, text=True, check=True)
    return r.stdout.splitlines()


def test_default_build_has_no_optimisation_flags():
    default = flags("")
    assert "--without-default-features" in default
    assert not [f for f in default if "lto" in f or "pgo" in f or "profile" in f]


@pytest.mark.parametrize("optimize, present, absent", [
    ("lto", ["-Db_lto=true"], ["-Db_pgo=generate"]),
    ("pgo", ["-Db_pgo=generate", "--extra-cflags=-fprofile-partial-training"],
     ["-Db_lto=true"]),
    ("lto,pgo", ["-Db_lto=true", "-Db_pgo=generate"], []),
])
def test_each_kind_adds_its_own_lines(optimize, present, absent):
    got = flags(optimize)
    assert set(flags("")) <= set(got)
    for flag in present:
        assert flag in got
    for flag in absent:
        assert flag not in got


def test_opt_tags_do_not_leak_into_host_tags(tmp_path):
    features = tmp_path / "features.conf"
    features.write_text("--plain   # always\n[opt:lto] --a\n[opt:pgo] --b\n"
                        "[no-such-host] --c\n[opt:ltox] --d\n")
    assert flags("", features) == ["--plain"]
    assert flags("lto", features) == ["--plain", "--a"]
    assert flags("lto,pgo", features) == ["--plain", "--a", "--b"]


@pytest.mark.parametrize("args, message", [
    (["--optimize", "fast"], "unknown optimisation 'fast' (known: lto pgo)"),
    (["--optimize", "lto,o3"], "unknown optimisation 'o3'"),
    (["--optimize", ","], "--optimize needs one of: lto pgo"),
    (["--optimize", "lto", "--stock"], "--optimize is for our build, not --stock"),
])
def test_configure_refuses_bad_optimisations(args, message, tmp_path):
    build = tmp_path / "build"
    r = subprocess.run([str(REPO / "configure"), *args, "--build-dir", str(build)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert not build.exists()


@pytest.mark.parametrize("args, message", [
    (["--optimize=o3"], "--optimize takes lto, pgo or lto,pgo (not 'o3')"),
    (["--optimize=pgo,lto"], "--optimize takes lto, pgo or lto,pgo"),
    (["--targets=aarch64"], "usage:"),
    (["--optimize=lto", "--targets=aarch64,sparc"],
     "--targets: 'sparc' is not a target of configs/arches.tsv (known: aarch64,"),
    (["--fast"], "usage:"),
])
def test_build_refuses_bad_requests_before_any_work(args, message):
    r = subprocess.run([str(REPO / "build.sh"), *args], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and message in r.stderr, r.stdout + r.stderr
    assert "== build: dependencies" not in r.stdout


def train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["/usr/bin/python3", str(TRAINER), *args], capture_output=True,
                          text=True, timeout=120)


def test_trainer_names_an_unknown_target(tmp_path):
    r = train("--build-dir", str(tmp_path), "--firmware", str(tmp_path), "sparc")
    assert r.returncode == 1
    assert "'sparc' is not a target of configs/arches.tsv" in r.stderr


def test_trainer_refuses_targets_it_cannot_train(tmp_path):
    """32-bit ppc has no smoke boot (tests/smoke/boots.py): alone, nothing is trained."""
    r = train("--build-dir", str(tmp_path), "--firmware", str(tmp_path), "ppc")
    assert r.returncode == 1
    assert "no smoke boot runs on any of ppc: nothing to train on" in r.stderr


def test_trainer_names_the_missing_library(tmp_path):
    r = train("--build-dir", str(tmp_path), "--firmware", str(tmp_path), "mipsel")
    assert r.returncode == 1
    assert f"{tmp_path / 'libqemu-system-mipsel.so'} is missing: build it first" in r.stderr


def test_trainer_fails_when_the_boot_does_not_reach_init(tmp_path):
    """A library that is not QEMU: run_library cannot resolve qemu_init, so the boot
    fails, and the training with it, naming the architecture. (The trainer takes the
    smoke kernel first, tests/smoke's kernel_for, so test.sh runs this file late.)"""
    fake = tmp_path / "libqemu-system-mipsel.so"
    src = tmp_path / "fake.c"
    src.write_text("int not_qemu;\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(fake), str(src)], check=True)
    r = train("--build-dir", str(tmp_path), "--firmware", str(tmp_path), "mipsel")
    assert r.returncode == 1
    assert "mipsel: the boot did not reach init" in r.stderr
    assert "missing symbol qemu_init" in r.stderr


def test_trainer_boots_a_real_library_on_penguins_kernels():
    """The training as build.sh runs it, on the default library instead of an
    instrumented one (the boots are the same; only the counts are not written)."""
    firmware = REPO / "_build" / "firmware" / "share" / "qemu"
    r = train("--build-dir", str(REPO / "dist" / "stage" / "lib"), "--firmware",
              str(firmware), "mipsel", "ppc", "x86_64")
    assert r.returncode == 0, r.stderr
    booted = [line.split()[1] for line in r.stdout.splitlines()
              if line.startswith("pgo-train:") and " booted " in line]
    assert booted == ["mipsel", "x86_64"], r.stdout
    assert "ppc: no smoke boot runs on it, so its own code is built without a profile" \
        in r.stdout
