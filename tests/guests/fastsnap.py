"""The fast-snapshot test guests (FASTSNAP.md): how each is built, where it boots."""

from __future__ import annotations

from guests.guests import INCLUDE, MALTA, MALTA64, NO_RWX, PSERIES, Boot, Guest, _gnu, _mips

# 128 MiB on every machine but pseries, whose minimum with the default hash page table
# is 256 MiB.
RAM = ["-m", "128"]

FASTSNAP_GUESTS = [
    Guest("fastsnap-arm", "fastsnap-arm.S",
          _gnu("arm-linux-gnueabi-", "", "-Ttext=0x40000000"), "OUT", "-kernel",
          [Boot("arm", ["-M", "virt", *RAM])]),
    Guest("fastsnap-aarch64", "fastsnap-aarch64.S",
          _gnu("aarch64-linux-gnu-", "", "-Ttext=0x40000000"), "OUT", "-kernel",
          [Boot("aarch64", ["-M", "virt", "-cpu", "cortex-a57", *RAM])]),
    Guest("fastsnap-mips", "fastsnap-mips.S", _mips("mips-linux-gnu-", "-EB", False), "OUT",
          "-kernel", [Boot("mips", [*MALTA, *RAM])]),
    Guest("fastsnap-mipsel", "fastsnap-mips.S", _mips("mipsel-linux-gnu-", "-EL", False),
          "OUT", "-kernel", [Boot("mipsel", [*MALTA, *RAM])]),
    Guest("fastsnap-mips64", "fastsnap-mips.S",
          _mips("mips64-linux-gnuabi64-", "-EB", True), "OUT", "-kernel",
          [Boot("mips64", [*MALTA64, *RAM])]),
    Guest("fastsnap-mips64el", "fastsnap-mips.S",
          _mips("mips64el-linux-gnuabi64-", "-EL", True), "OUT", "-kernel",
          [Boot("mips64el", [*MALTA64, *RAM])]),
    Guest("fastsnap-ppce500", "fastsnap-ppce500.S",
          _gnu("powerpc-linux-gnu-", "-a32 -mbig -me500", "-Ttext=0x100000"), "OUT",
          "-kernel", [Boot("ppc", ["-M", "ppce500", *RAM])]),
    Guest("fastsnap-ppc64", "fastsnap-ppc64.S",
          [f"powerpc64-linux-gnu-as -a64 -mbig -I {INCLUDE} -o OBJ SRC",
           f"powerpc64-linux-gnu-ld -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
           "powerpc64-linux-gnu-objcopy -O binary OUT.elf OUT.bin"], "OUT.bin", "-bios",
          [Boot("ppc64", [*PSERIES, "-m", "256"])]),
    Guest("fastsnap-ppc64le", "fastsnap-ppc64.S",
          [f"powerpc64le-linux-gnu-as -a64 -mlittle --defsym LE=1 -I {INCLUDE} -o OBJ SRC",
           f"powerpc64le-linux-gnu-ld -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
           "powerpc64le-linux-gnu-objcopy -O binary OUT.elf OUT.bin"], "OUT.bin", "-bios",
          [Boot("powerpc64le", [*PSERIES, "-m", "256"])]),
    Guest("fastsnap-riscv64", "fastsnap-riscv64.S",
          _gnu("riscv64-linux-gnu-", "-march=rv64imac", "-Ttext=0x80000000"), "OUT",
          "-kernel", [Boot("riscv64", ["-M", "virt", "-bios", "none", *RAM])]),
    Guest("fastsnap-loongarch64", "fastsnap-loongarch64.S",
          [f"clang-19 --target=loongarch64-unknown-elf -I {INCLUDE} -c -o OBJ SRC",
           "ld.lld-19 -N -Ttext=0x200000 -e _start -o OUT OBJ"], "OUT", "-kernel",
          [Boot("loongarch64", ["-M", "virt", "-cpu", "la464", *RAM])]),
    Guest("fastsnap-x86", "fastsnap-x86.S",
          [f"as --32 -I {INCLUDE} -o OBJ SRC",
           f"ld -m elf_i386 -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
           "objcopy -O binary OUT.elf OUT.bin"], "OUT.bin", "-bios",
          [Boot("x86_64", ["-M", "pc", "-no-reboot", *RAM])]),
]
