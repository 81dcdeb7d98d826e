"""penguin_qemu: drive a penguin-qemu library from Python, the way Penguin does."""

from .coverage import CmpEntry, Lap
from .hypercall import NOT_HANDLED, Hypercall
from .install import InstallError, locate
from .qemu import Qemu, QemuError
from .runtime import FastSnapshotResult, QmpError, SnapshotResult

__all__ = ["CmpEntry", "Lap", "NOT_HANDLED", "Hypercall", "InstallError", "Qemu",
           "QemuError", "QmpError", "FastSnapshotResult", "SnapshotResult", "locate"]
