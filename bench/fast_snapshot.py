#!/usr/bin/python3
"""Fast snapshots against internal qcow2 snapshots: take, restore, memory per snapshot.

For each architecture (aarch64, mipsel, x86_64), guest RAM size (256 MiB, 1 GiB) and
device set a bare-metal guest (bench/guests/dirty-<arch>.S) first writes one word into
every page of RAM it can reach (aarch64 and x86_64: all but the first 2 MiB; mipsel:
malta's low 256 MiB through KSEG0, less the first 4 MiB), so that RAM is in use rather
than zero pages, then spins on a command word. On command it writes one word into each
of n pages (dirtying n * 4 KiB), reports by hypercall and spins again.

Device sets: "none" (the bare machine), "penguin" (Penguin's writable root qcow2 with
cache=unsafe in its shape for the arch, -netdev user on virtio-net, the 9p shared
folder) and "vpn" (penguin's plus the VPN: RAM in a shared memory-backend-file and
vhost-user-vsock-pci, served by the tests' backend, tests/vsock).

Two kinds of runs, each VM in a fresh process, every call synchronous from a host thread
holding the BQL while the guest runs (as Penguin calls them from its main thread):
  fast   penguin_fast_snapshot_take (--runs takes, all but the first dropped again),
         then for each dirty size (0, 64 KiB, 1 MiB, 16 MiB) --runs times: the guest
         dirties that much, then penguin_fast_snapshot_restore of the first snapshot.
         Host memory per snapshot is the process's RSS after the first take less before
         it.
  qcow2  (device set "none" only) the same guest with a qcow2 drive (-drive if=none):
         --runs times penguin_save_snapshot, then --runs times: the guest dirties 1 MiB,
         then penguin_load_snapshot. A "cycle" is one save plus one load.
Restoring after the guest dirtied n pages also copies back the page of the command word
(the host writes it, the guest clears it); "0" dirtied nothing since the take.

Times are medians of --runs, taken with time.perf_counter() around each library call.
Ratios are printed, never asserted; issue 23's goals: a restore in 0.1 ms with nothing
dirtied and 0.2 ms with 1 MiB (256 MiB, no VPN), within 2x of that with the VPN, and a
take of a 1 GiB guest in 10 ms.

usage: bench/fast_snapshot.py [--runs 9] [--markdown] [--arch A ...] [--ram MIB ...]
                              [--devices none|penguin|vpn ...] [--stage DIR]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from hypercall_rate import positive_int, render, sh  # bench/ is the script's own directory

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
INCLUDE = REPO / "tests" / "guests" / "include"  # the guests' .include files
NR_HELLO, NR_READY, NR_DIRTIED = 0x50454E60, 0x50454E61, 0x50454E62
PAGE = 4096
KiB, MiB = 1 << 10, 1 << 20
DIRTY_SIZES = [0, 64 * KiB, 1 * MiB, 16 * MiB]
QCOW2_DIRTY = 1 * MiB
RAM_SIZES_MIB = [256, 1024]
DEVICE_SETS = ("none", "penguin", "vpn")
NO_RWX = "--no-warn-rwx-segments"
WAIT = 300.0


@dataclass(frozen=True)
class Arch:
    name: str                    # library name: libqemu-system-<name>.so
    source: str                  # under bench/guests/
    commands: list[str]          # shell; SRC, OBJ and OUT are substituted
    image: str                   # the file QEMU loads (OUT or OUT.bin)
    load: str                    # -kernel or -bios
    machine: list[str]
    base: int                    # guest-physical offset from RAM's start of BASE
    reach: int | None            # bytes of RAM the guest can address (None: all)
    disk: list[str]              # Penguin's root drive shape: -device ... for hd0
    nic: str                     # Penguin's virtio-net device

    def fill(self, ram: int) -> int:
        """Bytes from BASE the guest writes a word into each page of."""
        return min(ram, self.reach or ram) - self.base


ARCHES = {
    "aarch64": Arch(
        "aarch64", "dirty-aarch64.S",
        [f"aarch64-linux-gnu-as -I {INCLUDE} -o OBJ SRC",
         f"aarch64-linux-gnu-ld -N {NO_RWX} -Ttext=0x40000000 -e _start -o OUT OBJ"],
        "OUT", "-kernel", ["-M", "virt", "-cpu", "cortex-a57"], 2 * MiB, None,
        ["-device", "virtio-blk-device,drive=hd0"], "virtio-net-device"),
    "mipsel": Arch(
        "mipsel", "dirty-mipsel.S",
        [f"mipsel-linux-gnu-as -non_shared -march=mips32r2 -EL -I {INCLUDE} -o OBJ SRC",
         f"mipsel-linux-gnu-ld -N {NO_RWX} -EL -Ttext-segment=0x80100000 -e _start "
         "-o OUT OBJ"],
        "OUT", "-kernel", ["-M", "malta", "-vga", "none", "-nic", "none"], 4 * MiB,
        256 * MiB,
        ["-device", "virtio-blk-pci,drive=hd0,disable-modern=on,disable-legacy=off"],
        "virtio-net-pci"),
    "x86_64": Arch(
        "x86_64", "dirty-x86_64.S",
        [f"as --32 -I {INCLUDE} -o OBJ SRC",
         f"ld -m elf_i386 -N {NO_RWX} -Ttext=0 -e _start -o OUT.elf OBJ",
         "objcopy -O binary OUT.elf OUT.bin"],
        "OUT.bin", "-bios", ["-M", "pc", "-no-reboot"], 2 * MiB, None,
        ["-device", "virtio-blk-pci,drive=hd0"], "virtio-net-pci"),
}


# ---------------------------------------------------------------- child: one VM


def rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Guest:
    """The host side of the dirty-<arch> protocol."""

    def __init__(self, qemu, fill: int):
        self.qemu = qemu
        self.fill = fill
        self.ready = threading.Event()
        self.dirtied = threading.Event()
        self.cmd = 0
        qemu.on_hypercall(NR_HELLO, self.on_hello)
        qemu.on_hypercall(NR_READY, lambda call: self.ready.set())
        qemu.on_hypercall(NR_DIRTIED, lambda call: self.dirtied.set())

    def on_hello(self, call) -> int:
        self.cmd = call.args[0]
        return self.fill

    def dirty(self, size: int) -> None:
        """Have the guest write one word into each of size / PAGE pages, and wait."""
        if size == 0:
            return
        self.dirtied.clear()
        data = (size // PAGE).to_bytes(4, self.qemu.byteorder)
        with self.qemu.bql():
            self.qemu.write_memory(self.qemu.lib.qemu_get_cpu(0), self.cmd, data)
        if not self.dirtied.wait(WAIT):
            raise RuntimeError(f"the guest did not dirty {size} bytes")

    def timed(self, call) -> tuple[float, object]:
        with self.qemu.bql():
            start = time.perf_counter()
            value = call()
            return time.perf_counter() - start, value


def measure_fast(guest: Guest, runs: int) -> dict:
    fast = guest.qemu.fast_snapshots
    rss_before = rss_kib()
    first, handle = guest.timed(fast.take)
    rss_after = rss_kib()
    takes = [first]
    for _ in range(runs - 1):
        seconds, extra = guest.timed(fast.take)
        takes.append(seconds)
        fast_drop(guest, extra)
    restores = {}
    for size in DIRTY_SIZES:
        restores[size] = []
        for _ in range(runs):
            guest.dirty(size)
            restores[size].append(guest.timed(lambda: fast.restore(handle))[0])
    fast_drop(guest, handle)
    return {"take": takes, "restore": restores, "rss_kib": rss_after - rss_before}


def fast_drop(guest: Guest, handle: int) -> None:
    with guest.qemu.bql():
        guest.qemu.fast_snapshots.drop(handle)


def measure_qcow2(guest: Guest, runs: int) -> dict:
    snapshots = guest.qemu.snapshots
    saves = [guest.timed(lambda: snapshots.save("bench"))[0] for _ in range(runs)]
    loads = []
    for _ in range(runs):
        guest.dirty(QCOW2_DIRTY)
        loads.append(guest.timed(lambda: snapshots.load("bench"))[0])
    return {"save": saves, "load": loads}


def child(spec: dict) -> int:
    sys.path.insert(0, str(REPO / "python"))
    from penguin_qemu import Qemu  # noqa: PLC0415 - needs the path above

    qemu = Qemu(spec["name"], library=spec["library"])
    guest = Guest(qemu, spec["fill"])
    result: dict = {}

    def control() -> None:
        try:
            if not guest.ready.wait(WAIT):
                raise RuntimeError("the guest never became ready")
            measure = measure_fast if spec["mode"] == "fast" else measure_qcow2
            result.update(measure(guest, spec["runs"]))
        except BaseException:  # noqa: BLE001 - reported by the parent
            result["error"] = traceback.format_exc()
        finally:
            qemu.stop()

    threading.Thread(target=control, daemon=True).start()
    qemu.run(spec["args"])
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# -------------------------------------------------------- parent: build, run, report


def build_guest(arch: Arch, workdir: Path) -> Path:
    stem = workdir / f"dirty-{arch.name}"
    script = " && ".join(arch.commands)
    for key, value in (("SRC", str(HERE / "guests" / arch.source)), ("OBJ", f"{stem}.o"),
                       ("OUT", str(stem))):
        script = script.replace(key, value)
    sh(script)
    return Path(arch.image.replace("OUT", str(stem)))


def penguin_devices(arch: Arch, stage: Path, workdir: Path) -> list[str]:
    """Penguin's device set (shim notes): its writable root qcow2 (cache=unsafe) in the
    arch's shape, user networking on virtio-net, the 9p shared folder."""
    disk, shared = workdir / "root.qcow2", workdir / "shared"
    disk.unlink(missing_ok=True)
    shared.mkdir(exist_ok=True)
    sh(f"{stage / 'bin' / 'qemu-img'} create -q -f qcow2 {disk} 64M")
    return ["-drive", f"file={disk},id=hd0,cache=unsafe,if=none", *arch.disk,
            "-netdev", "user,id=user.0", "-device", f"{arch.nic},netdev=user.0",
            "-virtfs", f"local,path={shared},mount_tag=igloo_shared_dir,"
            "security_model=mapped-xattr"]


def run_child(arch: Arch, mode: str, ram_mib: int, runs: int, image: Path, stage: Path,
              workdir: Path, devices: str = "none", mem_dir: Path | None = None) -> dict:
    result_file = workdir / "result.json"
    result_file.unlink(missing_ok=True)
    machine = [*arch.machine, "-m", str(ram_mib)]
    backend, mem = None, None
    if devices == "vpn":
        sys.path.insert(0, str(REPO / "tests"))
        from vsock.backend import VsockBackend, vsock_argv  # noqa: PLC0415
        sock, mem = workdir / "vsock.sock", (mem_dir or workdir) / f"mem0-{os.getpid()}"
        mem.unlink(missing_ok=True)         # a file of another run's size
        machine = vsock_argv(machine, sock, mem)
        backend = VsockBackend(sock, workdir / "vsock.log").start()
    args = [*machine, arch.load, str(image), "-nodefaults", "-L",
            str(stage / "share" / "qemu"), "-display", "none", "-monitor", "none",
            "-serial", "none"]
    if devices != "none":
        args += penguin_devices(arch, stage, workdir)
    if mode == "qcow2":
        disk = workdir / "disk.qcow2"
        disk.unlink(missing_ok=True)
        sh(f"{stage / 'bin' / 'qemu-img'} create -q -f qcow2 {disk} 64M")
        args += ["-drive", f"if=none,id=d0,format=qcow2,file={disk}"]
    spec = {"name": arch.name,
            "library": str(stage / "lib" / f"libqemu-system-{arch.name}.so"),
            "mode": mode, "runs": runs, "fill": arch.fill(ram_mib * MiB),
            "result": str(result_file), "args": args}
    try:
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child",
                               json.dumps(spec)], capture_output=True, text=True,
                              timeout=3600)
    finally:
        if backend:
            backend.stop()
        if mem:
            mem.unlink(missing_ok=True)
    if proc.returncode != 0 or not result_file.exists():
        raise SystemExit(f"{arch.name}/{mode}/{ram_mib} MiB: child failed "
                         f"(rc={proc.returncode})\n{proc.stdout}{proc.stderr}")
    result = json.loads(result_file.read_text())
    sys.stderr.write(proc.stderr)
    if "error" in result:
        raise SystemExit(f"{arch.name}/{mode}/{ram_mib} MiB:\n{result['error']}")
    return result


def ms(seconds: list[float]) -> float:
    return statistics.median(seconds) * 1e3


def size_name(size: int) -> str:
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB" if size else "0"


def table(rows: list[tuple[str, int, str, dict, dict | None]]
          ) -> tuple[list[str], list[list[str]]]:
    header = ["arch", "RAM", "devices", "take ms",
              *[f"restore ms, {size_name(s)} dirtied" for s in DIRTY_SIZES],
              "qcow2 save ms", "qcow2 load ms", "qcow2 cycle / restore (1 MiB)",
              "MiB per snapshot"]
    body = []
    for arch, ram_mib, devices, fast, qcow2 in rows:
        restore_1m = ms(fast["restore"][str(MiB)])
        qcow2_cells = ["-", "-", "-"]
        if qcow2:
            cycle = ms(qcow2["save"]) + ms(qcow2["load"])
            qcow2_cells = [f"{ms(qcow2['save']):.1f}", f"{ms(qcow2['load']):.1f}",
                           f"{cycle / restore_1m:.0f}x"]
        body.append([arch, f"{ram_mib} MiB" if ram_mib < 1024 else f"{ram_mib // 1024} GiB",
                     devices, f"{ms(fast['take']):.1f}",
                     *[f"{ms(fast['restore'][str(s)]):.3f}" for s in DIRTY_SIZES],
                     *qcow2_cells, f"{fast['rss_kib'] / 1024:.0f}"])
    return header, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=positive_int, default=9,
                        help="timed calls per measure (median reported)")
    parser.add_argument("--arch", action="append", choices=list(ARCHES),
                        help="only this arch (repeatable; default all)")
    parser.add_argument("--ram", action="append", type=positive_int,
                        help="guest RAM in MiB (repeatable; default 256 and 1024)")
    parser.add_argument("--devices", action="append", choices=DEVICE_SETS,
                        help="none (bare machine), penguin (its drive, network and 9p) "
                             "or vpn (penguin plus shared RAM and vhost-user-vsock); "
                             "repeatable, default all three")
    parser.add_argument("--mem-dir", type=Path,
                        default=Path("/dev/shm") if Path("/dev/shm").is_dir() else None,
                        help="where the VPN's shared RAM file goes (default /dev/shm, "
                             "memory as guest RAM is; a disk file system adds the "
                             "kernel's writeback to every write)")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--stage", type=Path, default=REPO / "dist" / "stage",
                        help="the staged tree whose libraries run (default dist/stage)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    if not (args.stage / "lib").is_dir():
        raise SystemExit(f"{args.stage} has no lib/: run ./build.sh first")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-fastsnap-") as tmp:
        workdir = Path(tmp)
        for name in args.arch or list(ARCHES):
            arch = ARCHES[name]
            image = build_guest(arch, workdir)
            for ram_mib in args.ram or RAM_SIZES_MIB:
                for devices in args.devices or DEVICE_SETS:
                    print(f"{name}, {ram_mib} MiB, {devices} ...", file=sys.stderr,
                          flush=True)
                    fast = run_child(arch, "fast", ram_mib, args.runs, image, args.stage,
                                     workdir, devices, args.mem_dir)
                    qcow2 = None
                    if devices == "none":
                        qcow2 = run_child(arch, "qcow2", ram_mib, args.runs, image,
                                          args.stage, workdir)
                    rows.append((name, ram_mib, devices, fast, qcow2))
    header, body = table(rows)
    print(f"{datetime.date.today()}, {os.cpu_count()} CPUs, medians of {args.runs} runs")
    print(render(header, body, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
