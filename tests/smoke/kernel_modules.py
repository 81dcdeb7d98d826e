"""The loadable modules a smoke-boot guest needs, taken from a Debian kernel .deb: for
vsock, and for Penguin's devices.

Debian builds the virtio vsock transport as modules (vsock.ko,
vmw_vsock_virtio_transport_common.ko, vmw_vsock_virtio_transport.ko), and on some
architectures the virtio PCI transport too (x86_64's cloud kernel: virtio.ko,
virtio_ring.ko, virtio_pci.ko ...). The kernel fetcher hands each member of the package's
data tarball to a ModuleCollector, which keeps the candidates and the kernel's
modules.builtin; resolve() then gives the modules to load, dependencies first (from each
module's own `depends=` modinfo line, as depmod would), leaving out what is built in.
The smoke init program loads them in that order with finit_module
(tests/smoke/vsock-echo.c).

A guest with Penguin's devices (tests/smoke/fastsnap-penguin.c) needs more: its root drive
(virtio-blk, behind virtio-mmio on arm's virt), its network (virtio-net, which needs the
failover modules) and vsock: PENGUIN_DEVICE_MODULES.
"""

from __future__ import annotations

import lzma
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from smoke.kernel import KernelError

# What the guest must end up with: the virtio PCI transport (vhost-user-vsock-pci is a
# PCI device) and the virtio vsock transport, each with what it depends on.
VSOCK_MODULES = ("virtio_pci", "vmw_vsock_virtio_transport")
PENGUIN_DEVICE_MODULES = ("virtio_pci", "virtio_mmio", "virtio_blk", "virtio_net",
                          "vmw_vsock_virtio_transport")

# Candidates: everything under drivers/virtio and net/vmw_vsock, virtio-blk, virtio-net
# and the failover modules virtio-net depends on (deps stay within those on every Debian
# kernel), plain or compressed as newer suites ship them, and modules.builtin.
MEMBER = re.compile(r"(?:usr/)?lib/modules/[^/]+/(?:kernel/(?:"
                    r"(?:drivers/virtio|net/vmw_vsock)/[^/]+|drivers/block/virtio_blk"
                    r"|drivers/net/(?:virtio_net|net_failover)|net/core/failover)"
                    r"\.ko(?:\.xz|\.zst)?|modules\.builtin)")


def module_name(path: str) -> str:
    """kernel/net/vmw_vsock/vsock.ko.xz -> vsock (the kernel's spelling: '_', not '-')."""
    name = PurePosixPath(path).name
    name = re.sub(r"\.ko(\.xz|\.zst)?$", "", name)
    return name.replace("-", "_")


def decompress(path: str, data: bytes) -> bytes:
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".zst"):
        try:
            return subprocess.run(["zstd", "-dc"], input=data, capture_output=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise KernelError(
                f"cannot decompress module {path} with zstd -dc: {e}") from None
    return data


def depends(ko: bytes) -> list[str]:
    """The modules this one needs, from its .modinfo `depends=a,b` (empty when none)."""
    found = re.search(rb"(?:^|\0)depends=([^\0]*)\0", ko)
    if found is None:
        return []
    return [d.decode().replace("-", "_") for d in found[1].split(b",") if d]


@dataclass
class ModuleCollector:
    modules: dict[str, bytes] = field(default_factory=dict)   # name -> uncompressed .ko
    builtin: set[str] | None = None

    @staticmethod
    def wants(member: str) -> bool:
        return MEMBER.fullmatch(member) is not None

    def take(self, member: str, data: bytes) -> None:
        if member.endswith("modules.builtin"):
            self.builtin = {module_name(line) for line in data.decode().split()}
        else:
            self.modules[module_name(member)] = decompress(member, data)

    def resolve(self, wanted: tuple[str, ...] = VSOCK_MODULES) -> list[tuple[str, bytes]]:
        """The modules to load for wanted, each after those it depends on."""
        if self.builtin is None:
            raise KernelError("the kernel package has no modules.builtin")
        order: list[tuple[str, bytes]] = []
        seen: set[str] = set()

        def visit(name: str, needed_by: str) -> None:
            if name in seen or name in self.builtin:
                return
            seen.add(name)
            ko = self.modules.get(name)
            if ko is None:
                raise KernelError(f"module {name} (needed by {needed_by}) is neither built "
                                  f"into the kernel nor in its package")
            for dep in depends(ko):
                visit(dep, name)
            order.append((name, ko))

        for name in wanted:
            visit(name, "the guest")
        return order
