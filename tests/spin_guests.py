"""A minimal guest per QEMU target: one branch-to-self loop, loaded without firmware.

The lifecycle tests need a machine that starts and runs until the host stops it;
what runs does not matter. Images are written by Python (a raw image or a one-segment
ELF), so these tests need no cross tools. Machines are Penguin's (CONTRACT section 2).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

EM_MIPS, EM_PPC = 8, 20


@dataclass(frozen=True)
class SpinGuest:
    machine: list[str]        # -M/-cpu arguments
    loop: bytes               # the loop, already in guest byte order
    load: str                 # "-kernel", "-bios" or "-bios-64k" (x86 reset vector image)
    elf: tuple | None = None  # (bits, endian, e_machine, address) when an ELF is needed


def _w(fmt: str, *words: int) -> bytes:
    return struct.pack(fmt, *words)


GUESTS = {
    "arm": SpinGuest(["-M", "virt"], _w("<I", 0xeafffffe), "-kernel"),
    "aarch64": SpinGuest(["-M", "virt", "-cpu", "cortex-a57"], _w("<I", 0x14000000),
                         "-kernel"),
    # beq $0,$0,. with its delay-slot nop
    "mips": SpinGuest(["-M", "malta"], _w(">II", 0x1000ffff, 0), "-kernel",
                      (32, "be", EM_MIPS, 0x80100000)),
    "mipsel": SpinGuest(["-M", "malta"], _w("<II", 0x1000ffff, 0), "-kernel",
                        (32, "le", EM_MIPS, 0x80100000)),
    "mips64": SpinGuest(["-M", "malta", "-cpu", "MIPS64R2-generic"],
                        _w(">II", 0x1000ffff, 0), "-kernel",
                        (64, "be", EM_MIPS, 0xffffffff80100000)),
    "mips64el": SpinGuest(["-M", "malta", "-cpu", "MIPS64R2-generic"],
                          _w("<II", 0x1000ffff, 0), "-kernel",
                          (64, "le", EM_MIPS, 0xffffffff80100000)),
    "ppc": SpinGuest(["-M", "ppce500"], _w(">I", 0x48000000), "-kernel",
                     (32, "be", EM_PPC, 0x100000)),
    # pseries loads -bios at address 0 and enters it big-endian in real mode.
    "ppc64": SpinGuest(["-M", "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,"
                        "cap-ccf-assist=off", "-cpu", "power9"], _w(">I", 0x48000000),
                       "-bios"),
    "riscv64": SpinGuest(["-M", "virt", "-bios", "none"], _w("<I", 0x0000006f), "-kernel"),
    "loongarch64": SpinGuest(["-M", "virt", "-cpu", "la464"], _w("<I", 0x50000000),
                             "-bios"),
    # cli; hlt; jmp back to the hlt, at the reset vector f000:fff0 of a 64 KiB image
    "x86_64": SpinGuest(["-M", "pc", "-nodefaults"], bytes([0xfa, 0xf4, 0xeb, 0xfd]),
                        "-bios-64k"),
}


def elf_image(bits: int, endian: str, machine: int, addr: int, code: bytes) -> bytes:
    """A static ELF executable with one PT_LOAD segment holding code at addr."""
    e = "<" if endian == "le" else ">"
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if endian == "le" else 2, 1])
    ident += bytes(16 - len(ident))
    if bits == 32:
        ehsize, phsize = 52, 32
        off = ehsize + phsize
        header = ident + struct.pack(e + "HHIIIIIHHHHHH", 2, machine, 1, addr, ehsize, 0, 0,
                                     ehsize, phsize, 1, 40, 0, 0)
        phdr = struct.pack(e + "IIIIIIII", 1, off, addr, addr, len(code), len(code), 5, 4)
    else:
        ehsize, phsize = 64, 56
        off = ehsize + phsize
        header = ident + struct.pack(e + "HHIQQQIHHHHHH", 2, machine, 1, addr, ehsize, 0, 0,
                                     ehsize, phsize, 1, 64, 0, 0)
        phdr = struct.pack(e + "IIQQQQQQ", 1, 5, off, addr, addr, len(code), len(code), 4)
    return header + phdr + code


def qemu_args(target: str, workdir: Path) -> list[str]:
    """The argv (without argv[0]) that boots target's spin guest, images in workdir."""
    guest = GUESTS[target]
    image = workdir / f"spin-{target}.img"
    if guest.elf:
        image.write_bytes(elf_image(*guest.elf, guest.loop * 16))
    elif guest.load == "-bios-64k":
        rom = bytearray(0x10000)
        rom[0xfff0:0xfff0 + len(guest.loop)] = guest.loop
        image.write_bytes(bytes(rom))
    else:
        image.write_bytes(guest.loop * 16)
    load = "-bios" if guest.load == "-bios-64k" else guest.load
    # -nodefaults: the boards' default NICs and VGA want option ROMs (Debian's ipxe and
    # vgabios) that the packaged share/qemu provides, not the build tree.
    return [*guest.machine, load, str(image), "-nodefaults", "-display", "none",
            "-monitor", "none", "-serial", "none", "-m", "256"]
