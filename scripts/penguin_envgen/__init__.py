"""Generate the typed CPUArchState artifacts of one QEMU target for Penguin's cffi.

Two artifacts per target (CONTRACT.md section 6):

1. An ABI-mode header, ``qemu_cffi_system_<name>_env.h``: a layout-exact cdef of
   ``CPUArchState`` written from the DWARF of the built library. Every struct and
   union it needs is renamed ``penguin_env_<Name>``; integers are fixed-width,
   pointers ``void *``, enums unsigned integers of their size, arrays keep their
   dimensions. Members cffi cannot express (bitfields, zero-length arrays, 128-bit
   integers, vectors, members of packed structs that sit misaligned) are padded
   over with ``uint8_t`` arrays and listed in a comment; anonymous struct/union
   members are kept inline. The header is then cdef'd by cffi together with the
   declarations of the main header, and every emitted struct is checked member by
   member (offset and size) against the DWARF: any difference is an error.

2. An API-mode module ``_penguin_qemu_env_<mode>_<target>``: the same types under
   their real C names, each struct "partial" (``...;``), compiled by cffi against
   the real QEMU headers with the target's flags from compile_commands.json, so
   the C compiler decides the layout. It is imported once built and its layout is
   compared with the DWARF as well. Failing to build it is an error, never a
   silent fallback. It is built against the stable ABI (Py_LIMITED_API) and
   installed as ``<module>.abi3.so``, so one file imports into every CPython 3.

Speed: pyelftools parses slowly, so the compile units are indexed with a small
reader of the unit headers and of the first DIE's name, and only the units under
target/ (cpu.c first) are walked, top-level DIEs only, until CPUArchState and
CPUState are found.

The parts, in the order a run uses them (scripts/penguin-env-cffi-gen.py is the
command; cli.main is what it calls):

    common.py         names of the env types, the main header's declarations, the error
    timing.py         the per-step timer, the paused garbage collector
    dwarf_index.py    the fast reader of unit headers and unit names (no pyelftools)
    dwarf_reader.py   opening the library with pyelftools; finding CPUArchState
    model.py          the type model (records, members, arrays, scalars)
    type_builder.py   DWARF DIEs -> the model (read_model)
    naming.py         the one naming of every record both emitters use
    layout_check.py   comparing a cffi layout with the DWARF, member by member
    abi_emitter.py    the ABI-mode header and its check
    api_emitter.py    the API-mode module's cdef and C source
    compile_flags.py  the target's flags from compile_commands.json
    build.py          compiling, installing, importing and checking the module
    cli.py            the command line and the driver
"""
