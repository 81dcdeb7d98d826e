"""The Linux kernel each smoke-boot architecture boots, fetched or built once and cached.

Debian ships bootable kernels for most architectures (debian_kernels.py); the big-endian
MIPS and 64-bit PowerPC kernels are built from Debian's linux-source with a minimal
configuration kept in tests/smoke/configs (built_kernels.py). Both cache their result
under the cache folder and reuse it while its inputs are unchanged.

    python3 tests/smoke/kernels.py [--cache DIR] [ARCH...]

prepares every kernel (or the named ones) and prints where each came from and how long
it took; test.sh runs it before pytest so that the slow steps print their progress.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smoke import built_kernels, debian_kernels  # noqa: E402
from smoke.kernel import DEFAULT_CACHE, Kernel, KernelError  # noqa: E402


def kernel_for(arch: str, cache: Path = DEFAULT_CACHE) -> Kernel:
    """The cached kernel for arch, fetching or building it first when needed."""
    if arch in built_kernels.ARCHES:
        return built_kernels.build(arch, cache)
    if arch in debian_kernels.ARCHES:
        return debian_kernels.fetch(arch, cache)
    raise KernelError(f"no smoke-boot kernel is known for architecture '{arch}'")


def all_arches() -> tuple[str, ...]:
    return tuple(sorted(debian_kernels.ARCHES + built_kernels.ARCHES))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Fetch or build the smoke-boot kernels.")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("arches", nargs="*", help="architectures (default: all)")
    args = p.parse_args(argv)
    for arch in args.arches or all_arches():
        start = time.monotonic()
        try:
            kernel = kernel_for(arch, args.cache)
        except KernelError as e:
            print(f"kernels: {arch}: error: {e}", file=sys.stderr)
            return 1
        print(f"kernels: {arch}: {kernel.path} ({kernel.origin}) "
              f"in {time.monotonic() - start:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
