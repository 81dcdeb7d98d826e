"""A QMP client for the tests: connect to QEMU's unix socket, negotiate, exchange."""

from __future__ import annotations

import json
import socket
import time


def qmp_exchange(path: str, commands: list[dict], negotiate: bool = True) -> list[dict]:
    """Connect to QEMU's QMP socket, negotiate (unless told not to), send each command,
    return the answers to the commands."""
    sock = socket.socket(socket.AF_UNIX)
    for _ in range(100):
        try:
            sock.connect(path)
            break
        except OSError:
            time.sleep(0.05)
    else:
        sock.close()
        raise ConnectionError(f"no QMP server at {path} after 5 s")
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
