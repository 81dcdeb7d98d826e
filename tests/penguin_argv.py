"""The QEMU command line Penguin builds, per architecture, as one table
(/work/shared/spec/penguin-shim-notes.md, "The QEMU command line Penguin builds").

OPTIONS lists every option Penguin can pass and the test that covers it (the README's
table is made from it); penguin_argv() assembles the console variant for one smoke-boot
architecture (with or without the root shell on a second serial, with or without
-no-reboot), graphics_argv() the graphics one, interactive_console() the stdio console
that replaces the console file, compose_argv() one compose network. Values Penguin
fills in come from a Where: files in the test's folder, a free loopback port, the
unpacked release.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smoke.boots import MALTA, SmokeArch

RTC_BASE = "2023-01-01T00:00:00"
MAC = "52:54:00:12:34:56"
VNC_SECRET = "vncpasswd"

# Penguin's kernel command line before its environment (kernels older than 6.13).
PENGUIN_WORDS = ("rw panic=1 rootfstype=ext4 norandmaps nokaslr clocksource=jiffies "
                 "nohz_full nohz=off no_timer_check SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1 "
                 "IPTABLES_BACKEND=legacy idle=poll acpi=off nosoftlockup")
# Penguin's environment words are KEY=value; dotted words stand in for them here
# (the kernel hands undotted ones to init, at most 32, and init is ours).
ENV_WORDS = 24


@dataclass(frozen=True)
class Option:
    option: str            # as Penguin writes it
    where: str             # which architectures
    test: str              # the test that passes it


OPTIONS = [
    Option("-m <mem>", "all", "test_penguin_argv"),
    Option("-L <prefix>/share/qemu/", "all", "test_penguin_argv"),
    Option("-M virt, malta,memory-backend=mem0, pseries or pc", "all",
           "test_penguin_argv"),
    Option("-M virt,highmem=off,highmem-ecam=off,highmem-mmio=off (arm kernels <= 4.19)",
           "armel, aarch64", "test_penguin_argv (aarch64, armel)"),
    Option("-cpu cortex-a57, MIPS64R2-generic, power9 or la464", "aarch64, mips64*, "
           "powerpc64*, loongarch64", "test_penguin_argv"),
    Option("-kernel <file>", "all", "test_penguin_argv"),
    Option("-append <cmdline> (Penguin's words, then its environment; MIPS up to 4095 "
           "bytes)", "all", "test_penguin_argv; test_smoke.py "
           "test_a_4000_byte_command_line_arrives_whole"),
    Option("-bios <prefix>/share/qemu/edk2-loongarch64-code.fd", "loongarch64",
           "test_penguin_argv"),
    Option("-device virtio-blk-device,drive=hd0 -drive file=<qcow2>,id=hd0,cache=unsafe,"
           "snapshot=on,if=none", "armel, aarch64", "test_penguin_argv"),
    Option("-device virtio-blk-pci,drive=hd0,disable-modern=on,disable-legacy=off "
           "-drive ...,if=none", "MIPS", "test_penguin_argv"),
    Option("-drive file=<qcow2>,id=hd0,cache=unsafe,snapshot=on,if=virtio", "others",
           "test_penguin_argv"),
    Option("-drive ... without snapshot=on, -loadvm <tag>", "all",
           "test_vsock_snapshot.py"),
    Option("-no-reboot", "all", "test_penguin_argv; test_reset.py"),
    Option("no -no-reboot (core.allow_reboot: the guest's reboot resets the machine in the "
           "same process)", "all", "test_penguin_argv; test_reset.py; "
           "test_vsock_reboot.py"),
    Option(f"-rtc base={RTC_BASE}", "all", "test_penguin_argv"),
    Option("-netdev user,id=user.0 -device virtio-net,netdev=user.0", "all",
           "test_penguin_argv"),
    Option("-netdev user,id=ext -device virtio-net-pci,netdev=ext,mac=<mac> "
           "-object filter-dump,id=fext,netdev=ext,file=<pcap>", "all",
           "test_penguin_argv"),
    Option("-netdev socket,id=compose.N,mcast=230.0.0.1:<port> -device virtio-net-pci,"
           "netdev=compose.N,mac=<mac> (compose networking)", "all",
           "test_penguin_argv; test_penguin_argv (compose: two VMs, one group)"),
    Option("-serial file:<out>/console.log -monitor null -display none", "all",
           "test_penguin_argv"),
    Option("-chardev stdio,id=char1,logfile=<log>,signal=on -serial chardev:char1 "
           "-display none (the interactive console, under a terminal)", "x86_64",
           "test_penguin_argv (interactive console)"),
    Option("-serial telnet:127.0.0.1:<port>,server,nowait (the root shell on the second "
           "serial, only when asked; Penguin binds 0.0.0.0)", "all",
           "test_penguin_argv (on half of them; the other half has none)"),
    Option("-virtfs local,path=<dir>,mount_tag=igloo_shared_dir,"
           "security_model=mapped-xattr", "all", "test_penguin_argv"),
    Option("-object memory-backend-file,id=mem0,mem-path=<file>,size=<mem>,share=on "
           "-chardev socket,id=char0,path=<socket> -device vhost-user-vsock-pci,"
           "chardev=char0", "all", "test_penguin_argv; test_vsock.py"),
    Option("-numa node,memdev=mem0", "all but MIPS", "test_penguin_argv"),
    Option("-smp <n>", "all", "test_penguin_argv (2 CPUs; malta 1)"),
    Option("-qmp unix:<path>,server,nowait", "all", "test_penguin_argv; test_runtime.py"),
    Option(f"-object secret,id={VNC_SECRET},data=<pw> -vnc 0.0.0.0:0,password-secret="
           f"{VNC_SECRET} -device virtio-gpu -device virtio-keyboard-pci -device "
           "virtio-mouse-pci -k en-us", "one per test run", "test_vnc.py; "
           "test_penguin_argv (graphics, x86_64)"),
    Option("-accel kvm (libqemu-kvm-x86_64.so)", "x86_64", "test_kvm.py"),
]


@dataclass(frozen=True)
class Where:
    """What Penguin's run fills into its command line, for one boot."""
    prefix: Path           # the unpacked release (/usr/local)
    workdir: Path          # the run's folder: drive, shared folder, logs, sockets
    kernel: Path
    initrd: Path
    vsock_socket: Path
    telnet_port: int
    compose_port: int = 0  # the compose network's multicast port (0: none)

    @property
    def qcow2(self) -> Path:
        return self.workdir / "root.qcow2"

    @property
    def qmp_socket(self) -> Path:
        return self.workdir / "qmp.sock"

    @property
    def console(self) -> Path:
        return self.workdir / "console.log"


def memory_mib(arch: SmokeArch) -> int:
    return int(arch.machine[arch.machine.index("-m") + 1])


def is_malta(arch: SmokeArch) -> bool:
    return arch.machine[:2] == MALTA[:2]


def machine(arch: SmokeArch, vpn: bool = True) -> list[str]:
    """-M and -cpu as Penguin gives them (malta's RAM from the VPN's mem0), without
    -m."""
    out, args = [], list(arch.machine)
    while args:
        opt, value = args.pop(0), args.pop(0)
        if opt == "-m":
            continue
        if opt == "-M" and is_malta(arch) and vpn:
            value = "malta,memory-backend=mem0"
        elif opt == "-M" and value == "virt" and arch.name in ("armel", "aarch64"):
            value = "virt,highmem=off,highmem-ecam=off,highmem-mmio=off"
        out += [opt, value]
    return out


def root_drive(arch: SmokeArch, where: Where, snapshot: bool = True) -> list[str]:
    """Penguin's three shapes of the root drive (qcow2, cache=unsafe, snapshot=on unless
    the run takes snapshots or is not immutable)."""
    drive = f"file={where.qcow2},id=hd0,cache=unsafe" + (",snapshot=on" if snapshot else "")
    if arch.name in ("armel", "aarch64"):
        return ["-device", "virtio-blk-device,drive=hd0", "-drive", f"{drive},if=none"]
    if is_malta(arch):
        return ["-device", "virtio-blk-pci,drive=hd0,disable-modern=on,disable-legacy=off",
                "-drive", f"{drive},if=none"]
    return ["-drive", f"{drive},if=virtio"]


def cmdline(arch: SmokeArch) -> str:
    """init's console and Penguin's words, then environment-like words."""
    env = " ".join(f"penguin.env{i:02d}=value{i:02d}" for i in range(ENV_WORDS))
    return f"{arch.cmdline()} root=/dev/vda {PENGUIN_WORDS} {env}"


def penguin_argv(arch: SmokeArch, where: Where, snapshot: bool = True,
                 external_net: bool = True, vpn: bool = True, root_shell: bool = True,
                 allow_reboot: bool = False, compose_mac: str | None = None) -> list[str]:
    """The console variant of Penguin's command line for arch; snapshot: the root
    drive's snapshot=on; external_net: the optional external network (with its packet
    dump); vpn: the VPN's shared guest RAM and vhost-user-vsock-pci (on by default in
    Penguin; its fast-snapshot lane runs without it); the root shell on a second
    serial only when root_shell, -no-reboot unless allow_reboot, and compose network 0
    on where.compose_port with compose_mac when given."""
    mem = memory_mib(arch)
    share = where.workdir / "shared"
    share.mkdir(exist_ok=True)
    argv = ["-m", str(mem), "-L", f"{where.prefix / 'share' / 'qemu'}/",
            *machine(arch, vpn), "-kernel", str(where.kernel), "-initrd", str(where.initrd),
            "-append", cmdline(arch), *root_drive(arch, where, snapshot),
            *([] if allow_reboot else ["-no-reboot"]), "-rtc", f"base={RTC_BASE}"]
    if arch.name == "loongarch64":
        argv += ["-bios", str(where.prefix / "share" / "qemu" / "edk2-loongarch64-code.fd")]
    argv += ["-netdev", "user,id=user.0", "-device", "virtio-net,netdev=user.0"]
    if external_net:
        argv += ["-netdev", "user,id=ext",
                 "-device", f"virtio-net-pci,netdev=ext,mac={MAC}",
                 "-object", f"filter-dump,id=fext,netdev=ext,"
                            f"file={where.workdir / 'ext.pcap'}"]
    argv += ["-serial", f"file:{where.console}", "-monitor", "null", "-display", "none"]
    if compose_mac is not None:
        argv += compose_argv(0, where.compose_port, compose_mac)
    if root_shell:
        argv += ["-serial", f"telnet:127.0.0.1:{where.telnet_port},server,nowait"]
    argv += ["-virtfs", f"local,path={share},mount_tag=igloo_shared_dir,"
                        "security_model=mapped-xattr"]
    if vpn:
        argv += ["-object", "memory-backend-file,id=mem0,"
                            f"mem-path={where.workdir / 'mem0'},size={mem}M,share=on",
                 "-chardev", f"socket,id=char0,path={where.vsock_socket}",
                 "-device", "vhost-user-vsock-pci,chardev=char0"]
        if not is_malta(arch):
            argv += ["-numa", "node,memdev=mem0"]
    argv += ["-smp", "1" if is_malta(arch) else "2",
             "-qmp", f"unix:{where.qmp_socket},server,nowait"]
    return argv


def compose_argv(n: int, port: int, mac: str) -> list[str]:
    """Compose network n: a socket netdev on Penguin's multicast group, and its NIC."""
    return ["-netdev", f"socket,id=compose.{n},mcast=230.0.0.1:{port}",
            "-device", f"virtio-net-pci,netdev=compose.{n},mac={mac}"]


def interactive_console(where: Where) -> list[str]:
    """Penguin's interactive console in place of `-serial file:... -monitor null
    -display none`: the first serial on QEMU's stdio (a terminal), logged to the
    console file; signal=on keeps ^C a signal to the process."""
    return ["-chardev", f"stdio,id=char1,logfile={where.console},signal=on",
            "-serial", "chardev:char1", "-display", "none"]


def graphics_argv(password: str, vnc_display: int) -> list[str]:
    """Penguin's graphics options in place of -display none (loopback, not 0.0.0.0)."""
    return ["-object", f"secret,id={VNC_SECRET},data={password}",
            "-vnc", f"127.0.0.1:{vnc_display},password-secret={VNC_SECRET}",
            "-device", "virtio-gpu", "-device", "virtio-keyboard-pci",
            "-device", "virtio-mouse-pci", "-k", "en-us"]


def markdown_table() -> str:
    """OPTIONS as the README shows them (tests/test_penguin_argv.py keeps the two equal)."""
    rows = ["| Penguin passes | on | covered by |", "|---|---|---|"]
    assert not any("|" in o.option + o.where + o.test for o in OPTIONS)
    rows += [f"| `{o.option}` | {o.where} | {o.test} |" for o in OPTIONS]
    return "\n".join(rows) + "\n"
