#!/usr/bin/python3
"""Hypercall round trips per second: C callback, Python cffi callback, and a no-op loop.

For each architecture (mipsel, aarch64, x86_64) a bare-metal guest (bench/guests/) makes
one NR_START hypercall, then ITER hypercalls NR_LOOP in a four-instruction loop, then
one NR_DONE hypercall. The same loop is also assembled with the sentinel replaced by an
architectural no-op of the same length ("noop"), which gives the cost of the loop
itself. The time measured is the wall time between the NR_START and NR_DONE callbacks
(CLOCK_MONOTONIC, taken inside the callback), so QEMU start-up and shutdown are not in it.

Variants:
  c       the C callback of bench/hypercall_cb.c (counts, returns a0 + 1)
  python  a raw cffi callback (ffi.callback) doing the same in Python
  client  the penguin_qemu client's handler path (Qemu.on_hypercall); not run by default
  noop    the no-op loop; NR_START/NR_DONE go to the C callback

Every run is a fresh process (one VM per process, as QEMU's globals require), run one at
a time; each (arch, variant) is run --runs times and the median is reported.
  ns/hypercall = t_variant / N_variant - t_noop / N_noop   (the cost over the no-op loop)
  ratio        = (t_variant / N_variant) / (t_noop / N_noop)

usage: bench/hypercall_rate.py [--runs 5] [--scale 1.0] [--markdown] [--arch A ...]
                               [--variant V ...] [--stage DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
INCLUDE = REPO / "tests" / "guests" / "include"  # the guests' .include files
NR_LOOP, NR_DONE, NR_START = 0x50454E42, 0x50454E43, 0x50454E44
SHUTDOWN_CAUSE_HOST_QMP_QUIT = 2
NO_RWX = "--no-warn-rwx-segments"
CB_CDEF = """
int bench_hypercall_cb(CPUState *cs, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t *ret, void *opaque);
void bench_results(uint64_t *out);
"""


@dataclass(frozen=True)
class Arch:
    name: str                    # library name: libqemu-system-<name>.so
    source: str                  # under bench/guests/
    commands: list[str]          # shell; SRC, OBJ, OUT and DEFS are substituted
    image: str                   # the file QEMU loads (OUT or OUT.bin)
    load: str                    # -kernel or -bios
    machine: list[str]
    a0: int                      # the guest's a0 in NR_LOOP calls
    word_bits: int
    noop_last: int               # return register after the no-op loop

    def expected_last(self, variant: str) -> int:
        """NR_DONE's a0: the return register after the loop."""
        if variant == "noop":
            return self.noop_last
        return (self.a0 + 1) & ((1 << self.word_bits) - 1)


ARCHES = {
    "mipsel": Arch(
        "mipsel", "loop-mipsel.S",
        [f"mipsel-linux-gnu-as -non_shared -march=mips32r2 -EL -I {INCLUDE} DEFS "
         "-o OBJ SRC",
         f"mipsel-linux-gnu-ld -N {NO_RWX} -EL -Ttext-segment=0x80100000 -e _start "
         "-o OUT OBJ"],
        "OUT", "-kernel", ["-M", "malta", "-vga", "none", "-nic", "none"],
        a0=0x11111111, word_bits=32, noop_last=NR_LOOP),
    "aarch64": Arch(
        "aarch64", "loop-aarch64.S",
        [f"aarch64-linux-gnu-as -I {INCLUDE} DEFS -o OBJ SRC",
         f"aarch64-linux-gnu-ld -N {NO_RWX} -Ttext=0x40000000 -e _start -o OUT OBJ"],
        "OUT", "-kernel", ["-M", "virt", "-cpu", "cortex-a57"],
        a0=0x1111111111111111, word_bits=64, noop_last=0x1111111111111111),
    "x86_64": Arch(
        "x86_64", "loop-x86_64.S",
        [f"as --32 -I {INCLUDE} DEFS -o OBJ SRC",
         f"ld -m elf_i386 -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
         "objcopy -O binary OUT.elf OUT.bin"],
        "OUT.bin", "-bios", ["-M", "pc", "-no-reboot"],
        a0=0x11111111, word_bits=32, noop_last=NR_LOOP),
}
VARIANTS = ["c", "python", "client", "noop"]
DEFAULT_VARIANTS = ["c", "python", "noop"]
# Loop iterations per run at --scale 1: about 0.5 to 1.5 s each on a 2-core AMD EPYC VM.
ITERATIONS = {name: {"c": 80_000_000, "python": 3_000_000, "client": 1_500_000,
                     "noop": 500_000_000} for name in ARCHES}
VARIANT_TITLES = {"c": "C callback", "python": "Python cffi callback",
                  "client": "penguin_qemu handler", "noop": "no-op loop"}


# ---------------------------------------------------------------- child: one VM


def child(spec: dict) -> int:
    """Boot one guest through the library with one kind of callback; write what it saw."""
    sys.path.insert(0, str(REPO / "python"))
    from penguin_qemu import Qemu  # noqa: PLC0415 - needs the path above

    qemu = Qemu(spec["name"], library=spec["library"])
    ffi, lib = qemu.ffi, qemu.lib
    variant = spec["variant"]
    seen: dict = {"calls": 0, "t_start_ns": 0, "t_done_ns": 0, "done_a0": None}
    keep: list = []      # cffi objects that must outlive the VM

    if variant in ("c", "noop"):
        ffi.cdef(CB_CDEF)
        cb = ffi.dlopen(spec["callback_so"], os.RTLD_NOW)
        keep.append(cb)
        lib.set_penguin_guest_hypercall_callback(cb.bench_hypercall_cb, ffi.NULL)
    elif variant == "python":
        state = {"calls": 0}
        now = time.perf_counter_ns            # CLOCK_MONOTONIC, as the C callback uses

        def on_guest(cs, nr, a0, a1, a2, a3, a4, a5, ret, opaque) -> int:
            if nr == NR_LOOP:
                state["calls"] += 1
                ret[0] = a0 + 1
                return 0
            if nr == NR_START:
                seen["t_start_ns"] = now()
                return 0
            if nr == NR_DONE:
                seen["t_done_ns"] = now()
                seen["done_a0"] = a0
                lib.qemu_system_shutdown_request(SHUTDOWN_CAUSE_HOST_QMP_QUIT)
                return 0
            return 1

        py_cb = ffi.callback("penguin_guest_hypercall_cb_t", on_guest)
        keep.append(py_cb)
        lib.set_penguin_guest_hypercall_callback(py_cb, ffi.NULL)
    elif variant == "client":
        state = {"calls": 0}

        def on_loop(call) -> int:
            state["calls"] += 1
            return call.args[0] + 1

        def on_start(call) -> int:
            seen["t_start_ns"] = time.perf_counter_ns()
            return 0

        def on_done(call) -> int:
            seen["t_done_ns"] = time.perf_counter_ns()
            seen["done_a0"] = call.args[0]
            qemu.stop()
            return 0

        qemu.on_hypercall(NR_LOOP, on_loop)
        qemu.on_hypercall(NR_START, on_start)
        qemu.on_hypercall(NR_DONE, on_done)
    else:
        raise ValueError(f"unknown variant {variant!r}")

    for nr in (NR_LOOP, NR_START, NR_DONE):
        lib.penguin_register_guest_hypercall(nr)
    status = qemu.run(spec["args"])

    if variant in ("c", "noop"):
        out = ffi.new("uint64_t[5]")
        cb.bench_results(out)
        seen.update(calls=out[0], t_start_ns=out[1], t_done_ns=out[2],
                    done_a0=out[3] if out[4] else None)
    else:
        seen["calls"] = state["calls"]
    seen["status"] = status
    Path(spec["result"]).write_text(json.dumps(seen))
    return 0


# -------------------------------------------------------- parent: build, run, report


def sh(script: str) -> None:
    result = subprocess.run(script, shell=True, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"command failed:\n{script}\n{result.stdout}{result.stderr}")


def positive_int(text: str) -> int:
    """argparse type for counts: a median needs at least one run."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_callback(workdir: Path) -> Path:
    so = workdir / "hypercall_cb.so"
    sh(f"gcc -O2 -shared -fPIC -Wall -Werror -o {so} {HERE / 'hypercall_cb.c'}")
    return so


def build_guest(arch: Arch, iterations: int, noop: bool, workdir: Path) -> Path:
    stem = workdir / f"loop-{arch.name}-{iterations}{'-noop' if noop else ''}"
    defs = f"--defsym ITER={iterations}" + (" --defsym NOOP=1" if noop else "")
    script = " && ".join(arch.commands)
    for key, value in (("SRC", str(HERE / "guests" / arch.source)), ("OBJ", f"{stem}.o"),
                       ("OUT", str(stem)), ("DEFS", defs)):
        script = script.replace(key, value)
    sh(script)
    return Path(arch.image.replace("OUT", str(stem)))


def run_once(arch: Arch, variant: str, iterations: int, image: Path, callback_so: Path,
             library: Path, workdir: Path) -> float:
    """One VM in a fresh process; the seconds from NR_START to NR_DONE."""
    result_file = workdir / "result.json"
    result_file.unlink(missing_ok=True)
    spec = {
        "name": arch.name, "library": str(library), "variant": variant,
        "callback_so": str(callback_so), "result": str(result_file),
        "args": [*arch.machine, arch.load, str(image), "-nodefaults", "-display", "none",
                 "-monitor", "none", "-serial", "none"],
    }
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                           json.dumps(spec)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not result_file.exists():
        raise SystemExit(f"{arch.name}/{variant}: child failed (rc={proc.returncode})\n"
                         f"{proc.stdout}{proc.stderr}")
    seen = json.loads(result_file.read_text())
    want_calls = 0 if variant == "noop" else iterations
    problems = []
    if seen["calls"] != want_calls:
        problems.append(f"{seen['calls']} loop callbacks, expected {want_calls}")
    if seen["done_a0"] != arch.expected_last(variant):
        problems.append(f"NR_DONE a0 {seen['done_a0']!r}, expected "
                        f"{arch.expected_last(variant):#x}")
    if not seen["t_start_ns"] or seen["t_done_ns"] <= seen["t_start_ns"]:
        problems.append(f"bad timestamps {seen['t_start_ns']} .. {seen['t_done_ns']}")
    if problems:
        raise SystemExit(f"{arch.name}/{variant}: " + "; ".join(problems))
    return (seen["t_done_ns"] - seen["t_start_ns"]) / 1e9


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_revision() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


@dataclass
class Row:
    arch: str
    variant: str
    iterations: int
    times: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def per_iter_ns(self) -> float:
        return self.median / self.iterations * 1e9

    @property
    def spread_pct(self) -> float:
        return (max(self.times) - min(self.times)) / self.median * 100


def table(rows: list[Row], runs: int) -> tuple[list[str], list[list[str]]]:
    header = ["arch", "variant", "iterations", f"median s ({runs} runs)", "spread",
              "calls/s", "ns/iter", "ns/hypercall", "ratio vs no-op"]
    noop = {r.arch: r for r in rows if r.variant == "noop"}
    body = []
    for r in rows:
        base = noop.get(r.arch)
        if r.variant == "noop":
            calls, cost, ratio = "-", "-", "1.00"
        else:
            calls = f"{r.iterations / r.median / 1e6:.2f} M"
            cost = f"{r.per_iter_ns - base.per_iter_ns:.1f}" if base else "-"
            ratio = f"{r.per_iter_ns / base.per_iter_ns:.2f}" if base else "-"
        body.append([r.arch, VARIANT_TITLES[r.variant], f"{r.iterations:,}",
                     f"{r.median:.3f}", f"{r.spread_pct:.1f}%", calls,
                     f"{r.per_iter_ns:.2f}", cost, ratio])
    return header, body


def render(header: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |",
                 "|" + "|".join("---" if i < 2 else "---:" for i in range(len(header)))
                 + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join(lines)
    widths = [max(len(c) for c in col) for col in zip(header, *body)]

    def fmt(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))
    return "\n".join([fmt(header), fmt(["-" * w for w in widths]), *map(fmt, body)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=positive_int, default=5,
                        help="runs per arch and variant")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every iteration count (default 1.0)")
    parser.add_argument("--arch", action="append", choices=list(ARCHES),
                        help="only this arch (repeatable; default all)")
    parser.add_argument("--variant", action="append", choices=VARIANTS,
                        help=f"only this variant (repeatable; default {DEFAULT_VARIANTS})")
    parser.add_argument("--stage", type=Path,
                        default=Path(os.environ.get("PENGUIN_STAGE",
                                                    REPO / "dist" / "stage")),
                        help="install tree holding lib/libqemu-system-<name>.so")
    parser.add_argument("--markdown", action="store_true", help="print Markdown")
    parser.add_argument("--child", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))

    arches = [ARCHES[a] for a in (args.arch or list(ARCHES))]
    variants = args.variant or DEFAULT_VARIANTS
    if "noop" not in variants:
        variants = [*variants, "noop"]     # every cost is relative to it
    variants = [v for v in VARIANTS if v in variants]
    started = datetime.datetime.now().astimezone()
    t0 = time.monotonic()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="penguin-bench-") as tmp:
        workdir = Path(tmp)
        callback_so = build_callback(workdir)
        for arch in arches:
            library = args.stage / "lib" / f"libqemu-system-{arch.name}.so"
            if not library.exists():
                raise SystemExit(f"{library} does not exist")
            counts = {v: max(1, round(ITERATIONS[arch.name][v] * args.scale))
                      for v in variants}
            images = {v: build_guest(arch, counts[v], v == "noop", workdir)
                      for v in variants}
            times: dict[str, list[float]] = {v: [] for v in variants}
            for _ in range(args.runs):       # interleaved, so drift hits every variant
                for v in variants:
                    times[v].append(run_once(arch, v, counts[v], images[v], callback_so,
                                             library, workdir))
            for v in variants:
                rows.append(Row(arch.name, v, counts[v], times[v]))
            print(f"# {arch.name} done", file=sys.stderr, flush=True)

    header, body = table(rows, args.runs)
    info = [f"date: {started.isoformat(timespec='seconds')}",
            f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
            f"{cpu_model()}, {platform.system()} {platform.release()}",
            f"python: {platform.python_version()}; libraries: {args.stage / 'lib'} "
            f"(git {git_revision()})",
            f"time measured: NR_START to NR_DONE callback, CLOCK_MONOTONIC; "
            f"benchmark wall time {time.monotonic() - t0:.0f} s"]
    notes = ["ns/hypercall = ns/iter - ns/iter of the no-op loop; "
             "ratio = ns/iter / ns/iter of the no-op loop",
             "no-op in place of the sentinel: mipsel `or $zero,$zero,$zero`, "
             "aarch64 `nop`, x86_64 `xchg %ax,%ax` (32-bit protected mode)"]
    if args.markdown:
        print("\n".join(f"- {line}" for line in info))
        print()
        print(render(header, body, True))
        print()
        print("\n".join(f"- {line}" for line in notes))
    else:
        print("\n".join(info))
        print()
        print(render(header, body, False))
        print()
        print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
