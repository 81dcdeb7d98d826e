"""The vsock guests' tools without booting: which kernel modules a guest loads and in what
order (tests/smoke/kernel_modules.py), the initramfs files that carry them, and the QEMU
options Penguin's VPN adds (tests/vsock/backend.py)."""

from __future__ import annotations

import gzip
import lzma
from pathlib import Path

import pytest

from smoke import initramfs
from smoke.kernel import KernelError
from smoke.kernel_modules import PENGUIN_DEVICE_MODULES, ModuleCollector, depends
from test_smoke_tools import newc_entries
from vsock.backend import vsock_argv

MODDIR = "lib/modules/6.1.0-50-test/kernel"


def fake_ko(name: str, deps: str) -> bytes:
    """Enough of a module for the resolver: its .modinfo strings, NUL-separated."""
    return b"\x7fELF" + b"\0" * 60 + f"license=GPL\0depends={deps}\0name={name}\0".encode()


def collector(builtin: list[str], modules: dict[str, str],
              xz: bool = False) -> ModuleCollector:
    c = ModuleCollector()
    c.take("lib/modules/6.1.0-50-test/modules.builtin",
           "".join(f"kernel/drivers/virtio/{b}.ko\n" for b in builtin).encode())
    for name, deps in modules.items():
        folder = "net/vmw_vsock" if "vsock" in name else "drivers/virtio"
        # One file spelled with '-' as some are: the kernel's name has '_' all the same.
        spelled = "virtio-pci" if name == "virtio_pci" else name
        member = f"{MODDIR}/{folder}/{spelled}.ko"
        data = fake_ko(name, deps)
        if xz:
            member, data = member + ".xz", lzma.compress(data)
        assert c.wants(member)
        c.take(member, data)
    return c


X86_LIKE = {"virtio_pci": "virtio_pci_modern_dev,virtio_ring,virtio",
            "virtio_pci_modern_dev": "", "virtio_ring": "", "virtio": "virtio_ring",
            "vsock": "", "vmw_vsock_virtio_transport_common": "vsock",
            "vmw_vsock_virtio_transport": "vmw_vsock_virtio_transport_common,vsock,virtio",
            "vsock_diag": "vsock"}


def test_modules_load_after_what_they_depend_on():
    order = [name for name, _ in collector([], X86_LIKE).resolve()]
    assert order == ["virtio_pci_modern_dev", "virtio_ring", "virtio", "virtio_pci",
                     "vsock", "vmw_vsock_virtio_transport_common",
                     "vmw_vsock_virtio_transport"]


def test_built_in_modules_are_left_out_and_compressed_ones_unpacked():
    c = collector(["virtio", "virtio_ring"], X86_LIKE, xz=True)
    resolved = c.resolve()
    assert [n for n, _ in resolved] == ["virtio_pci_modern_dev", "virtio_pci", "vsock",
                                        "vmw_vsock_virtio_transport_common",
                                        "vmw_vsock_virtio_transport"]
    assert all(ko.startswith(b"\x7fELF") for _, ko in resolved)


def test_a_missing_dependency_is_named():
    modules = dict(X86_LIKE)
    del modules["virtio_ring"]
    with pytest.raises(KernelError, match="virtio_ring .needed by virtio"):
        collector([], modules).resolve()


def test_other_members_are_not_wanted():
    c = ModuleCollector()
    assert not c.wants(f"{MODDIR}/drivers/net/dummy.ko")
    assert not c.wants(f"{MODDIR}/drivers/block/loop.ko")
    assert not c.wants(f"{MODDIR}/net/core/pktgen.ko")
    assert not c.wants("boot/vmlinuz-6.1.0-50-test")
    assert c.wants(f"usr/{MODDIR}/net/vmw_vsock/vsock.ko.zst")
    assert depends(fake_ko("vsock", "")) == []


def test_penguin_device_modules_load_after_what_they_depend_on():
    """virtio-blk, virtio-net with its failover modules, and virtio-mmio besides the
    vsock set (tests/smoke/fastsnap-penguin.c loads them)."""
    c = collector([], {**X86_LIKE, "virtio_mmio": "virtio,virtio_ring"})
    devices = {"drivers/block/virtio_blk": "virtio,virtio_ring",
               "drivers/net/virtio_net": "net_failover,virtio,virtio_ring",
               "drivers/net/net_failover": "failover", "net/core/failover": ""}
    for path, deps in devices.items():
        name = path.rsplit("/", 1)[1]
        member = f"{MODDIR}/{path}.ko.xz"
        assert c.wants(member), member
        c.take(member, lzma.compress(fake_ko(name, deps)))
    order = [name for name, _ in c.resolve(PENGUIN_DEVICE_MODULES)]
    assert order == ["virtio_pci_modern_dev", "virtio_ring", "virtio", "virtio_pci",
                     "virtio_mmio", "virtio_blk", "failover", "net_failover", "virtio_net",
                     "vsock", "vmw_vsock_virtio_transport_common",
                     "vmw_vsock_virtio_transport"]


def test_initramfs_carries_extra_files_in_their_folders(tmp_path):
    init = tmp_path / "init"
    init.write_bytes(b"program")
    out = initramfs.write(init, tmp_path / "initrd.gz",
                          files={"vsock/00.ko": b"first", "vsock/01.ko": b"second"})
    entries = {n: body for n, _, _, body in newc_entries(gzip.decompress(out.read_bytes()))}
    assert list(entries) == ["dev", "dev/console", "init", "proc", "stages", "vsock",
                             "vsock/00.ko", "vsock/01.ko"]
    assert entries["vsock/01.ko"] == b"second"


def test_vsock_argv_is_penguins():
    sock, mem = Path("/run/vsock.sock"), Path("/run/mem0")
    x86 = vsock_argv(["-M", "pc", "-m", "512"], sock, mem)
    assert x86 == ["-M", "pc", "-m", "512", "-object",
                   "memory-backend-file,id=mem0,mem-path=/run/mem0,size=512M,share=on",
                   "-numa", "node,memdev=mem0",
                   "-chardev", "socket,id=char0,path=/run/vsock.sock",
                   "-device", "vhost-user-vsock-pci,chardev=char0"]
    malta = vsock_argv(["-M", "malta", "-m", "256", "-vga", "none"], sock, mem)
    assert malta[:2] == ["-M", "malta,memory-backend=mem0"]
    assert "-numa" not in malta and "size=256M" in malta[malta.index("-object") + 1]
