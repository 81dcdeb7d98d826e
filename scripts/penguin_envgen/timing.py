"""How long each step of a run takes; the garbage collector paused while pyelftools
parses."""

from __future__ import annotations

import contextlib
import gc
import time
from typing import Iterator

from .common import PROG


class StepTimer:
    """Prints how long each step took, and the total."""

    def __init__(self, quiet: bool = False) -> None:
        self.start = time.monotonic()
        self.quiet = quiet
        self.steps: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        t0 = time.monotonic()
        yield
        dt = time.monotonic() - t0
        self.steps.append((name, dt))
        self.say(f"{name}: {dt:.2f} s")

    def say(self, text: str) -> None:
        if not self.quiet:
            print(f"{PROG}: {text}", flush=True)

    def total(self) -> float:
        return time.monotonic() - self.start


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """pyelftools creates many small objects; the cyclic GC makes it 10x slower."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
