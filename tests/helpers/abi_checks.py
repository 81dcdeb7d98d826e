"""Child process: one check of the C ABI and the client (tests/test_abi.py).

usage: abi_checks.py CHECK ARGS...
  load-all PREFIX                 dlopen every target's library in this one process,
                                  printing each one's ABI version
  leak PREFIX NAME ROUNDS         set every callback pair ROUNDS times before qemu_init,
                                  printing the RSS before and after (KiB)
  run-twice PREFIX NAME -- ARGS   run a VM to its end, then try a second run
  registers PREFIX NAME -- ARGS   in hypercall handlers: the widest register through the
                                  client, a refused PC write, set_arg in each code size
Prints `RESULT <json>`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cffi

from penguin_qemu import Hypercall, Qemu, QemuError

NR_ARGS32, NR_ARGS64, NR_VERDICT = 0x50454E01, 0x50454E11, 0x50454E03
RET = 0xFEDCBA9876543210


def rss_kib() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def load_all(prefix: Path) -> dict:
    versions = {}
    ffi = cffi.FFI()
    ffi.cdef("uint32_t penguin_abi_version(void);")
    for lib in sorted((prefix / "lib").glob("libqemu-system-*.so")):
        if lib.is_symlink():
            continue
        handle = ffi.dlopen(str(lib), os.RTLD_NOW | os.RTLD_GLOBAL)
        versions[lib.name] = handle.penguin_abi_version()
    return {"versions": versions}


def leak(prefix: Path, name: str, rounds: int) -> dict:
    qemu = Qemu(name, prefix=prefix)
    ffi, lib = qemu.ffi, qemu.lib
    keep = [ffi.callback("penguin_reset_request_cb_t", lambda c, o: None),
            ffi.callback("penguin_snapshot_done_cb_t", lambda *a: None),
            ffi.callback("penguin_qmp_cb_t", lambda *a: False),
            ffi.callback("penguin_qmp_handler_cb_t", lambda *a: 0),
            ffi.callback("kvm_penguin_after_guest_init_cb_t", lambda m, o: 0)]
    setters = [lib.set_penguin_reset_request_callback,
               lib.set_penguin_snapshot_done_callback,
               lib.set_penguin_qmp_callback, lib.set_penguin_qmp_handler,
               lib.set_kvm_penguin_after_guest_init_callback]
    for i in range(rounds // 10):       # warm up the allocator first
        for setter, cb in zip(setters, keep):
            setter(cb, ffi.cast("void *", i))
    before = rss_kib()
    for i in range(rounds):
        for setter, cb in zip(setters, keep):
            setter(cb, ffi.cast("void *", i))
    return {"before": before, "after": rss_kib()}


def run_twice(prefix: Path, name: str, args: list[str]) -> dict:
    qemu = Qemu(name, prefix=prefix)

    def verdict(call: Hypercall) -> int:
        qemu.stop()
        return 0
    qemu.on_hypercall(NR_VERDICT, verdict)
    qemu.on_unregistered(lambda call: 0)
    first = qemu.run(args)
    try:
        qemu.run(args)
        second = "returned"
    except QemuError as e:
        second = str(e)
    return {"first": first, "second": second}


def registers(prefix: Path, name: str, args: list[str]) -> dict:
    """x86: set_arg in 32- and 64-bit code; aarch64 -cpu max: SVE and the PC."""
    qemu = Qemu(name, prefix=prefix)
    seen: dict = {}

    def widest(call: Hypercall) -> None:
        buf = qemu.ffi.new("uint8_t[]", 4096)
        widths = {}
        for n in range(512):
            width = qemu.lib.penguin_read_guest_reg(call.cpu, n, buf, 4096)
            if width > 0:
                widths[n] = width
        regnum = max(widths, key=widths.get)
        seen["widest"] = [regnum, widths[regnum],
                          len(qemu.read_reg_bytes(call.cpu, regnum))]

    def pc_write(call: Hypercall) -> None:
        pc = call.read_reg("pc")
        try:
            call.write_reg("pc", pc + 4)
            seen["pc_write"] = "accepted"
        except QemuError as e:
            seen["pc_write"] = str(e)
        seen["pc_after"] = [pc, call.read_reg("pc")]

    def set_arg(call: Hypercall, size: str) -> None:
        before = {n: call.read_reg(n) for n in range(16)}
        call.set_arg(0, 0x1234)
        after = {n: call.read_reg(n) for n in range(16)}
        seen[f"set_arg{size}"] = sorted(n for n in range(16) if before[n] != after[n])
        call.set_arg(0, before[qemu.argument_registers(call.cpu)[0]])

    def args32(call: Hypercall) -> int:
        if "set_arg32" not in seen:
            set_arg(call, "32")
        return RET

    def args64(call: Hypercall) -> int:
        if qemu.family == "x86_64" and "set_arg64" not in seen:
            set_arg(call, "64")
        elif qemu.family == "aarch64" and "widest" not in seen:
            widest(call)
            pc_write(call)
        return RET

    def verdict(call: Hypercall) -> int:
        seen["verdict"] = call.args[0]
        qemu.stop()
        return 0

    qemu.on_hypercall(NR_ARGS32, args32)
    qemu.on_hypercall(NR_ARGS64, args64)
    qemu.on_hypercall(NR_VERDICT, verdict)
    qemu.on_unregistered(lambda call: 0)
    qemu.run(args)
    return seen


def main() -> int:
    check, prefix = sys.argv[1], Path(sys.argv[2])
    rest = sys.argv[3:]
    args = rest[rest.index("--") + 1:] if "--" in rest else []
    if check == "load-all":
        result = load_all(prefix)
    elif check == "leak":
        result = leak(prefix, rest[0], int(rest[1]))
    elif check == "run-twice":
        result = run_twice(prefix, rest[0], args)
    else:
        result = registers(prefix, rest[0], args)
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
