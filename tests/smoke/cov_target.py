"""tests/smoke/cov_target.c, the coverage tests' and the fuzz loop's Linux program, built
for one smoke architecture as a static glibc program (as the glibc stage is), and the
numbers it shares with its hosts (tests/helpers/coverage_linux.py, bench/fuzz_loop.py)."""

from __future__ import annotations

from pathlib import Path

from smoke.boots import BY_NAME, HERE, LIBC_CFLAGS, OUT_DIR, compile_cached

COV_HELLO, COV_LAP, COV_INPUT, COV_DONE = 0x50454E80, 0x50454E81, 0x50454E82, 0x50454E83
MODE_PROCESSES, MODE_FUZZ = 1, 2
START, END, FOLLOW = 0, 1, 2
# What parse() adds for the planted values (cov_target.c).
MAGIC_SCORE, STRING_SCORE = 100, 1000


def build(name: str, include: Path) -> Path:
    """The program for architecture name against the SDK header under include."""
    out = OUT_DIR / f"cov-target-{name}"
    cmd = [*BY_NAME[name].cc, *LIBC_CFLAGS, f"-I{include}", "-o", str(out),
           str(HERE / "cov_target.c")]
    return compile_cached(cmd, out, include, ["cov_target.c"],
                          f"the {name} coverage target")
