"""Child process: client behaviour inside a real guest (tests/test_client.py).

usage: client_checks.py CHECK LIBRARY NAME -- QEMU-ARGS...
CHECK "names": at the guest's NR_STATE hypercall, write and read back every general
register by name, restoring each; prints NAMES-OK or NAMES-BAD <json>.
CHECK "fail-fast": the NR_ARGS* handler raises; prints RAISED <type> <message> when
run() re-raises it.
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
        for name, num in FAMILIES[qemu.family].items():
            if name in SPECIAL or (num == 0 and qemu.family in ("mips", "mips64", "riscv64",
                                                                "loongarch64")):
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


def main() -> int:
    check, library, name = sys.argv[1:4]
    qemu = Qemu(name, library=library)
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
    if check == "fail-fast":
        def boom(call: Hypercall) -> int:
            raise ValueError(f"handler failed on {call.nr:#x}")
        qemu.on_hypercall(NR_ARGS32, boom)
        qemu.on_hypercall(NR_ARGS64, boom)
        try:
            qemu.run(sys.argv[5:])
        except ValueError as e:
            print(f"RAISED ValueError {e}", flush=True)
            return 0
        print("NOT-RAISED", flush=True)
        return 1
    raise SystemExit(f"unknown check {check}")


if __name__ == "__main__":
    sys.exit(main())
