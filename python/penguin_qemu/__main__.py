"""python3 -m penguin_qemu --arch NAME [options] -- QEMU-ARGS...

Run a guest through libqemu-system-NAME.so and print every hypercall it makes (number,
six arguments, and what the host answered), for people who want to see what their
firmware's driver does. By default no hypercall is handled, so the guest runs as it
would with nobody listening.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from . import NOT_HANDLED, Hypercall, Qemu, QemuError


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python3 -m penguin_qemu",
                                description=__doc__.split("\n\n")[1].replace("\n", " "))
    p.add_argument("--arch", required=True, help="Penguin architecture name, e.g. mipsel")
    p.add_argument("--prefix", type=Path, help="install prefix (default /usr/local)")
    p.add_argument("--reply", type=lambda v: int(v, 0),
                   help="handle every hypercall, returning this value")
    p.add_argument("--stop-on", type=lambda v: int(v, 0), action="append", default=[],
                   help="stop the VM after a hypercall with this number (repeatable)")
    p.add_argument("qemu_args", nargs=argparse.REMAINDER, help="-- then QEMU's arguments")
    args = p.parse_args(argv)
    if args.qemu_args[:1] == ["--"]:
        args.qemu_args = args.qemu_args[1:]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        qemu = Qemu(args.arch, prefix=args.prefix)
    except QemuError as e:
        print(f"penguin_qemu: error: {e}", file=sys.stderr)
        return 2
    lock = threading.Lock()

    def show(call: Hypercall):
        answer = NOT_HANDLED if args.reply is None else args.reply
        shown = "not handled" if answer is NOT_HANDLED else f"{answer:#x}"
        with lock:
            values = ",".join(f"{a:#x}" for a in call.args)
            print(f"hypercall nr={call.nr:#x} args={values} -> {shown}", flush=True)
        if call.nr in args.stop_on:
            qemu.stop()
        return answer

    qemu.on_unregistered(show)
    signal.signal(signal.SIGINT, lambda *_: qemu.stop())
    return qemu.run(args.qemu_args)


if __name__ == "__main__":
    sys.exit(main())
