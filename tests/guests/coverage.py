"""The coverage test guests (COVERAGE.md): how each is built and booted, and the model
their edge maps are checked against (penguin.h: block id, AFL's edge, NeverZero
counters, hit-count buckets), written here again from the documentation."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from guests.guests import INCLUDE, MALTA, MALTA64, NO_RWX, PSERIES, Boot, Guest, _gnu, _mips

MASK64 = (1 << 64) - 1
BLOCKS = ("start", "loop", "even", "odd", "join", "exit")
ITERATIONS = 16                 # the graph's loop runs over the input's low 16 bits


def _ppc64(defsym: str) -> list[str]:
    return [f"powerpc64-linux-gnu-as -a64 -mbig --defsym PPC64=1 {defsym} -I {INCLUDE} "
            "-o OBJ SRC",
            f"powerpc64-linux-gnu-ld -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
            "powerpc64-linux-gnu-objcopy -O binary OUT.elf OUT.bin"]


COVERAGE_GUESTS = [
    Guest("coverage-arm", "coverage-arm.S",
          _gnu("arm-linux-gnueabi-", "", "-Ttext=0x40000000"), "OUT", "-kernel",
          [Boot("arm", ["-M", "virt"])]),
    Guest("coverage-aarch64", "coverage-aarch64.S",
          _gnu("aarch64-linux-gnu-", "", "-Ttext=0x40000000"), "OUT", "-kernel",
          [Boot("aarch64", ["-M", "virt", "-cpu", "cortex-a57"])]),
    Guest("coverage-mips", "coverage-mips.S", _mips("mips-linux-gnu-", "-EB", False), "OUT",
          "-kernel", [Boot("mips", MALTA)]),
    Guest("coverage-mipsel", "coverage-mips.S", _mips("mipsel-linux-gnu-", "-EL", False),
          "OUT", "-kernel", [Boot("mipsel", MALTA)]),
    Guest("coverage-mips64", "coverage-mips.S",
          _mips("mips64-linux-gnuabi64-", "-EB", True), "OUT", "-kernel",
          [Boot("mips64", MALTA64)]),
    Guest("coverage-mips64el", "coverage-mips.S",
          _mips("mips64el-linux-gnuabi64-", "-EL", True), "OUT", "-kernel",
          [Boot("mips64el", MALTA64)]),
    Guest("coverage-ppce500", "coverage-ppc.S",
          _gnu("powerpc-linux-gnu-", "-a32 -mbig -me500", "-Ttext=0x100000"), "OUT",
          "-kernel", [Boot("ppc", ["-M", "ppce500"])]),
    Guest("coverage-ppc64", "coverage-ppc.S", _ppc64(""), "OUT.bin", "-bios",
          [Boot("ppc64", PSERIES)]),
    Guest("coverage-riscv64", "coverage-riscv64.S",
          _gnu("riscv64-linux-gnu-", "-march=rv64imac", "-Ttext=0x80000000"), "OUT",
          "-kernel", [Boot("riscv64", ["-M", "virt", "-bios", "none"])]),
    Guest("coverage-loongarch64", "coverage-loongarch64.S",
          [f"clang-19 --target=loongarch64-unknown-elf -I {INCLUDE} -c -o OBJ SRC",
           "ld.lld-19 -N -Ttext=0x200000 -e _start -o OUT OBJ"], "OUT", "-kernel",
          [Boot("loongarch64", ["-M", "virt", "-cpu", "la464"])]),
    Guest("coverage-x86", "coverage-x86.S",
          [f"as --32 -I {INCLUDE} -o OBJ SRC",
           f"ld -m elf_i386 -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
           "objcopy -O binary OUT.elf OUT.bin"], "OUT.bin", "-bios",
          [Boot("x86_64", ["-M", "pc", "-nodefaults", "-no-reboot"])]),
]

# Two vCPUs, each running its own copy of the graph (cfg_* on CPU 0, two_* on CPU 1)
# RUNS times on its own input, under MTTCG.
SMP_RUNS = 200
SMP_INPUTS = (0x0000B38D, 0x00005A61)
SMP_GUESTS = [
    Guest("coverage-smp-aarch64", "coverage-aarch64.S",
          _gnu("aarch64-linux-gnu-", "--defsym SMP=1", "-Ttext=0x40000000"), "OUT",
          "-kernel", [Boot("aarch64", ["-M", "virt", "-cpu", "cortex-a57", "-smp", "2"])]),
    Guest("coverage-smp-riscv64", "coverage-riscv64.S",
          _gnu("riscv64-linux-gnu-", "-march=rv64imac --defsym SMP=1",
               "-Ttext=0x80000000"), "OUT", "-kernel",
          [Boot("riscv64", ["-M", "virt", "-bios", "none", "-smp", "2"])]),
]


def mix(pc: int) -> int:
    """MurmurHash3's 64-bit finaliser (penguin.h: the block id before the mask)."""
    pc &= MASK64
    pc ^= pc >> 33
    pc = (pc * 0xFF51AFD7ED558CCD) & MASK64
    pc ^= pc >> 33
    pc = (pc * 0xC4CEB9FE1A85EC53) & MASK64
    return pc ^ (pc >> 33)


def block_id(pc: int, size: int) -> int:
    return mix(pc) & (size - 1)


def path(blocks: dict[str, int], value: int) -> list[int]:
    """The block addresses one run of the graph goes through on input value."""
    seq = [blocks["start"]]
    for i in range(ITERATIONS):
        seq += [blocks["loop"], blocks["odd" if value >> i & 1 else "even"], blocks["join"]]
    return seq + [blocks["exit"]]


def never_zero(hits: int) -> int:
    """A byte counter after hits increments that wrap 255 to 1."""
    return 0 if hits == 0 else (hits - 1) % 255 + 1


def edge_counts(seq: list[int], size: int, prev: int = 0) -> tuple[Counter, int]:
    """AFL's edges of one vCPU running seq: {index: hits} (not yet wrapped) and its
    previous location after it."""
    counts: Counter = Counter()
    for pc in seq:
        cur = block_id(pc, size)
        counts[prev ^ cur] += 1
        prev = cur >> 1
    return counts, prev


def as_map(counts: Counter) -> dict[int, int]:
    return {i: never_zero(n) for i, n in counts.items() if never_zero(n)}


def bucket(n: int) -> int:
    """AFL's hit-count bucket of a counter (1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+)."""
    for limit, value in ((0, 0), (1, 1), (2, 2), (3, 4), (7, 8), (15, 16), (31, 32),
                         (127, 64)):
        if n <= limit:
            return value
    return 128


@dataclass
class Virgin:
    """The cumulative map as penguin_coverage_lap_end keeps it: buckets seen per edge."""
    seen: dict[int, int]

    def lap(self, counters: dict[int, int]) -> dict[str, int]:
        figures = {"edges": len(counters), "hits": sum(counters.values()),
                   "new_edges": 0, "new_buckets": 0}
        for i, n in counters.items():
            before = self.seen.get(i, 0)
            figures["new_edges"] += before == 0
            figures["new_buckets"] += bool(bucket(n) & ~before)
            self.seen[i] = before | bucket(n)
        figures["total_edges"] = len(self.seen)
        return figures
