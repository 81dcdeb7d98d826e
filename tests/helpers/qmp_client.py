"""A QMP client for the tests: connect to QEMU's unix socket, negotiate, exchange."""

from __future__ import annotations

import json
import socket
import time


def connect_unix(path: str, seconds: float = 5.0) -> socket.socket:
    """A socket connected to QEMU's unix socket at path, once QEMU listens there."""
    sock = socket.socket(socket.AF_UNIX)
    deadline = time.monotonic() + seconds
    while True:
        try:
            sock.connect(path)
            return sock
        except OSError:
            if time.monotonic() > deadline:
                sock.close()
                raise ConnectionError(f"no QMP server at {path} after {seconds:g} s")
            time.sleep(0.05)


def qmp_exchange(path: str, commands: list[dict], negotiate: bool = True) -> list[dict]:
    """Connect to QEMU's QMP socket, negotiate (unless told not to), send each command,
    return the answers to the commands."""
    sock = connect_unix(path)
    stream = sock.makefile("rw")

    def read() -> dict:
        while True:
            msg = json.loads(stream.readline())
            if "event" not in msg:
                return msg

    read()  # greeting
    answers = []
    first = [{"execute": "qmp_capabilities"}] if negotiate else []
    for cmd in [*first, *commands]:
        stream.write(json.dumps(cmd) + "\n")
        stream.flush()
        answers.append(read())
    sock.close()
    return answers[len(first):]
