"""Every register of a vCPU by GDB number, read through penguin_read_guest_reg (a module
the child processes share: tests/helpers/fastsnap_guest.py, fastsnap_argv.py).

The numbers a target has are found once by scanning: they are dense, and the scan goes
REG_SCAN_GAP past the last readable one. Values are hex strings of the register's bytes
in guest order, so that results go to JSON as they are."""

from __future__ import annotations

import time

from penguin_qemu import Qemu
from penguin_qemu.qemu import REG_BUFFER_MAX

REG_SCAN_GAP = 256        # GDB numbers past the last readable one before the scan stops
CLOCK_WAIT = 0.02         # s a vCPU stands still to tell clocks from registers


class GuestRegisters:
    def __init__(self, qemu: Qemu) -> None:
        self.qemu = qemu
        self.regnums: list[int] | None = None
        self.buf = qemu.ffi.new("uint8_t[]", REG_BUFFER_MAX)

    def read_one(self, cpu, regnum: int) -> bytes | None:
        n = self.qemu.lib.penguin_read_guest_reg(cpu, regnum, self.buf, REG_BUFFER_MAX)
        return self.qemu.ffi.buffer(self.buf, n)[:] if n > 0 else None

    def read(self, cpu) -> dict[int, str]:
        """Every register of cpu (its vCPU thread, or the VM paused), as hex."""
        if self.regnums is None:
            found, regnum = [], 0
            self.qemu.lib.penguin_set_error_printing(False)   # the misses are expected
            while not found or regnum <= found[-1] + REG_SCAN_GAP:
                if self.read_one(cpu, regnum) is not None:
                    found.append(regnum)
                regnum += 1
            self.qemu.lib.penguin_set_error_printing(True)
            self.regnums = found
        return {n: (self.read_one(cpu, n) or b"").hex() for n in self.regnums}

    def find_clocks(self, cpu) -> list[int]:
        """Registers that change while the vCPU stands still in a hypercall (the VM
        running): time bases and cycle counters, which follow the virtual clock."""
        self.read(cpu)
        first = {n: self.read_one(cpu, n) for n in self.regnums}
        time.sleep(CLOCK_WAIT)
        return [n for n in self.regnums if self.read_one(cpu, n) != first[n]]
