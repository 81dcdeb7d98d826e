"""The host's side of the fast-snapshot guest program's hypercalls
(tests/smoke/fastsnap-penguin.h), and the bytes it writes, computed as it does.

A FastsnapLink sits on a Qemu object in the process that runs the VM: it records the
program's set-up steps and every question it asks (the guest's counter and marker, and,
while asked to, the registers of the vCPU asking), answers each question with the next
command the test queued (or "ask again"), and collects each command's outcome. The
test's thread queues a command and waits for its outcome with run(); call_at_next_ask()
runs an action on the vCPU thread inside the next question (as Penguin schedules its
snapshots, from a hypercall). Thread-safe: the hypercalls arrive on the vCPU thread.
"""

from __future__ import annotations

import functools
import threading
import time
import zlib
from collections import deque
from dataclasses import asdict, dataclass
from typing import Callable

from penguin_qemu import Hypercall, Qemu

FSP_NR = 0x50454E46
OP_SETUP, OP_ASK, OP_RESULT = 1, 2, 3
SETUP_STEPS = {1: "devtmpfs", 2: "module", 3: "disk", 4: "net", 5: "pin", 6: "done"}
TAG = 0x46
WRITE, READ, MARK, SUM, TCP, VSOCK, CLOSE = range(1, 8)
COMMANDS = {WRITE: "write", READ: "read", MARK: "mark", SUM: "sum", TCP: "tcp",
            VSOCK: "vsock", CLOSE: "close"}
STEPS = {0: "ok", 1: "open", 2: "write", 3: "sync", 4: "read", 5: "socket", 6: "connect",
         7: "send", 8: "receive", 9: "mismatch", 10: "full", 11: "unknown"}
DRIVE_OFFSET = 1 << 20
REGION_BYTES = 64 << 10
REGIONS = 3
ALL_REGIONS = (1 << REGIONS) - 1
RAM_BYTES = 1 << 20
TCP_BYTES = 256
VSOCK_BYTES = 4096


@functools.lru_cache(maxsize=REGIONS)
def _drive_base(region: int) -> bytes:
    """Region number region as seed 0 writes it."""
    base = DRIVE_OFFSET + region * REGION_BYTES
    return bytes(((o >> 9) * 11 + o * 3 + 1) & 0xFF
                 for o in range(base, base + REGION_BYTES))


def drive_bytes(region: int, seed: int) -> bytes:
    """Region number region of the drive as FSP_CMD_WRITE writes it with seed (each
    byte seed * 37 more than seed 0's, modulo 256)."""
    shift = bytes((b + seed * 37) & 0xFF for b in range(256))
    return _drive_base(region).translate(shift)


@functools.lru_cache(maxsize=None)
def ram_crc(value: int) -> int:
    """CRC-32 of the program's RAM buffer after FSP_CMD_MARK value."""
    return zlib.crc32(bytes((value * 29 + i * 7 + (i >> 10) + 5) & 0xFF
                            for i in range(RAM_BYTES)))


def regions_crc(regions: list[bytes]) -> int:
    """What FSP_CMD_READ reports for regions holding these bytes, in order."""
    return zlib.crc32(b"".join(regions))


@dataclass(frozen=True)
class Outcome:
    """One command as the program reported it."""
    command: str
    arg: int
    step: str           # "ok", or where it stopped
    errno: int          # the guest kernel's errno there (0 if none)
    value: int          # a CRC-32, a byte count, a number of connections
    port: int           # a connection's local port in the guest (0: none)
    seconds: float      # host time from queueing to the report

    @property
    def ok(self) -> bool:
        return self.step == "ok"


@dataclass(frozen=True)
class Ask:
    counter: int        # the guest's own count of questions (in its RAM)
    marker: int         # its marker (in its RAM)
    monotonic: float    # host time.monotonic() when it came


class FastsnapLink:
    def __init__(self, qemu: Qemu, read_registers: Callable[[object], dict]) -> None:
        self.mask = (1 << qemu.bits) - 1
        self.read_registers = read_registers
        self.start = time.monotonic()
        self.cond = threading.Condition()
        self.setup: list[tuple[str, int, int]] = []     # (step, errno, detail)
        self.asks: list[Ask] = []
        self.queued: deque[tuple[int, int, float]] = deque()
        self.outcomes: list[Outcome] = []
        self.at_next_ask: list[Callable[[Hypercall], None]] = []
        self.recording = False
        self.registers: dict[int, dict] = {}            # question's index -> registers
        self.sent: dict[int, float] = {}                # command word -> when queued
        qemu.on_hypercall(FSP_NR, self._on_call)

    # -- what the test does (any thread but the vCPU's) --

    def wait_ready(self, timeout: float) -> bool:
        """Wait until the program finished its set-up and asks."""
        with self.cond:
            return self.cond.wait_for(lambda: any(s[0] == "done" for s in self.setup),
                                      timeout)

    def run(self, command: int, arg: int = 0, timeout: float = 60) -> Outcome | None:
        """Queue a command, wait for its outcome (None at the timeout)."""
        with self.cond:
            count = len(self.outcomes)
            self.queued.append((command, arg & 0xFFFF, time.monotonic()))
            if not self.cond.wait_for(lambda: len(self.outcomes) > count, timeout):
                return None
            return self.outcomes[count]

    def call_at_next_ask(self, action: Callable[[Hypercall], None]) -> None:
        with self.cond:
            self.at_next_ask.append(action)

    def record_registers(self, on: bool) -> None:
        """While on, keep the asking vCPU's registers for every question (by index)."""
        with self.cond:
            self.recording = on

    def asks_since(self, index: int) -> list[Ask]:
        with self.cond:
            return self.asks[index:]

    def ask_count(self) -> int:
        with self.cond:
            return len(self.asks)

    def wait_asks(self, index: int, count: int, timeout: float) -> bool:
        """Wait until the guest asked count questions after the first index."""
        with self.cond:
            return self.cond.wait_for(lambda: len(self.asks) >= index + count, timeout)

    def last_counter(self) -> int | None:
        with self.cond:
            return self.asks[-1].counter if self.asks else None

    def first_ask_after(self, monotonic: float, timeout: float) -> tuple[int, Ask] | None:
        """The first question that came after the time monotonic, and its index."""
        def found() -> tuple[int, Ask] | None:
            return next(((i, a) for i, a in enumerate(self.asks)
                         if a.monotonic > monotonic), None)
        with self.cond:
            self.cond.wait_for(lambda: found() is not None, timeout)
            return found()

    def summary(self) -> dict:
        with self.cond:
            return {"setup": list(self.setup), "asks": len(self.asks),
                    "outcomes": [asdict(o) for o in self.outcomes]}

    # -- the guest's calls, on the vCPU thread --

    def _on_call(self, call: Hypercall) -> int:
        op, *args = (a & self.mask for a in call.args)
        with self.cond:
            if op == OP_SETUP:
                self.setup.append((SETUP_STEPS.get(args[0], str(args[0])), args[1],
                                   args[2]))
            elif op == OP_ASK:
                return self._answer(call, args[0], args[1])
            elif op == OP_RESULT:
                word, step, err, value, port = args[:5]
                queued = self.sent.pop(word, None)
                self.outcomes.append(Outcome(
                    COMMANDS.get(word >> 16 & 0xFF, str(word)), word & 0xFFFF,
                    STEPS.get(step, str(step)), err, value, port,
                    round(time.monotonic() - queued, 4) if queued else -1.0))
            self.cond.notify_all()
        return 0

    def _answer(self, call: Hypercall, counter: int, marker: int) -> int:
        actions, self.at_next_ask = self.at_next_ask, []
        for action in actions:
            action(call)
        if self.recording:
            self.registers[len(self.asks)] = self.read_registers(call.cpu)
        self.asks.append(Ask(counter, marker, time.monotonic()))
        self.cond.notify_all()
        if not self.queued:
            return 0
        command, arg, queued = self.queued.popleft()
        word = TAG << 24 | command << 16 | arg
        self.sent[word] = queued
        return word
