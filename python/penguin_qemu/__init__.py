"""penguin_qemu: drive a penguin-qemu library from Python, the way Penguin does."""

from .qemu import Qemu, QemuError, find_library

__all__ = ["Qemu", "QemuError", "find_library"]
