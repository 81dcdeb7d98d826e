"""Child process: start a VM through the library, stop it from another thread.

usage: lifecycle.py LIBRARY NAME [--stop-after SECONDS] -- QEMU-ARGS...
Prints LIFECYCLE-INIT-DONE once qemu_init returned and LIFECYCLE-RETURNED status=N once
qemu_main_loop and qemu_cleanup have both returned.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from penguin_qemu import Qemu


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("library", type=Path)
    p.add_argument("name")
    p.add_argument("--stop-after", type=float, default=0.5)
    p.add_argument("qemu_args", nargs="*")
    args = p.parse_args()
    qemu = Qemu(args.name, library=args.library)

    def stopper() -> None:
        if qemu.wait_started(timeout=60):
            print("LIFECYCLE-INIT-DONE", flush=True)
            time.sleep(args.stop_after)
            print("LIFECYCLE-STOP-REQUESTED", flush=True)
            qemu.stop()

    threading.Thread(target=stopper, daemon=True).start()
    status = qemu.run(args.qemu_args)
    print(f"LIFECYCLE-RETURNED status={status}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
