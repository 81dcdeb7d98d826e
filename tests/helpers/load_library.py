"""Child process: dlopen a library by absolute path and report qemu_main.

usage: load_library.py LIBRARY
"""

from __future__ import annotations

import os
import sys

import cffi


def main() -> int:
    ffi = cffi.FFI()
    ffi.cdef("extern int (*qemu_main)(void);")
    lib = ffi.dlopen(sys.argv[1], os.RTLD_NOW | os.RTLD_GLOBAL)
    print("QEMU_MAIN=" + ("NULL" if lib.qemu_main == ffi.NULL else "SET"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
