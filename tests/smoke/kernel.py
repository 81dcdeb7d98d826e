"""What a smoke-boot kernel is, shared by the modules that fetch and build them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE = Path(os.environ.get("PENGUIN_KERNEL_CACHE",
                                    "/var/cache/penguin-qemu/kernels"))


class KernelError(RuntimeError):
    """A kernel cannot be had: the message names what is missing."""


@dataclass(frozen=True)
class Kernel:
    arch: str        # Penguin architecture name, e.g. "mipsel"
    path: Path       # the file QEMU's -kernel loads
    origin: str      # where it came from: package and version, or source and config
    # What a vsock guest loads, in order (empty: vsock is built in, or not there at all).
    modules: tuple[Path, ...] = ()
    # What a guest with Penguin's devices (virtio-blk, virtio-net, vsock) loads, in order.
    device_modules: tuple[Path, ...] = ()
