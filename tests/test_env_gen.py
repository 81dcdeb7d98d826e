"""Unit tests of the env generator (scripts/penguin_envgen, run as
scripts/penguin-env-cffi-gen.py) on small C fixtures.

The fixture (tests/env_fixtures/) is compiled with `gcc -g -shared -fPIC`, the
compiler of the QEMU build, so its DWARF is of the same version. The generated
ABI header is checked against offsetof() printed by a compiled C program, not
only against the DWARF the generator read. No QEMU build is needed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest

from penguin_envgen.abi_emitter import AbiHeader, render_abi_header, verify_abi_header
from penguin_envgen.common import MAIN_HEADER_DECLS, EnvGenError, new_ffi
from penguin_envgen.compile_flags import extract_flags, target_flags
from penguin_envgen.dwarf_index import iter_unit_headers
from penguin_envgen.timing import StepTimer
from penguin_envgen.type_builder import read_model

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "penguin-env-cffi-gen.py"
FIXTURES = Path(__file__).resolve().parent / "env_fixtures"
INCLUDES = ["-I", str(FIXTURES / "include"), "-I", str(FIXTURES / "target" / "fixture")]
PYTHON = "/usr/bin/python3"

pytest.importorskip("elftools")
cffi = pytest.importorskip("cffi")

# Members of the fixture cffi cannot express, as the header lists them.
PADDED = {
    "Bits.f1 (bitfield :3)", "Bits.f2 (bitfield :5)", "Bits.wide (bitfield :40)",
    "Packed7.b (misaligned (packed))", "Packed7.c (misaligned (packed))",
    "Packed5.a (packed record, kept as bytes)", "Packed5.b (packed record, kept as bytes)",
    "CPUArchState.<anonymous>.xbit (bitfield :1)",
    "CPUArchState.top_bit (bitfield :1)", "CPUArchState.top_bits2 (bitfield :7)",
    "CPUArchState.i128 (128-bit integer)", "CPUArchState.u128arr (128-bit integer)",
    "CPUArchState.empty_marker (zero-size type)",
    "CPUArchState.zero_len (zero-length array)", "CPUArchState.flex (zero-length array)",
}


def compile_fixture(out: Path, debug: bool = True) -> Path:
    # Relative source names, as meson gives them: the unit's DW_AT_name is then
    # target/fixture/cpu.c, which the generator searches first.
    cmd = ["gcc", "-shared", "-fPIC", *(["-g"] if debug else []), *INCLUDES,
           "-o", str(out), "other.c", "target/fixture/cpu.c"]
    subprocess.run(cmd, cwd=FIXTURES, check=True)
    return out


def abi_ffi(text: str):
    ffi = cffi.FFI()
    ffi.cdef(MAIN_HEADER_DECLS + text)
    return ffi


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("envgen")


@pytest.fixture(scope="module")
def library(workdir) -> Path:
    return compile_fixture(workdir / "libqemu-system-fixture.so")


@pytest.fixture(scope="module")
def model(library):
    return read_model(library, StepTimer(quiet=True))


@pytest.fixture(scope="module")
def header(model):
    result = render_abi_header(model.env, model.cpu_state_size, new_ffi(),
                               "libqemu-system-fixture.so")
    verify_abi_header(result)
    return result


@pytest.fixture(scope="module")
def emitted_fields(header):
    """{cdef struct name: (C type name, [non-padding field names])} from the header."""
    ffi = abi_ffi(header.text)
    out = {}
    for rec in header.records:
        names = [name for name, _ in ffi.typeof(rec.cdef_name).fields
                 if not name.startswith("_penguin_")]
        out[rec.cdef_name] = (rec.c_name, names)
    return out


@pytest.fixture(scope="module")
def compiler(emitted_fields, workdir) -> dict:
    """offsetof/sizeof of every emitted member, as gcc computes them."""
    lines = ['#include "qemu/osdep.h"', '#include "cpu.h"', "#include <stdio.h>",
             "int main(void) {",
             '  printf("S CPUArchState %zu\\n", sizeof(CPUArchState));',
             '  printf("S CPUState %zu\\n", sizeof(struct CPUState));']
    for cdef_name, (c_name, names) in emitted_fields.items():
        key = cdef_name.replace(" ", ":")
        lines.append(f'  printf("S {key} %zu\\n", sizeof({c_name}));')
        for name in names:
            lines.append(f'  printf("F {key} {name} %zu %zu\\n", '
                         f'offsetof({c_name}, {name}),'
                         f' sizeof((({c_name} *)0)->{name}));')
    lines += ["  return 0;", "}"]
    source = workdir / "offsets.c"
    source.write_text("\n".join(lines) + "\n")
    exe = workdir / "offsets"
    subprocess.run(["gcc", *INCLUDES, "-o", str(exe), str(source)], check=True)
    result = {}
    for line in subprocess.run([str(exe)], check=True, capture_output=True,
                               text=True).stdout.splitlines():
        kind, key, *rest = line.split()
        key = key.replace(":", " ")
        if kind == "S":
            result[key] = int(rest[0])
        else:
            result[(key, rest[0])] = (int(rest[1]), int(rest[2]))
    return result


def run_script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([PYTHON, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=120)


def write_compile_commands(path: Path, command: str, target: str = "fixture") -> Path:
    entry = {"directory": str(path.parent), "command": command,
             "file": str(FIXTURES / "target" / "fixture" / "cpu.c"),
             "output": f"libqemu-{target}-softmmu.a.p/target_fixture_cpu.c.o"}
    path.write_text(json.dumps([entry]))
    return path


def script_args(library: Path, out: Path, compile_commands: Path) -> list[str]:
    return ["--library", str(library), "--target", "fixture",
            "--out-header", str(out / "qemu_cffi_system_fixture_env.h"),
            "--module-dir", str(out / "mod"), "--compile-commands", str(compile_commands),
            "--source-dir", str(FIXTURES), "--build-dir", str(out)]


# ---------------------------------------------------------------------------
# The DWARF walk

def test_finds_arch_state_and_cpu_state(model, compiler):
    assert model.unit_name == "target/fixture/cpu.c"
    assert model.env.size == compiler["CPUArchState"]
    assert model.cpu_state_size == compiler["CPUState"]


def test_refuses_dwarf_versions_pyelftools_cannot_read():
    unit = (7).to_bytes(4, "little") + (6).to_bytes(2, "little") + bytes(5)
    with pytest.raises(EnvGenError, match="DWARF version 6"):
        list(iter_unit_headers(unit, True))


def test_library_without_dwarf_is_an_error(workdir):
    lib = compile_fixture(workdir / "libnodebug.so", debug=False)
    with pytest.raises(EnvGenError, match="no .debug_info"):
        read_model(lib, StepTimer(quiet=True))


# ---------------------------------------------------------------------------
# The ABI header

def test_abi_offsets_equal_the_compilers(header, emitted_fields, compiler):
    ffi = abi_ffi(header.text)
    checked = 0
    for cdef_name, (c_name, names) in emitted_fields.items():
        assert ffi.sizeof(cdef_name) == compiler[cdef_name], cdef_name
        fields = dict(ffi.typeof(cdef_name).fields)
        for name in names:
            got = (fields[name].offset, ffi.sizeof(fields[name].type))
            assert got == compiler[(cdef_name, name)], f"{c_name}.{name}"
            checked += 1
    assert checked > 40
    assert ffi.sizeof("CPUArchState") == compiler["CPUArchState"]


def test_expressible_members_are_emitted_with_their_types(header):
    ffi = abi_ffi(header.text)
    fields = dict(ffi.typeof("struct penguin_env_CPUArchState").fields)
    expect = {
        "gpr": "uint32_t[32]", "inner": "struct penguin_env_Inner",
        "inners": "struct penguin_env_Inner[2][3]", "rows": "uint32_t[2][4]",
        "anon_u": "union penguin_env_CPUArchState_anon_u",
        "w": "uint32_t", "h0": "uint16_t", "h1": "uint16_t", "x": "uint8_t",
        "y": "uint64_t",
        "e1": "uint8_t", "e2": "uint16_t", "e3": "uint32_t", "e4": "uint64_t",
        "op": "void *", "fn": "void *", "self": "void *", "name_ptr": "void *",
        "fpregs": "union penguin_env_FPReg_f[8]", "packed7": "struct penguin_env_Packed7",
        "packed5": "struct penguin_env_Packed5[3]", "flag": "uint8_t", "name": "char[16]",
        "d": "double", "f": "float", "ld": "long double", "matrix": "uint8_t[2][3][4]",
        "ring": "uint64_t[256]", "bytes200": "uint8_t[200]", "last": "uint64_t",
    }
    assert {k: fields[k].type.cname for k in expect} == expect
    inner = dict(ffi.typeof("struct penguin_env_Inner").fields)
    assert inner["c"].type.cname == "int16_t[3][2]"
    anon_u = dict(ffi.typeof("union penguin_env_CPUArchState_anon_u").fields)
    assert set(anon_u) == {"q", "lo", "hi"}


def test_padded_members_are_listed_and_absent(header, emitted_fields):
    assert set(header.padded) == PADDED
    comment = header.text.split("*/", 1)[0]
    for entry in PADDED:
        assert entry in comment
    all_fields = {name for _, names in emitted_fields.values() for name in names}
    for gone in ("f1", "f2", "wide", "xbit", "top_bit", "top_bits2", "i128", "u128arr",
                 "empty_marker", "zero_len", "flex"):
        assert gone not in all_fields


def test_header_cdefs_with_the_main_header_and_client_decls(header, model):
    text = header.text
    for name in ("bool", "vaddr", "CPUState", "MachineState", "target_long",
                 "target_ulong"):
        assert not re.search(rf"\b{name}\s*;", text), name
    assert re.search(rf"^#define PENGUIN_CPU_STATE_SIZE {model.cpu_state_size}$", text,
                     re.M)
    assert text.rstrip().endswith("typedef struct penguin_env_CPUArchState CPUArchState;")
    ffi = cffi.FFI()
    ffi.cdef(MAIN_HEADER_DECLS + "bool penguin_cpu_flag(CPUState *cpu, vaddr a);\n")
    ffi.cdef(text)                       # appended, as the client does, in one FFI
    ffi.cdef("typedef int32_t target_long; typedef uint32_t target_ulong;\n")
    env = ffi.cast("CPUArchState *", 0x1000)
    assert int(ffi.cast("uintptr_t", ffi.addressof(env, "last"))) == \
        0x1000 + ffi.offsetof("CPUArchState", "last")


def test_verification_rejects_a_misplaced_member(header):
    broken = AbiHeader(header.text.replace("    uint8_t _penguin_pad1[48];\n", "", 1),
                       header.records, header.padded, header.env)
    assert broken.text != header.text
    with pytest.raises(EnvGenError, match="does not match the DWARF"):
        verify_abi_header(broken)


# ---------------------------------------------------------------------------
# compile_commands.json

def test_extract_flags_makes_paths_absolute(tmp_path):
    (tmp_path / "cfg.h").write_text("")
    command = ("ccache cc -m64 -Ilibqemu-x.a.p -I../src -isystem../src/linux-headers "
               "-isystem /abs/inc -iquote . -include cfg.h -std=gnu11 -O2 -g -Wall "
               "'-DCONFIG_TARGET=\"x-config-target.h\"' -D FOO=1 -UBAR -pthread -MD "
               "-MQ a.o -MF a.o.d -o a.o -c ../src/a.c")
    flags = extract_flags({"directory": str(tmp_path / "build"), "command": command})
    build, src = tmp_path / "build", tmp_path / "src"
    assert flags == [
        "-m64", f"-I{build / 'libqemu-x.a.p'}", f"-I{src}",
        "-isystem", f"{src / 'linux-headers'}", "-isystem", "/abs/inc",
        "-iquote", str(build), "-include", "cfg.h", "-std=gnu11",
        '-DCONFIG_TARGET="x-config-target.h"', "-DFOO=1", "-UBAR", "-pthread",
    ]


def test_no_compile_commands_entry_for_the_target(tmp_path):
    cc = write_compile_commands(tmp_path / "compile_commands.json", "cc -c x.c",
                                target="other")
    with pytest.raises(EnvGenError, match="no object in libqemu-fixture-softmmu.a.p/"):
        target_flags(cc, "fixture")


# ---------------------------------------------------------------------------
# The whole script, with the API-mode module

def test_script_builds_header_and_module(library, workdir, compiler):
    out = workdir / "ok"
    out.mkdir()
    cc = write_compile_commands(out / "compile_commands.json",
                                f"cc -m64 {' '.join(INCLUDES)} -std=gnu11 -O2 -g -c cpu.c")
    result = run_script(*script_args(library, out, cc))
    assert result.returncode == 0, result.stderr
    assert "total:" in result.stdout
    assert (out / "qemu_cffi_system_fixture_env.h").is_file()
    built = list((out / "mod").glob("_penguin_qemu_env_system_fixture.*.so"))
    assert [p.name for p in built] == ["_penguin_qemu_env_system_fixture.abi3.so"]
    spec = importlib.util.spec_from_file_location("_penguin_qemu_env_system_fixture",
                                                  built[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ffi = module.ffi
    assert ffi.sizeof("CPUArchState") == compiler["CPUArchState"]
    key = "struct penguin_env_CPUArchState"
    for name in ("inners", "rows", "anon_u", "w", "h1", "x", "y", "bits", "e4", "fpregs",
                 "packed5", "ld", "matrix", "last"):
        assert ffi.offsetof("CPUArchState", name) == compiler[(key, name)][0], name
    anon = dict(ffi.typeof("CPUArchState").fields)["anon_u"].type
    assert dict(anon.fields)["hi"].offset == 4
    env = ffi.cast("CPUArchState *", 0)
    assert ffi.typeof(env.gpr) is ffi.typeof("uint32_t[32]")


def test_script_fails_loudly_on_a_bogus_compile_command(library, workdir):
    out = workdir / "bogus"
    out.mkdir()
    cc = write_compile_commands(out / "compile_commands.json",
                                "cc -I/nonexistent/include -DBOGUS -c cpu.c")
    result = run_script(*script_args(library, out, cc))
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("penguin-env-cffi-gen: error: building "
                           "_penguin_qemu_env_system_fixture failed"), result.stderr
    assert "qemu/osdep.h" in result.stderr            # the compiler's reason is shown
    assert not (out / "mod").exists() or not list((out / "mod").glob("*.so"))


def test_script_reports_a_missing_library(workdir):
    out = workdir / "missing"
    out.mkdir()
    cc = write_compile_commands(out / "compile_commands.json", "cc -c cpu.c")
    result = run_script(*script_args(workdir / "nope.so", out, cc))
    assert result.returncode == 1
    missing = workdir / "nope.so"
    assert result.stderr.strip() == \
        f"penguin-env-cffi-gen: error: {missing}: no such library"


def test_missing_pyelftools_is_a_clear_error(library, tmp_path):
    shadow = tmp_path / "shadow" / "elftools"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    cc = write_compile_commands(tmp_path / "compile_commands.json", "cc -c cpu.c")
    result = subprocess.run([PYTHON, str(SCRIPT), *script_args(library, tmp_path, cc)],
                            capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": str(shadow.parent), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 1
    assert result.stderr.strip().startswith(
        "penguin-env-cffi-gen: error: pyelftools is required (Debian: python3-pyelftools)")
