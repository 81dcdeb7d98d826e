"""What Penguin's Python shim adds to a library's cffi header before ffi.cdef()
(penguin-shim-notes.md, "The cdef trap"): the tests cdef the same text it would."""

from __future__ import annotations

# penguin-shim-notes.md, "The cdef trap": appended unless this exact text is present...
SHIM_EXACT = [
    "int main(int argc, char **argv);",
    "void bql_lock_impl(const char *file, int line);",
    "bool bql_locked(void);",
    "void replay_mutex_lock(void);",
    "bool replay_mutex_locked(void);",
    "void penguin_register_guest_hypercall(uint64_t nr);",
    "void penguin_unregister_guest_hypercall(uint64_t nr);",
    "void penguin_clear_guest_hypercalls(void);",
    "bool penguin_guest_hypercall_registered(uint64_t nr);",
    "bool penguin_save_snapshot(const char *name);",
    "bool penguin_load_snapshot(const char *name);",
    "void penguin_schedule_snapshot(const char *name, bool load);",
]
# ...and these unless their name appears anywhere.
SHIM_BY_NAME = {
    "penguin_read_guest_reg":
        "int penguin_read_guest_reg(CPUState *cpu, int regnum, uint8_t *buf,"
        " int buf_len);",
    "penguin_write_guest_reg":
        "int penguin_write_guest_reg(CPUState *cpu, int regnum, const uint8_t *buf,"
        " int len);",
    "penguin_cpu_env": "void *penguin_cpu_env(CPUState *cpu);",
    "penguin_sync_cpu_state": "void penguin_sync_cpu_state(CPUState *cpu);",
    "penguin_mmio_read_cb_t":
        "typedef uint64_t (*penguin_mmio_read_cb_t)(uint64_t addr, unsigned size,"
        " void *opaque);",
    "penguin_mmio_write_cb_t":
        "typedef void (*penguin_mmio_write_cb_t)(uint64_t addr, uint64_t data,"
        " unsigned size, void *opaque);",
    "penguin_qmp_cb_t":
        "typedef bool (*penguin_qmp_cb_t)(const char *cmd, const char *args_json,"
        " char **result, void *opaque);",
    "penguin_qemu_add_mmio_region":
        "int penguin_qemu_add_mmio_region(uint64_t base, uint64_t size, const char *name,"
        " penguin_mmio_read_cb_t read_cb, penguin_mmio_write_cb_t write_cb, void *opaque);",
    "set_penguin_qmp_callback":
        "void set_penguin_qmp_callback(penguin_qmp_cb_t cb, void *opaque);",
    "strdup": "char *strdup(const char *s);",
}


def shim_cdef_text(header: str, bits: int) -> str:
    """What Penguin's shim hands to ffi.cdef() for this header."""
    text = header
    if bits == 64:
        text += "\ntypedef int64_t target_long;\ntypedef uint64_t target_ulong;\n"
    else:
        text += "\ntypedef int32_t target_long;\ntypedef uint32_t target_ulong;\n"
    for decl in SHIM_EXACT:
        if decl not in header:
            text += decl + "\n"
    for name, decl in SHIM_BY_NAME.items():
        if name not in header:
            text += decl + "\n"
    return text
