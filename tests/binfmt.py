"""Run arm64 programs on this x86_64 machine: binfmt_misc and qemu-user's qemu-aarch64.

The kernel runs a foreign ELF through the interpreter a binfmt_misc entry names. This
machine (and CI's, a fresh Debian 12 with no systemd) has binfmt_misc compiled in but
not mounted, and nothing registers entries by itself: ensure_aarch64() mounts it and
registers qemu-aarch64 (bookworm-backports' qemu-user 10.0: a static binary) with flag F,
so that the kernel opens the interpreter once, at registration, and a chroot needs no
copy of it. Idempotent: an enabled entry for aarch64 ELF files with flag F (ours, or
Debian's qemu-user-binfmt, `POCF`) is kept. The registration is machine-wide and
outlives the run, as Debian's own would.

    python3 tests/binfmt.py

registers it and prints the entry.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

MOUNT = Path("/proc/sys/fs/binfmt_misc")
NAME = "qemu-aarch64"
INTERPRETER = Path("/usr/bin/qemu-aarch64")
MIN_VERSION = (9, 0)   # qemu-user before 9.0 mishandles signals between threads
# ELF64, little-endian, e_type EXEC or DYN (the mask's 0xfe), e_machine 183 (AArch64):
# the magic and mask of QEMU's scripts/qemu-binfmt-conf.sh.
MAGIC = (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00")
MASK = (b"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff")


class BinfmtError(RuntimeError):
    """arm64 programs cannot be run here: the message says why and what to do."""


def escaped(data: bytes) -> str:
    return "".join(f"\\x{b:02x}" for b in data)


def mounted() -> bool:
    return (MOUNT / "register").exists()


def mount() -> None:
    if mounted():
        return
    if "binfmt_misc" not in Path("/proc/filesystems").read_text():
        raise BinfmtError("this kernel has no binfmt_misc (CONFIG_BINFMT_MISC): arm64 "
                          "programs cannot run here")
    p = subprocess.run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(MOUNT)],
                       capture_output=True, text=True)
    if p.returncode != 0 or not mounted():
        raise BinfmtError(f"cannot mount binfmt_misc on {MOUNT} (root, and a container "
                          f"allowed to mount it, are needed): {p.stderr.strip()}")


def qemu_version() -> tuple[int, int]:
    if not INTERPRETER.is_file():
        raise BinfmtError(f"{INTERPRETER} is missing: install bookworm-backports' "
                          "qemu-user (scripts/penguin-install-deps.sh test)")
    out = subprocess.run([str(INTERPRETER), "--version"], capture_output=True, text=True,
                         check=True).stdout
    major, minor = out.split("version ", 1)[1].split(".")[:2]
    return int(major), int(minor)


def entries() -> dict[str, str]:
    """Every registered entry's name -> its description (the kernel's text)."""
    return {p.name: p.read_text() for p in MOUNT.iterdir()
            if p.name not in ("register", "status")}


def handles_aarch64(text: str) -> bool:
    """An enabled entry for aarch64 ELF files whose interpreter is opened at
    registration (flag F), so that it works in a chroot too."""
    fields = dict(line.split(" ", 1) for line in text.splitlines() if " " in line)
    return (text.startswith("enabled") and "F" in fields.get("flags:", "")
            and fields.get("magic", "").startswith(MAGIC.hex()[:40]))


def ensure_aarch64() -> str:
    """Mount binfmt_misc, register qemu-aarch64 unless an entry already serves; returns
    the description of the entry in use."""
    if qemu_version() < MIN_VERSION:
        raise BinfmtError(f"{INTERPRETER} is older than {'.'.join(map(str, MIN_VERSION))}:"
                          " install qemu-user from bookworm-backports")
    mount()
    if (MOUNT / "status").read_text().strip() != "enabled":
        (MOUNT / "status").write_text("1")
    for name, text in entries().items():
        if handles_aarch64(text):
            return f"{name}: {text.splitlines()[1]} ({text.splitlines()[2]})"
    if (MOUNT / NAME).exists():   # ours, but disabled or without F: replace it
        (MOUNT / NAME).write_text("-1")
    rule = f":{NAME}:M::{escaped(MAGIC)}:{escaped(MASK)}:{INTERPRETER}:F"
    try:
        (MOUNT / "register").write_text(rule)
    except OSError as e:
        raise BinfmtError(f"registering {NAME} with binfmt_misc failed: {e}") from e
    text = (MOUNT / NAME).read_text()
    if not handles_aarch64(text):
        raise BinfmtError(f"{NAME} registered but not usable:\n{text}")
    return f"{NAME}: {text.splitlines()[1]} ({text.splitlines()[2]})"


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description="Register qemu-aarch64 with binfmt_misc.") \
        .parse_args(argv)
    try:
        print(f"binfmt: {ensure_aarch64()}")
    except BinfmtError as e:
        print(f"binfmt: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
