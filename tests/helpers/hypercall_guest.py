"""Child process: boot a hypercall test guest and play the host side of PROTOCOL.md.

usage: hypercall_guest.py SPEC-JSON
SPEC: {"library", "name", "result", "args": [qemu args],
       "registers": {"pc", "args", "env_pc", "env_args"} (GDB numbers, env fields)}
Writes what the host saw as JSON to SPEC["result"] after the VM stopped (not to stdout:
QEMU's stdio chardev, if the guest's serial uses it, is closed by qemu_cleanup).
"""

from __future__ import annotations

import json
import re
import sys
import threading

from penguin_qemu import Qemu, QemuError
from penguin_qemu.hypercall import NOT_HANDLED, Hypercall

NR_ARGS32, NR_ARGS64 = 0x50454E01, 0x50454E11
NR_WRITE, NR_VERDICT, NR_UNREG, NR_NEARMISS = 0x50454E02, 0x50454E03, 0x50454E04, 0x50454E05
NR_STATE, NR_USER = 0x50454E06, 0x50454E07
RET = 0xFEDCBA9876543210
WVAL = 0x5A5A5A5A5A5A5A5A
STATE_REG, STATE_MODULE = 0x0A0A0A0A0A0A0A0A, 0x0B0B0B0B0B0B0B0B
STATE_HEADER = 0x0C0C0C0C0C0C0C0C


def _walk(env, path: str):
    """(parent cdata, last component) of a field path like active_tc.gpr[4]."""
    parts = re.findall(r"(\w+)(?:\[(\d+)\])?", path)
    obj = env
    for name, index in parts[:-1]:
        obj = getattr(obj, name)
        if index:
            obj = obj[int(index)]
    return obj, parts[-1]


def get_field(env, path: str) -> int:
    obj, (name, index) = _walk(env, path)
    value = getattr(obj, name)
    return int(value[int(index)] if index else value)


def set_field(ffi, env, path: str, value: int) -> None:
    """Store value truncated to the field's width (uint32_t registers on 32-bit CPUs)."""
    obj, (name, index) = _walk(env, path)
    if index:
        array = getattr(obj, name)
        array[int(index)] = value & ((1 << (8 * ffi.sizeof(ffi.typeof(array).item))) - 1)
    else:
        fields = dict(ffi.typeof(obj).item.fields)
        setattr(obj, name, value & ((1 << (8 * ffi.sizeof(fields[name].type))) - 1))


def main() -> int:
    spec = json.loads(sys.argv[1])
    qemu = Qemu(spec["name"], library=spec.get("library"), prefix=spec.get("prefix"))
    # "module" and "header" read through each path; "auto" as Penguin does: the compiled
    # module when it loads, else the ABI header.
    module_via, header_via = ("auto", "auto") if spec.get("env") == "auto" else ("module",
                                                                                 "header")
    regs = spec["registers"]
    seen: dict = {"args": [], "write": 0, "unregistered": [], "nearmiss": 0,
                  "verdict": None, "state": [], "user": []}
    lock = threading.Lock()

    def args_call(call: Hypercall) -> int:
        with lock:
            seen["args"].append([call.nr, *call.args])
        return RET

    def write_call(call: Hypercall) -> int:
        with lock:
            seen["write"] += 1
        call.write_reg(regs["args"][3], WVAL)
        return 0x1234

    def probe_bad_inputs(call: Hypercall) -> dict:
        """Each bad input of CONTRACT section 5 and its return; nothing may change."""
        ffi, lib, cpu, NULL = qemu.ffi, qemu.lib, call.cpu, qemu.ffi.NULL
        reg = regs["args"][1]
        before = call.read_reg(reg)
        width = lib.penguin_read_guest_reg(cpu, reg, ffi.new("uint8_t[]", 64), 64)
        buf = ffi.new("uint8_t[]", [0xAA] * 64)
        good = ffi.new("uint8_t[]", [0x77] * 64)
        probes = {
            "read_null_cpu": lib.penguin_read_guest_reg(NULL, reg, buf, 64),
            "read_null_buf": lib.penguin_read_guest_reg(cpu, reg, NULL, 64),
            "read_negative_reg": lib.penguin_read_guest_reg(cpu, -1, buf, 64),
            "read_huge_reg": lib.penguin_read_guest_reg(cpu, 100000, buf, 64),
            "read_short_buf": lib.penguin_read_guest_reg(cpu, reg, buf, width - 1),
            "read_zero_len": lib.penguin_read_guest_reg(cpu, reg, buf, 0),
            "write_null_cpu": lib.penguin_write_guest_reg(NULL, reg, good, width),
            "write_null_buf": lib.penguin_write_guest_reg(cpu, reg, NULL, width),
            "write_negative_reg": lib.penguin_write_guest_reg(cpu, -1, good, width),
            "write_huge_reg": lib.penguin_write_guest_reg(cpu, 100000, good, width),
            "write_zero_len": lib.penguin_write_guest_reg(cpu, reg, good, 0),
            "write_short_len": lib.penguin_write_guest_reg(cpu, reg, good, width - 1),
            "write_long_len": lib.penguin_write_guest_reg(cpu, reg, good, width + 1),
        }
        probes["buf_untouched"] = bytes(buf) == b"\xaa" * 64
        probes["reg_untouched"] = call.read_reg(reg) == before
        probes["env_of_null"] = lib.penguin_cpu_env(NULL) == NULL
        lib.penguin_sync_cpu_state(NULL)
        ret = ffi.new("uint64_t *", 5)
        probes["dispatch_null_cpu"] = bool(lib.penguin_handle_guest_hypercall(
            NULL, 0xDEAD, 1, 2, 3, 4, 5, 6, ret))
        probes["dispatch_null_ret"] = bool(lib.penguin_handle_guest_hypercall(
            cpu, 0xDEAD, 1, 2, 3, 4, 5, 6, NULL))
        return probes

    def memory_hex(call: Hypercall, addr: int, size: int) -> str | None:
        """Guest memory at addr, or None where it does not translate (the guest SDK's
        guests pass a plain value in a0)."""
        try:
            return qemu.read_memory(call.cpu, addr, size).hex()
        except QemuError:
            return None

    def state_call(call: Hypercall) -> int:
        if spec.get("probe_bad_inputs"):
            probes = probe_bad_inputs(call)  # not under the lock: it reaches the fallback
            with lock:
                seen["bad_inputs"] = probes
        by_module = qemu.cpu_env(call.cpu, via=module_via)
        by_header = qemu.cpu_env(call.cpu, via=header_via)
        seen["env_auto"] = "header" if qemu.env_ffi("auto") is qemu.ffi else "module"
        observed = {
            "args": list(call.args),
            "pc_reg": call.read_reg(regs["pc"]),
            "args_reg": [call.read_reg(r) for r in regs["args"]],
            "pc_module": get_field(by_module, regs["env_pc"]),
            "pc_header": get_field(by_header, regs["env_pc"]),
            "args_module": [get_field(by_module, f) for f in regs["env_args"]],
            "args_header": [get_field(by_header, f) for f in regs["env_args"]],
            # tests/guests pass the sentinel's address in a0: memory there holds it.
            "sentinel_memory": memory_hex(call, call.args[0], 4),
        }
        with lock:
            seen["state"].append(observed)
        call.write_reg(regs["args"][4], STATE_REG)
        set_field(qemu.env_ffi(module_via), by_module, regs["env_args"][5], STATE_MODULE)
        set_field(qemu.env_ffi(header_via), by_header, regs["env_args"][2], STATE_HEADER)
        return 0x5354

    def user_call(call: Hypercall) -> int:
        with lock:
            seen["user"].append([call.nr, *call.args])
        return RET

    def verdict_call(call: Hypercall) -> int:
        with lock:
            seen["verdict"] = call.args[0]
        qemu.stop()
        return 0

    def nearmiss_call(call: Hypercall) -> int:
        with lock:
            seen["nearmiss"] += 1
        return 0

    def unregistered(call: Hypercall):
        with lock:
            seen["unregistered"].append([call.nr, *call.args])
        return NOT_HANDLED

    qemu.on_hypercall(NR_ARGS32, args_call)
    qemu.on_hypercall(NR_ARGS64, args_call)
    qemu.on_hypercall(NR_WRITE, write_call)
    qemu.on_hypercall(NR_VERDICT, verdict_call)
    qemu.on_hypercall(NR_NEARMISS, nearmiss_call)
    qemu.on_hypercall(NR_STATE, state_call)
    qemu.on_hypercall(NR_USER, user_call)
    qemu.on_unregistered(unregistered)
    status = qemu.run(spec["args"])
    with open(spec["result"], "w") as f:
        json.dump(dict(seen, status=status), f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
