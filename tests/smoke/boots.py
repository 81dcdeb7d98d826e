"""How each architecture smoke-boots: the machine Penguin uses (CONTRACT section 2), the
kernel's console, and how the init program is compiled for its user space."""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT_DIR = REPO / "_build" / "smoke"

# What the init program passes and what the host answers (tests/smoke/init.c).
SMOKE_NR = 0x50454E53
RETURN64 = 0xC0DEC0DE5AFE0001
RETURN32 = 0xC0DEC0DE

# Malta's default VGA and NIC want option ROMs no Penguin boot needs.
MALTA = ["-M", "malta", "-m", "256", "-vga", "none", "-nic", "none"]
PSERIES = ["-M", "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off",
           "-cpu", "power9", "-m", "1024"]

CFLAGS = ["-O2", "-std=gnu99", "-Wall", "-Wextra", "-Werror", "-ffreestanding", "-nostdlib",
          "-static", "-fno-pic", "-fno-pie", "-fno-stack-protector",
          "-fno-asynchronous-unwind-tables", "-Wl,--build-id=none", "-Wl,-e,_start"]
MIPS = ["-mno-abicalls", "-G0"]


@dataclass(frozen=True)
class SmokeArch:
    name: str                # Penguin architecture = library name
    bits: int
    machine: list[str]
    console: str             # the kernel's console device
    cc: list[str]            # compiler and target flags for the init program
    append: tuple[str, ...] = ()

    def answer(self) -> int:
        return RETURN64 if self.bits == 64 else RETURN32

    def args(self) -> list[int]:
        """The six arguments init.c passes (SMOKE_ARG)."""
        unit = 0x0101010101010101 if self.bits == 64 else 0x01010101
        return [unit * (0x10 + i) for i in range(6)]

    def cmdline(self) -> str:
        return " ".join([f"console={self.console}", "panic=-1", *self.append])

    def build_init(self, include_dir: Path, bench: bool = False, vsock: bool = False) -> Path:
        """Compile init.c against the SDK header under include_dir; cached by content.
        The bench build makes no hypercall and powers the machine off at the end; the
        vsock build goes on to vsock-echo.c's echo rounds."""
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        header = include_dir / "penguin-qemu" / "guest" / "penguin-hypercall.h"
        variant = "-bench" if bench else "-vsock" if vsock else ""
        out = OUT_DIR / f"init-{self.name}{variant}"
        sources = [HERE / "init.c", *([HERE / "vsock-echo.c"] if vsock else [])]
        cmd = [*self.cc, *CFLAGS, *(["-DSMOKE_BENCH"] if bench else []),
               *(["-DSMOKE_VSOCK"] if vsock else []),
               f"-I{include_dir}", "-o", str(out), *map(str, sources)]
        inputs = [header, *sources, HERE / "linux-syscall.h", HERE / "vsock-echo.h"]
        digest = hashlib.sha256(b"\0".join([*(f.read_bytes() for f in inputs),
                                            " ".join(cmd).encode()])).hexdigest()
        stamp = out.with_suffix(".stamp")
        if out.exists() and stamp.exists() and stamp.read_text() == digest:
            return out
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"compiling the {self.name} init failed:\n{' '.join(cmd)}\n"
                               f"{result.stdout}{result.stderr}")
        stamp.write_text(digest)
        return out


ARCHES = [
    SmokeArch("armel", 32, ["-M", "virt", "-m", "512"], "ttyAMA0",
              ["arm-linux-gnueabi-gcc", "-marm"]),
    SmokeArch("aarch64", 64, ["-M", "virt", "-cpu", "cortex-a57", "-m", "512"], "ttyAMA0",
              ["aarch64-linux-gnu-gcc"]),
    SmokeArch("mipsel", 32, MALTA, "ttyS0", ["mipsel-linux-gnu-gcc", "-mabi=32", *MIPS]),
    SmokeArch("mipseb", 32, MALTA, "ttyS0", ["mips-linux-gnu-gcc", "-mabi=32", *MIPS]),
    SmokeArch("mips64el", 64, [*MALTA, "-cpu", "MIPS64R2-generic"], "ttyS0",
              ["mips64el-linux-gnuabi64-gcc", "-mabi=64", *MIPS]),
    SmokeArch("mips64eb", 64, [*MALTA, "-cpu", "MIPS64R2-generic"], "ttyS0",
              ["mips64-linux-gnuabi64-gcc", "-mabi=64", *MIPS]),
    SmokeArch("powerpc64", 64, PSERIES, "hvc0", ["powerpc64-linux-gnu-gcc"]),
    SmokeArch("powerpc64el", 64, PSERIES, "hvc0", ["powerpc64le-linux-gnu-gcc"]),
    SmokeArch("riscv64", 64, ["-M", "virt", "-m", "512"], "ttyS0",
              ["riscv64-linux-gnu-gcc", "-Wl,--no-relax"]),
    # Debian 12 has no LoongArch gcc; clang-19 compiles and lld-19 links.
    SmokeArch("loongarch64", 64, ["-M", "virt", "-cpu", "la464", "-m", "1024"], "ttyS0",
              ["clang-19", "--target=loongarch64-unknown-linux-gnu", "-fuse-ld=lld-19"],
              append=("initcall_blacklist=i8042_init",)),
    SmokeArch("x86_64", 64, ["-M", "pc", "-m", "512"], "ttyS0", ["gcc"]),
]
BY_NAME = {a.name: a for a in ARCHES}
