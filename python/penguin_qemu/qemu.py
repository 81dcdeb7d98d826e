"""Open one libqemu-system-<name>.so with cffi and run a VM through its lifecycle."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import cffi

from .hypercall import MASK64, NOT_HANDLED, Handler, Hypercall, spellings

# The embedding lifecycle of CONTRACT section 3.
LIFECYCLE_CDEF = """
typedef _Bool bool;
typedef uint64_t vaddr;
typedef struct CPUState CPUState;
extern int (*qemu_main)(void);
void qemu_init(int argc, char **argv);
int qemu_main_loop(void);
void qemu_cleanup(int status);
void bql_lock_impl(const char *file, int line);
void bql_unlock(void);
bool bql_locked(void);
void replay_mutex_lock(void);
void replay_mutex_unlock(void);
void qemu_system_shutdown_request(int reason);
int cpu_memory_rw_debug(CPUState *cpu, vaddr addr, void *ptr, size_t len, bool is_write);
typedef int (*penguin_guest_hypercall_cb_t)(CPUState *cs, uint64_t nr,
        uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
        uint64_t a5, uint64_t *ret, void *opaque);
typedef int (*kvm_penguin_hypercall_cb_t)(CPUState *cs, uint64_t nr,
        uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
        uint64_t a5, uint64_t *ret);
void set_penguin_guest_hypercall_callback(penguin_guest_hypercall_cb_t cb, void *opaque);
void set_kvm_penguin_hypercall_callback(kvm_penguin_hypercall_cb_t cb);
void penguin_register_guest_hypercall(uint64_t nr);
void penguin_unregister_guest_hypercall(uint64_t nr);
void penguin_clear_guest_hypercalls(void);
bool penguin_guest_hypercall_registered(uint64_t nr);
bool penguin_handle_guest_hypercall(CPUState *cs, uint64_t nr, uint64_t a0, uint64_t a1,
        uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5, uint64_t *ret);
int penguin_read_guest_reg(CPUState *cs, int regnum, uint8_t *buf, int buf_len);
int penguin_write_guest_reg(CPUState *cs, int regnum, const uint8_t *buf, int len);
void *penguin_cpu_env(CPUState *cs);
void penguin_sync_cpu_state(CPUState *cs);
"""

SHUTDOWN_CAUSE_HOST_QMP_QUIT = 2
DEFAULT_PREFIX = Path("/usr/local")


class QemuError(RuntimeError):
    """The library cannot be found, loaded or driven."""


def find_library(name: str, prefix: Path | None = None) -> Path:
    """Absolute path of libqemu-system-<name>.so under prefix/lib (default /usr/local)."""
    if not name or "/" in name:
        raise QemuError(f"bad architecture name {name!r}")
    lib = (prefix or DEFAULT_PREFIX).resolve() / "lib" / f"libqemu-system-{name}.so"
    if not lib.exists():
        raise QemuError(f"no library for architecture {name!r}: {lib} does not exist")
    return lib


class Qemu:
    """One VM per process: QEMU's globals allow nothing else."""

    def __init__(self, name: str, prefix: Path | None = None, library: Path | None = None,
                 bits: int = 64, byteorder: str = "little"):
        self.name = name
        self.path = Path(library).resolve() if library else find_library(name, prefix)
        self.ffi = cffi.FFI()
        self.ffi.cdef(LIFECYCLE_CDEF)
        self.lib = self.ffi.dlopen(str(self.path), os.RTLD_NOW | os.RTLD_GLOBAL)
        self._started = threading.Event()
        self.bits = bits
        self.byteorder = byteorder
        self._handlers: dict[int, Handler] = {}
        self._fallback: Handler | None = None
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        # cffi callbacks must outlive every call the library makes to them.
        self._guest_cb = self.ffi.callback("penguin_guest_hypercall_cb_t", self._on_guest)
        self._fallback_cb = self.ffi.callback("kvm_penguin_hypercall_cb_t", self._on_fallback)
        self.lib.set_penguin_guest_hypercall_callback(self._guest_cb, self.ffi.NULL)

    # -- hypercalls ------------------------------------------------------------

    def on_hypercall(self, nr: int, handler: Handler) -> None:
        """Call handler(Hypercall) for guest hypercall nr (every spelling of it).

        The handler's return value goes into the guest's return register (None
        means 0); returning NOT_HANDLED leaves every register as it was.
        """
        for value in spellings(nr, self.bits):
            self._handlers[value] = handler
            self.lib.penguin_register_guest_hypercall(value)

    def on_unregistered(self, handler: Handler | None) -> None:
        """Call handler for every number no on_hypercall handler claims."""
        self._fallback = handler
        self.lib.set_kvm_penguin_hypercall_callback(
            self._fallback_cb if handler else self.ffi.NULL)

    def _dispatch(self, handler: Handler | None, cpu, nr: int, args: tuple[int, ...],
                  ret) -> int:
        if handler is None or self._error is not None:
            return 1
        call = Hypercall(self, cpu, nr, args)
        try:
            value = handler(call)
        except BaseException as e:  # noqa: BLE001 - re-raised from run()
            self._record_error(e)
            return 1
        if value is NOT_HANDLED:
            return 1
        ret[0] = (value or 0) & MASK64
        return 0

    def _on_guest(self, cpu, nr, a0, a1, a2, a3, a4, a5, ret, opaque) -> int:
        return self._dispatch(self._handlers.get(nr), cpu, nr, (a0, a1, a2, a3, a4, a5), ret)

    def _on_fallback(self, cpu, nr, a0, a1, a2, a3, a4, a5, ret) -> int:
        return self._dispatch(self._fallback, cpu, nr, (a0, a1, a2, a3, a4, a5), ret)

    def _record_error(self, error: BaseException) -> None:
        """Fail fast: keep the first error, stop the VM, re-raise it from run()."""
        with self._error_lock:
            if self._error is None:
                self._error = error
        self.stop()

    # -- registers ---------------------------------------------------------------

    def read_reg(self, cpu, regnum: int) -> int:
        buf = self.ffi.new("uint8_t[]", 64)
        n = self.lib.penguin_read_guest_reg(cpu, regnum, buf, 64)
        if n < 0:
            raise QemuError(f"cannot read register {regnum}: error {n}")
        return int.from_bytes(bytes(buf[0:n]), self.byteorder)

    def reg_width(self, cpu, regnum: int) -> int:
        buf = self.ffi.new("uint8_t[]", 64)
        n = self.lib.penguin_read_guest_reg(cpu, regnum, buf, 64)
        if n < 0:
            raise QemuError(f"cannot read register {regnum}: error {n}")
        return n

    def write_reg(self, cpu, regnum: int, value: int) -> None:
        width = self.reg_width(cpu, regnum)
        data = (value & ((1 << (8 * width)) - 1)).to_bytes(width, self.byteorder)
        n = self.lib.penguin_write_guest_reg(cpu, regnum, self.ffi.new("uint8_t[]", data),
                                             width)
        if n != 0:
            raise QemuError(f"cannot write register {regnum}: error {n}")

    def run(self, argv: list[str]) -> int:
        """qemu_init, then the main loop on this thread until shutdown; returns its status.

        Mirrors upstream system/main.c without its exit(): qemu_init returns holding
        the BQL and the replay mutex; both are dropped and taken back around the
        check that no other main loop is wanted.
        """
        if self.lib.qemu_main != self.ffi.NULL:
            raise QemuError("qemu_main is set: this library wants its own main thread")
        args = [self.ffi.new("char[]", a.encode()) for a in [f"qemu-system-{self.name}", *argv]]
        c_argv = self.ffi.new("char *[]", args + [self.ffi.NULL])
        self.lib.qemu_init(len(args), c_argv)
        if self.lib.bql_locked():
            self.lib.bql_unlock()
        self.lib.replay_mutex_unlock()
        self.lib.replay_mutex_lock()
        self.lib.bql_lock_impl(__file__.encode(), 0)
        self._started.set()
        try:
            status = self.lib.qemu_main_loop()
            self.lib.qemu_cleanup(status)
        finally:
            if self.lib.bql_locked():
                self.lib.bql_unlock()
            self.lib.replay_mutex_unlock()
        if self._error is not None:
            raise self._error
        return status

    def wait_started(self, timeout: float | None = None) -> bool:
        return self._started.wait(timeout)

    def stop(self) -> None:
        """Ask the main loop to return; safe from any thread, holding no QEMU lock."""
        self.lib.qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT)
