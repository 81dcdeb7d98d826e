"""Start and stop the test's vhost-user vsock backend (vhost_user_vsock.py) as a process.

    with VsockBackend(socket_path, log_path) as backend:   # returns once it listens
        ... a VM process with Penguin's vsock argv (vsock_argv) runs and ends ...
        status = backend.wait(10)                          # it exits when QEMU goes
    backend.events()                                       # its JSON-lines log

A backend serves one QEMU and exits when that QEMU disconnects, so a test that restarts
the VM (a new process, a snapshot restore) starts a new backend on the same socket path.
With serve_again=True it serves every connection QEMU makes with a new backend, as
vhost-device-vsock does, until stop().
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
from pathlib import Path

BACKEND = Path(__file__).resolve().parent / "vhost_user_vsock.py"
GUEST_CID = 4        # Penguin's default (vhost-device-vsock's --guest-cid)
ECHO_PORT = 9999


class BackendError(RuntimeError):
    """The backend did not come up or did not end as it should: the message says how."""


class VsockBackend:
    def __init__(self, socket_path: Path, log_path: Path, guest_cid: int = GUEST_CID,
                 echo_port: int = ECHO_PORT, serve_again: bool = False) -> None:
        self.socket_path = socket_path
        self.serve_again = serve_again
        self.log_path = log_path
        self.guest_cid = guest_cid
        self.echo_port = echo_port
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> "VsockBackend":
        """Start it and return once it listens (it prints `listening PATH`)."""
        self.proc = subprocess.Popen(
            [sys.executable, str(BACKEND), "--socket", str(self.socket_path),
             "--guest-cid", str(self.guest_cid), "--echo-port", str(self.echo_port),
             "--log", str(self.log_path)] + (["--serve-again"] if self.serve_again else []),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening "):
            self.stop()
            raise BackendError(f"the vsock backend did not start listening in {timeout} s: "
                               f"{line!r} {self.stderr()}")
        return self

    def wait(self, timeout: float) -> int | None:
        """Its exit status once it ended by itself, or None if it still runs at timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> int:
        """End it (SIGTERM, then SIGKILL) if it still runs; its exit status."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        """End it abruptly, as a crashing backend would (no goodbye to QEMU)."""
        self.proc.kill()
        self.proc.wait()

    def stderr(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return ""
        return self.proc.stderr.read()

    def events(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def __enter__(self) -> "VsockBackend":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def vsock_argv(machine: list[str], socket_path: Path, mem_path: Path,
               reconnect_ms: int | None = None) -> list[str]:
    """Penguin's VPN options added to a smoke machine's options (-M ... -m N ...).

    Penguin (shim notes, "The QEMU command line Penguin builds"): guest RAM comes from a
    shared memory-backend-file mem0 of the -m size, given to the machine with
    `-numa node,memdev=mem0`, except on MIPS where malta takes `memory-backend=mem0`;
    then the socket chardev and vhost-user-vsock-pci. Penguin's chardev does not
    reconnect; reconnect_ms adds the option that makes it (a backend replaced while the
    VM runs)."""
    args = list(machine)
    mem = args[args.index("-m") + 1]
    size = mem if mem[-1].isalpha() else f"{mem}M"
    machine_at = args.index("-M") + 1
    if args[machine_at].split(",")[0] == "malta":
        args[machine_at] += ",memory-backend=mem0"
        numa = []
    else:
        numa = ["-numa", "node,memdev=mem0"]
    reconnect = f",reconnect-ms={reconnect_ms}" if reconnect_ms else ""
    return [*args,
            "-object",
            f"memory-backend-file,id=mem0,mem-path={mem_path},size={size},share=on",
            *numa,
            "-chardev", f"socket,id=char0,path={socket_path}{reconnect}",
            "-device", "vhost-user-vsock-pci,chardev=char0"]
