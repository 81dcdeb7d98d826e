"""The host's side of the vsock guest's hypercalls (tests/smoke/vsock-echo.h).

A VsockGuestLink sits on a Qemu object in the process that runs the VM: it records which
kernel modules the guest loaded, answers the guest's "shall I run an echo round?" with
the echo port when the test asked for rounds (request_rounds) or always (echo_always),
and collects what each round found. wait_rounds() blocks the test's thread until enough
rounds have reported. Everything is thread-safe: the hypercalls arrive on the vCPU
thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

from penguin_qemu import Hypercall, Qemu

VSOCK_NR = 0x50454E56
OP_MODULE, OP_ASK, OP_RESULT = 1, 2, 3
GO_TAG = 0x5653
REBOOT = 0x56520000     # vsock-echo.h VSOCK_REBOOT: the guest restarts its machine
ECHO_BYTES = 10000
STEPS = {0: "ok", 1: "socket", 2: "connect", 3: "nonblock", 4: "send", 5: "receive",
         6: "peer closed", 7: "timeout", 8: "mismatch"}


@dataclass(frozen=True)
class Round:
    """One echo round as the guest reported it."""
    round: int          # the guest's own count, from 1 (kept in guest RAM)
    step: str           # "ok", or the step that failed
    errno: int          # the guest kernel's errno at that step (0 if none)
    bytes: int          # bytes echoed back and checked (or the first bad offset)
    seconds: float      # host time since the link was made

    @property
    def ok(self) -> bool:
        return self.step == "ok" and self.bytes == ECHO_BYTES


class VsockGuestLink:
    def __init__(self, qemu: Qemu, port: int) -> None:
        self.port = port
        self.mask = (1 << qemu.bits) - 1
        self.start = time.monotonic()
        self.cond = threading.Condition()
        self.modules: list[tuple[int, int]] = []   # (index, errno) as loaded
        self.rounds: list[Round] = []
        self.asks = 0                # questions seen by this host
        self.first_ask_counter = None  # the guest's own counter in its first question
        self.last_ask_counter = None   # and in its last one
        self.first_ask_seconds: float | None = None
        self.requested = 0
        self.always = False
        self.reboot_requested = False
        self.boots = 1               # a question with counter 1 after others: a new boot
        self.at_next_ask: list[Callable[[], None]] = []
        qemu.on_hypercall(VSOCK_NR, self._on_call)

    # -- what the test does --

    def request_rounds(self, count: int = 1) -> None:
        """Let the guest run count more rounds (each at its next question)."""
        with self.cond:
            self.requested += count

    def echo_always(self, on: bool = True) -> None:
        """Answer every question with a round: the guest echoes again and again."""
        with self.cond:
            self.always = on

    def call_at_next_ask(self, action: Callable[[], None]) -> None:
        """Run action on the vCPU thread inside the guest's next question (a hypercall
        callback, as Penguin's scheduled snapshots are made)."""
        with self.cond:
            self.at_next_ask.append(action)

    def request_reboot(self) -> None:
        """Answer the guest's next question with VSOCK_REBOOT: it reboots -f."""
        with self.cond:
            self.reboot_requested = True

    def wait_boots(self, count: int, timeout: float) -> bool:
        """Wait until the guest asked in its count-th boot; False at the timeout."""
        with self.cond:
            return self.cond.wait_for(lambda: self.boots >= count, timeout)

    def wait_rounds(self, count: int, timeout: float) -> bool:
        """Wait until count rounds have reported in all; False at the timeout."""
        with self.cond:
            return self.cond.wait_for(lambda: len(self.rounds) >= count, timeout)

    def last_counter(self) -> int | None:
        """The guest's counter in the last question this host saw."""
        with self.cond:
            return self.last_ask_counter

    def summary(self) -> dict:
        with self.cond:
            return {"modules": list(self.modules), "asks": self.asks, "boots": self.boots,
                    "first_ask_counter": self.first_ask_counter,
                    "last_ask_counter": self.last_ask_counter,
                    "first_ask_seconds": self.first_ask_seconds,
                    "link_monotonic": self.start,
                    "rounds": [asdict(r) for r in self.rounds]}

    # -- the guest's calls, on the vCPU thread --

    def _on_call(self, call: Hypercall) -> int:
        op, *args = (a & self.mask for a in call.args)
        with self.cond:
            if op == OP_MODULE:
                self.modules.append((args[0], args[1]))
            elif op == OP_ASK:
                return self._answer(args[0])
            elif op == OP_RESULT:
                self.rounds.append(Round(args[0], STEPS.get(args[1], str(args[1])), args[2],
                                         args[3], round(time.monotonic() - self.start, 3)))
                self.cond.notify_all()
        return 0

    def _answer(self, counter: int) -> int:
        actions, self.at_next_ask = self.at_next_ask, []
        for action in actions:
            action()
        if counter == 1 and self.asks > 0:
            self.boots += 1
            self.cond.notify_all()
        self.asks += 1
        self.last_ask_counter = counter
        if self.first_ask_seconds is None:
            self.first_ask_seconds = round(time.monotonic() - self.start, 3)
            self.first_ask_counter = counter
        if self.reboot_requested:
            self.reboot_requested = False
            return REBOOT
        if self.always or self.requested > 0:
            self.requested = max(0, self.requested - 1)
            return GO_TAG << 16 | (self.port & 0xFFFF)
        return 0
