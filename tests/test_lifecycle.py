"""Start each target through its library, stop it from another thread, see it return."""

from __future__ import annotations

import pytest

from conftest import TARGETS, run_helper, stage_lib
from spin_guests import qemu_args


@pytest.mark.parametrize("target", TARGETS)
def test_start_and_stop_from_another_thread(stage, target, tmp_path):
    args = qemu_args(target, tmp_path)
    result = run_helper("lifecycle.py", str(stage_lib(target)), target, "--", *args)
    out = result.stdout
    assert result.returncode == 0, f"rc={result.returncode}\n{out}\n{result.stderr}"
    assert "LIFECYCLE-INIT-DONE" in out, result.stderr
    assert "LIFECYCLE-STOP-REQUESTED" in out
    # The main loop returned its status and qemu_cleanup returned instead of exiting.
    assert "LIFECYCLE-RETURNED status=0" in out, result.stderr


def test_bad_argv_exits_with_qemu_message(stage, tmp_path):
    result = run_helper("lifecycle.py", str(stage_lib("mipsel")), "mipsel", "--",
                        "-M", "no-such-board", "-display", "none")
    assert result.returncode == 1
    assert "LIFECYCLE-INIT-DONE" not in result.stdout
    assert "no-such-board" in result.stderr
    assert "unsupported machine type" in result.stderr


def test_bad_option_exits_with_qemu_message(stage):
    result = run_helper("lifecycle.py", str(stage_lib("aarch64")), "aarch64", "--",
                        "--no-such-option")
    assert result.returncode == 1
    assert "invalid option" in result.stderr
