#!/usr/bin/env bash
# build.sh: the one build command. On a fresh Debian 12 machine (root) it installs the
# build dependencies from Debian's archive, fetches and prepares the pinned QEMU, builds
# libqemu-system-<target>.so for every target of configs/arches.tsv plus qemu-img, and
# stages the /usr/local tree under dist/stage. Re-running rebuilds only what changed.
#
#   ./build.sh              everything
#   ./build.sh --stock      only stock qemu-system-<target> executables from the unpatched
#                           tarball, same feature set, for bench/ (_build/build-stock)
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

targets() {
    awk '!/^#/ && NF >= 2 { sub(/-softmmu$/, "", $2); print $2 }' "$top/configs/arches.tsv" |
        sort -u
}

# The typed-env header and compiled module of each target (from the library's DWARF),
# then every library name's cffi header and the manifest. A target is regenerated only
# when its library or the generator changed.
generate() {
    local stage=$top/dist/stage target lib want stamp
    local include=$stage/include/penguin-qemu-cffi envdir=$stage/lib/penguin-qemu-env
    local gen=$top/scripts/penguin-env-cffi-gen.py
    mkdir -p "$include" "$envdir" "$top/_build/env-gen"
    for target in $(targets); do
        lib=$stage/lib/libqemu-system-$target.so
        stamp=$top/_build/env-gen/$target.stamp
        want="$(stat -Lc '%s %Y' "$lib") $(sha256sum "$gen" | cut -c1-64)"
        if [ -f "$include/qemu_cffi_system_${target}_env.h" ] &&
           [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
            continue
        fi
        echo "env: $target"
        /usr/bin/python3 "$gen" --library "$lib" --target "$target" \
            --out-header "$include/qemu_cffi_system_${target}_env.h" --module-dir "$envdir" \
            --compile-commands "$build/compile_commands.json" --source-dir "$top/_build/src" \
            --build-dir "$build" --quiet
        echo "$want" >"$stamp"
    done
    /usr/bin/python3 "$top/scripts/penguin-cffi-gen.py" --stage "$stage"
}

libraries() {
    awk '!/^#/ && NF >= 2 { sub(/-softmmu$/, "", $2); print "libqemu-system-" $2 ".so" }' \
        "$top/configs/arches.tsv" | sort -u
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

main() {
    local start=$SECONDS
    case ${1:-} in
        "") ;;
        --stock) stock; return ;;
        *) echo "usage: $0 [--stock]" >&2; exit 2 ;;
    esac
    step "dependencies"
    "$top/scripts/penguin-install-deps.sh" build
    step "configure"
    "$top/configure"
    step "compile"
    # shellcheck disable=SC2046
    ninja -C "$build" $(libraries) qemu-img | ninja_progress
    step "stage"
    /usr/bin/python3 "$top/scripts/penguin-stage.py" --build-dir "$build" --stage "$top/dist/stage"
    step "generate cffi headers, env headers and env modules"
    generate
    step "firmware (pinned Debian packages, configs/firmware.conf)"
    "$top/scripts/penguin-firmware.sh" "$top/_build/firmware"
    step "package"
    /usr/bin/python3 "$top/scripts/penguin-qemu-package.py" --stage "$top/dist/stage" \
        --out "$top/dist" --firmware-dir "$top/_build/firmware"
    step "done in $((SECONDS - start)) s"
}

main "$@"
