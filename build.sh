#!/usr/bin/env bash
# build.sh: the one build command. On a fresh Debian 12 machine (root) it installs the
# build dependencies from Debian's archive, fetches and prepares the pinned QEMU, builds
# libqemu-system-<target>.so for every target of configs/arches.tsv plus qemu-img (the
# host's own target has KVM beside TCG: its KVM library, libqemu-kvm-x86_64.so on
# x86_64, is another name of that library), and stages the /usr/local tree under
# dist/stage. Re-running rebuilds only what changed.
#
#   ./build.sh              everything
#   ./build.sh --stock      only stock qemu-system-<target> executables from the upstream
#                           tree (configure --stock), same feature set, for bench/
#   ./build.sh --optimize=lto|pgo|lto,pgo [--targets=aarch64,x86_64]
#                           the release built optimised in _build/build-<kinds>
#                           (configs/features.conf's [opt:] lines; pgo trains on the smoke
#                           boots, scripts/penguin-pgo-train.py); with --targets only those
#                           libraries, linked into _build/stage-<kinds>/lib for bench/
#   ./build.sh --host=arm64 [--targets=aarch64,x86_64]
#                           the release for arm64 hosts, cross-compiled on this x86_64
#                           machine (aarch64-linux-gnu-gcc, Debian's :arm64 libraries) in
#                           _build/build-arm64, staged in _build/stage-arm64, packaged as
#                           dist/penguin-qemu-arm64.tar.gz (+ -arm64-debug, SHA256SUMS-arm64);
#                           aarch64's library has KVM (libqemu-kvm-aarch64.so); with
#                           --targets only those targets' libraries and names
#   QEMU_TARBALL=path ./build.sh    use a local copy of the pinned tarball
set -euo pipefail

top=$(cd "$(dirname "$0")" && pwd)
build=$top/_build/build-system

step() { echo "== build: $* ($(date +%T))"; }

# ninja prints one line per edge when not on a terminal: keep errors whole and show
# progress every 250 steps.
ninja_progress() {
    awk '/^\[[0-9]+\/[0-9]+\]/ {
            split(substr($1, 2), n, "/")
            if (n[1] % 250 == 0 || n[1] == n[2]) { print; fflush() }
            next
         }
         { print; fflush() }'
}

# configs/arches.tsv is read only by scripts/penguin_arches.py.
arches() {
    /usr/bin/python3 "$top/scripts/penguin_arches.py" "$@"
}

targets() {
    arches --field target "$@" | sort -u
}

# The QEMU targets of the host's KVM library names (scripts/penguin_arches.py: x86_64 on
# an x86_64 host, aarch64 on an aarch64 host); extra arguments (--host, --targets) go to
# penguin_arches.py.
kvm_targets() {
    arches --mode kvm --field target "$@" | sort -u
}

# The typed-env header and compiled module of one target's library (from its DWARF),
# regenerated only when the library or the generator (the command, its package
# scripts/penguin_envgen and the helpers it imports) changed.
generate_env() {
    local mode=$1 target=$2 builddir=$3 stage=${4:-$top/dist/stage}
    local stamps=${5:-$top/_build/env-gen} gen=$top/scripts/penguin-env-cffi-gen.py
    local -a cross=("${@:6}")
    local lib=$stage/lib/libqemu-$mode-$target.so
    local header=$stage/include/penguin-qemu-cffi/qemu_cffi_${mode}_${target}_env.h
    local stamp want
    # The system stamps keep their old names, so an existing tree is not regenerated.
    if [ "$mode" = system ]; then
        stamp=$stamps/$target.stamp
    else
        stamp=$stamps/$mode-$target.stamp
    fi
    want="$(stat -Lc '%s %Y' "$lib") $(cat "$gen" "$top"/scripts/penguin_envgen/*.py \
        "$top/scripts/penguin_common.py" | sha256sum | cut -c1-64)"
    if [ -f "$header" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return
    fi
    echo "env: $mode $target"
    /usr/bin/python3 "$gen" --library "$lib" --target "$target" --mode "$mode" \
        --out-header "$header" --module-dir "$stage/lib/penguin-qemu-env" \
        --compile-commands "$builddir/compile_commands.json" --source-dir "$top/_build/src" \
        --build-dir "$builddir" --quiet "${cross[@]}"
    echo "$want" >"$stamp"
}

# Every target's env header and module, then every library name's cffi header and the
# manifest, per mode: system, then kvm for the KVM targets given (none: no kvm files).
# A cross build ($3 = --host, $4 = --targets, for the scripts; $5 = the stage, $6 = the
# env stamps) compiles the env modules with the cross compiler and keeps their layout
# checks for the host (scripts/penguin-env-layout-check.py).
generate() {
    local kvm=$1 build=$2 host=${3:-} only=${4:-} stage=${5:-$top/dist/stage}
    local stamps=${6:-$top/_build/env-gen} target
    local -a sel=() cross=()
    [ -z "$host" ] || sel+=(--host "$host")
    [ -z "$only" ] || sel+=(--targets "$only")
    [ -z "$host" ] || cross=(--host "$host" --layout-check-dir "$stamps/layout-checks")
    mkdir -p "$stage/include/penguin-qemu-cffi" "$stage/lib/penguin-qemu-env" "$stamps"
    for target in $(targets "${sel[@]}"); do
        generate_env system "$target" "$build" "$stage" "$stamps" "${cross[@]}"
    done
    /usr/bin/python3 "$top/scripts/penguin-cffi-gen.py" --stage "$stage" "${sel[@]}"
    [ -n "$kvm" ] || return 0
    for target in $kvm; do
        generate_env kvm "$target" "$build" "$stage" "$stamps" "${cross[@]}"
    done
    /usr/bin/python3 "$top/scripts/penguin-cffi-gen.py" --stage "$stage" --mode kvm \
        "${sel[@]}"
}

libraries() {
    arches --field canonical_library "$@" | sort -u
}

# Let ccache share objects between checkouts at different paths (CI clones anew): paths
# under the checkout are hashed relative to it, and the working directory not at all.
export CCACHE_BASEDIR=$top CCACHE_NOHASHDIR=true

# Upstream as released, built with our feature set: what bench/ compares against.
stock() {
    local start=$SECONDS
    step "dependencies"
    "$top/scripts/penguin-install-deps.sh" build
    step "configure the unpatched tree"
    "$top/configure" --stock
    step "compile stock executables"
    ninja -C "$top/_build/build-stock" qemu-system-aarch64 qemu-system-mipsel \
        qemu-system-riscv64 qemu-system-x86_64 | ninja_progress
    step "stock done in $((SECONDS - start)) s"
}

# The build folder's own meson, to change one option without configuring anew.
meson_option() {
    local dir=$1 option=$2
    "$dir/pyvenv/bin/meson" configure "$dir" "$option" >/dev/null
}

# Profile-guided: build instrumented, boot every target's smoke kernels through it, then
# rebuild the same folder with the profile. The profile is made anew each time: one left
# from older sources would no longer match them.
pgo_build() {
    local dir=$1 libs=$2 targets=$3
    meson_option "$dir" -Db_pgo=generate
    step "compile instrumented (gcc -fprofile-generate)"
    # shellcheck disable=SC2086
    ninja -C "$dir" $libs | ninja_progress
    find "$dir" -name '*.gcda' -delete
    step "firmware (pinned Debian packages, configs/firmware.conf)"
    "$top/scripts/penguin-firmware.sh" "$top/_build/firmware"
    step "train on the smoke boots"
    # shellcheck disable=SC2086
    /usr/bin/python3 "$top/scripts/penguin-pgo-train.py" --build-dir "$dir" \
        --firmware "$top/_build/firmware/share/qemu" $targets
    meson_option "$dir" -Db_pgo=use
}

# ./build.sh --optimize=KINDS [--targets=LIST]: the optimised build in a folder of its
# own, so the default build stays incremental beside it.
optimized() {
    local kinds=$1 only=$2 start=$SECONDS dir targets libs qemu_targets stage target
    case $kinds in
        lto|pgo|lto,pgo) ;;
        *) echo "$0: --optimize takes lto, pgo or lto,pgo (not '$kinds')" >&2; exit 2 ;;
    esac
    dir=$top/_build/build-${kinds//,/-}
    targets=${only//,/ }
    check_targets "$only"
    targets=${targets:-$(targets)}
    libs=$(for target in $targets; do echo "libqemu-system-$target.so"; done)
    qemu_targets=$(for target in $targets; do echo "$target-softmmu"; done | paste -sd, -)
    step "dependencies"
    "$top/scripts/penguin-install-deps.sh" build
    step "configure --optimize $kinds"
    "$top/configure" --optimize "$kinds" --build-dir "$dir" --targets "$qemu_targets"
    case $kinds in *pgo*) pgo_build "$dir" "$libs" "$targets" ;; esac
    step "compile optimised"
    [ -n "$only" ] || libs="$libs qemu-img"
    # shellcheck disable=SC2086
    ninja -C "$dir" $libs | ninja_progress
    if [ -z "$only" ]; then
        release "$dir"
    else
        stage=$top/_build/stage-${kinds//,/-}
        rm -rf "$stage"
        mkdir -p "$stage/lib"
        for target in $targets; do
            ln -s "$dir/libqemu-system-$target.so" "$stage/lib/"
        done
        echo "build: $stage/lib has the optimised libraries (bench/guest_speed.py --stage $stage)"
    fi
    step "optimised build done in $((SECONDS - start)) s"
}

# --targets=LIST: each must be a target of configs/arches.tsv (checked before any work).
check_targets() {
    local target
    for target in ${1//,/ }; do
        case " $(targets | paste -sd' ' -) " in
            *" $target "*) ;;
            *) echo "$0: --targets: '$target' is not a target of configs/arches.tsv" \
                   "(known: $(targets | paste -sd, -))" >&2; exit 2 ;;
        esac
    done
}

# ./build.sh --host=HOST [--targets=LIST]: the release for another host, cross-compiled
# in a build folder, stage and archive names of its own; the default build is untouched.
cross() {
    local host=$1 only=$2 start=$SECONDS dir stage qemu_targets
    local -a sel=(--host "$host")
    [ -z "$only" ] || sel+=(--targets "$only")
    dir=$top/_build/build-$host
    stage=$top/_build/stage-$host
    qemu_targets=$(arches --field qemu_target "${sel[@]}" | sort -u | paste -sd, -)
    step "dependencies ($host cross build)"
    "$top/scripts/penguin-install-deps.sh" "$host"
    step "configure --host $host"
    "$top/configure" --host "$host" --build-dir "$dir" --targets "$qemu_targets"
    step "compile for $host"
    # shellcheck disable=SC2046
    ninja -C "$dir" $(libraries "${sel[@]}") qemu-img | ninja_progress
    release "$dir" "$host" "$only" "$stage"
    step "$host build done in $((SECONDS - start)) s"
}

# The value of --NAME=VALUE ($1 the option, $2 its value, $3 what an earlier one
# gave): an empty value (an unset variable in a script, say) or a second one is an
# error, not a default build.
option_value() {
    [ -n "$2" ] || { echo "$0: $1= names nothing" >&2; exit 2; }
    [ -z "$3" ] || { echo "$0: $1 given twice" >&2; exit 2; }
    case ,$2, in
        *,,*) echo "$0: $1=$2 has an empty item" >&2; exit 2 ;;
    esac
    printf '%s' "$2"
}

main() {
    local start=$SECONDS optimize="" only="" host="" stock_only="" arg
    for arg in "$@"; do
        case $arg in
            --stock) stock_only=1 ;;
            --optimize=*) optimize=$(option_value --optimize "${arg#*=}" "$optimize") \
                              || exit 2 ;;
            --targets=*) only=$(option_value --targets "${arg#*=}" "$only") || exit 2 ;;
            --host=*) host=$(option_value --host "${arg#*=}" "$host") || exit 2
                      [ "$host" = arm64 ] || { echo "$0: --host=$host: the release" \
                          "cross-builds for arm64 only (known: arm64)" >&2; exit 2; } ;;
            *) usage ;;
        esac
    done
    if [ -n "$stock_only" ]; then
        [ -z "$host" ] || { echo "$0: --host builds the release; --stock is for bench/" \
                                 "on this machine only" >&2; exit 2; }
        [ -z "$optimize$only" ] || { echo "$0: --stock builds every stock executable;" \
                                          "it takes no --optimize or --targets" >&2
                                     exit 2; }
        stock
        return
    fi
    if [ -n "$host" ]; then
        [ -z "$optimize" ] || { echo "$0: --host and --optimize together are not" \
                                     "supported" >&2; exit 2; }
        arches --host "$host" >/dev/null || exit 2
        check_targets "$only"
        cross "$host" "$only"
        return
    fi
    if [ -n "$optimize" ]; then
        optimized "$optimize" "$only"
        return
    fi
    [ -z "$only" ] || usage
    step "dependencies"
    "$top/scripts/penguin-install-deps.sh" build
    step "configure"
    "$top/configure"
    step "compile"
    # shellcheck disable=SC2046
    ninja -C "$build" $(libraries) qemu-img | ninja_progress
    release "$build"
    step "done in $((SECONDS - start)) s"
}

usage() {
    echo "usage: $0 [--stock | --optimize=lto|pgo|lto,pgo [--targets=T1,T2] |" \
         "--host=arm64 [--targets=T1,T2]]" >&2
    exit 2
}

# Firmware, the staged /usr/local tree, its generated headers and modules, the bundled
# runtime libraries and the archives, from the libraries of build folder $1. A cross
# build names its host ($2), its targets ($3, empty: all) and its stage ($4); its
# runtime libraries and env stamps go to folders named after the host.
release() {
    local build=$1 host=${2:-} only=${3:-} stage=${4:-$top/dist/stage}
    local runtime=$top/_build/runtime-libs stamps=$top/_build/env-gen
    local -a sel=()
    if [ -n "$host" ]; then
        runtime=$top/_build/runtime-libs-$host
        stamps=$top/_build/env-gen-$host
        sel=(--host "$host")
        [ -z "$only" ] || sel+=(--targets "$only")
    fi
    step "firmware (pinned Debian packages, configs/firmware.conf)"
    "$top/scripts/penguin-firmware.sh" "$top/_build/firmware"
    step "stage"
    /usr/bin/python3 "$top/scripts/penguin-stage.py" --build-dir "$build" \
        --stage "$stage" --firmware-dir "$top/_build/firmware" \
        --abi-header "$top/include/penguin/penguin.h" \
        --guest-header "$top/guest/include/penguin-hypercall.h" \
        --plugin-header "$top/_build/src/include/qemu/qemu-plugin.h" "${sel[@]}"
    step "generate cffi headers, env headers and env modules"
    generate "$(kvm_targets "${sel[@]}")" "$build" "$host" "$only" "$stage" "$stamps"
    step "bundle the runtime libraries (all but glibc)"
    /usr/bin/python3 "$top/scripts/penguin-bundle-libs.py" --stage "$stage" \
        --out "$runtime" ${host:+--host "$host"}
    step "package"
    /usr/bin/python3 "$top/scripts/penguin-qemu-package.py" --stage "$stage" \
        --out "$top/dist" --firmware-dir "$top/_build/firmware" \
        --runtime-libs-dir "$runtime" "${sel[@]}"
}

main "$@"
