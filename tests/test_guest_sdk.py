"""The guest SDK header (guest/include/penguin-hypercall.h) on every guest architecture.

For each architecture a small C program (tests/guest_sdk/prog.c) is compiled with
Debian's cross gcc (clang-19 for LoongArch: Debian 12 has no loongarch64 cross gcc) at
-O0 and -O2. The disassembly must hold the exact sentinel encoding with nr and all six
argument registers of CONTRACT section 4 written before every sentinel. Then the -O2
build (and the -O0 one) runs bare metal through the library against the host of
tests/helpers/hypercall_guest.py: nr, the six arguments and the return value arrive
intact, including after callbacks that write the argument registers (a wrong clobber
shows there), and values the program keeps live across the calls survive.

Build outputs go to _build/guest-sdk/, rebuilt only when a source, the header or a
command changes.
"""

from __future__ import annotations

import dataclasses
import platform
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO
from guests.guests import (FAMILIES, INCLUDE, MALTA, MALTA64, PSERIES, Registers,
                           build_if_changed)
from test_hypercalls import A32, A64, NR_ARGS32, NR_ARGS64, run_image

SDK = REPO / "tests" / "guest_sdk"
HEADER = REPO / "guest" / "include" / "penguin-hypercall.h"
OUT_DIR = REPO / "_build" / "guest-sdk"
NO_RWX = "--no-warn-rwx-segments"

CFLAGS = ["-ffreestanding", "-nostdlib", "-fno-pic", "-fno-pie", "-fno-stack-protector",
          "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-std=c99", "-Wall",
          "-Wextra", "-pedantic", "-Werror", f"-I{HEADER.parent}"]

# 32-bit code on the x86_64 library: a0..a5 are ebx ecx edx esi edi ebp, which are GDB
# numbers 1 2 3 4 5 6 (rbx rcx rdx rsi rdi rbp) and env regs[] R_EBX R_ECX R_EDX R_ESI
# R_EDI R_EBP.
X86_32 = Registers(16, [1, 2, 3, 4, 5, 6], "eip",
                   [f"regs[{n}]" for n in (3, 1, 2, 6, 7, 5)])


@dataclass(frozen=True)
class Arch:
    """One guest architecture: how prog.c is built, what its disassembly must show, and
    where it boots."""
    name: str
    cc: list[str]                # compiler and its target flags (C and the start stub)
    start: str                   # start stub in tests/guest_sdk/
    link: list[str]              # shell; OBJS and OUT placeholders
    image: str                   # the file QEMU loads (OUT or OUT.bin)
    objdump: list[str]
    sentinel: str                # the raw-bytes column objdump prints for the sentinel
    mnemonic: str                # regex on the decoded sentinel
    regs: list[str]              # nr, a0..a5, as the disassembly names them
    target: str
    machine: list[str]
    load: str = "-kernel"
    registers: Registers | None = None
    bits: int = 64
    dest_last: bool = False      # AT&T syntax: the destination is the last operand
    start_flags: list[str] = field(default_factory=list)
    stub_cc: list[str] | None = None  # compiler for the start stub, when not cc
    o2_sentinels: int = 10       # prog.c's ten calls as -O2 code has them
    o2_inlined: bool = True      # -O2 inlines every call into penguin_main

    def objects(self, opt: str, program: str = "prog.c") -> tuple[Path, Path]:
        stem = self.stem(opt, program)
        return OUT_DIR / f"{stem}.o", OUT_DIR / f"{stem}-start.o"

    def stem(self, opt: str, program: str) -> str:
        """Output name: <arch>-<opt> for prog.c, <arch>-<program>-<opt> for others."""
        if program == "prog.c":
            return f"{self.name}-{opt}"
        return f"{self.name}-{Path(program).stem}-{opt}"

    def commands(self, opt: str, program: str = "prog.c") -> tuple[str, Path]:
        prog, start = self.objects(opt, program)
        out = OUT_DIR / self.stem(opt, program)
        cc, stub_cc = " ".join(self.cc), " ".join(self.stub_cc or self.cc)
        cmds = [f"{cc} {' '.join(CFLAGS)} -{opt} -c -o {prog} {SDK / program}",
                f"{stub_cc} -fno-pic -fno-pie -Wa,-I,{INCLUDE} "
                f"{' '.join(self.start_flags)} -c -o {start} {SDK / self.start}"]
        cmds += [c.replace("OBJS", f"{start} {prog}").replace("OUT", str(out))
                 for c in self.link]
        return " && ".join(cmds), Path(self.image.replace("OUT", str(out)))

    def build(self, opt: str, program: str = "prog.c") -> Path:
        """Build the -O<opt> program (tests/guest_sdk/<program>, prog.c unless told);
        returns the image QEMU loads."""
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        script, image = self.commands(opt, program)
        return build_if_changed(f"{self.stem(opt, program)}", script,
                                [SDK / program, SDK / self.start, HEADER, SDK / "x86.ld"],
                                OUT_DIR / f"{self.stem(opt, program)}.stamp", image)


def _gnu_link(prefix: str, flags: str) -> list[str]:
    return [f"{prefix}ld -N {NO_RWX} {flags} -e _start -o OUT OBJS"]


def _x86_link(emulation: str) -> list[str]:
    return [f"ld -m {emulation} -N {NO_RWX} -T {SDK / 'x86.ld'} -o OUT.elf OBJS",
            "objcopy -O binary OUT.elf OUT.bin"]


def _ppc64_link(prefix: str) -> list[str]:
    return [f"{prefix}ld -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJS",
            f"{prefix}objcopy -O binary OUT.elf OUT.bin"]


ARM_REGS = ["r7", "r0", "r1", "r2", "r3", "r4", "r5"]
MIPS_REGS = ["$2", "$4", "$5", "$6", "$7", "$8", "$9"]
PPC_REGS = ["r0", "r3", "r4", "r5", "r6", "r7", "r8"]
RISCV_REGS = ["a7", "a0", "a1", "a2", "a3", "a4", "a5"]
MIPS_O32 = ["-march=mips32r2", "-mabi=32", "-mno-abicalls", "-G0"]
MIPS_N64 = ["-march=mips64r2", "-mabi=64", "-msym32", "-mno-abicalls", "-G0"]
MIPS_DUMP = ["-M", "gpr-names=numeric"]
PPC64_FLAGS = ["-msoft-float", "-mno-altivec", "-mno-vsx"]

ARCHES = [
    Arch("arm", ["arm-linux-gnueabi-gcc", "-march=armv7-a", "-marm"], "start-arm.S",
         _gnu_link("arm-linux-gnueabi-", "-Ttext=0x40000000"), "OUT",
         ["arm-linux-gnueabi-objdump", "-d"], "ee000710",
         r"mcr\s+7, 0, r0, cr0, cr0, \{0\}", ARM_REGS, "arm", ["-M", "virt"],
         registers=FAMILIES["arm"], bits=32),
    Arch("arm-thumb", ["arm-linux-gnueabi-gcc", "-march=armv7-a", "-mthumb"], "start-arm.S",
         _gnu_link("arm-linux-gnueabi-", "-Ttext=0x40000000"), "OUT",
         ["arm-linux-gnueabi-objdump", "-d"], "ee00 0710",
         r"mcr\s+7, 0, r0, cr0, cr0, \{0\}", ARM_REGS, "arm", ["-M", "virt"],
         registers=FAMILIES["arm"], bits=32),
    Arch("aarch64", ["aarch64-linux-gnu-gcc", "-mgeneral-regs-only"], "start-aarch64.S",
         _gnu_link("aarch64-linux-gnu-", "-Ttext=0x40000000"), "OUT",
         ["aarch64-linux-gnu-objdump", "-d"], "d500501f", r"msr\s+s0_0_c5_c0_0, xzr",
         ["x8", "x0", "x1", "x2", "x3", "x4", "x5"], "aarch64",
         ["-M", "virt", "-cpu", "cortex-a57"], registers=FAMILIES["aarch64"]),
    # The doorbell form, which KVM can reach (the MMU is off: the address is physical).
    Arch("aarch64-doorbell", ["aarch64-linux-gnu-gcc", "-mgeneral-regs-only",
                              "-DPENGUIN_HYPERCALL_DOORBELL=0x09fff000"], "start-aarch64.S",
         _gnu_link("aarch64-linux-gnu-", "-Ttext=0x40000000"), "OUT",
         ["aarch64-linux-gnu-objdump", "-d"], "b900021f", r"str\s+wzr, \[x16\]",
         ["x8", "x0", "x1", "x2", "x3", "x4", "x5"], "aarch64",
         ["-M", "virt", "-cpu", "cortex-a57"], registers=FAMILIES["aarch64"],
         # GCC 12 keeps penguin_hypercall1 out of line at -O2 here (its two calls
         # share one doorbell store); the run below still counts all ten calls.
         o2_sentinels=9, o2_inlined=False),
    Arch("mips", ["mips-linux-gnu-gcc", "-EB", *MIPS_O32], "start-mips.S",
         _gnu_link("mips-linux-gnu-", "-EB -Ttext-segment=0x80100000"), "OUT",
         ["mips-linux-gnu-objdump", "-d", *MIPS_DUMP], "0000000a", r"movz\s+\$0,\$0,\$0",
         MIPS_REGS, "mips", MALTA, registers=FAMILIES["mips"], bits=32),
    Arch("mipsel", ["mipsel-linux-gnu-gcc", "-EL", *MIPS_O32], "start-mips.S",
         _gnu_link("mipsel-linux-gnu-", "-EL -Ttext-segment=0x80100000"), "OUT",
         ["mipsel-linux-gnu-objdump", "-d", *MIPS_DUMP], "0000000a", r"movz\s+\$0,\$0,\$0",
         MIPS_REGS, "mipsel", MALTA, registers=FAMILIES["mips"], bits=32),
    Arch("mips64", ["mips64-linux-gnuabi64-gcc", "-EB", *MIPS_N64], "start-mips.S",
         _gnu_link("mips64-linux-gnuabi64-", "-EB -Ttext-segment=0xffffffff80100000"),
         "OUT",
         ["mips64-linux-gnuabi64-objdump", "-d", *MIPS_DUMP], "0000000a",
         r"movz\s+\$0,\$0,\$0", MIPS_REGS, "mips64", MALTA64, registers=FAMILIES["mips"],
         start_flags=["-Wa,--defsym,N64=1"]),
    Arch("mips64el", ["mips64el-linux-gnuabi64-gcc", "-EL", *MIPS_N64], "start-mips.S",
         _gnu_link("mips64el-linux-gnuabi64-", "-EL -Ttext-segment=0xffffffff80100000"),
         "OUT", ["mips64el-linux-gnuabi64-objdump", "-d", *MIPS_DUMP], "0000000a",
         r"movz\s+\$0,\$0,\$0", MIPS_REGS, "mips64el", MALTA64, registers=FAMILIES["mips"],
         start_flags=["-Wa,--defsym,N64=1"]),
    Arch("ppc", ["powerpc-linux-gnu-gcc", "-mcpu=powerpc", "-msoft-float", "-G0"],
         "start-ppc.S", _gnu_link("powerpc-linux-gnu-", "-Ttext=0x100000"), "OUT",
         ["powerpc-linux-gnu-objdump", "-d"], "69 4a 00 00", r"xori\s+r10,r10,0",
         PPC_REGS, "ppc", ["-M", "ppce500"], registers=FAMILIES["ppc"], bits=32),
    Arch("ppc64", ["powerpc64-linux-gnu-gcc", "-mbig", *PPC64_FLAGS], "start-ppc64.S",
         _ppc64_link("powerpc64-linux-gnu-"), "OUT.bin",
         ["powerpc64-linux-gnu-objdump", "-d"], "69 4a 00 00", r"xori\s+r10,r10,0",
         PPC_REGS, "ppc64", PSERIES, load="-bios", registers=FAMILIES["ppc"]),
    Arch("ppc64le", ["powerpc64le-linux-gnu-gcc", "-mlittle", *PPC64_FLAGS],
         "start-ppc64.S",
         _ppc64_link("powerpc64le-linux-gnu-"), "OUT.bin",
         ["powerpc64le-linux-gnu-objdump", "-d"], "00 00 4a 69", r"xori\s+r10,r10,0",
         PPC_REGS, "powerpc64le", PSERIES, load="-bios", registers=FAMILIES["ppc"],
         start_flags=["-Wa,--defsym,LE=1"]),
    Arch("riscv64", ["riscv64-linux-gnu-gcc", "-march=rv64imac", "-mabi=lp64",
                     "-mcmodel=medany"], "start-riscv64.S",
         _gnu_link("riscv64-linux-gnu-", "--no-relax -Ttext=0x80000000"), "OUT",
         ["riscv64-linux-gnu-objdump", "-d"], "00004013", r"xori?\s+zero,zero,0",
         RISCV_REGS, "riscv64", ["-M", "virt", "-bios", "none"],
         registers=FAMILIES["riscv"]),
    # Debian 12 has no loongarch64 cross gcc: clang is its only compiler for it.
    Arch("loongarch64", ["clang-19", "--target=loongarch64-unknown-elf", "-mno-lsx"],
         "start-loongarch64.S", ["ld.lld-19 -N -Ttext=0x200000 -e _start -o OUT OBJS"],
         "OUT",
         ["llvm-objdump-19", "-d"], "00 6c 00 00", r"cpucfg\s+\$zero, \$zero",
         ["$a7", "$a0", "$a1", "$a2", "$a3", "$a4", "$a5"], "loongarch64",
         ["-M", "virt", "-cpu", "la464"], registers=FAMILIES["loongarch"]),
    Arch("i386", ["i686-linux-gnu-gcc", "-m32", "-march=i686", "-mgeneral-regs-only"],
         "start-x86.S", _x86_link("elf_i386"), "OUT.bin", ["objdump", "-d"], "e7 88",
         r"out\s+%eax,\$0x88", ["eax", "ebx", "ecx", "edx", "esi", "edi", "ebp"], "x86_64",
         ["-M", "pc", "-nodefaults", "-no-reboot"], load="-bios", registers=X86_32, bits=32,
         dest_last=True),
    Arch("x86_64", ["gcc", "-m64", "-mno-red-zone", "-mgeneral-regs-only"], "start-x86.S",
         _x86_link("elf_x86_64"), "OUT.bin", ["objdump", "-d"], "e7 88",
         r"out\s+%eax,\$0x88", ["rax", "rdi", "rsi", "rdx", "r10", "r8", "r9"], "x86_64",
         ["-M", "pc", "-nodefaults", "-no-reboot"], load="-bios",
         registers=FAMILIES["x86_64"], dest_last=True, start_flags=["-Wa,--defsym,LONG=1"]),
]


def _clang(name: str, target: str, *flags: str) -> Arch:
    """The same program built by clang-19 (the start stub still by gcc)."""
    gcc = next(a for a in ARCHES if a.name == name)
    return dataclasses.replace(gcc, name=f"{name}-clang", stub_cc=gcc.cc,
                               cc=["clang-19", f"--target={target}", *flags])


# The header is GCC and Clang inline assembly: clang-19 builds run too (no -msym32 or
# ppc -G0 in clang; its n64 code uses full 64-bit addresses instead).
ARCHES += [
    _clang("arm", "arm-linux-gnueabi", "-march=armv7-a", "-marm"),
    _clang("arm-thumb", "arm-linux-gnueabi", "-march=armv7-a", "-mthumb"),
    _clang("aarch64", "aarch64-linux-gnu", "-mgeneral-regs-only"),
    _clang("mips", "mips-linux-gnu", "-EB", *MIPS_O32),
    _clang("mipsel", "mipsel-linux-gnu", "-EL", *MIPS_O32),
    _clang("mips64", "mips64-linux-gnuabi64", "-EB", "-march=mips64r2", "-mabi=64",
           "-mno-abicalls", "-G0"),
    _clang("mips64el", "mips64el-linux-gnuabi64", "-EL", "-march=mips64r2", "-mabi=64",
           "-mno-abicalls", "-G0"),
    _clang("ppc", "powerpc-linux-gnu", "-mcpu=powerpc", "-msoft-float"),
    _clang("ppc64", "powerpc64-linux-gnu", *PPC64_FLAGS),
    _clang("ppc64le", "powerpc64le-linux-gnu", *PPC64_FLAGS),
    _clang("riscv64", "riscv64-linux-gnu", "-march=rv64imac", "-mabi=lp64",
           "-mcmodel=medany"),
    _clang("i386", "i386-linux-gnu", "-march=i686", "-mgeneral-regs-only"),
    _clang("x86_64", "x86_64-linux-gnu", "-mno-red-zone", "-mgeneral-regs-only"),
]

OPTS = ["O0", "O2"]
BY_NAME = {a.name: a for a in ARCHES}


def tools_missing(arch: Arch) -> list[str]:
    tools = {arch.cc[0], (arch.stub_cc or arch.cc)[0], arch.objdump[0]}
    return sorted(t for t in tools if shutil.which(t) is None)


def need_tools(arch: Arch) -> None:
    missing = tools_missing(arch)
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed: "
                    "run scripts/penguin-install-deps.sh test")


# ------------------------------------------------------------------- disassembly

X86_ALIASES = {
    **{f"e{r}": f"r{r}" for r in ("ax", "bx", "cx", "dx", "si", "di", "bp", "sp")},
    **{f"r{n}d": f"r{n}" for n in range(8, 16)},
}
COMMENT = {"arm": "@", "aarch64": "//"}   # where objdump's comment starts (else "#")
STORE_OR_READ = {
    # mnemonics whose first operand is read, not written
    "arm": r"(str|stm|push|cmp|cmn|tst|teq|b|bl|blx|bx|mcr|cb)",
    "aarch64": r"(st|cmp|cmn|tst|b|bl|cb|tb|ret|msr)",
    "mips": r"(s[bhwd]|s[wd][lr]|sc|b|j|mt|teq|tne)",
    "ppc": r"(st|cmp|mt|b|tw|td)",
    "riscv": r"(s[bhwd]|b|j)",
    "loongarch": r"(st|b|j)",
}


@dataclass
class Insn:
    mnemonic: str
    operands: str
    raw: str


def disassemble(arch: Arch, obj: Path) -> dict[str, list[Insn]]:
    """Function name -> its instructions, from objdump -d of obj."""
    text = subprocess.run([*arch.objdump, str(obj)], capture_output=True, text=True,
                          check=True).stdout
    functions: dict[str, list[Insn]] = {}
    current: list[Insn] | None = None
    for line in text.splitlines():
        head = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if head and head.group(1).startswith(".L"):
            continue                 # a local label (kept for RISC-V linker relaxation)
        if head:
            # ELFv1 (ppc64 big-endian) names the code of f ".f"
            current = functions.setdefault(head.group(1).lstrip("."), [])
            continue
        insn = re.match(r"^\s*[0-9a-f]+:\s+((?:[0-9a-f]{2,8} ?)+)\s*\t(\S+)\s*(.*)$", line)
        if insn and current is not None:
            comment = COMMENT.get(family_of(arch), "#")
            current.append(Insn(insn.group(2), insn.group(3).split(comment)[0].strip(),
                                insn.group(1).strip()))
    return functions


def family_of(arch: Arch) -> str:
    for key in ("arm", "aarch64", "mips", "ppc", "riscv", "loongarch"):
        if arch.name.startswith(key):
            return key
    return "x86"


def written(arch: Arch, insn: Insn) -> set[str]:
    """The registers insn writes (as arch.regs names them), by operand position."""
    ops = [o.strip() for o in re.split(r",(?![^{\[(]*[}\])])", insn.operands) if o.strip()]
    if not ops:
        return set()
    fam = family_of(arch)
    mnem = insn.mnemonic.split(".")[0]   # ldr.w, st.d, ...
    if fam == "x86":
        if mnem.startswith(("cmp", "test", "push", "out", "j", "call")):
            return set()
        regs = {re.sub(r"^%", "", ops[-1])}
        if mnem.startswith("xchg"):
            regs.add(re.sub(r"^%", "", ops[0]))
        if arch.bits == 64:
            regs = {X86_ALIASES.get(r, r) for r in regs}
        return regs
    if re.fullmatch(STORE_OR_READ[fam] + r"\w*", mnem):
        return set()
    if fam == "arm" and (mnem.startswith(("ldm", "pop"))):
        return set(re.findall(r"r\d+", insn.operands.split("{")[-1]))
    regs = {ops[0]}
    if fam == "arm" and mnem.startswith("ldrd"):
        regs.add(ops[1] if re.fullmatch(r"r\d+", ops[1]) else f"r{int(ops[0][1:]) + 1}")
    if fam == "aarch64":
        if mnem == "ldp":
            regs.add(ops[1])
        regs = {re.sub(r"^w(\d+)$", r"x\1", r) for r in regs}
    return regs


@pytest.mark.parametrize("opt", OPTS)
@pytest.mark.parametrize("arch", ARCHES, ids=[a.name for a in ARCHES])
def test_disassembly(arch: Arch, opt: str) -> None:
    """The exact sentinel encoding, with nr and a0..a5 written before each one."""
    need_tools(arch)
    arch.build(opt)
    functions = disassemble(arch, arch.objects(opt)[0])
    found = 0
    for name, insns in functions.items():
        since: set[str] = set()
        for insn in insns:
            if insn.raw == arch.sentinel:
                decoded = f"{insn.mnemonic} {insn.operands}".strip()
                assert re.fullmatch(arch.mnemonic, decoded), (
                    f"{name}: sentinel decodes as {insn.mnemonic} {insn.operands}")
                missing = [r for r in arch.regs if r not in since]
                assert not missing, (f"{name}: sentinel #{found} without {missing} written "
                                     f"before it (since the last one)")
                found += 1
                since = set()
            else:
                since |= written(arch, insn)
    # -O2 inlines all ten calls of prog.c into penguin_main; -O0 keeps one out-of-line copy.
    assert found == (arch.o2_sentinels if opt == "O2" else 1), \
        f"{found} sentinels in -{opt} code"
    if opt == "O2" and arch.o2_inlined:
        assert set(functions) == {"penguin_main"}, sorted(functions)


# ------------------------------------------------------------------------- runs

def run_program(arch: Arch, opt: str, workdir: Path) -> tuple[dict, str]:
    return run_image(arch.build(opt), arch.load, arch.registers, arch.target, arch.machine,
                     workdir)


# Every gcc build runs at -O0 and -O2; the clang builds at -O2.
RUNS = [(a, o) for a in ARCHES for o in OPTS if o == "O2" or a.stub_cc is None]


@pytest.mark.parametrize("arch,opt", RUNS, ids=[f"{a.name}-{o}" for a, o in RUNS])
def test_runs_bare_metal(stage, arch: Arch, opt: str, tmp_path: Path) -> None:
    """nr, all six arguments and the return value arrive intact, also right after
    callbacks that wrote a2..a5; the program's live values survive (verdict 0)."""
    need_tools(arch)
    seen, console = run_program(arch, opt, tmp_path)
    assert seen["verdict"] == 0, f"program fail mask {seen['verdict']:#x}\n{console}"
    nr, values = (NR_ARGS64, A64) if arch.bits == 64 else (NR_ARGS32, A32)
    # penguin_hypercall6 .. penguin_hypercall0: the unnamed arguments arrive as 0.
    expected = [[nr, *values[:n], *[0] * (6 - n)] for n in range(6, -1, -1)]
    assert seen["args"] == expected
    assert seen["write"] == 1 and len(seen["state"]) == 1
    assert seen["state"][0]["args"] == values
    assert seen["unregistered"] == [] and seen["nearmiss"] == 0 and seen["user"] == []


# ------------------------------------------------------------------ compile checks

def _compile(cmd: list[str], source: str, tmp_path: Path) -> subprocess.CompletedProcess:
    src = tmp_path / "t.c"
    src.write_text(source)
    return subprocess.run([*cmd, f"-I{HEADER.parent}", "-c", "-o", str(tmp_path / "t.o"),
                           str(src)], capture_output=True, text=True)


UNSUPPORTED = [
    (["clang-19", "--target=sparc-unknown-elf"], "sparc"),
    (["clang-19", "--target=s390x-linux-gnu"], "s390"),
    (["clang-19", "--target=riscv32-unknown-elf"], "riscv32"),
    (["clang-19", "--target=loongarch32-unknown-elf"], "loongarch32"),
    (["clang-19", "--target=hexagon-unknown-elf"], "hexagon"),
    (["arm-linux-gnueabi-gcc", "-march=armv5te", "-mthumb"], "arm Thumb-1"),
    (["mips-linux-gnu-gcc", "-mips16", "-mno-abicalls", "-fno-pic"], "MIPS16"),
]


@pytest.mark.parametrize("cmd,name", UNSUPPORTED, ids=[n for _, n in UNSUPPORTED])
def test_unsupported_architecture_is_named(cmd: list[str], name: str,
                                           tmp_path: Path) -> None:
    if shutil.which(cmd[0]) is None:
        pytest.fail(f"{cmd[0]} not installed: run scripts/penguin-install-deps.sh test")
    result = _compile([*cmd, "-ffreestanding", "-fsyntax-only"],
                      "#include <penguin-hypercall.h>\n", tmp_path)
    assert result.returncode != 0
    assert re.search(r"#error.*penguin-hypercall\.h: " + re.escape(name),
                     result.stderr) or (
        f"penguin-hypercall.h: {name}" in result.stderr), result.stderr


@pytest.mark.parametrize("opt", OPTS)
@pytest.mark.parametrize("name", ["i386", "x86_64"])
def test_x86_intel_syntax_same_code(name: str, opt: str, tmp_path: Path) -> None:
    """-masm=intel picks the Intel alternative of every template: the same bytes."""
    arch = BY_NAME[name]
    need_tools(arch)
    texts = []
    for dialect in ("att", "intel"):
        obj = tmp_path / f"{dialect}.o"
        subprocess.run([*arch.cc, *CFLAGS, f"-{opt}", f"-masm={dialect}", "-c",
                        "-o", str(obj), str(SDK / "prog.c")],
                       check=True, capture_output=True)
        subprocess.run(["objcopy", "-O", "binary", "-j", ".text", str(obj),
                        str(tmp_path / f"{dialect}.bin")], check=True)
        texts.append((tmp_path / f"{dialect}.bin").read_bytes())
    assert texts[0] == texts[1]
    assert b"\xe7\x88" in texts[0]


@pytest.mark.parametrize("opt", OPTS)
def test_i386_pic(opt: str, tmp_path: Path) -> None:
    """-fPIC i386 code, where ebx (a0) can be the GOT pointer, builds and loads all the
    registers before every sentinel."""
    arch = BY_NAME["i386"]
    need_tools(arch)
    obj = tmp_path / "pic.o"
    flags = [f for f in CFLAGS if f not in ("-fno-pic", "-fno-pie")]
    subprocess.run([*arch.cc, *flags, "-fPIC", f"-{opt}", "-c", "-o", str(obj),
                    str(SDK / "prog.c")], check=True, capture_output=True)
    count = 0
    for insns in disassemble(arch, obj).values():
        since: set[str] = set()
        for insn in insns:
            if insn.raw == arch.sentinel:
                assert set(arch.regs) <= since, insn
                count, since = count + 1, set()
            else:
                since |= written(arch, insn)
    assert count == (10 if opt == "O2" else 1)


# ------------------------------------------------------- x86 user space: ioperm helper

IOPERM = {  # name: (syscall instruction, asm/unistd header, argument registers)
    "x86_64": ("syscall", "unistd_64.h", ["edi", "esi", "edx"]),
    "i386": ("int    $0x80", "unistd_32.h", ["ebx", "ecx", "edx"]),
}


def syscall_number(header: str, name: str) -> int:
    text = (Path("/usr/include/x86_64-linux-gnu/asm") / header).read_text()
    return int(re.search(rf"#define __NR_{name} (\d+)", text).group(1))


@pytest.mark.parametrize("name", ["x86_64", "i386"])
def test_ioperm_helper(name: str, tmp_path: Path) -> None:
    """penguin_hypercall_ioperm() is the system call ioperm(0x88, 4, 1): its number from
    the kernel's headers and its arguments in the registers, and on this host it ends
    like glibc's ioperm does (0; EPERM without CAP_SYS_RAWIO; ENOSYS on a kernel built
    without CONFIG_X86_IOPL_IOPERM). The program never executes the sentinel."""
    arch = BY_NAME[name]
    need_tools(arch)
    helper = tmp_path / "ioperm"
    subprocess.run([*arch.cc, *CFLAGS, "-O2", "-static", "-o", str(helper),
                    str(SDK / "ioperm.c")], check=True, capture_output=True)
    insn, header, arg_regs = IOPERM[name]
    text = subprocess.run(["objdump", "-d", str(helper)], capture_output=True, text=True,
                          check=True).stdout
    first_call = text[text.index("<_start>:"):].split(insn)[0]
    loads = {r: int(v, 16)
             for v, r in re.findall(r"mov\s+\$0x([0-9a-f]+),%(\w+)", first_call)}
    assert loads.get("eax") == syscall_number(header, "ioperm"), first_call
    assert [loads.get(r) for r in arg_regs] == [0x88, 4, 1], first_call

    if platform.machine() != "x86_64" or shutil.which("gcc") is None:
        return
    reference = tmp_path / "ioperm-libc"
    subprocess.run(["gcc", "-O2", "-o", str(reference), str(SDK / "ioperm-libc.c")],
                   check=True, capture_output=True)
    try:
        got = subprocess.run([str(helper)], timeout=10).returncode
    except OSError as e:  # e.g. a kernel without IA32 emulation
        pytest.skip(f"the instructions are right; cannot run {name} programs here: {e}")
    expected = subprocess.run([str(reference)], timeout=10).returncode
    assert got == expected, f"helper exit {got}, glibc ioperm {expected}"
