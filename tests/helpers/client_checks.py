"""Child process: client behaviour inside a real guest (tests/test_client.py).

usage: client_checks.py CHECK LIBRARY NAME -- QEMU-ARGS...
CHECK "names": at the guest's NR_STATE hypercall, write and read back every general
register by name, restoring each; prints NAMES-OK or NAMES-BAD <json>.
CHECK "fail-fast": the NR_ARGS* handler raises; prints RAISED <type> <message> when
run() re-raises it. CHECK "not-an-int": the handler returns 1.5; the same, with the
TypeError the wrapper raises for it.
"""

from __future__ import annotations

import json
import sys

from penguin_qemu import Hypercall, Qemu
from penguin_qemu.registers import FAMILIES

NR_ARGS32, NR_ARGS64, NR_STATE, NR_VERDICT = 0x50454E01, 0x50454E11, 0x50454E06, 0x50454E03
SPECIAL = {"pc", "nip", "rip", "cpsr", "eflags", "msr", "cr", "xer", "sr", "cause",
           "badvaddr", "lo", "hi", "ctr"}


def names_check(qemu: Qemu, bad: dict[str, str], checked: list[str]) -> None:
    pattern = 0x0123456789ABCDEF & ((1 << qemu.bits) - 1)

    def state(call: Hypercall) -> int:
        pc = FAMILIES[qemu.family]["pc"]
        for name, num in FAMILIES[qemu.family].items():
            # The PC cannot be moved from a callback under TCG (tests/test_abi.py).
            if name in SPECIAL or num == pc or (
                    num == 0
                    and qemu.family in ("mips", "mips64", "riscv64", "loongarch64")):
                continue
            before = call.read_reg(name)
            call.write_reg(name, pattern ^ num)
            got = call.read_reg(name)
            call.write_reg(name, before)
            if got != pattern ^ num or call.read_reg(name) != before:
                bad[name] = f"wrote {pattern ^ num:#x} read {got:#x}"
            checked.append(name)
        qemu.stop()
        return 0x5354

    qemu.on_hypercall(NR_STATE, state)
    qemu.on_hypercall(NR_VERDICT, lambda call: qemu.stop())


def memory_check(qemu: Qemu, seen: dict, scratch: int) -> None:
    """At NR_STATE (a0 = the sentinel's address): read the sentinel's word as an int,
    write and read back scratch RAM, and set a syscall-convention failure value."""

    def state(call: Hypercall) -> None:
        seen["sentinel_word"] = call.read_memory(call.args[0], 4, fmt="int")
        call.write_memory(scratch, 0x1122334455667788, size=8)
        seen["scratch_bytes"] = call.read_memory(scratch, 8).hex()
        seen["scratch_int"] = call.read_memory(scratch, 8, fmt="int")
        try:
            call.read_memory(0xFFFFF000 if qemu.bits == 32 else 0xFFFF_FFFF_FFFF_F000, 16)
        except Exception as e:  # noqa: BLE001 - the message is what is checked
            seen["unmapped"] = f"{type(e).__name__}: {e}"
        call.set_retval(-2, convention="syscall", failure=True)
        seen["retval"] = call.retval
        if qemu.family in ("mips", "mips64"):
            seen["a3"] = call.read_reg("a3")
        qemu.stop()
        return None

    qemu.on_hypercall(NR_STATE, state)


def raised(qemu: Qemu, error: type[BaseException]) -> int:
    """Run the guest; print RAISED <type> <message> if run() re-raises error."""
    try:
        qemu.run(sys.argv[5:])
    except error as e:
        print(f"RAISED {error.__name__} {e}", flush=True)
        return 0
    print("NOT-RAISED", flush=True)
    return 1


def main() -> int:
    check, library, name = sys.argv[1:4]
    qemu = Qemu(name, library=library)
    if check != "memory":
        sys.argv[4:] = sys.argv[sys.argv.index("--"):]
    if check == "names":
        bad: dict[str, str] = {}
        checked: list[str] = []
        names_check(qemu, bad, checked)
        qemu.run(sys.argv[5:])
        if bad or not checked:
            print(f"NAMES-BAD {json.dumps(bad)} checked {len(checked)}", flush=True)
        else:
            print(f"NAMES-OK {len(checked)} names", flush=True)
        return 0
    if check == "memory":
        seen: dict = {}
        memory_check(qemu, seen, int(sys.argv[4], 0) if sys.argv[4] != "--" else 0)
        qemu.run(sys.argv[sys.argv.index("--") + 1:])
        print("MEMORY " + json.dumps(seen), flush=True)
        return 0
    if check == "fail-fast":
        def boom(call: Hypercall) -> int:
            raise ValueError(f"handler failed on {call.nr:#x}")
        qemu.on_hypercall(NR_ARGS32, boom)
        qemu.on_hypercall(NR_ARGS64, boom)
        return raised(qemu, ValueError)
    if check == "not-an-int":
        qemu.on_hypercall(NR_ARGS64, lambda call: 1.5)
        return raised(qemu, TypeError)
    raise SystemExit(f"unknown check {check}")


if __name__ == "__main__":
    sys.exit(main())
