"""The hypercall test guests: how each is built, and where and how it boots.

Each guest is assembled and linked with Debian's cross binutils (clang-19/lld-19 for
LoongArch) into _build/guests/, rebuilt only when its source or commands change.
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The per-architecture includes (boot code, hypercall numbers) of every bare-metal guest:
# these, the guest SDK's start stubs and bench/guests.
INCLUDE = HERE / "include"
OUT_DIR = HERE.parent.parent / "_build" / "guests"
NO_RWX = "--no-warn-rwx-segments"


@dataclass(frozen=True)
class Registers:
    """Where an ISA family keeps PC and a0..a5: GDB numbers and CPUArchState fields."""
    pc: int
    args: list[int]              # GDB numbers of a0..a5
    env_pc: str
    env_args: list[str]          # CPUArchState fields of a0..a5


def _fields(template: str, numbers: list[int]) -> list[str]:
    return [template.format(n) for n in numbers]


FAMILIES = {
    "arm": Registers(15, [0, 1, 2, 3, 4, 5], "regs[15]", _fields("regs[{}]", range(6))),
    "aarch64": Registers(32, [0, 1, 2, 3, 4, 5], "pc", _fields("xregs[{}]", range(6))),
    "mips": Registers(37, [4, 5, 6, 7, 8, 9], "active_tc.PC",
                      _fields("active_tc.gpr[{}]", [4, 5, 6, 7, 8, 9])),
    "ppc": Registers(64, [3, 4, 5, 6, 7, 8], "nip", _fields("gpr[{}]", [3, 4, 5, 6, 7, 8])),
    "riscv": Registers(32, [10, 11, 12, 13, 14, 15], "pc",
                       _fields("gpr[{}]", [10, 11, 12, 13, 14, 15])),
    "loongarch": Registers(33, [4, 5, 6, 7, 8, 9], "pc",
                           _fields("gpr[{}]", [4, 5, 6, 7, 8, 9])),
    # 64-bit code: GDB numbers rdi rsi rdx r10 r8 r9; QEMU's regs[] is EAX ECX EDX EBX ...
    "x86_64": Registers(16, [5, 4, 3, 10, 8, 9], "eip",
                        _fields("regs[{}]", [7, 6, 2, 10, 8, 9])),
}


@dataclass(frozen=True)
class Boot:
    """One library a guest runs on, with the QEMU arguments that load it."""
    target: str
    machine: list[str]


@dataclass(frozen=True)
class Guest:
    name: str
    source: str
    commands: list[str]          # shell, with SRC, OBJ and OUT placeholders
    output: str                  # the file QEMU loads (OUT or OUT.bin)
    load: str                    # -kernel or -bios
    boots: list[Boot]
    family: str = ""             # key of FAMILIES
    args32: int = 0              # NR_ARGS32 calls a correct run makes
    args64: int = 0              # NR_ARGS64 calls a correct run makes
    user_calls: int = 0          # NR_USER calls, made from user mode
    defsyms: list[str] = field(default_factory=list)
    dx_form_calls: bool = False  # x86: a2's low 16 bits hold the port 0x88

    @property
    def registers(self) -> Registers:
        return FAMILIES[self.family]

    def build(self) -> Path:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        src = HERE / self.source
        out = OUT_DIR / self.name
        script = " && ".join(self.commands)
        script = script.replace("SRC", str(src)).replace("OBJ", f"{out}.o")
        script = script.replace("OUT", str(out))
        return build_if_changed(f"guest {self.name}", script, [src],
                                OUT_DIR / f"{self.name}.stamp",
                                Path(self.output.replace("OUT", str(out))))


def build_if_changed(what: str, script: str, sources: list[Path], stamp: Path,
                     image: Path) -> Path:
    """Run the shell script that builds image, unless stamp holds the digest of the
    sources, the includes and the script from the build that made image; returns image."""
    inputs = [*sources, *sorted(INCLUDE.glob("*.inc"))]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in inputs)
                            + script.encode()).hexdigest()
    if not (image.exists() and stamp.exists() and stamp.read_text() == digest):
        result = subprocess.run(script, shell=True, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"building {what} failed:\n{script}\n"
                               f"{result.stdout}{result.stderr}")
        stamp.write_text(digest)
    return image


def _gnu(prefix: str, as_flags: str, ld_flags: str) -> list[str]:
    return [f"{prefix}as -I {INCLUDE} {as_flags} -o OBJ SRC",
            f"{prefix}ld -N {NO_RWX} {ld_flags} -e _start -o OUT OBJ"]


def _mips(prefix: str, endian: str, n64: bool) -> list[str]:
    # -Ttext-segment keeps .MIPS.abiflags in the one PT_LOAD; malta enters at e_entry.
    if n64:
        return [f"{prefix}as -non_shared -msym32 -march=mips64r2 {endian} --defsym N64=1 "
                f"-I {INCLUDE} -o OBJ SRC",
                f"{prefix}ld -N {NO_RWX} {endian} -Ttext-segment=0xffffffff80100000 "
                "-e _start -o OUT OBJ"]
    return [f"{prefix}as -non_shared -march=mips32r2 {endian} -I {INCLUDE} -o OBJ SRC",
            f"{prefix}ld -N {NO_RWX} {endian} -Ttext-segment=0x80100000 "
            "-e _start -o OUT OBJ"]


# Malta's default VGA and NIC want option ROMs no Penguin boot needs.
MALTA = ["-M", "malta", "-vga", "none", "-nic", "none"]
MALTA64 = [*MALTA, "-cpu", "MIPS64R2-generic"]
PSERIES = ["-M",
           "pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off",
           "-cpu", "power9"]

GUESTS = [
    Guest("arm", "arm.S", _gnu("arm-linux-gnueabi-", "", "-Ttext=0x40000000"), "OUT",
          "-kernel", [Boot("arm", ["-M", "virt"]),
                      Boot("aarch64", ["-M", "virt", "-cpu", "cortex-a15"])],
          family="arm", args32=2, user_calls=1),
    Guest("aarch64", "aarch64.S",
          _gnu("aarch64-linux-gnu-", "", "-Ttext=0x40000000"), "OUT",
          "-kernel", [Boot("aarch64", ["-M", "virt", "-cpu", "cortex-a57"])],
          family="aarch64", args64=1, user_calls=1),
    # The same program through the doorbell, the door arm64 KVM can reach.
    Guest("aarch64-doorbell", "aarch64.S",
          _gnu("aarch64-linux-gnu-", "--defsym DOORBELL=1", "-Ttext=0x40000000"), "OUT",
          "-kernel", [Boot("aarch64", ["-M", "virt", "-cpu", "cortex-a57"])],
          family="aarch64", args64=1, user_calls=1),
    Guest("mips", "mips.S", _mips("mips-linux-gnu-", "-EB", False), "OUT", "-kernel",
          [Boot("mips", MALTA)], family="mips", args32=2, user_calls=1),
    Guest("mipsel", "mips.S", _mips("mipsel-linux-gnu-", "-EL", False), "OUT", "-kernel",
          [Boot("mipsel", MALTA)], family="mips", args32=2, user_calls=1),
    Guest("mips64", "mips.S", _mips("mips64-linux-gnuabi64-", "-EB", True), "OUT",
          "-kernel", [Boot("mips64", MALTA64)], family="mips", args64=2, user_calls=1),
    Guest("mips64el", "mips.S", _mips("mips64el-linux-gnuabi64-", "-EL", True), "OUT",
          "-kernel", [Boot("mips64el", MALTA64)], family="mips", args64=2,
          user_calls=1),
    Guest("loongarch64", "loongarch64.S",
          [f"clang-19 --target=loongarch64-unknown-elf -I {INCLUDE} -c -o OBJ SRC",
           "ld.lld-19 -N -Ttext=0x200000 -e _start -o OUT OBJ"], "OUT", "-kernel",
          [Boot("loongarch64", ["-M", "virt", "-cpu", "la464"])], family="loongarch",
          args64=1, user_calls=1),
    Guest("riscv64", "riscv64.S",
          _gnu("riscv64-linux-gnu-", "-march=rv64imac", "-Ttext=0x80000000"), "OUT",
          "-kernel", [Boot("riscv64", ["-M", "virt", "-bios", "none"])], family="riscv",
          args64=1, user_calls=1),
    Guest("ppce500", "ppce500.S",
          _gnu("powerpc-linux-gnu-", "-a32 -mbig -me500", "-Ttext=0x100000"), "OUT",
          "-kernel", [Boot("ppc", ["-M", "ppce500"])], family="ppc", args32=1,
          user_calls=1),
    # pseries without x-vof loads -bios raw at 0 and enters it at 0x100, big-endian.
    Guest("ppc64", "ppc64.S",
          [f"powerpc64-linux-gnu-as -a64 -mbig -I {INCLUDE} -o OBJ SRC",
           f"powerpc64-linux-gnu-ld -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
           "powerpc64-linux-gnu-objcopy -O binary OUT.elf OUT.bin"], "OUT.bin", "-bios",
          [Boot("ppc64", PSERIES)], family="ppc", args64=1),
    Guest("ppc64le", "ppc64.S",
          [f"powerpc64le-linux-gnu-as -a64 -mlittle --defsym LE=1 -I {INCLUDE} -o OBJ SRC",
           f"powerpc64le-linux-gnu-ld -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
           "powerpc64le-linux-gnu-objcopy -O binary OUT.elf OUT.bin"], "OUT.bin", "-bios",
          # Penguin's little-endian names: register bytes follow the guest's MSR[LE].
          [Boot("powerpc64le", PSERIES), Boot("powerpc64el", PSERIES)], family="ppc",
          args64=1),
    Guest("x86", "x86.S",
          [f"as --32 -I {INCLUDE} -o OBJ SRC",
           f"ld -m elf_i386 -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
           "objcopy -O binary OUT.elf OUT.bin"], "OUT.bin", "-bios",
          [Boot("x86_64", ["-M", "pc", "-nodefaults", "-no-reboot"])],
          family="x86_64", args32=2, args64=2, user_calls=1,
          dx_form_calls=True),
]
