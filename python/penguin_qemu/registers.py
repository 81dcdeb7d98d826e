"""Register names to GDB numbers, per ISA family (the numbers CONTRACT section 5 uses)."""

from __future__ import annotations


def _names(names: list[str], start: int = 0) -> dict[str, int]:
    return {name: start + i for i, name in enumerate(names)}


def _numbered(prefix: str, count: int) -> dict[str, int]:
    return {f"{prefix}{i}": i for i in range(count)}


_MIPS = {
    **_numbered("r", 32),
    **_names(["zero", "at", "v0", "v1", "a0", "a1", "a2", "a3", "t0", "t1", "t2", "t3",
              "t4", "t5", "t6", "t7", "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "t8",
              "t9", "k0", "k1", "gp", "sp", "fp", "ra"]),
    "s8": 30, "sr": 32, "lo": 33, "hi": 34, "badvaddr": 35, "cause": 36, "pc": 37,
}

# x86_64's GDB numbering is the 64-bit one in every CPU mode (QEMU's x86_64 target
# always maps rax rbx rcx rdx ...), so there is no separate i386 table.
FAMILIES: dict[str, dict[str, int]] = {
    "x86_64": {
        **_names(["rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp"]),
        **{f"r{i}": i for i in range(8, 16)},
        "rip": 16, "pc": 16, "sp": 7, "eflags": 17,
    },
    "arm": {**_numbered("r", 16), "sp": 13, "lr": 14, "pc": 15, "cpsr": 25},
    "aarch64": {**_numbered("x", 31), "lr": 30, "sp": 31, "pc": 32, "cpsr": 33},
    "mips": _MIPS,
    # n32/n64 name $8..$11 a4..a7
    "mips64": {**_MIPS, "a4": 8, "a5": 9, "a6": 10, "a7": 11},
    "ppc": {**_numbered("r", 32), "sp": 1, "nip": 64, "pc": 64, "msr": 65, "cr": 66,
            "lr": 67, "ctr": 68, "xer": 69},
    "riscv64": {
        **_numbered("x", 32),
        **_names(["zero", "ra", "sp", "gp", "tp", "t0", "t1", "t2", "s0", "s1", "a0", "a1",
                  "a2", "a3", "a4", "a5", "a6", "a7", "s2", "s3", "s4", "s5", "s6", "s7",
                  "s8", "s9", "s10", "s11", "t3", "t4", "t5", "t6"]),
        "fp": 8, "pc": 32,
    },
    "loongarch64": {
        **_numbered("r", 32),
        **_names(["zero", "ra", "tp", "sp", "a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7",
                  "t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "r21", "fp", "s0",
                  "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8"]),
        "pc": 33,
    },
}

# Registers of the hypercall convention (CONTRACT section 4): nr, a0..a5, ret.
CONVENTIONS: dict[str, tuple[str, list[str], str]] = {
    "x86_64": ("rax", ["rdi", "rsi", "rdx", "r10", "r8", "r9"], "rax"),
    "arm": ("r7", ["r0", "r1", "r2", "r3", "r4", "r5"], "r0"),
    "aarch64": ("x8", ["x0", "x1", "x2", "x3", "x4", "x5"], "x0"),
    "mips": ("v0", ["a0", "a1", "a2", "a3", "t0", "t1"], "v0"),
    "mips64": ("v0", ["a0", "a1", "a2", "a3", "a4", "a5"], "v0"),
    "ppc": ("r0", ["r3", "r4", "r5", "r6", "r7", "r8"], "r3"),
    "riscv64": ("a7", ["a0", "a1", "a2", "a3", "a4", "a5"], "a0"),
    "loongarch64": ("a7", ["a0", "a1", "a2", "a3", "a4", "a5"], "a0"),
}

_TARGET_FAMILY = {"arm": "arm", "aarch64": "aarch64", "mips": "mips", "mipsel": "mips",
                  "mips64": "mips64", "mips64el": "mips64", "ppc": "ppc", "ppc64": "ppc",
                  "riscv64": "riscv64", "loongarch64": "loongarch64", "x86_64": "x86_64"}


def family_of(qemu_target: str) -> str:
    """The register family of a QEMU target such as mips64el-softmmu."""
    target = qemu_target.removesuffix("-softmmu")
    try:
        return _TARGET_FAMILY[target]
    except KeyError:
        raise KeyError(f"no register table for target {qemu_target!r}") from None


def regnum(family: str, name: str) -> int:
    try:
        return FAMILIES[family][name.lower()]
    except KeyError:
        raise KeyError(f"no register {name!r} on {family}") from None
