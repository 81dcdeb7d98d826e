"""scripts/penguin-tcg-tests.py's own parts: its make-output parser, its config reader
and the gdb wrapper that waits for the gdbstub's socket (the race it closes failed CI:
run-test.py starts gdb one second after QEMU, and a library started at nice 19 beside
pytest had not opened its socket yet)."""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from conftest import REPO

SCRIPT = REPO / "scripts" / "penguin-tcg-tests.py"


@pytest.fixture(scope="module")
def tcg_tests() -> ModuleType:
    spec = importlib.util.spec_from_file_location("penguin_tcg_tests", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module     # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def fake_gdb(tmp_path: Path) -> Path:
    """A gdb that writes when it started and its arguments, one a line."""
    gdb = tmp_path / "fake-gdb"
    gdb.write_text("#!/bin/sh\n"
                   f"date +%s.%N > {tmp_path}/started\n"
                   f'printf "%s\\n" "$@" > {tmp_path}/args\n')
    gdb.chmod(0o755)
    return gdb


def listen_later(path: Path, delay: float) -> tuple[threading.Thread, list[float]]:
    """Listen on a Unix socket at PATH after DELAY seconds; the time it listened."""
    listened: list[float] = []

    def serve() -> None:
        time.sleep(delay)
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        server.listen(1)
        listened.append(time.time())
        time.sleep(1)
        server.close()

    thread = threading.Thread(target=serve)
    thread.start()
    return thread, listened


def test_gdb_waits_for_the_socket_to_listen(tcg_tests, tmp_path):
    sock = tmp_path / "gdbstub.socket"
    wrapper = tcg_tests.write_gdb_wrapper(tmp_path / "out", str(fake_gdb(tmp_path)))
    thread, listened = listen_later(sock, 1.5)
    args = ["hello", "-q", "-ex", "set debug remote 1", "-ex", f"target remote {sock}"]
    subprocess.run([str(wrapper), *args], check=True, timeout=60)
    thread.join()
    assert listened, "the socket never listened"
    assert float((tmp_path / "started").read_text()) >= listened[0]
    assert (tmp_path / "args").read_text().splitlines() == args


def test_gdb_gives_up_on_a_socket_that_never_comes(tcg_tests, tmp_path):
    """A QEMU that died before listening: gdb still runs (and reports the socket)."""
    wrapper = tcg_tests.write_gdb_wrapper(tmp_path / "out", str(fake_gdb(tmp_path)),
                                          wait=0.5)
    start = time.monotonic()
    subprocess.run([str(wrapper), "-ex", f"target remote {tmp_path}/none"],
                   check=True, timeout=60)
    assert time.monotonic() - start < 10
    assert (tmp_path / "started").exists()


def test_gdb_without_a_remote_target_runs_at_once(tcg_tests, tmp_path):
    wrapper = tcg_tests.write_gdb_wrapper(tmp_path / "out", str(fake_gdb(tmp_path)))
    start = time.monotonic()
    subprocess.run([str(wrapper), "--version"], check=True, timeout=60)
    assert time.monotonic() - start < 10
    assert (tmp_path / "args").read_text() == "--version\n"


def test_config_value(tcg_tests, tmp_path):
    config = tmp_path / "config-target.mak"
    config.write_text("# generated\nTARGET_NAME=aarch64\nGDB=/usr/bin/gdb-multiarch\n")
    assert tcg_tests.config_value(config, "GDB") == "/usr/bin/gdb-multiarch"
    assert tcg_tests.config_value(config, "QEMU") == ""


def test_parse_counts_runs_failures_and_skips(tcg_tests):
    output = "\n".join([
        "  TEST    hello on aarch64",
        "  TEST    softmmu gdbstub untimely packets on aarch64",
        "  TEST    check plugin libmem.so output with memory",
        "  SKIPPED gdbstub on aarch64 because no gdb",
        "make[1]: *** [/x/Makefile.softmmu-target:39: run-gdbstub-untimely-packet] Error 1",
        "make: *** [/x/Makefile.include:56: run-tcg-tests-aarch64-softmmu] Error 2",
    ])
    result = tcg_tests.Result("aarch64")
    tcg_tests.parse(result, output)
    assert result.runs[:2] == ["hello", "softmmu gdbstub untimely packets"]
    assert result.failed == ["gdbstub-untimely-packet"]
    assert result.skipped == ["gdbstub on aarch64 because no gdb"]
    assert "FAILED: gdbstub-untimely-packet" in result.summary()
