"""Edge coverage and compare tracking under Linux on the smoke kernels: one boot per
QEMU target with both armed over everything it runs, to init's first hypercall; and the
address-space filter (penguin_coverage_follow) on aarch64, mipsel and x86_64.

/init is tests/smoke/cov_target.c (static glibc): two processes of it, so at the same
addresses, run its parse() on different inputs. Lap 1: the child alone on input B. Lap
2: the parent alone on input A. Lap 3: both at once, taking turns (sched_yield after
every run), with the host following the child: the map must be lap 1's exactly, none of
the parent's edges. Lap 4: the child alone with kernel code only selected: parse() is
user code, so nothing."""

from __future__ import annotations

import json

import pytest

from conftest import run_helper
from smoke import initramfs
from smoke import cov_target
from smoke.boots import BY_NAME, SMOKE_NR
from smoke.kernel import KernelError
from smoke.kernels import kernel_for

ARCHES = ("aarch64", "mipsel", "x86_64")
# MIPS refills its TLB in software: a load in parse() that misses the TLB (the two
# processes evict each other's entries) traps, and the guest resumes in the middle of a
# block, which is a block of its own, and an edge of its own. The followed map then has
# the child's edges and a few such, never the parent's. Elsewhere interrupts arrive at
# block boundaries and parse() takes no fault: the map is the child's exactly.
EXACT = ("aarch64", "x86_64")
TIMEOUT = 120


@pytest.mark.parametrize("name", ARCHES)
def test_following_one_process_shows_only_its_path(release_prefix, name, tmp_path):
    arch = BY_NAME[name]
    try:
        kernel = kernel_for(name)
    except KernelError as e:
        pytest.fail(f"{name}: no kernel: {e}")
    program = cov_target.build(name, release_prefix / "include")
    initrd = initramfs.write(program, tmp_path / "initrd.gz")
    result_file = tmp_path / "result.json"
    firmware = release_prefix / "share" / "qemu"
    spec = {"prefix": str(release_prefix), "name": name, "result": str(result_file),
            "timeout": TIMEOUT,
            "args": [*arch.machine, "-kernel", str(kernel.path), "-initrd", str(initrd),
                     "-append", arch.cmdline(), "-L", str(firmware),
                     "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
                     "-serial", f"file:{tmp_path / 'console.txt'}"]}
    proc = run_helper("coverage_linux.py", json.dumps(spec), timeout=TIMEOUT + 60)
    assert proc.returncode == 0 and result_file.exists(), (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(result_file.read_text())
    assert "error" not in result, result["error"]
    console = (tmp_path / "console.txt").read_text(errors="replace")[-2000:]
    assert not result.get("timed_out"), f"{result}\n{console}"
    laps = result["laps"]
    child, parent, followed, kernel_only = (laps[str(n)] for n in range(1, 5))
    assert child["counters"] and parent["counters"], laps
    assert child["counters"] != parent["counters"], "the two inputs take the same path"
    why = (f"{name}: following the child (space {result['space']:#x}) did not give its "
           f"path alone:\nfollowed {followed['counters']}\nchild {child['counters']}\n"
           f"parent {parent['counters']}")
    parents_own = set(parent["counters"]) - set(child["counters"])
    assert not set(followed["counters"]) & parents_own, why
    assert set(followed["counters"]) >= set(child["counters"]), why
    if name in EXACT:
        assert followed["counters"] == child["counters"], why
    assert kernel_only["counters"] == {}, kernel_only
    assert kernel_only["figures"]["tbs_instrumented"] == 0
    assert kernel_only["figures"]["tbs_filtered"] > 0


# One Linux architecture per QEMU target with a smoke boot (32-bit ppc has none).
TRACKED = ("armel", "aarch64", "mipseb", "mipsel", "mips64eb", "mips64el", "powerpc64",
           "riscv64", "loongarch64", "x86_64")


@pytest.mark.parametrize("name", TRACKED)
def test_linux_boots_with_everything_tracked(release_prefix, name, tmp_path):
    """Every front end's compares and blocks through the engine, kernel and user code:
    init still reaches its hypercall with its six arguments, and the map and the log
    are full of what ran."""
    arch = BY_NAME[name]
    try:
        kernel = kernel_for(name)
    except KernelError as e:
        pytest.fail(f"{name}: no kernel: {e}")
    initrd = initramfs.write(arch.build_init(release_prefix / "include"),
                             tmp_path / "initrd.gz")
    result_file = tmp_path / "result.json"
    firmware = release_prefix / "share" / "qemu"
    spec = {"prefix": str(release_prefix), "name": name, "result": str(result_file),
            "timeout": TIMEOUT, "nr": SMOKE_NR, "answer": arch.answer(),
            "args": [*arch.machine, "-kernel", str(kernel.path), "-initrd", str(initrd),
                     "-append", arch.cmdline(), "-L", str(firmware),
                     "-nodefaults", "-display", "none", "-monitor", "none", "-no-reboot",
                     "-serial", f"file:{tmp_path / 'console.txt'}"]}
    proc = run_helper("tracked_boot.py", json.dumps(spec), timeout=TIMEOUT + 60)
    assert proc.returncode == 0 and result_file.exists(), (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    result = json.loads(result_file.read_text())
    assert "error" not in result, result["error"]
    console = (tmp_path / "console.txt").read_text(errors="replace")[-2000:]
    assert not result.get("timed_out"), f"{result}\n{console}"
    assert result["args"] == arch.args()
    figures = result["figures"]
    assert figures["edges"] > 1000 and figures["tbs_filtered"] == 0, figures
    assert result["cmplog_headers"] > 100, result
    print(f"{name}: {figures['edges']} edges, {figures['tbs_instrumented']} blocks, "
          f"{result['cmplog_headers']} compare sites")
