#!/usr/bin/env bash
# penguin-install-deps.sh build|arm64|test|lint: install from Debian's archive what building or
# testing needs, and nothing when it is all there already. Needs root (apt-get).
#
# Everything comes from Debian 12 (bookworm) except meson >= 1.5 and python3-pycotap,
# which QEMU 10.0's configure needs: those come from bookworm-backports, installed by
# name with -t, so no other package moves to a newer suite.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

# patchelf gives the shipped libraries their RUNPATH into the bundled runtime libraries
# (scripts/penguin-bundle-libs.py, scripts/penguin-qemu-package.py).
build_pkgs=(
    build-essential ninja-build ccache pkg-config flex bison patch xz-utils
    python3 python3-venv python3-dev python3-cffi python3-pyelftools
    libglib2.0-dev libpixman-1-dev libfdt-dev libcapstone-dev libslirp-dev zlib1g-dev
    libcap-ng-dev libattr1-dev libzstd-dev nettle-dev patchelf
)
backports_pkgs=(meson python3-pycotap)
# Cross binutils assemble the bare-metal guests of tests/guests; LoongArch has none in
# bookworm, so clang-19 and lld-19 (bookworm main) assemble and link it. The smoke boots
# build their big-endian kernels from linux-source-6.1 (needs bc) and unpack LoongArch's
# zstd-compressed kernel with zstd. Their glibc stage (tests/smoke/libc_stage.c) links
# each architecture's static glibc from Debian's cross libc6-dev packages. debootstrap
# makes the Debian 13 root file system the release is tried in (tests/roots.py).
# pytest-xdist runs the suite in two processes (test.sh). QEMU's configure takes
# gdb-multiarch (4 MB, 16 s to install here) for the gdbstub runs of QEMU's TCG tests on
# the foreign targets (scripts/penguin-tcg-tests.py; the host's gdb serves x86_64 only).
test_pkgs=(
    python3-pytest python3-pytest-xdist gdb gdb-multiarch binutils
    binutils-arm-linux-gnueabi binutils-aarch64-linux-gnu binutils-mips-linux-gnu
    binutils-mipsel-linux-gnu binutils-mips64-linux-gnuabi64 binutils-mips64el-linux-gnuabi64
    binutils-powerpc-linux-gnu binutils-powerpc64-linux-gnu binutils-powerpc64le-linux-gnu
    binutils-riscv64-linux-gnu clang-19 lld-19 llvm-19
    gcc-arm-linux-gnueabi gcc-aarch64-linux-gnu gcc-mips-linux-gnu gcc-mipsel-linux-gnu
    gcc-mips64-linux-gnuabi64 gcc-mips64el-linux-gnuabi64 gcc-powerpc-linux-gnu
    gcc-powerpc64-linux-gnu gcc-powerpc64le-linux-gnu gcc-riscv64-linux-gnu gcc-i686-linux-gnu
    linux-source-6.1 bc zstd debootstrap
    libc6-dev-armel-cross libc6-dev-arm64-cross libc6-dev-mips-cross libc6-dev-mipsel-cross
    libc6-dev-mips64-cross libc6-dev-mips64el-cross libc6-dev-ppc64-cross
    libc6-dev-ppc64el-cross libc6-dev-riscv64-cross
)
# Debian 12 has no LoongArch glibc: Debian 13's loong64 cross glibc and libgcc are
# architecture-all packages (files under /usr/loongarch64-linux-gnu and
# /usr/lib/gcc-cross), installed as pkg/trixie so that nothing else leaves bookworm;
# clang-19 and lld-19 build the glibc stage against them.
trixie_test_pkgs=(libc6-dev-loong64-cross libgcc-14-dev-loong64-cross)
# tests/test_arm64_host.py runs the arm64 release under qemu-user's qemu-aarch64 (static,
# no dependencies; tests/binfmt.py registers it): bookworm's 7.2 mishandles signals
# between threads, which QEMU's vCPU kicks use, so bookworm-backports' 10.0 by name.
backports_test_pkgs=(qemu-user)

# ./build.sh --host=arm64: the cross compiler and the arm64 (:arm64) copies of the build's
# libraries, beside build_pkgs (meson, python3-cffi and the rest run on the build
# machine). Each :arm64 library must carry the version of its installed amd64 twin
# (Multi-Arch: same), so installing them may upgrade those in lock-step. Bookworm's
# libfdt-dev has no Multi-Arch field: its arm64 copy would remove the amd64 one the
# x86_64 build needs. So only libfdt1:arm64 is installed (its headers are
# architecture-independent, /usr/include), and ./configure --host arm64 links it through
# a libfdt.so symlink of its own. libfdt-dev is named here too, so that apt fails rather
# than removes it. libpython3.11-dev:arm64 gives the env modules aarch64's pyconfig.h;
# pkgconf:arm64 gives aarch64-linux-gnu-pkg-config, which QEMU's configure asks for.
arm64_pkgs=(
    crossbuild-essential-arm64 binutils-aarch64-linux-gnu libfdt-dev
    libglib2.0-dev:arm64 libpixman-1-dev:arm64 libfdt1:arm64 libcapstone-dev:arm64
    libslirp-dev:arm64 zlib1g-dev:arm64 libcap-ng-dev:arm64 libattr1-dev:arm64
    libzstd-dev:arm64 nettle-dev:arm64 libpython3.11-dev:arm64 pkgconf:arm64
)

# scripts/lint: pyflakes, pycodestyle and shellcheck (checkpatch.pl comes from the QEMU
# tarball and needs only perl).
lint_pkgs=(python3-pyflakes pycodestyle shellcheck perl git xz-utils)

missing() {
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" ||
            echo "$p"
    done
}

qemu_user_too_old() {
    local v
    v=$(dpkg-query -W -f='${Version}' qemu-user 2>/dev/null) || return 0
    ! dpkg --compare-versions "$v" ge 1:9.0
}

meson_too_old() {
    ! command -v meson >/dev/null ||
        ! dpkg --compare-versions "$(meson --version)" ge 1.5.0
}

install() {
    local suite=$1; shift
    [ $# -gt 0 ] || return 0
    echo "penguin-install-deps: installing $*"
    # Another process may hold the dpkg lock (a second build, a debootstrap): wait.
    local -a apt=(apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends)
    if [ "$suite" = default ]; then
        "${apt[@]}" "$@"
    else
        "${apt[@]}" -t "$suite" "$@"
    fi
}

# dpkg learns arm64 once; apt then needs the arm64 indices of the bookworm entries
# (penguin-apt-sources.sh keeps trixie's entry amd64-only).
add_arm64() {
    if dpkg --print-foreign-architectures | grep -qx arm64 &&
       ls /var/lib/apt/lists/*_dists_bookworm_main_binary-arm64_Packages* >/dev/null 2>&1
    then
        return 0
    fi
    echo "penguin-install-deps: adding the arm64 architecture to dpkg and apt"
    dpkg --add-architecture arm64
    apt-get -o DPkg::Lock::Timeout=600 update -q
}

main() {
    local what=${1:-build}
    local -a need bp=() tp=()
    case $what in
        build) mapfile -t need < <(missing "${build_pkgs[@]}")
               mapfile -t bp < <(missing "${backports_pkgs[@]}")
               if meson_too_old && [ ${#bp[@]} -eq 0 ]; then bp=(meson); fi ;;
        arm64) mapfile -t need < <(missing "${build_pkgs[@]}" "${arm64_pkgs[@]}")
               mapfile -t bp < <(missing "${backports_pkgs[@]}")
               if meson_too_old && [ ${#bp[@]} -eq 0 ]; then bp=(meson); fi ;;
        test)  mapfile -t need < <(missing "${test_pkgs[@]}")
               mapfile -t tp < <(missing "${trixie_test_pkgs[@]}")
               if qemu_user_too_old; then bp=("${backports_test_pkgs[@]}"); fi ;;
        lint)  mapfile -t need < <(missing "${lint_pkgs[@]}") ;;
        *) echo "usage: $0 build|arm64|test|lint" >&2; exit 2 ;;
    esac
    export DEBIAN_FRONTEND=noninteractive
    # Also what the QEMU source and the firmware downloads need; a no-op when in place.
    "$here/penguin-apt-sources.sh"
    if [ ${#need[@]} -eq 0 ] && [ ${#bp[@]} -eq 0 ] && [ ${#tp[@]} -eq 0 ]; then
        return 0
    fi
    [ "$what" != arm64 ] || add_arm64
    install default "${need[@]}"
    install bookworm-backports "${bp[@]}"
    install default "${tp[@]/%//trixie}"
}

main "$@"
