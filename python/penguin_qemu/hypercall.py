"""Hypercall handlers: what a handler gets, and how a 32-bit guest's number arrives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from .registers import regnum

if TYPE_CHECKING:
    from .qemu import Qemu

MASK64 = (1 << 64) - 1


class NotHandled:
    """Return NOT_HANDLED from a handler to leave the guest's registers untouched."""

    def __repr__(self) -> str:
        return "NOT_HANDLED"


NOT_HANDLED = NotHandled()


@dataclass
class Hypercall:
    """One hypercall as the guest made it; valid only while its handler runs."""

    qemu: "Qemu"
    cpu: Any                      # CPUState * (cffi pointer)
    nr: int
    args: tuple[int, ...]
    retval: int | None = field(default=None)

    # -- registers, by GDB number or by name ---------------------------------------

    def read_reg(self, reg: int | str) -> int:
        """The live register, unsigned, decoded in guest byte order."""
        return self.qemu.read_reg(self.cpu, self._regnum(reg))

    def write_reg(self, reg: int | str, value: int) -> None:
        self.qemu.write_reg(self.cpu, self._regnum(reg), value)

    def set_arg(self, index: int, value: int) -> None:
        """Write argument index (0..5) of the hypercall convention the CPU is in
        through to the guest (x86: the 32-bit one in 32-bit code)."""
        if not 0 <= index < 6:
            raise IndexError(f"hypercall argument {index}: there are six, 0..5")
        self.write_reg(self.qemu.argument_registers(self.cpu)[index], value)

    def _regnum(self, reg: int | str) -> int:
        return reg if isinstance(reg, int) else regnum(self.qemu.family, reg)

    # -- memory ------------------------------------------------------------------

    def read_memory(self, addr: int, size: int, fmt: str | None = None) -> bytes | int:
        """Guest-virtual memory; fmt="int" decodes unsigned in guest byte order."""
        data = self.qemu.read_memory(self.cpu, addr, size)
        return int.from_bytes(data, self.qemu.byteorder) if fmt == "int" else data

    def write_memory(self, addr: int, data: bytes | int, size: int | None = None) -> None:
        if isinstance(data, int):
            data = (data & ((1 << (8 * (size or self.qemu.bits // 8))) - 1)).to_bytes(
                size or self.qemu.bits // 8, self.qemu.byteorder)
        self.qemu.write_memory(self.cpu, addr, data)

    # -- the return value --------------------------------------------------------

    def set_retval(self, value: int, convention: str = "default",
                   failure: bool = False) -> None:
        """The value for the return register. With convention="syscall" on MIPS the
        a3 error flag is written too (1 on failure), and a negative failure value is
        negated, as the MIPS Linux syscall convention wants."""
        if convention == "syscall" and self.qemu.family in ("mips", "mips64"):
            self.write_reg("a3", 1 if failure else 0)
            if failure and _signed(value, self.qemu.bits) < 0:
                value = -_signed(value, self.qemu.bits)
        self.retval = value & MASK64


Handler = Callable[[Hypercall], Any]


def _signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def spellings(nr: int, bits: int) -> set[int]:
    """The 64-bit values a guest may produce for nr: a 32-bit guest's number can
    arrive zero- or sign-extended, so both are registered."""
    nr &= MASK64
    out = {nr}
    if bits == 32 or nr >> 32 in (0, 0xffffffff):
        low = nr & 0xffffffff
        out.add(low)
        out.add(low | 0xffffffff00000000 if low & 0x80000000 else low)
    return out
