"""How each architecture smoke-boots: the machine Penguin uses (CONTRACT section 2), the
kernel's console, how the init program and the glibc stage are compiled for its user
space, and what the guest programs report (tests/smoke/smoke.h)."""

from __future__ import annotations

import hashlib
import math
import subprocess
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
OUT_DIR = REPO / "_build" / "smoke"

# The hypercall numbers of tests/smoke/smoke.h.
SMOKE_NR = 0x50454E53
CMDLINE_NR = 0x50454E43
STAGE_NR = 0x50454E58
LIBC_NR = 0x50454E4C
# What the host answers init's SMOKE_NR call with.
RETURN64 = 0xC0DEC0DE5AFE0001
RETURN32 = 0xC0DEC0DE

# The glibc stage's name in /stages, and its number of terms (TERMS in libc_stage.c).
LIBC_STAGE = "10-libc"
LIBC_TERMS = 100000

# Malta's default VGA and NIC want option ROMs no Penguin boot needs.
MALTA = ["-M", "malta", "-m", "256", "-vga", "none", "-nic", "none"]
PSERIES = ["-M", "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,"
           "cap-ccf-assist=off", "-cpu", "power9", "-m", "1024"]

WARNINGS = ["-Wall", "-Wextra", "-Werror"]
INIT_CFLAGS = ["-O2", "-std=gnu99", *WARNINGS, "-ffreestanding", "-nostdlib", "-static",
               "-fno-pic", "-fno-pie", "-fno-stack-protector",
               "-fno-asynchronous-unwind-tables", "-Wl,--build-id=none", "-Wl,-e,_start"]
# The host computes the stage's floating-point result too: no fused multiply-adds.
# Stripped (-s): symbols only make the initramfs bigger.
LIBC_CFLAGS = ["-O2", "-std=gnu99", *WARNINGS, "-static", "-s", "-ffp-contract=off"]
# init without libc: no PIC calls through $gp (glibc's static archives are PIC, so the
# glibc stage keeps the compiler's defaults).
MIPS_FREESTANDING = ("-mno-abicalls", "-G0")


@dataclass(frozen=True)
class SmokeArch:
    name: str                # Penguin architecture = library name
    bits: int
    machine: list[str]
    console: str             # the kernel's console device
    cc: list[str]            # compiler and target flags for init and the glibc stage
    libc: str                # the Debian package whose static glibc the stage links
    freestanding: tuple[str, ...] = ()   # more flags for init only
    append: tuple[str, ...] = ()

    def answer(self) -> int:
        return RETURN64 if self.bits == 64 else RETURN32

    def args(self) -> list[int]:
        """The six arguments init.c passes (SMOKE_ARG)."""
        unit = 0x0101010101010101 if self.bits == 64 else 0x01010101
        return [unit * (0x10 + i) for i in range(6)]

    def cmdline(self) -> str:
        return " ".join([f"console={self.console}", "panic=-1", *self.append])

    def build_init(self, include_dir: Path, bench: bool = False,
                   vsock: bool = False) -> Path:
        """Compile init.c against the SDK header under include_dir; cached by content.
        The bench build makes no hypercall and powers the machine off at the end; the
        vsock build goes on to vsock-echo.c's echo rounds."""
        variant = "-bench" if bench else "-vsock" if vsock else ""
        out = OUT_DIR / f"init-{self.name}{variant}"
        sources = ["init.c", *(["vsock-echo.c"] if vsock else [])]
        cmd = [*self.cc, *self.freestanding, *INIT_CFLAGS,
               *(["-DSMOKE_BENCH"] if bench else []), *(["-DSMOKE_VSOCK"] if vsock else []),
               f"-I{include_dir}", "-o", str(out), *(str(HERE / name) for name in sources)]
        return compile_cached(cmd, out, include_dir,
                              [*sources, "linux-syscall.h", "vsock-echo.h"],
                              f"the {self.name} init")

    def build_libc_stage(self, include_dir: Path) -> Path:
        """Compile libc_stage.c into a static glibc program; cached by content."""
        return self.build_glibc_program(include_dir, "libc_stage.c", "libc-stage", ["-lm"])

    def build_fastsnap_program(self, include_dir: Path) -> Path:
        """Compile fastsnap-penguin.c (tests/test_fastsnap_penguin.py's guest program)
        into a static glibc program; cached by content."""
        return self.build_glibc_program(include_dir, "fastsnap-penguin.c",
                                        "fastsnap-penguin", headers=["fastsnap-penguin.h"])

    def build_glibc_program(self, include_dir: Path, source: str, stem: str,
                            libs: list[str] = (), headers: list[str] = ()) -> Path:
        """Compile source (and its headers) into the static glibc program
        OUT_DIR/<stem>-<arch>; cached by content."""
        out = OUT_DIR / f"{stem}-{self.name}"
        cmd = [*self.cc, *LIBC_CFLAGS, f"-I{include_dir}", "-o", str(out),
               str(HERE / source), *libs]
        return compile_cached(cmd, out, include_dir, [source, *headers],
                              f"the {self.name} {stem} program (static glibc from the "
                              f"Debian package {self.libc})")


def compile_cached(cmd: list[str], out: Path, include_dir: Path, sources: list[str],
                   what: str) -> Path:
    """Run the compiler command cmd that writes out, unless out was made from the same
    command and inputs (the SDK header, tests/smoke/smoke.h and sources) before."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    header = include_dir / "penguin-qemu" / "guest" / "penguin-hypercall.h"
    inputs = [header.read_bytes(), (HERE / "smoke.h").read_bytes(),
              *((HERE / name).read_bytes() for name in sources), " ".join(cmd).encode()]
    digest = hashlib.sha256(b"\0".join(inputs)).hexdigest()
    stamp = out.with_suffix(".stamp")
    if out.exists() and stamp.exists() and stamp.read_text() == digest:
        return out
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as e:
        raise RuntimeError(f"compiling {what} failed: {' '.join(cmd)}: {e}") from None
    if result.returncode != 0:
        raise RuntimeError(f"compiling {what} failed:\n{' '.join(cmd)}\n"
                           f"{result.stdout}{result.stderr}")
    stamp.write_text(digest)
    return out


def libc_line() -> tuple[str, int]:
    """The line the glibc stage prints and the result it reports, computed as it does."""
    total = 0.0
    for k in range(1, LIBC_TERMS + 1):
        total += 1.0 / (float(k) * float(k))
    pi = math.sqrt(6.0 * total)
    return f"PENGUIN-SMOKE libc: pi ~ {pi:.12f}\n", int(pi * 1e9)


ARCHES = [
    SmokeArch("armel", 32, ["-M", "virt", "-m", "512"], "ttyAMA0",
              ["arm-linux-gnueabi-gcc", "-marm"], "libc6-dev-armel-cross"),
    SmokeArch("aarch64", 64, ["-M", "virt", "-cpu", "cortex-a57", "-m", "512"], "ttyAMA0",
              ["aarch64-linux-gnu-gcc"], "libc6-dev-arm64-cross"),
    SmokeArch("mipsel", 32, MALTA, "ttyS0", ["mipsel-linux-gnu-gcc", "-mabi=32"],
              "libc6-dev-mipsel-cross", MIPS_FREESTANDING),
    SmokeArch("mipseb", 32, MALTA, "ttyS0", ["mips-linux-gnu-gcc", "-mabi=32"],
              "libc6-dev-mips-cross", MIPS_FREESTANDING),
    SmokeArch("mips64el", 64, [*MALTA, "-cpu", "MIPS64R2-generic"], "ttyS0",
              ["mips64el-linux-gnuabi64-gcc", "-mabi=64"], "libc6-dev-mips64el-cross",
              MIPS_FREESTANDING),
    SmokeArch("mips64eb", 64, [*MALTA, "-cpu", "MIPS64R2-generic"], "ttyS0",
              ["mips64-linux-gnuabi64-gcc", "-mabi=64"], "libc6-dev-mips64-cross",
              MIPS_FREESTANDING),
    SmokeArch("powerpc64", 64, PSERIES, "hvc0", ["powerpc64-linux-gnu-gcc"],
              "libc6-dev-ppc64-cross"),
    SmokeArch("powerpc64el", 64, PSERIES, "hvc0", ["powerpc64le-linux-gnu-gcc"],
              "libc6-dev-ppc64el-cross"),
    SmokeArch("riscv64", 64, ["-M", "virt", "-m", "512"], "ttyS0",
              ["riscv64-linux-gnu-gcc", "-Wl,--no-relax"], "libc6-dev-riscv64-cross"),
    # Debian 12 has no LoongArch gcc: clang-19 compiles and lld-19 links, against the
    # arch-independent loong64 cross glibc and libgcc of Debian 13 (scripts/
    # penguin-install-deps.sh), which clang finds under /usr as it finds a cross gcc's.
    SmokeArch("loongarch64", 64, ["-M", "virt", "-cpu", "la464", "-m", "1024"], "ttyS0",
              ["clang-19", "--target=loongarch64-linux-gnu", "-fuse-ld=lld-19"],
              "libc6-dev-loong64-cross", append=("initcall_blacklist=i8042_init",)),
    SmokeArch("x86_64", 64, ["-M", "pc", "-m", "512"], "ttyS0", ["gcc"], "libc6-dev"),
]
BY_NAME = {a.name: a for a in ARCHES}


# Malta (hw/mips/malta.c) puts the initramfs in the top of low memory, below 128 KiB the
# kernel needs, on a 64 KiB boundary, and writes "rd_start=<KSEG0 address> rd_size=<bytes> "
# in front of -append in the PROM's command line; the kernel keeps both words.
MALTA_LOW_RAM = min(int(MALTA[MALTA.index("-m") + 1]), 256) << 20
MALTA_INITRD_ALIGN = 64 << 10
MALTA_INITRD_GAP = 128 << 10


def malta_initrd_words(initrd_size: int) -> str:
    offset = MALTA_LOW_RAM - (initrd_size + MALTA_INITRD_GAP)
    offset = -(-offset // MALTA_INITRD_ALIGN) * MALTA_INITRD_ALIGN
    kseg0 = offset | 0xFFFFFFFF80000000   # QEMU's cpu_mips_phys_to_kseg0, 64-bit always
    return f"rd_start={kseg0:#x} rd_size={initrd_size} "


# EDK2's loader of the fw_cfg kernel (GenericQemuLoadImageLib) appends this to the
# command line when there is an initrd; the kernel's EFI stub keeps it.
EDK2_INITRD_WORD = " initrd=initrd"


def expected_cmdline(name: str, append: str, initrd_size: int, edk2: bool = False) -> str:
    """/proc/cmdline as the guest reads it after booting with -append append and an
    initramfs of initrd_size bytes, directly or through EDK2 (-bios): what the boot path
    adds, and the kernel's '\\n'."""
    if BY_NAME[name].machine[:len(MALTA)] == MALTA:
        return malta_initrd_words(initrd_size) + append + "\n"
    if edk2:
        return append + EDK2_INITRD_WORD + "\n"
    if name == "loongarch64":
        # Measured: QEMU's direct LoongArch boot (at most 511 bytes, hw/loongarch/boot.c)
        # reaches the kernel (Debian sid 7.2) with one space added at the end.
        return append + " \n"
    return append + "\n"
