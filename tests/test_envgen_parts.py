"""Unit tests of the parts of scripts/penguin_envgen: the DWARF unit index, the model,
the one naming both emitters use, the layout check, the compile flags, the timer and
the module's installation. tests/test_env_gen.py runs the whole generator on a compiled
fixture; these check each part on inputs small enough to state the answer."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from penguin_envgen.abi_emitter import render_abi_header, verify_abi_header
from penguin_envgen.api_emitter import render_api_cdef
from penguin_envgen.build import install_file, log_tail
from penguin_envgen.common import EnvGenError, new_ffi
from penguin_envgen.compile_flags import entry_output, extract_flags, select_entry, \
    split_option
from penguin_envgen.dwarf_index import UnitNamer, candidate_units, is_target_unit, \
    iter_unit_headers, read_sleb, read_uleb
from penguin_envgen.dwarf_reader import open_dwarf
from penguin_envgen.layout_check import FieldCheck, check_records
from penguin_envgen.model import Array, Member, Pointer, Record, Scalar, Unsupported, \
    align_up, dims_suffix, element_of, member_problem
from penguin_envgen.naming import name_types
from penguin_envgen.timing import StepTimer
from penguin_envgen.type_builder import read_model

FIXTURES = Path(__file__).resolve().parent / "env_fixtures"

cffi = pytest.importorskip("cffi")


def u32() -> Scalar:
    return Scalar("uint32_t", 4)


def struct_of(tag: str | None, size: int, *members: Member, kind: str = "struct",
              complete: bool = True) -> Record:
    return Record(kind, tag, None, size, complete, 0, list(members))


# ---------------------------------------------------------------------------
# dwarf_index: LEB128 and unit headers

@pytest.mark.parametrize("encoded, value", [
    (b"\x02", 2), (b"\x7f", 127), (b"\x80\x01", 128), (b"\x81\x01", 129),
    (b"\xb9\x64", 12857), (b"\xff\xff\xff\xff\x0f", 0xFFFFFFFF)])
def test_read_uleb(encoded, value):
    assert read_uleb(b"\xaa" + encoded + b"\xbb", 1) == (value, 1 + len(encoded))


@pytest.mark.parametrize("encoded, value", [
    (b"\x02", 2), (b"\x7e", -2), (b"\xff\x00", 127), (b"\x81\x7f", -127),
    (b"\x80\x01", 128), (b"\x80\x7f", -128)])
def test_read_sleb(encoded, value):
    assert read_sleb(encoded, 0) == (value, len(encoded))


def unit_v4(length_after: int, abbrev: int, little: bool) -> bytes:
    e = "<" if little else ">"
    return struct.pack(e + "IHIB", 7 + length_after, 4, abbrev, 8) + bytes(length_after)


def test_unit_headers_of_dwarf4_both_byte_orders():
    for little in (True, False):
        info = unit_v4(5, 0x30, little) + unit_v4(2, 0x40, little)
        first, second = iter_unit_headers(info, little)
        assert (first.offset, first.version, first.abbrev_offset, first.address_size,
                first.offset_size, first.die_offset, first.end) == \
            (0, 4, 0x30, 8, 4, 11, 16)
        assert (second.offset, second.abbrev_offset, second.die_offset) == (16, 0x40, 27)


def test_unit_header_of_dwarf5_compile_and_skeleton_units():
    compile_unit = struct.pack("<IHBBI", 8 + 3, 5, 1, 8, 0x10) + bytes(3)
    skeleton = struct.pack("<IHBBIQ", 16 + 1, 5, 4, 8, 0x20, 0x1234) + bytes(1)
    cu, skel = iter_unit_headers(compile_unit + skeleton, True)
    assert (cu.unit_type, cu.abbrev_offset, cu.die_offset, cu.end) == (1, 0x10, 12, 15)
    assert (skel.unit_type, skel.abbrev_offset, skel.die_offset) == (4, 0x20, 15 + 20)


def test_unit_header_of_64_bit_dwarf():
    info = struct.pack("<IQHQB", 0xFFFFFFFF, 11 + 2, 4, 0x50, 8) + bytes(2)
    (unit,) = iter_unit_headers(info, True)
    assert (unit.offset_size, unit.abbrev_offset, unit.die_offset, unit.end) == \
        (8, 0x50, 23, 25)


def test_target_units():
    assert is_target_unit("../src/target/arm/cpu.c")
    assert is_target_unit("target/arm/cpu.c")
    assert not is_target_unit("hw/arm/virt.c")
    assert not is_target_unit("../src/mytarget/cpu.c")


@pytest.fixture(scope="module")
def fixture_library(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("envgen-parts") / "libqemu-system-fixture.so"
    # Relative source names, as meson gives them: DW_AT_name target/fixture/cpu.c.
    subprocess.run(["gcc", "-shared", "-fPIC", "-g", "-I", "include", "-I",
                    "target/fixture", "-o", str(out), "other.c", "target/fixture/cpu.c"],
                   cwd=FIXTURES, check=True)
    return out


def test_unit_names_read_without_pyelftools_and_cpu_c_first(fixture_library):
    pytest.importorskip("elftools")
    src = open_dwarf(fixture_library)
    try:
        names = [src.namer.name(u) for u in src.units]
        order = [src.namer.name(u) for u in candidate_units(src.units, src.namer)]
    finally:
        src.handle.close()
    assert names == ["other.c", "target/fixture/cpu.c"]
    assert order == ["target/fixture/cpu.c", "other.c"]


def test_unit_namer_gives_up_on_garbage():
    (unit,) = iter_unit_headers(unit_v4(4, 0, True), True)
    namer = UnitNamer(unit_v4(4, 0, True), b"", b"", b"")
    assert namer.name(unit) is None


# ---------------------------------------------------------------------------
# model

def test_member_problems():
    assert member_problem(Member("b", 0, u32(), 3)) == "bitfield :3"
    assert member_problem(Member("z", 0, Array(u32(), (0,), 0), None)) == \
        "zero-length array"
    assert member_problem(Member("i", 0, Unsupported("128-bit integer", 16), None)) == \
        "128-bit integer"
    opaque = struct_of("Opaque", 0, complete=False)
    assert member_problem(Member("o", 0, opaque, None)) == "incomplete type"
    assert member_problem(Member("e", 0, struct_of("Empty", 0), None)) == "zero-size type"
    assert member_problem(Member("ok", 0, Array(u32(), (2, 3), 24), None)) is None
    assert member_problem(Member("p", 0, Pointer(8), None)) is None


def test_model_helpers():
    arr = Array(u32(), (2, 3), 24)
    assert dims_suffix(arr) == "[2][3]" and dims_suffix(u32()) == ""
    assert element_of(arr) is arr.elem and isinstance(element_of(Pointer(8)), Pointer)
    assert [align_up(v, 8) for v in (0, 1, 8, 9)] == [0, 8, 8, 16]
    assert struct_of(None, 4, kind="union").label() == "<anonymous union>"


# ---------------------------------------------------------------------------
# naming: one name per record, the same in both emitters

C_DEFINITION = """
#include <stdint.h>
struct CPUArchState_u { uint32_t a; };
struct CPUArchState {
    struct CPUArchState_u other;
    union { uint32_t b; struct { uint32_t z; } n; } u;
    struct { uint16_t c; } arr[2];
    struct { struct { uint32_t w; } v; };
};
"""


@pytest.fixture
def env() -> Record:
    """The model of C_DEFINITION's struct CPUArchState: a tag that is also the natural
    name of an anonymous member's type, an anonymous type inside an anonymous type, an
    array of an anonymous type and a named member inside an anonymous member."""
    other = struct_of("CPUArchState_u", 4, Member("a", 0, u32(), None))
    n = struct_of(None, 4, Member("z", 0, u32(), None))
    u = struct_of(None, 4, Member("b", 0, u32(), None), Member("n", 0, n, None),
                  kind="union")
    c = struct_of(None, 2, Member("c", 0, Scalar("uint16_t", 2), None))
    v = struct_of(None, 4, Member("w", 0, u32(), None))
    inline = struct_of(None, 4, Member("v", 0, v, None))
    return struct_of("CPUArchState", 16, Member("other", 0, other, None),
                     Member("u", 4, u, None), Member("arr", 8, Array(c, (2,), 4), None),
                     Member(None, 12, inline, None))


def test_names_are_unique_and_first_come(env):
    names = name_types(env)
    other, u = env.members[0].type, env.members[1].type
    assert names.of(other).base == "CPUArchState_u"
    assert names.of(u).base == "CPUArchState_u_2"
    assert names.of(u.members[1].type).base == "CPUArchState_u_2_n"
    assert names.of(env.members[2].type.elem).base == "CPUArchState_arr"
    assert names.of(env.members[3].type.members[0].type).base == "CPUArchState_v"


def test_both_emitters_use_the_same_names(env):
    names = name_types(env)
    header = render_abi_header(env, 64, new_ffi(), "libtest.so", names)
    verify_abi_header(header)
    api = render_api_cdef(env, names)
    abi_of = {id(r.record): r.cdef_name for r in header.records}
    anonymous = [r for r in api.records if not r.record.tag]
    assert len(anonymous) == 4
    for rec in anonymous:
        assert abi_of[id(rec.record)] == f"{rec.record.kind} {rec.c_name}"
    assert "union penguin_env_CPUArchState_u_2 u;" in header.text
    assert "penguin_env_CPUArchState_u_2 u;" in api.text
    assert "struct CPUArchState_u other;" in api.text


def test_module_typedefs_compile_owner_first(env, tmp_path):
    names = name_types(env)
    typedefs = names.module_typedefs()
    assert typedefs == [
        "typedef __typeof__(((struct CPUArchState *)0)->u) penguin_env_CPUArchState_u_2;",
        "typedef __typeof__(((penguin_env_CPUArchState_u_2 *)0)->n) "
        "penguin_env_CPUArchState_u_2_n;",
        "typedef __typeof__(((struct CPUArchState *)0)->arr[0]) "
        "penguin_env_CPUArchState_arr;",
        "typedef __typeof__(((struct CPUArchState *)0)->v) penguin_env_CPUArchState_v;",
    ]
    # Every name and every C spelling is a C type of the right size.
    checks = [f"_Static_assert(sizeof({name.c_name}) == {size}, \"{name.base}\");\n"
              f"_Static_assert(sizeof({name.c_spelling}) == {size}, \"{name.base}\");"
              for name, size in ((names.of(r), r.size) for r in records_of(env))]
    source = tmp_path / "names.c"
    source.write_text(C_DEFINITION + "\n".join(typedefs + checks) + "\n")
    subprocess.run(["gcc", "-std=gnu11", "-fsyntax-only", "-Werror", str(source)],
                   check=True)


def records_of(record: Record) -> list[Record]:
    """record and every record its members reach, depth first."""
    found = [record]
    for member in record.members:
        elem = element_of(member.type)
        if isinstance(elem, Record):
            found += records_of(elem) if member.name else records_of(elem)[1:]
    return found


def test_the_fixtures_anonymous_types_have_one_name(fixture_library):
    pytest.importorskip("elftools")
    model = read_model(fixture_library, StepTimer(quiet=True))
    names = name_types(model.env)
    header = render_abi_header(model.env, model.cpu_state_size, new_ffi(), "x.so", names)
    api = render_api_cdef(model.env, names)
    abi_of = {id(r.record): r.cdef_name for r in header.records}
    anonymous = [r for r in api.records if not (r.record.tag or r.record.typedef)]
    assert [r.c_name for r in anonymous] == ["penguin_env_CPUArchState_anon_u"]
    for rec in anonymous:
        assert abi_of[id(rec.record)] == f"{rec.record.kind} {rec.c_name}"


# ---------------------------------------------------------------------------
# api_emitter: partial structs, members left to the compiler

def test_api_cdef_is_partial_and_lists_what_it_leaves_out():
    env = struct_of("CPUArchState", 8, Member("a", 0, u32(), None),
                    Member("bits", 4, u32(), 3))
    api = render_api_cdef(env)
    assert api.text == ("struct CPUArchState {\n    uint32_t a;\n    ...;\n};\n\n"
                        "typedef struct CPUArchState CPUArchState;\n")
    assert api.dropped == ["CPUArchState.bits (bitfield :3)"]
    assert api.source == '#include "qemu/osdep.h"\n#include "cpu.h"\n'


# ---------------------------------------------------------------------------
# layout_check

def test_check_records_reports_size_offset_and_missing_members():
    ffi = cffi.FFI()
    ffi.cdef("struct S { uint32_t a; uint16_t b; };")
    record = struct_of("S", 8)
    checks = [FieldCheck(("a",), 0, 4), FieldCheck(("b",), 4, 2)]
    assert check_records(ffi, [("struct S", record, checks)]) == []
    wrong = struct_of("S", 12)
    errors = check_records(ffi, [("struct S", wrong, [FieldCheck(("b",), 6, 2),
                                                      FieldCheck(("c",), 8, 4)])])
    assert errors == ["sizeof(struct S) is 8, DWARF says 12",
                      "struct S.b at offset 4 size 2, DWARF says offset 6 size 2",
                      "struct S.c is missing"]


# ---------------------------------------------------------------------------
# compile_flags

def test_entry_output_and_selection():
    entries = [
        {"file": "../src/hw/x.c", "command": "cc -o libqemu-arm-softmmu.a.p/x.c.o -c x"},
        {"file": "../src/target/arm/cpu.c",
         "arguments": ["cc", "-o", "libqemu-arm-softmmu.a.p/cpu.c.o", "-c", "cpu.c"]},
        {"file": "../src/target/mips/cpu.c", "output": "libqemu-mips-softmmu.a.p/c.o"},
    ]
    assert entry_output(entries[0]) == "libqemu-arm-softmmu.a.p/x.c.o"
    assert entry_output({"command": "cc -c x.c"}) == ""
    assert select_entry(entries, "arm") is entries[1]
    assert select_entry(entries, "mips") is entries[2]
    with pytest.raises(EnvGenError, match="no object in libqemu-ppc-softmmu.a.p/"):
        select_entry(entries, "ppc")


def test_split_option_takes_the_longest_option():
    assert split_option("-isystem/usr/inc") == ("-isystem", "/usr/inc")
    assert split_option("-I/usr/inc") == ("-I", "/usr/inc")
    assert split_option("-include") == ("-include", None)
    assert split_option("-O2") is None


def test_an_option_without_its_value_is_an_error():
    with pytest.raises(EnvGenError, match="-include without a value"):
        extract_flags({"directory": "/b", "command": "cc -c x.c -include"})


# ---------------------------------------------------------------------------
# timing and build

def test_step_timer_records_and_prints(capsys):
    timer = StepTimer()
    with timer.step("read"):
        pass
    assert [name for name, _ in timer.steps] == ["read"]
    assert capsys.readouterr().out.startswith("penguin-env-cffi-gen: read: 0.")
    quiet = StepTimer(quiet=True)
    with quiet.step("x"):
        pass
    quiet.say("nothing")
    assert capsys.readouterr().out == "" and len(quiet.steps) == 1


def test_install_file_replaces_the_module_of_other_names(tmp_path):
    built = tmp_path / "built.so"
    built.write_bytes(b"module")
    out = tmp_path / "env"
    out.mkdir()
    (out / "_penguin_qemu_env_system_x.cpython-311-x86_64-linux-gnu.so").write_bytes(b"old")
    (out / "_penguin_qemu_env_system_y.abi3.so").write_bytes(b"other target")
    dest = install_file(built, out, "_penguin_qemu_env_system_x")
    assert dest == out / "_penguin_qemu_env_system_x.abi3.so"
    assert sorted(p.name for p in out.iterdir()) == [
        "_penguin_qemu_env_system_x.abi3.so", "_penguin_qemu_env_system_y.abi3.so"]
    assert dest.read_bytes() == b"module" and dest.stat().st_mode & 0o777 == 0o644


def test_log_tail_shows_the_errors(tmp_path):
    log = tmp_path / "cc.log"
    log.write_text("note: a\nx.c:1: error: no qemu/osdep.h\nnote: b\n")
    assert log_tail(log) == "x.c:1: error: no qemu/osdep.h"
    log.write_text("line 1\nline 2\n")
    assert log_tail(log, lines=1) == "line 2"
    assert log_tail(tmp_path / "missing.log") == ""
