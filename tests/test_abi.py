"""One robust C ABI (include/penguin/penguin.h): libraries that always load, a version
handshake, penguin.h as the one source of the cffi declarations, callbacks set any
number of times without leaking, and the client's register and lifecycle defects."""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import ARCHES, REPO, STAGE, run_helper
from guests.guests import GUESTS

ABI_1_4 = 0x10004
X86 = next(g for g in GUESTS if g.name == "x86")
AARCH64 = next(g for g in GUESTS if g.name == "aarch64")


def result_of(proc) -> dict:
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"rc={proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def guest_args(guest, boot, tmp_path, *extra: str) -> list[str]:
    return [*boot.machine, *extra, guest.load, str(guest.build()), "-nodefaults",
            "-display", "none", "-monitor", "none",
            "-serial", f"file:{tmp_path / 'console'}"]


def test_every_library_loads_in_one_process(stage):
    """All 11 libraries, one after another, in one process: TLS descriptors leave glibc
    free to place each one's thread-locals in dynamic TLS once static TLS is used up
    (initial-exec failed at the third)."""
    versions = result_of(run_helper("abi_checks.py", "load-all", str(stage)))["versions"]
    assert len(versions) == len({a.target for a in ARCHES}) == 11
    assert set(versions.values()) == {ABI_1_4}, versions


def test_loads_and_boots_without_any_static_tls_surplus(stage, tmp_path):
    """A process whose static TLS surplus is zero still loads a library and boots."""
    boot = AARCH64.boots[0]
    spec = {"library": str(STAGE / "lib" / "libqemu-system-aarch64.so"), "name": "aarch64",
            "result": str(tmp_path / "result.json"), "probe_bad_inputs": False,
            "registers": {"pc": 32, "args": [0, 1, 2, 3, 4, 5], "env_pc": "pc",
                          "env_args": [f"xregs[{i}]" for i in range(6)]},
            "args": guest_args(AARCH64, boot, tmp_path)}
    proc = run_helper("hypercall_guest.py", json.dumps(spec),
                      env={"GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=0"})
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "result.json").read_text())["verdict"] == 0


def exported(library) -> set[str]:
    out = subprocess.run(["nm", "-D", "--defined-only", str(library)], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def header_functions(text: str) -> set[str]:
    """The names a cffi header declares as functions or data (comments and #defines
    dropped first)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    names = set()
    for decl in text.split(";"):
        decl = " ".join(decl.split())
        if not decl or decl.startswith(("typedef", "#", "/*")) or "(" not in decl:
            continue
        m = re.search(r"\(\*\s*(\w+)\)\s*\(", decl) or re.search(r"(\w+)\s*\(", decl)
        names.add(m.group(1))
    return names


def internal_functions() -> set[str]:
    """What our internal headers (include/penguin/ but penguin.h: what patched upstream
    files and our sources call or read) declare, functions and extern variables:
    exported, since the library exports every symbol, but not ABI."""
    names: set[str] = set()
    for header in (REPO / "include" / "penguin").glob("*.h"):
        if header.name != "penguin.h":
            code = re.sub(r"/\*.*?\*/|//[^\n]*", "", header.read_text(), flags=re.S)
            names |= set(re.findall(r"\b(penguin_\w+|set_\w*penguin\w*)\s*\(", code))
            names |= set(re.findall(r"\bextern\s+[\w\s*]+?\b(penguin_\w+)\s*;", code))
    return names


@pytest.mark.parametrize("arch", ARCHES, ids=lambda a: a.name)
def test_cffi_header_declares_exactly_the_penguin_abi(stage, arch):
    """Every exported penguin_* and set_*penguin* function is declared in the cffi
    header, and the header declares nothing the library lacks (it is generated from
    penguin.h, so this is also penguin.h against the library)."""
    header = (stage / "include" / "penguin-qemu-cffi" / f"qemu_cffi_system_{arch.name}.h")
    declared = header_functions(header.read_text())
    ours = {s for s in exported(stage / "lib" / arch.library)
            if s.startswith("penguin_") or re.match(r"set_\w*penguin", s)}
    internal = internal_functions()
    assert ours - internal <= declared, sorted(ours - internal - declared)
    assert declared <= exported(stage / "lib" / arch.library)
    # The ABI header itself must not grow internal names either.
    assert not declared & internal


@pytest.fixture(scope="module")
def shipped_include(tmp_path_factory) -> Path:
    """include/ as dist/penguin-qemu.tar.gz ships it."""
    root = tmp_path_factory.mktemp("shipped")
    subprocess.run(["tar", "-C", str(root), "-xzf",
                    str(REPO / "dist" / "penguin-qemu.tar.gz"), "include"], check=True)
    return root / "include"


@pytest.mark.parametrize("compiler,std", [("gcc", "-std=c11"), ("gcc", "-std=gnu99"),
                                          ("g++", "-std=c++17")])
def test_penguin_h_compiles_warning_free(shipped_include, tmp_path, compiler, std):
    """The shipped penguin.h in a C (and C++) program, -Wall -Wextra -Werror -pedantic,
    using its typedefs and constants."""
    include = shipped_include
    assert (include / "penguin-qemu" / "penguin.h").is_file()
    source = tmp_path / ("embed.cc" if compiler == "g++" else "embed.c")
    source.write_text(textwrap.dedent("""\
        #include <penguin-qemu/penguin.h>
        #include <stdio.h>
        static int on_call(CPUState *cs, uint64_t nr, uint64_t a0, uint64_t a1,
                           uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                           uint64_t *ret, void *opaque)
        {
            (void)cs; (void)opaque;
            *ret = nr + a0 + a1 + a2 + a3 + a4 + a5;
            return 0;
        }
        int main(void)
        {
            penguin_guest_hypercall_cb_t cb = on_call;
            penguin_qmp_handler_cb_t handler = 0;
            printf("%d %d %d %d\\n", PENGUIN_ABI_VERSION, PENGUIN_QMP_DONE,
                   cb != 0, handler == 0);
            return 0;
        }
        """))
    r = subprocess.run([compiler, std, "-Wall", "-Wextra", "-Werror", "-pedantic",
                        "-I", str(include), "-c", "-o", str(tmp_path / "embed.o"),
                        str(source)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_client_refuses_an_unknown_abi_major(stage):
    code = textwrap.dedent(f"""\
        import penguin_qemu.qemu as q
        q.ABI_MAJOR = 2
        try:
            q.Qemu("mipsel", prefix=__import__("pathlib").Path({str(stage)!r}))
        except q.QemuError as e:
            print("REFUSED", e)
        """)
    r = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                       env={"PYTHONPATH": str(REPO / "python")})
    assert "REFUSED" in r.stdout, r.stdout + r.stderr
    assert "implements Penguin ABI 1.4" in r.stdout and "knows ABI 2.x only" in r.stdout


def test_setting_callbacks_does_not_leak(stage):
    """Each set replaces a pair and frees the old one (once no reader can see it):
    500,000 sets of the five settable pairs leave the process size flat."""
    result = result_of(run_helper("abi_checks.py", "leak", str(stage), "mipsel", "100000",
                                  timeout=120))
    assert result["after"] - result["before"] < 4096, result   # a leak would be ~16 MiB


def test_second_run_in_one_process_is_an_error(stage, tmp_path):
    boot = AARCH64.boots[0]
    result = result_of(run_helper("abi_checks.py", "run-twice", str(stage), "aarch64", "--",
                                  *guest_args(AARCH64, boot, tmp_path)))
    assert result["first"] == 0
    assert "one VM per process" in result["second"], result


def test_x86_set_arg_follows_the_code_size(stage, tmp_path):
    """set_arg(0) writes ebx in 32-bit code and rdi in 64-bit code (GDB numbers 1 and 5
    of the x86_64 library, whose numbering is the 64-bit one in every mode)."""
    boot = X86.boots[0]
    result = result_of(run_helper("abi_checks.py", "registers", str(stage), "x86_64", "--",
                                  *guest_args(X86, boot, tmp_path)))
    assert result["set_arg32"] == [1] and result["set_arg64"] == [5], result


def test_wide_registers_and_pc_writes(stage, tmp_path):
    """aarch64 -cpu max: the client reads a 256-byte SVE register whole; a PC write from a
    callback, which TCG could not honour, is refused and undone."""
    boot = AARCH64.boots[0]
    machine = [a for a in boot.machine if a not in ("-cpu", "cortex-a57")]
    result = result_of(run_helper("abi_checks.py", "registers", str(stage), "aarch64", "--",
                                  *machine, "-cpu", "max", AARCH64.load,
                                  str(AARCH64.build()), "-nodefaults", "-display", "none",
                                  "-monitor", "none",
                                  "-serial", f"file:{tmp_path / 'console'}"))
    regnum, width, client_width = result["widest"]
    assert width >= 256 and client_width == width, result
    assert "moves the PC" in result["pc_write"] and "(-16)" in result["pc_write"], result
    assert result["pc_after"][0] == result["pc_after"][1]
