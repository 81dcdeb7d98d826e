#!/usr/bin/env bash
# build_cost.sh: clean build time of the patched tree (its libqemu-system-<target>.so)
# against the stock tree (its qemu-system-<target>), for the same targets (configure's
# BENCH_TARGETS) and the same feature set (configs/features.conf), with ccache off so
# that every object is compiled. Configure time is not counted; ninja's is, as wall
# seconds and as CPU seconds (user + system of every compiler and linker), which other
# load on the machine disturbs much less.
#
#   bench/build_cost.sh [NINJA-ARGS]   prints a markdown table; trees in _build/bench-*
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
targets=(aarch64 mipsel riscv64 x86_64)

clean_build() {
    local label=$1 dir=$2 wall user sys
    shift 2
    ninja -C "$dir" -t clean >/dev/null
    read -r wall user sys < <({ TIMEFORMAT='%R %U %S'; time ninja -C "$dir" "$@" \
        >"$dir.log" 2>&1 || { tail -30 "$dir.log" >&2; exit 1; }; } 2>&1)
    [ -n "$sys" ] || { echo "bench: building $dir failed (log: $dir.log)" >&2; exit 1; }
    echo "| $label | $wall | $(echo "$user + $sys" | bc) |"
}

main() {
    local t list patched=$top/_build/bench-patched stock=$top/_build/bench-stock
    local -a libs=() exes=()
    for t in "${targets[@]}"; do
        libs+=("libqemu-system-$t.so")
        exes+=("qemu-system-$t")
    done
    list=$(printf '%s-softmmu,' "${targets[@]}")
    list=${list%,}
    "$top/configure" --build-dir "$patched" --targets "$list" >/dev/null
    "$top/configure" --stock --build-dir "$stock" --targets "$list" >/dev/null
    export CCACHE_DISABLE=1
    echo "# $(date +%F) on $(hostname): $(nproc) CPUs, targets ${targets[*]}, ccache off"
    echo "| tree | wall s | CPU s |"
    echo "|---|---|---|"
    clean_build "patched (libraries)" "$patched" "$@" "${libs[@]}"
    clean_build "stock (executables)" "$stock" "$@" "${exes[@]}"
}

main "$@"
