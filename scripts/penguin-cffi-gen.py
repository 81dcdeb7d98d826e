#!/usr/bin/env python3
"""Write the cffi headers and the manifest of the staged libraries (CONTRACT section 6).

For every library name of the mode (--mode system: every name of configs/arches.tsv;
--mode kvm: the host's KVM libraries, libqemu-kvm-<name>.so):
include/penguin-qemu-cffi/qemu_cffi_<mode>_<name>.h, a cdef of the exported lifecycle
and Penguin functions, written so that it cdefs together with the declarations
Penguin's shim appends (penguin-shim-notes.md, "The cdef trap"): the functions the shim
appends when their exact text is missing are declared here with exactly that text,
`bool`, `vaddr` (always 64-bit), `CPUState` and `MachineState` are defined, and
`target_long`/`target_ulong` are not. Every declared function must be exported by the
library, or the build stops.

Then qemu_cffi_<mode>_manifest.json ("mode": "system" or "kvm"), naming each library's
env header and compiled env module (scripts/penguin-env-cffi-gen.py --mode <mode> makes
them first); a missing one stops the build.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import penguin_arches  # noqa: E402

TYPES = """\
typedef _Bool bool;
typedef uint64_t vaddr;
typedef struct CPUState CPUState;
typedef struct MachineState MachineState;
typedef int (*penguin_guest_hypercall_cb_t)(CPUState *cs, uint64_t nr,
        uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
        uint64_t a5, uint64_t *ret, void *opaque);
typedef int (*kvm_penguin_hypercall_cb_t)(CPUState *cs, uint64_t nr,
        uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
        uint64_t a5, uint64_t *ret);
typedef int (*kvm_penguin_after_guest_init_cb_t)(MachineState *ms, void *opaque);
typedef uint64_t (*penguin_mmio_read_cb_t)(uint64_t addr, unsigned size, void *opaque);
typedef void (*penguin_mmio_write_cb_t)(uint64_t addr, uint64_t data, unsigned size,
        void *opaque);
typedef void (*penguin_reset_request_cb_t)(int cause, void *opaque);
typedef bool (*penguin_qmp_cb_t)(const char *cmd, const char *args_json, char **result,
        void *opaque);
typedef void (*penguin_snapshot_done_cb_t)(const char *name, bool load, bool ok,
        void *opaque);
"""

# (symbol, declaration). Where Penguin's shim appends a declaration unless its exact
# text is present, the text here is that text, character for character.
FUNCTIONS = [
    # CONTRACT section 3: the embedding lifecycle
    ("qemu_main", "extern int (*qemu_main)(void);"),
    ("main", "int main(int argc, char **argv);"),
    ("qemu_init", "void qemu_init(int argc, char **argv);"),
    ("qemu_main_loop", "int qemu_main_loop(void);"),
    ("qemu_cleanup", "void qemu_cleanup(int status);"),
    ("bql_lock_impl", "void bql_lock_impl(const char *file, int line);"),
    ("bql_unlock", "void bql_unlock(void);"),
    ("bql_locked", "bool bql_locked(void);"),
    ("replay_mutex_lock", "void replay_mutex_lock(void);"),
    ("replay_mutex_unlock", "void replay_mutex_unlock(void);"),
    ("replay_mutex_locked", "bool replay_mutex_locked(void);"),
    ("qemu_system_shutdown_request", "void qemu_system_shutdown_request(int reason);"),
    ("qemu_get_cpu", "CPUState *qemu_get_cpu(int index);"),
    ("cpu_memory_rw_debug",
     "int cpu_memory_rw_debug(CPUState *cpu, vaddr addr, void *ptr, size_t len, "
     "bool is_write);"),
    # CONTRACT section 4: hypercalls
    ("set_penguin_guest_hypercall_callback",
     "void set_penguin_guest_hypercall_callback(penguin_guest_hypercall_cb_t cb, "
     "void *opaque);"),
    ("set_kvm_penguin_hypercall_callback",
     "void set_kvm_penguin_hypercall_callback(kvm_penguin_hypercall_cb_t cb);"),
    ("penguin_register_guest_hypercall", "void penguin_register_guest_hypercall(uint64_t nr);"),
    ("penguin_unregister_guest_hypercall",
     "void penguin_unregister_guest_hypercall(uint64_t nr);"),
    ("penguin_clear_guest_hypercalls", "void penguin_clear_guest_hypercalls(void);"),
    ("penguin_guest_hypercall_registered",
     "bool penguin_guest_hypercall_registered(uint64_t nr);"),
    ("penguin_handle_guest_hypercall",
     "bool penguin_handle_guest_hypercall(CPUState *cs, uint64_t nr, uint64_t a0, "
     "uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t *ret);"),
    # CONTRACT section 5: guest state
    ("penguin_read_guest_reg",
     "int penguin_read_guest_reg(CPUState *cs, int regnum, uint8_t *buf, int buf_len);"),
    ("penguin_write_guest_reg",
     "int penguin_write_guest_reg(CPUState *cs, int regnum, const uint8_t *buf, int len);"),
    ("penguin_cpu_env", "void *penguin_cpu_env(CPUState *cs);"),
    ("penguin_sync_cpu_state", "void penguin_sync_cpu_state(CPUState *cs);"),
    # CONTRACT section 7: runtime extras
    ("set_kvm_penguin_after_guest_init_callback",
     "void set_kvm_penguin_after_guest_init_callback(kvm_penguin_after_guest_init_cb_t cb, "
     "void *opaque);"),
    ("penguin_qemu_add_mmio_region",
     "int penguin_qemu_add_mmio_region(uint64_t base, uint64_t size, const char *name, "
     "penguin_mmio_read_cb_t read_cb, penguin_mmio_write_cb_t write_cb, void *opaque);"),
    ("penguin_qemu_remove_mmio_region", "int penguin_qemu_remove_mmio_region(uint64_t base);"),
    ("set_penguin_reset_request_callback",
     "void set_penguin_reset_request_callback(penguin_reset_request_cb_t cb, void *opaque);"),
    ("set_penguin_qmp_callback",
     "void set_penguin_qmp_callback(penguin_qmp_cb_t cb, void *opaque);"),
    ("penguin_save_snapshot", "bool penguin_save_snapshot(const char *name);"),
    ("penguin_load_snapshot", "bool penguin_load_snapshot(const char *name);"),
    ("penguin_schedule_snapshot", "void penguin_schedule_snapshot(const char *name, bool load);"),
    ("set_penguin_snapshot_done_callback",
     "void set_penguin_snapshot_done_callback(penguin_snapshot_done_cb_t cb, void *opaque);"),
    ("penguin_snapshots_completed", "uint64_t penguin_snapshots_completed(bool *last_ok);"),
]

# Upstream builds record/replay (replay/) only with TCG; without it, stubs provide
# replay_mutex_lock/unlock but not replay_mutex_locked. The KVM header leaves it out:
# Penguin's shim then appends the very same declaration and never calls it.
TCG_ONLY = {"replay_mutex_locked"}


def functions(mode: str) -> list[tuple[str, str]]:
    """FUNCTIONS as the library of mode exports them."""
    return [f for f in FUNCTIONS if mode != "kvm" or f[0] not in TCG_ONLY]


def exported_symbols(library: Path) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(library)], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def header_text(arch: penguin_arches.Arch) -> str:
    lines = [
        f"/* penguin-qemu cffi declarations for {arch.library} "
        f"({arch.qemu_target}, {arch.bits}-bit {arch.endian.upper()}).",
        " * Generated by scripts/penguin-cffi-gen.py; plain C for cffi.cdef(). */",
        TYPES.rstrip(),
        *(decl for _, decl in functions(arch.mode)),
    ]
    return "\n".join(lines) + "\n"


def env_module_name(arch: penguin_arches.Arch) -> str:
    """The compiled env module's file name for the running (build) Python."""
    base = f"_penguin_qemu_env_{arch.mode}_{arch.target.replace('-', '_')}"
    return base + importlib.machinery.EXTENSION_SUFFIXES[0]


def manifest_entry(arch: penguin_arches.Arch) -> dict:
    return {
        "arch": arch.name,
        "qemu_target": arch.qemu_target,
        "library": arch.library,
        "header": f"qemu_cffi_{arch.mode}_{arch.name}.h",
        "vaddr_bits": 64,
        "guest_bits": arch.bits,
        "endian": arch.endian,
        "env_header": f"qemu_cffi_{arch.mode}_{arch.name}_env.h",
        "env_module": env_module_name(arch),
    }


def link_env_header(include: Path, name: str, arch: penguin_arches.Arch) -> None:
    link, dest = include / name, f"qemu_cffi_{arch.mode}_{arch.target}_env.h"
    if not (link.is_symlink() and str(link.readlink()) == dest):
        link.unlink(missing_ok=True)
        link.symlink_to(dest)


def write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--stage", type=Path, required=True, help="the staged /usr/local tree")
    p.add_argument("--mode", choices=penguin_arches.MODES, default="system",
                   help="system: libqemu-system-<name>.so; kvm: the host's "
                        "libqemu-kvm-<name>.so (default: system)")
    p.add_argument("--no-env", action="store_true",
                   help="do not require env headers and modules (generator tests)")
    args = p.parse_args(argv)
    include = args.stage / "include" / "penguin-qemu-cffi"
    env_dir = args.stage / "lib" / "penguin-qemu-env"
    include.mkdir(parents=True, exist_ok=True)
    entries = []
    arches = penguin_arches.by_mode(args.mode)
    if not arches:
        raise SystemExit(f"penguin-cffi-gen: error: no {args.mode} libraries for this host")
    for arch in arches:
        library = args.stage / "lib" / arch.library
        if not library.exists():
            raise SystemExit(f"penguin-cffi-gen: error: {library} does not exist")
        exported = exported_symbols(library)
        missing = [s for s, _ in functions(arch.mode) if s not in exported]
        if missing:
            raise SystemExit(f"penguin-cffi-gen: error: {arch.library} does not export "
                             f"{', '.join(missing)}")
        entry = manifest_entry(arch)
        write_if_changed(include / entry["header"], header_text(arch))
        if not args.no_env:
            if arch.is_alias:
                # Aliases share their target's CPUArchState, hence its env header.
                link_env_header(include, entry["env_header"], arch)
            for path in (include / entry["env_header"], env_dir / entry["env_module"]):
                if not path.exists():
                    raise SystemExit(f"penguin-cffi-gen: error: {path.name} is missing "
                                     f"for {arch.library}: run "
                                     f"scripts/penguin-env-cffi-gen.py --mode {arch.mode}")
        entries.append(entry)
    manifest = {"schema": 1, "mode": args.mode, "headers": entries}
    write_if_changed(include / f"qemu_cffi_{args.mode}_manifest.json",
                     json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"penguin-cffi-gen: {len(entries)} {args.mode} headers and the manifest in {include}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
