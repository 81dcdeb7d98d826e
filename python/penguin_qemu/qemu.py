"""Open one libqemu-system-<name>.so (or libqemu-kvm-<name>.so) with cffi and run a VM
through its lifecycle."""

from __future__ import annotations

import contextlib
import errno
import importlib.util
import operator
import os
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator

import cffi

from .coverage import Cmplog, Coverage
from .hypercall import MASK64, NOT_HANDLED, Handler, Hypercall, spellings
from .install import InstallError, Installed, locate
from .registers import CONVENTIONS, family_of, regnum
from .runtime import FastSnapshots, MmioRegions, QmpCommands, Snapshots

SHUTDOWN_CAUSE_HOST_QMP_QUIT = 2
REG_BUFFER = 64
REG_BUFFER_MAX = 1 << 20      # AArch64 SME's ZA is 64 KiB at the largest vector length
# The Penguin C ABI major version this client is written for (penguin.h).
ABI_MAJOR = 1
X86_HF_CS64 = 1 << 15        # target/i386/cpu.h HF_CS64_MASK: 64-bit code
X86_ARGS32 = (1, 2, 3, 4, 5, 6)   # ebx ecx edx esi edi ebp in x86_64's GDB numbering

ResetHandler = Callable[[int], None]
GuestInitHandler = Callable[[Any], Any]


class QemuError(RuntimeError):
    """The library cannot be found, loaded or driven."""


class Qemu:
    """One VM per process: QEMU's globals allow nothing else.

    The cdef is the install's own header (include/penguin-qemu-cffi), the library is
    opened by absolute path with RTLD_NOW | RTLD_GLOBAL, as Penguin does.

    mode="kvm" opens libqemu-kvm-<name>.so (no TCG; run it with -accel kvm). There,
    as Penguin does under KVM, every hypercall reaches the fallback ("kvm") callback
    (CONTRACT section 4), which picks the handler by number itself: no number is
    registered with the library.
    """

    def __init__(self, name: str, prefix: Path | None = None, library: Path | None = None,
                 mode: str = "system"):
        try:
            self.install: Installed = locate(name, prefix, library, mode)
        except InstallError as e:
            raise QemuError(str(e)) from None
        self.name = name
        self.mode = mode
        self.path = self.install.library
        self.bits = self.install.bits
        self.byteorder = self.install.byteorder
        self.family = family_of(self.install.qemu_target)
        self.ffi = cffi.FFI()
        header = self.install.header.read_text()
        self.ffi.cdef(header)
        if "strdup" not in header:   # for answers the library frees (QMP)
            self.ffi.cdef("char *strdup(const char *s);")
        self.lib = self._open_library()
        self.abi_version = self._check_abi()
        self._started = threading.Event()
        self._handlers: dict[int, Handler] = {}
        self._fallback: Handler | None = None
        self._error: BaseException | None = None
        self._error_lock = threading.Lock()
        self._env_ffi: dict[str, Any] = {}
        # cffi callbacks must outlive every call the library makes to them.
        self._guest_cb = self.ffi.callback("penguin_guest_hypercall_cb_t", self._on_guest)
        self._fallback_cb = self.ffi.callback("kvm_penguin_hypercall_cb_t",
                                              self._on_fallback)
        self._reset_handler: ResetHandler | None = None
        self._guest_init_handler: GuestInitHandler | None = None
        self._reset_cb = self.ffi.callback("penguin_reset_request_cb_t", self._on_reset)
        self._guest_init_cb = self.ffi.callback("kvm_penguin_after_guest_init_cb_t",
                                                self._on_guest_init)
        if self.kvm:
            self.lib.set_kvm_penguin_hypercall_callback(self._fallback_cb)
        else:
            self.lib.set_penguin_guest_hypercall_callback(self._guest_cb, self.ffi.NULL)
        self.mmio = MmioRegions(self)
        self.snapshots = Snapshots(self)
        self.fast_snapshots = FastSnapshots(self)
        self.qmp = QmpCommands(self)
        self.coverage = Coverage(self)
        self.cmplog = Cmplog(self)

    def _open_library(self) -> Any:
        try:
            return self.ffi.dlopen(str(self.path), os.RTLD_NOW | os.RTLD_GLOBAL)
        except OSError as e:
            raise QemuError(f"cannot load {self.path}: {e}") from None

    def _check_abi(self) -> tuple[int, int]:
        """The library's Penguin ABI version; QemuError unless its major is ours."""
        try:
            version = self.lib.penguin_abi_version()
        except AttributeError:
            raise QemuError(
                f"{self.path} has no penguin_abi_version(): it predates "
                f"Penguin ABI 1.1; this client needs ABI {ABI_MAJOR}.x") from None
        major, minor = version >> 16, version & 0xFFFF
        if major != ABI_MAJOR:
            raise QemuError(f"{self.path} implements Penguin ABI {major}.{minor}; this "
                            f"client knows ABI {ABI_MAJOR}.x only")
        return major, minor

    @property
    def kvm(self) -> bool:
        return self.mode == "kvm"

    # -- errors ------------------------------------------------------------------

    def last_error(self) -> str:
        """The library's reason for this thread's last failed Penguin call."""
        return self.ffi.string(self.lib.penguin_last_error()).decode(errors="replace")

    def fail(self, what: str, code: int | None = None) -> None:
        """Raise QemuError for what, with the library's reason."""
        reason = self.last_error() or (os.strerror(-code) if code else "failed")
        suffix = f" ({code})" if code is not None else ""
        raise QemuError(f"{what}: {reason}{suffix}")

    def check(self, code: int, what: str) -> int:
        """code when it is not a negative errno; QemuError otherwise."""
        if code < 0:
            self.fail(what, code)
        return code

    def strdup(self, text: str) -> Any:
        """A malloc'd copy of text, for answers the library frees."""
        return self.lib.strdup(text.encode())

    @contextlib.contextmanager
    def bql(self) -> Iterator[None]:
        """Hold QEMU's big lock on this thread (not a hypercall handler's: vCPUs
        run without it and must not block the main loop)."""
        self.lib.bql_lock_impl(__file__.encode(), 0)
        try:
            yield
        finally:
            self.lib.bql_unlock()

    # -- lifecycle ---------------------------------------------------------------

    def run(self, argv: list[str]) -> int:
        """qemu_init, then the main loop on this thread until shutdown; returns its status.

        Mirrors upstream system/main.c without its exit(): qemu_init returns holding
        the BQL and the replay mutex; both are dropped and taken back around the
        check that no other main loop is wanted. The first exception a handler raised
        is re-raised here, after the VM stopped.
        """
        if self.lib.qemu_main != self.ffi.NULL:
            raise QemuError("qemu_main is set: this library wants its own main thread")
        if self.lib.qemu_get_cpu(0) != self.ffi.NULL:
            raise QemuError(f"a VM already ran in this process from {self.path.name}: "
                            "QEMU allows one VM per process (start a new process)")
        args = [self.ffi.new("char[]", a.encode())
                for a in [f"qemu-system-{self.name}", *argv]]
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

    # -- hypercalls --------------------------------------------------------------

    def on_hypercall(self, nr: int, handler: Handler) -> None:
        """Call handler(Hypercall) for guest hypercall nr (every spelling of it).

        The handler's return value goes into the guest's return register (None
        means 0; anything that is not an int, a float say, is the handler's error:
        the VM stops and run() raises it); returning NOT_HANDLED leaves every
        register as it was.
        """
        for value in spellings(nr, self.bits):
            self._handlers[value] = handler
            if not self.kvm:
                self.lib.penguin_register_guest_hypercall(value)

    def on_unregistered(self, handler: Handler | None) -> None:
        """Call handler for every number no on_hypercall handler claims."""
        self._fallback = handler
        if not self.kvm:   # in kvm mode the fallback callback is always set
            self.lib.set_kvm_penguin_hypercall_callback(
                self._fallback_cb if handler else self.ffi.NULL)

    def _dispatch(self, handler: Handler | None, cpu, nr: int, args: tuple[int, ...],
                  ret) -> int:
        if handler is None or self._error is not None:
            return 1
        call = Hypercall(self, cpu, nr, args)
        try:
            value = handler(call)
            if value is NOT_HANDLED:
                return 1
            if value is None:
                value = call.retval
            # An int (or what stands for one); a float or a str is the handler's bug.
            value = operator.index(value or 0)
        except BaseException as e:  # noqa: BLE001 - re-raised from run()
            self._record_error(e)
            return 1
        ret[0] = value & MASK64
        return 0

    def _on_guest(self, cpu, nr, a0, a1, a2, a3, a4, a5, ret, opaque) -> int:
        return self._dispatch(self._handlers.get(nr), cpu, nr, (a0, a1, a2, a3, a4, a5),
                              ret)

    def _on_fallback(self, cpu, nr, a0, a1, a2, a3, a4, a5, ret) -> int:
        handler = self._fallback
        if self.kvm:
            handler = self._handlers.get(nr, handler)
        return self._dispatch(handler, cpu, nr, (a0, a1, a2, a3, a4, a5), ret)

    # -- reset requests and the after-guest-init moment ----------------------------

    def on_reset_request(self, handler: ResetHandler | None) -> None:
        """handler(cause) on every reset request (QEMU's ShutdownCause), on the
        requesting thread, before QEMU acts on it."""
        self._reset_handler = handler
        self.lib.set_penguin_reset_request_callback(
            self._reset_cb if handler else self.ffi.NULL, self.ffi.NULL)

    def on_guest_init(self, handler: GuestInitHandler | None) -> None:
        """handler(machine) once inside run(), with the BQL, after the devices exist and
        before the guest runs: the place to add MMIO regions. An exception stops
        start-up; QEMU then exits the process, so it is printed first."""
        self._guest_init_handler = handler
        self.lib.set_kvm_penguin_after_guest_init_callback(
            self._guest_init_cb if handler else self.ffi.NULL, self.ffi.NULL)

    def _on_reset(self, cause, opaque) -> None:
        handler = self._reset_handler
        if handler is None:
            return
        try:
            handler(int(cause))
        except BaseException as e:  # noqa: BLE001 - re-raised from run()
            self._record_error(e)

    def _on_guest_init(self, machine, opaque) -> int:
        handler = self._guest_init_handler
        if handler is None:
            return 0
        try:
            handler(machine)
        except BaseException as e:  # noqa: BLE001 - start-up ends here
            traceback.print_exc()
            self._record_error(e)
            return 1
        return 0

    def record_error(self, error: BaseException) -> None:
        """Keep the first error a handler raised, stop the VM; run() re-raises it."""
        self._record_error(error)

    def _record_error(self, error: BaseException) -> None:
        """Fail fast: keep the first error, stop the VM, re-raise it from run()."""
        with self._error_lock:
            if self._error is None:
                self._error = error
        self.stop()

    # -- registers and env ---------------------------------------------------------

    def read_reg_bytes(self, cpu, regnum: int) -> bytes:
        """The register's bytes; the buffer grows until the widest register fits."""
        size = REG_BUFFER
        while True:
            buf = self.ffi.new("uint8_t[]", size)
            n = self.lib.penguin_read_guest_reg(cpu, regnum, buf, size)
            if n != -errno.ENOSPC or size >= REG_BUFFER_MAX:
                break
            size *= 4
        self.check(n, f"reading register {regnum}")
        return bytes(buf[0:n])

    def read_reg(self, cpu, regnum: int) -> int:
        """Register regnum (GDB numbering), unsigned, decoded in guest byte order."""
        return int.from_bytes(self.read_reg_bytes(cpu, regnum), self.byteorder)

    def write_reg(self, cpu, regnum: int, value: int) -> None:
        width = len(self.read_reg_bytes(cpu, regnum))
        data = (value & ((1 << (8 * width)) - 1)).to_bytes(width, self.byteorder)
        n = self.lib.penguin_write_guest_reg(cpu, regnum, self.ffi.new("uint8_t[]", data),
                                             width)
        self.check(n, f"writing register {regnum}")

    def argument_registers(self, cpu) -> tuple[int, ...]:
        """GDB numbers of a0..a5 of the hypercall convention cpu is in now: x86 in
        32-bit code passes them in ebx ecx edx esi edi ebp, 64-bit code in rdi rsi
        rdx r10 r8 r9 (CONTRACT section 4)."""
        if self.family == "x86_64" and not self.cpu_env(cpu).hflags & X86_HF_CS64:
            return X86_ARGS32
        return tuple(regnum(self.family, name) for name in CONVENTIONS[self.family][1])

    def _address(self, addr: int) -> int:
        return addr & ((1 << self.bits) - 1)

    def read_memory(self, cpu, addr: int, size: int) -> bytes:
        """Guest-virtual memory through cpu's MMU, without faulting the guest."""
        buf = self.ffi.new("uint8_t[]", size)
        if self.lib.cpu_memory_rw_debug(cpu, self._address(addr), buf, size, False) < 0:
            raise QemuError(f"cannot read {size} bytes at {addr:#x}")
        return bytes(buf)

    def write_memory(self, cpu, addr: int, data: bytes) -> None:
        buf = self.ffi.new("uint8_t[]", data)
        if self.lib.cpu_memory_rw_debug(cpu, self._address(addr), buf, len(data), True) < 0:
            raise QemuError(f"cannot write {len(data)} bytes at {addr:#x}")

    def _env_module_ffi(self):
        if "module" not in self._env_ffi:
            path = self.install.env_module
            if path is None:
                raise QemuError(f"no compiled env module for {self.name}")
            spec = importlib.util.spec_from_file_location(path.name.split(".")[0], path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            self._env_ffi["module"] = module.ffi
        return self._env_ffi["module"]

    def _env_header_ffi(self):
        if "header" not in self._env_ffi:
            # Into the same FFI as the main header, as Penguin's shim does.
            self.ffi.cdef(self.install.env_header.read_text())
            self._env_ffi["header"] = self.ffi
        return self._env_ffi["header"]

    def env_ffi(self, via: str = "auto"):
        """The FFI that types CPUArchState.

        via="module": the compiled env module's; "header": this library's FFI with the
        ABI env header cdef'd into it; "auto": the module's, or the header's when the
        module is missing or does not load in this Python.
        """
        if via == "auto":
            try:
                return self._env_module_ffi()
            except (QemuError, ImportError):
                return self._env_header_ffi()
        if via == "module":
            return self._env_module_ffi()
        if via == "header":
            return self._env_header_ffi()
        raise ValueError(f"via must be auto, module or header, not {via!r}")

    def cpu_env(self, cpu, via: str = "auto"):
        """The typed CPUArchState * of cpu (see env_ffi for via).

        In kvm mode the registers live in KVM: penguin_sync_cpu_state fetches them
        first (and marks the vCPU dirty, so writes through the env go back to KVM).
        """
        if cpu == self.ffi.NULL:
            raise QemuError("cpu_env of a NULL CPU")
        if self.kvm:
            self.lib.penguin_sync_cpu_state(cpu)
        address = int(self.ffi.cast("uintptr_t", self.lib.penguin_cpu_env(cpu)))
        return self.env_ffi(via).cast("CPUArchState *", address)
