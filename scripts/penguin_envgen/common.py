"""What every part of the env generator shares: the names of the types it writes, the
main header's declarations, its error, and a fresh cffi FFI."""

from __future__ import annotations

from typing import Any

PROG = "penguin-env-cffi-gen"
PREFIX = "penguin_env_"
ENV_NAME = "CPUArchState"
CPU_STATE_NAME = "CPUState"

# What the main header (qemu_cffi_<mode>_<name>.h) already declares; the env
# header must cdef together with it in one FFI.
MAIN_HEADER_DECLS = (
    "typedef _Bool bool;\n"
    "typedef uint64_t vaddr;\n"
    "typedef struct CPUState CPUState;\n"
    "typedef struct MachineState MachineState;\n"
)


class EnvGenError(Exception):
    """A failure with a message for the user."""


def new_ffi() -> Any:
    try:
        import cffi
    except ImportError as exc:
        raise EnvGenError(f"cffi is required (Debian: python3-cffi): {exc}") from exc
    return cffi.FFI()
