#!/usr/bin/python3
"""A fuzz loop on the library, the way a firmware fuzzer would drive it from Python:
edge coverage for feedback, compare tracking for the planted values, a fast snapshot to
go back to before each input.

The guest is tests/smoke/cov_target.c as /init on a smoke kernel (COV_MODE_FUZZ): it asks
for an input by hypercall, parses it (branches on its first bytes, compares a 4-byte
magic, then strcmp()s the rest with "penguin") and reports. The host takes a fast
snapshot while the guest waits for its first input; for each input it restores that
snapshot, clears the maps, writes the input into the guest's buffer from the guest's
own hypercall, lets it run and reads the lap's coverage (new buckets keep an input in
the corpus) and, with compare tracking, the operands the guest compared: an operand
found in the input is replaced by the value it was compared with (a small Redqueen).

Each architecture runs twice, with and without compare tracking, for the same number of
executions and the same random seed: the magic is found with it, not without.

usage: bench/fuzz_loop.py [--arch A ...] [--execs N] [--seed S] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "python"))

from hypercall_rate import positive_int  # noqa: E402
from penguin_qemu import Hypercall, Qemu  # noqa: E402
from penguin_qemu.coverage import CmpEntry, Lap  # noqa: E402
from penguin_qemu.runtime import FastSnapshotResult  # noqa: E402
from smoke import cov_target, initramfs  # noqa: E402
from smoke.boots import BY_NAME  # noqa: E402
from smoke.kernels import kernel_for  # noqa: E402

ARCHES = ("aarch64", "mipsel", "x86_64")
SEED_INPUT = b"AAAAAAAAAAAAAAAA"
INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, ord("F"), ord("U"), ord("Z"))
BOOT_TIMEOUT = 120


@dataclass
class Mutator:
    """Havoc on a corpus kept by new coverage buckets, and with compare tracking the
    inputs that put a compared value where its other operand was found."""
    rng: random.Random
    byteorder: str
    cmplog: bool
    corpus: list[bytes] = field(default_factory=lambda: [SEED_INPUT])
    pending: list[bytes] = field(default_factory=list)
    tried: set[bytes] = field(default_factory=set)

    def next(self) -> bytes:
        while self.pending:
            candidate = self.pending.pop(0)     # in the order found
            if candidate not in self.tried:
                break
        else:
            candidate = self.havoc(self.rng.choice(self.corpus))
        self.tried.add(candidate)
        return candidate

    def havoc(self, data: bytes) -> bytes:
        out = bytearray(data)
        for _ in range(self.rng.randint(1, 4)):
            i = self.rng.randrange(len(out))
            op = self.rng.randrange(3)
            if op == 0:
                out[i] ^= 1 << self.rng.randrange(8)
            elif op == 1:
                out[i] = self.rng.randrange(256)
            else:
                out[i] = self.rng.choice(INTERESTING)
        return bytes(out)

    def feedback(self, data: bytes, lap: Lap, entries: list[CmpEntry]) -> None:
        if lap.new_buckets:
            self.corpus.append(data)
            if self.cmplog:
                self.pending += self.replacements(data, entries)

    def replacements(self, data: bytes, entries: list[CmpEntry]) -> list[bytes]:
        out = []
        for entry in entries:
            for v0, v1 in entry.operands:
                if entry.kind == "rtn":
                    pairs = [(v0.split(b"\0")[0], v1.split(b"\0")[0] + b"\0")]
                else:
                    pairs = self.as_bytes(v0, v1, entry.width)
                out += [c for old, new in pairs if old for c in self.splice(data, old, new)]
        return out

    def as_bytes(self, v0: int, v1: int, width: int) -> list[tuple[bytes, bytes]]:
        """Both directions at the logged width and every narrower one both values fit
        in (a byte compared in a 32-bit register is a byte of the input)."""
        pairs = []
        for w in (1, 2, 4, 8):
            if w <= width and max(v0, v1) < 1 << (8 * w):
                a, b = v0.to_bytes(w, self.byteorder), v1.to_bytes(w, self.byteorder)
                pairs += [(a, b), (b, a)]
        return pairs

    @staticmethod
    def splice(data: bytes, old: bytes, new: bytes) -> list[bytes]:
        out, at = [], data.find(old)
        while at >= 0:
            out.append((data[:at] + new + data[at + len(new):])[:len(data)])
            at = data.find(old, at + 1)
        return out


class Loop:
    """The host side of COV_MODE_FUZZ for one VM; callbacks on the vCPU thread (the
    guest's hypercalls) and the main loop (snapshot completions)."""

    def __init__(self, qemu: Qemu, spec: dict):
        self.qemu, self.spec = qemu, spec
        self.mutator = Mutator(random.Random(spec["seed"]), qemu.byteorder, spec["cmplog"])
        self.lock = threading.Lock()
        self.state, self.handle = "new", 0
        self.buffer = 0
        self.current = b""
        self.out: dict = {"execs": 0, "restore_s": [], "magic_at": None, "string_at": None}
        self.started = self.restore_start = 0.0
        qemu.on_hypercall(cov_target.COV_HELLO, self.on_hello)
        qemu.on_hypercall(cov_target.COV_INPUT, self.on_input)
        qemu.on_hypercall(cov_target.COV_DONE, self.on_done)

    def on_hello(self, call: Hypercall) -> int:
        lo, hi, self.buffer, _, compare = call.args[:5]
        self.qemu.coverage.add_range(lo, hi)
        self.qemu.coverage.arm()
        if self.spec["cmplog"]:
            self.qemu.cmplog.add_routine(compare)
            self.qemu.cmplog.arm()
        return cov_target.MODE_FUZZ

    def on_input(self, call: Hypercall) -> int:
        with self.lock:
            if self.state == "new":
                self.state = "waiting"
                self.qemu.fast_snapshots.schedule("take", done=self.on_snapshot)
            if self.state != "ready":
                return 0
            self.state = "running"
            if not self.started:
                self.started = time.monotonic()
        self.current = self.mutator.next()
        call.write_memory(self.buffer, self.current + b"\0")
        return len(self.current)

    def on_done(self, call: Hypercall) -> int:
        score = call.args[0] & 0xFFFFFFFF
        lap = self.qemu.coverage.lap_end()
        entries = self.qemu.cmplog.entries() if self.spec["cmplog"] else []
        self.mutator.feedback(self.current, lap, entries)
        out = self.out
        out["execs"] += 1
        if score >= cov_target.MAGIC_SCORE and out["magic_at"] is None:
            out["magic_at"] = out["execs"]
        if score >= cov_target.STRING_SCORE and out["string_at"] is None:
            out["string_at"] = out["execs"]
        if out["execs"] >= self.spec["execs"]:
            out["seconds"] = time.monotonic() - self.started
            out["corpus"] = len(self.mutator.corpus)
            out["edges"] = lap.total_edges
            self.qemu.stop()
            return 0
        with self.lock:
            self.state = "waiting"
            self.restore_start = time.monotonic()
        self.qemu.fast_snapshots.schedule("restore", self.handle, done=self.on_snapshot)
        return 0

    def on_snapshot(self, result: FastSnapshotResult) -> None:
        if result.result < 0:
            raise RuntimeError(f"fast snapshot {result.op}: {result.reason}")
        if result.op == "take":
            self.handle = result.result
        else:
            self.out["restore_s"].append(time.monotonic() - self.restore_start)
        self.qemu.coverage.clear()
        if self.spec["cmplog"]:
            self.qemu.cmplog.clear()
        with self.lock:
            self.state = "ready"


def child(spec: dict) -> None:
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    loop = Loop(qemu, spec)
    timer = threading.Timer(spec["timeout"], qemu.stop)
    timer.daemon = True
    timer.start()
    qemu.run(spec["args"])
    timer.cancel()
    with open(spec["result"], "w") as f:
        json.dump(loop.out, f)


def run(name: str, prefix: Path, execs: int, seed: int, cmplog: bool,
        workdir: Path) -> dict:
    arch = BY_NAME[name]
    program = cov_target.build(name, prefix / "include")
    initrd = initramfs.write(program, workdir / f"initrd-{name}.gz")
    result = workdir / f"{name}-{cmplog}.json"
    spec = {"name": name, "prefix": str(prefix), "execs": execs, "seed": seed,
            "cmplog": cmplog, "result": str(result), "timeout": BOOT_TIMEOUT + execs / 20,
            "args": [*arch.machine, "-kernel", str(kernel_for(name).path), "-initrd",
                     str(initrd), "-append", arch.cmdline(), "-L",
                     str(prefix / "share" / "qemu"), "-nodefaults", "-display", "none",
                     "-monitor", "none", "-no-reboot", "-serial", "none"]}
    env = dict(os.environ, PYTHONPATH=f"{REPO / 'python'}:{REPO / 'tests'}")
    subprocess.run(["/usr/bin/python3", __file__, "--child", json.dumps(spec)], check=True,
                   env=env)
    return json.loads(result.read_text())


def row(name: str, cmplog: bool, out: dict) -> list[str]:
    restores = out["restore_s"]
    rate = f"{out['execs'] / out['seconds']:.0f}" if "seconds" in out else "timed out"
    return [name, "yes" if cmplog else "no", f"{out['execs']:,}", rate,
            f"{statistics.median(restores) * 1e3:.2f}" if restores else "-",
            str(out["magic_at"] or "not found"), str(out["string_at"] or "not found"),
            str(out.get("corpus", "-")), str(out.get("edges", "-"))]


def render(rows: list[list[str]], markdown: bool) -> str:
    head = ["arch", "cmplog", "executions", "exec/s", "reset ms (median)",
            "magic found at", "string found at", "corpus", "edges"]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    return "\n".join("  ".join(f"{c:>12}" for c in r) for r in [head, *rows])


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--arch", action="append", choices=ARCHES)
    p.add_argument("--execs", type=positive_int, default=3000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--prefix", type=Path, default=REPO / "dist" / "stage")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.arch or ARCHES:
            for cmplog in (True, False):
                out = run(name, args.prefix, args.execs, args.seed, cmplog, Path(tmp))
                rows.append(row(name, cmplog, out))
                print(render(rows[-1:], False), flush=True)
    print(render(rows, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
