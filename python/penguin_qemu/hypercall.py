"""Hypercall handlers: what a handler gets, and the dispatch from the C callbacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

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

    def read_reg(self, regnum: int) -> int:
        """The live register by GDB number, unsigned, decoded in guest byte order."""
        return self.qemu.read_reg(self.cpu, regnum)

    def write_reg(self, regnum: int, value: int) -> None:
        self.qemu.write_reg(self.cpu, regnum, value)


Handler = Callable[[Hypercall], Any]


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
