"""Child process: fast snapshots of a Linux guest booted with Penguin's command line
(tests/test_fastsnap_argv.py).

usage: fastsnap_argv.py SPEC-JSON
SPEC: {"prefix", "name", "args": [qemu args], "console", "result", "timeout",
       "smoke_nr", "smoke_answer", "vsock_port" (null: no vsock device), "cycles"}

The guest's program (tests/smoke/fastsnap-penguin.c) sets up its drive, network and vsock
and then does what this process asks (tests/smoke/fastsnap_link.py). The scenario, in one
boot (vsock only where there is a vsock device):
  before   mark RAM with 1, write region 0 of the drive with seed 1, read the drive back,
           one TCP echo through slirp to this process's listener and one vsock echo to the
           test's backend, then close both
  take     scheduled from inside the guest's next question (a hypercall, as Penguin
           schedules it); the registers of every question are kept from then on
  after    mark RAM with 2, write every region with seed 2, read it back, open a TCP and a
           vsock connection, echo, and keep both open
  restore  scheduled from the guest's next question; the first question after it is the
           first whose counter does not follow its predecessor's (the restore puts it
           back), and the question with that counter after the take is its reference
  again    the RAM buffer's sum, the drive read back, a new TCP and vsock connection
  cycles   "cycles" times: write every region with another seed, read it back, restore,
           read the drive again; of the first question after each restore, its counter,
           marker and the registers that differ from the reference; the process's RSS
           sampled every RSS_EVERY cycles
Every stop of the VM (a take or restore while a vhost backend runs) is recorded with the
guest's counter in its last question before it. The report goes to SPEC["result"] as
JSON before the VM is stopped (a process that dies on its way out still reports), and
again, with the VM's status, once it has ended; the test asserts.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

from fastsnap_guest import rss_kib
from guest_registers import GuestRegisters
from penguin_qemu import Qemu
from penguin_qemu.runtime import FastSnapshotResult
from smoke.fastsnap_link import (ALL_REGIONS, CLOSE, MARK, READ, SUM, TCP, VSOCK, WRITE,
                                 FastsnapLink)
from vsock_boot import watch_stops

PRE_SEED, POST_SEED, FIRST_CYCLE_SEED = 1, 2, 3
PRE_MARK, POST_MARK = 1, 2
RSS_EVERY = 50            # cycles between two samples of the process's RSS


class EchoServer:
    """A TCP echo listener on the host's loopback (slirp's 10.0.2.2 reaches it): every
    connection is echoed until it ends, and recorded with how it ended."""

    def __init__(self) -> None:
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self.lock = threading.Lock()
        self.connections: list[dict] = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self) -> None:
        while True:
            try:
                conn, peer = self.server.accept()
            except OSError:
                return
            record = {"peer_port": peer[1], "received": 0, "end": "open",
                      "at": time.monotonic()}
            with self.lock:
                self.connections.append(record)
            threading.Thread(target=self.echo, args=(conn, record), daemon=True).start()

    def echo(self, conn: socket.socket, record: dict) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError as e:
                    record["end"] = f"error {e.errno}"
                    return
                if not data:
                    record["end"] = "eof"
                    return
                record["received"] += len(data)
                try:
                    conn.sendall(data)
                except OSError as e:
                    record["end"] = f"error {e.errno}"
                    return

    def summary(self) -> list[dict]:
        with self.lock:
            return [dict(c) for c in self.connections]


class Scenario:
    def __init__(self, qemu: Qemu, link: FastsnapLink, spec: dict, echo: EchoServer,
                 seen: dict) -> None:
        self.qemu = qemu
        self.link = link
        self.spec = spec
        self.echo = echo
        self.seen = seen
        self.timeout = spec["timeout"]

    def command(self, name: str, command: int, arg: int = 0) -> dict:
        outcome = self.link.run(command, arg, self.timeout)
        if outcome is None:
            raise TimeoutError(f"{name}: no outcome in {self.timeout} s")
        return {"name": name, **outcome.__dict__}

    def connections(self, tcp_port: int, vsock_port: int | None) -> list[dict]:
        """A TCP echo through slirp, and a vsock echo where there is a vsock device."""
        out = [self.command("tcp", TCP, tcp_port)]
        if vsock_port is not None:
            out.append(self.command("vsock", VSOCK, vsock_port))
        return out

    def scheduled(self, op: str, handle: int = 0) -> dict:
        """op scheduled from inside the guest's next question: its result, the question
        that scheduled it (index, counter) and the stops of the VM it made (a take or
        restore stops the VM while a vhost backend runs, and the stop records the
        guest's counter in its last question before it)."""
        done = threading.Event()
        results: list[FastSnapshotResult] = []
        scheduled: list[dict] = []
        stops = len(self.seen["stops"])

        def finished(result: FastSnapshotResult) -> None:
            results.append(result)
            done.set()

        def schedule(call) -> None:
            scheduled.append({"index": self.link.ask_count(),
                              "counter": call.args[1] & self.link.mask})
            self.qemu.fast_snapshots.schedule(op, handle, done=finished)

        start = time.monotonic()
        self.link.call_at_next_ask(schedule)
        if not done.wait(self.timeout):
            raise TimeoutError(f"{op}: no completion in {self.timeout} s")
        return {"op": op, "result": results[0].result, "reason": results[0].reason,
                "seconds": round(time.monotonic() - start, 4),
                "scheduled": scheduled[0], "stops": self.seen["stops"][stops:]}

    def restored(self, op: dict) -> dict:
        """The first question after a restore and its registers: the first after the
        scheduling one whose counter does not follow its predecessor's (the restore
        puts the counter back to the take's)."""
        link, start = self.link, op["scheduled"]["index"]

        def rewound() -> int | None:
            asks = link.asks_since(start)
            return next((start + i for i in range(1, len(asks))
                         if asks[i].counter != asks[i - 1].counter + 1), None)

        deadline = time.monotonic() + self.timeout
        while (index := rewound()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no question with a counter put back in "
                                   f"{self.timeout} s after the restore")
            link.wait_asks(link.ask_count(), 1, 1.0)
        ask = link.asks_since(index)[0]
        return {"index": index, "counter": ask.counter, "marker": ask.marker,
                "regs": link.registers.get(index)}

    def run(self) -> None:
        seen, link = self.seen, self.link
        if not link.wait_ready(self.timeout):
            raise TimeoutError(f"the guest program was not ready in {self.timeout} s")
        seen["ready_seconds"] = round(time.monotonic() - seen["run_monotonic"], 2)
        tcp_port, vsock_port = self.echo.port, self.spec["vsock_port"]
        seen["before"] = [
            self.command("mark", MARK, PRE_MARK),
            self.command("write", WRITE, 1 | PRE_SEED << 8),
            self.command("read", READ, ALL_REGIONS),
            *self.connections(tcp_port, vsock_port),
            self.command("close", CLOSE)]
        link.record_registers(True)
        rss_before = rss_kib()
        take = self.scheduled("take")
        take["rss_kib"] = [rss_before, rss_kib()]
        seen["take"] = take
        if take["result"] <= 0:
            return
        handle = take["result"]
        seen["after"] = [
            self.command("mark", MARK, POST_MARK),
            self.command("write", WRITE, ALL_REGIONS | POST_SEED << 8),
            self.command("read", READ, ALL_REGIONS)]
        seen["after"] += self.connections(tcp_port, vsock_port)
        restore = self.scheduled("restore", handle)
        restore["first_ask"] = self.restored(restore)
        seen["restore"] = restore
        # The same question before the restore: the first after the take.
        counter = restore["first_ask"]["counter"]
        asks = link.asks_since(0)[:restore["scheduled"]["index"]]
        seen["take_first_ask"] = next(
            ({"index": i, "counter": a.counter, "marker": a.marker,
              "regs": link.registers.get(i)}
             for i, a in enumerate(asks)
             if i > take["scheduled"]["index"] and a.counter == counter), None)
        link.record_registers(False)
        link.registers.clear()
        seen["again"] = [
            self.command("sum", SUM),
            self.command("read", READ, ALL_REGIONS),
            *self.connections(tcp_port, vsock_port)]
        self.cycles(handle)

    def cycles(self, handle: int) -> None:
        """spec["cycles"] times: write, read back, restore, read again. Of the first
        question after each restore, the registers that differ from those of the first
        question after the take are kept (by GDB number, with both values): the cycles
        keep little, so that the process's RSS shows QEMU's memory."""
        seen, link = self.seen, self.link
        reference = (seen.get("take_first_ask") or {}).get("regs") or {}
        seen["cycles"] = []
        seen["rss"] = []
        for i in range(self.spec["cycles"]):
            seed = FIRST_CYCLE_SEED + i % 250
            wrote = self.command("write", WRITE, ALL_REGIONS | seed << 8)
            written = self.command("read", READ, ALL_REGIONS)
            link.registers.clear()
            link.record_registers(True)
            restore = self.scheduled("restore", handle)
            first = self.restored(restore)
            link.record_registers(False)
            regs = first.pop("regs") or {}
            first["regs_changed"] = {n: [v, regs.get(n)] for n, v in reference.items()
                                     if regs.get(n) != v}
            read = self.command("read", READ, ALL_REGIONS)
            seen["cycles"].append({
                "seed": seed, "wrote": [wrote["step"], wrote["value"]],
                "written": [written["step"], written["value"]],
                "restore": [restore["result"], restore["reason"]],
                "restore_seconds": restore["seconds"], "stops": restore["stops"],
                "first_ask": first, "read": [read["step"], read["value"]]})
            if i % RSS_EVERY == 0 or i == self.spec["cycles"] - 1:
                seen["rss"].append([i, rss_kib()])


def main() -> int:
    spec = json.loads(sys.argv[1])
    console = Path(spec["console"])
    console.unlink(missing_ok=True)
    qemu = Qemu(spec["name"], prefix=Path(spec["prefix"]))
    qemu.on_hypercall(spec["smoke_nr"], lambda call: spec["smoke_answer"])
    registers = GuestRegisters(qemu)
    link = FastsnapLink(qemu, registers.read)
    seen: dict = {"stops": []}
    qemu.on_guest_init(watch_stops(qemu, link, seen["stops"]))
    echo = EchoServer()
    scenario = Scenario(qemu, link, spec, echo, seen)

    def report() -> None:
        seen["regnums"] = registers.regnums
        seen["link"] = link.summary()
        seen["tcp_connections"] = echo.summary()
        seen["console"] = console.read_text(errors="replace") if console.exists() else ""
        Path(spec["result"]).write_text(json.dumps(seen))

    def control() -> None:
        try:
            scenario.run()
        except BaseException:  # noqa: BLE001 - reported in the result
            seen["error"] = traceback.format_exc()
        finally:
            # Written before the VM stops as well: what the scenario saw survives a
            # process that dies on its way out.
            report()
            qemu.stop()

    seen["run_monotonic"] = time.monotonic()
    threading.Thread(target=control, daemon=True).start()
    seen["status"] = qemu.run(spec["args"])
    seen["ended"] = True
    report()
    return 0


if __name__ == "__main__":
    sys.exit(main())
