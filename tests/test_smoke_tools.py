"""The smoke boots' own tools without booting anything: the initramfs writer, the
Kconfig fragment checks of the built kernels, and the EFI zboot unwrapping of the
Debian LoongArch kernel (tests/smoke/)."""

from __future__ import annotations

import gzip
import stat
import struct
import subprocess
from pathlib import Path

import pytest

from smoke import built_kernels, initramfs
from smoke.debian_kernels import Package, unzboot
from smoke.kernel import KernelError

CONFIGS = Path(built_kernels.CONFIG_DIR)


def newc_entries(data: bytes) -> list[tuple[str, int, tuple[int, int], bytes]]:
    """(name, mode, (rdevmajor, rdevminor), data) of each record of a newc archive."""
    entries, pos = [], 0
    while True:
        assert data[pos:pos + 6] == b"070701", f"bad magic at {pos}"
        fields = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size = fields[1], fields[6]
        rmaj, rmin, namesize = fields[9], fields[10], fields[11]
        pos += 110
        name = data[pos:pos + namesize - 1].decode()
        pos = (pos + namesize + 3) & ~3
        body = data[pos:pos + size]
        pos = (pos + size + 3) & ~3
        if name == initramfs.TRAILER:
            return entries
        entries.append((name, mode, (rmaj, rmin), body))


def test_initramfs_holds_console_and_init(tmp_path):
    init = tmp_path / "init"
    init.write_bytes(b"\x7fELF-not-really")
    out = initramfs.write(init, tmp_path / "initrd.gz")
    raw = gzip.decompress(out.read_bytes())
    assert len(raw) % 512 == 0
    entries = {name: (mode, rdev, body) for name, mode, rdev, body in newc_entries(raw)}
    assert set(entries) == {"dev", "dev/console", "init", "proc", "stages"}
    assert stat.S_ISDIR(entries["dev"][0])
    assert stat.S_ISCHR(entries["dev/console"][0]) and entries["dev/console"][1] == (5, 1)
    assert stat.S_ISREG(entries["init"][0]) and entries["init"][0] & 0o111 == 0o111
    assert entries["init"][2] == init.read_bytes()
    assert stat.S_ISDIR(entries["proc"][0]) and stat.S_ISDIR(entries["stages"][0])


def test_initramfs_holds_the_stage_programs(tmp_path):
    init, first, second = tmp_path / "init", tmp_path / "a", tmp_path / "b"
    init.write_bytes(b"init")
    first.write_bytes(b"first program")
    second.write_bytes(b"second program")
    out = initramfs.write(init, tmp_path / "initrd.gz", {"20-b": second, "10-a": first})
    entries = {name: (mode, body) for name, mode, _, body in
               newc_entries(gzip.decompress(out.read_bytes()))}
    assert entries["stages/10-a"][1] == b"first program"
    assert entries["stages/20-b"][1] == b"second program"
    assert all(entries[n][0] & 0o111 == 0o111 for n in ("stages/10-a", "stages/20-b"))


@pytest.mark.parametrize("name", ["", ".hidden", "a/b", "x" * initramfs.STAGE_NAME_MAX])
def test_a_stage_name_init_cannot_run_is_an_error(tmp_path, name):
    program = tmp_path / "p"
    program.write_bytes(b"p")
    with pytest.raises(ValueError, match="stage name"):
        initramfs.write(program, tmp_path / "initrd.gz", {name: program})


def test_initramfs_is_reproducible(tmp_path):
    init = tmp_path / "init"
    init.write_bytes(b"program")
    first = initramfs.write(init, tmp_path / "a.gz").read_bytes()
    assert first == initramfs.write(init, tmp_path / "b.gz").read_bytes()
    assert first[4:8] == b"\0\0\0\0", "gzip header carries a timestamp"


@pytest.mark.parametrize("arch", built_kernels.ARCHES)
def test_each_built_kernel_has_a_fragment_of_options(arch):
    options = built_kernels.parse_fragment(CONFIGS / f"{arch}.config")
    for needed in ("CONFIG_BLK_DEV_INITRD", "CONFIG_RD_GZIP", "CONFIG_BINFMT_ELF",
                   "CONFIG_PRINTK", "CONFIG_TTY", "CONFIG_PROC_FS"):
        assert options.get(needed) == "y", f"{arch}: {needed}"
    # glibc programs need the FPU (allnoconfig under EXPERT leaves MIPS without it).
    fpu = "CONFIG_MIPS_FP_SUPPORT" if arch.startswith("mips") else "CONFIG_PPC_FPU"
    assert options.get(fpu) == "y", f"{arch}: {fpu}"
    assert options.get("CONFIG_MODULES") == "n"


def test_a_line_that_is_not_kconfig_is_an_error(tmp_path):
    fragment = tmp_path / "bad.config"
    fragment.write_text("CONFIG_TTY=y\nCONFIG_SERIAL_8250 y\n")
    with pytest.raises(KernelError, match=r"bad.config:2: not a Kconfig line"):
        built_kernels.parse_fragment(fragment)


def test_cache_key_follows_every_input():
    base = built_kernels.cache_key(b"CONFIG_TTY=y\n", "6.1.192-2", "gcc 12.2.0")
    assert base == built_kernels.cache_key(b"CONFIG_TTY=y\n", "6.1.192-2", "gcc 12.2.0")
    assert base != built_kernels.cache_key(b"CONFIG_TTY=n\n", "6.1.192-2", "gcc 12.2.0")
    assert base != built_kernels.cache_key(b"CONFIG_TTY=y\n", "6.1.193-1", "gcc 12.2.0")
    assert base != built_kernels.cache_key(b"CONFIG_TTY=y\n", "6.1.192-2", "gcc 12.3.0")


def zboot(payload: bytes, compression: bytes, size: int | None = None) -> bytes:
    """An EFI zboot image: 'MZ', 'zimg', payload offset and size, compression name."""
    head = bytearray(64)
    head[0:2], head[4:8] = b"MZ", b"zimg"
    struct.pack_into("<II", head, 8, 64, len(payload) if size is None else size)
    head[24:24 + len(compression)] = compression
    return bytes(head) + payload


PACKAGE = Package("linux-binary-test-loong64", "1", ())


def test_zstd_zboot_is_unwrapped(tmp_path):
    kernel = b"LoongArch kernel image " * 1000
    packed = subprocess.run(["zstd", "-c"], input=kernel, capture_output=True,
                            check=True).stdout
    path = tmp_path / "vmlinuz-test"
    path.write_bytes(zboot(packed, b"zstd"))
    out = unzboot(path, PACKAGE)
    assert out.name == "Image-test" and out.read_bytes() == kernel
    assert not path.exists()


def test_plain_and_gzip_kernels_are_left_alone(tmp_path):
    plain = tmp_path / "vmlinuz-plain"
    plain.write_bytes(b"\x7fELF" + bytes(100))
    assert unzboot(plain, PACKAGE) == plain
    gz = tmp_path / "vmlinuz-gzip"
    gz.write_bytes(zboot(gzip.compress(b"kernel"), b"gzip"))
    assert unzboot(gz, PACKAGE) == gz


def test_truncated_or_unknown_zboot_is_a_clear_error(tmp_path):
    path = tmp_path / "vmlinuz-short"
    path.write_bytes(zboot(b"abc", b"zstd", size=4096))
    with pytest.raises(KernelError, match="truncated"):
        unzboot(path, PACKAGE)
    path.write_bytes(zboot(b"abc", b"lz4"))
    with pytest.raises(KernelError, match="'lz4'"):
        unzboot(path, PACKAGE)
