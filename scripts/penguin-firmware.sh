#!/usr/bin/env bash
# penguin-firmware.sh: gather the firmware and option ROMs of share/qemu/ from the pinned
# Debian binary packages of configs/firmware.conf.
#
#   scripts/penguin-firmware.sh OUT [CONF]
#
# Writes OUT/share/qemu/<name> (mode 0644), OUT/share/doc/penguin-qemu-firmware/<package>/copyright
# and OUT/share/doc/penguin-qemu-firmware/FILES (which blob came from which package version).
# Each .deb is fetched with `apt-get download NAME=VERSION` (no install; the apt lists of
# the suites named in the conf must be present, see scripts/penguin-apt-sources.sh) into
# $PENGUIN_FIRMWARE_CACHE (default /var/cache/penguin-qemu/firmware), checked against its
# pinned sha256 and unpacked with `dpkg-deb -x`. A cached .deb with the right hash is
# never fetched again. Re-running with the same conf and script is a no-op.
# Failures name their cause: `cannot download`, `sha256 mismatch`, `not in package`.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${PENGUIN_FIRMWARE_CACHE:-/var/cache/penguin-qemu/firmware}

die() { echo "penguin-firmware: error: $*" >&2; exit 1; }

{ [ $# -ge 1 ] && [ $# -le 2 ]; } || die "usage: $0 OUT [CONF]"
out=$1
conf=${2:-$top/configs/firmware.conf}
[ -f "$conf" ] || die "$conf does not exist"
for tool in apt-get dpkg-deb sha256sum; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done

declare -A version suite sha deb
work=
packages=()
directives=()

parse_conf() {
    local lineno=0 kind a b c d extra
    while IFS= read -r line || [ -n "$line" ]; do
        lineno=$((lineno + 1))
        line=${line%%#*}
        read -r kind a b c d extra <<<"$line" || true
        [ -n "${kind:-}" ] || continue
        case $kind in
        package)
            { [ -n "$d" ] && [ -z "$extra" ]; } ||
                die "$conf:$lineno: want 'package NAME VERSION SUITE SHA256'"
            [[ $d =~ ^[0-9a-f]{64}$ ]] || die "$conf:$lineno: bad sha256 '$d'"
            [ -z "${version[$a]:-}" ] || die "$conf:$lineno: package $a listed twice"
            packages+=("$a"); version[$a]=$b; suite[$a]=$c; sha[$a]=$d ;;
        file | tree)
            { [ -n "$c" ] && [ -z "$d" ]; } || die "$conf:$lineno: want '$kind PACKAGE SOURCE DEST'"
            [ -n "${version[$a]:-}" ] || die "$conf:$lineno: package $a is not declared above"
            case "$b/$c/" in /* | *../* | *//*) die "$conf:$lineno: bad path in '$line'" ;; esac
            directives+=("$kind $a $b $c") ;;
        *) die "$conf:$lineno: unknown line kind '$kind'" ;;
        esac
    done <"$conf"
    [ ${#packages[@]} -gt 0 ] || die "$conf lists no package"
}

# The pinned .deb of package $1 in the cache, downloaded when missing or wrong.
fetch() {
    local name=$1 file got tmp
    file=$cache/${name}_${version[$name]//:/%3a}_all.deb
    if [ -f "$file" ] && [ "$(sha256sum "$file" | cut -c1-64)" = "${sha[$name]}" ]; then
        deb[$name]=$file
        return
    fi
    mkdir -p "$cache"
    tmp=$(mktemp -d "$cache/download.XXXXXX")
    # apt drops privileges to _apt for downloads: let it write there.
    chmod 0755 "$tmp"
    if id _apt >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then chown _apt "$tmp"; fi
    echo "penguin-firmware: apt-get download $name=${version[$name]} (${suite[$name]})"
    if ! (cd "$tmp" && apt-get download -q "$name=${version[$name]}" >"$tmp/log" 2>&1); then
        cat "$tmp/log" >&2
        rm -rf "$tmp"
        die "cannot download $name=${version[$name]} from ${suite[$name]}:" \
            "run scripts/penguin-apt-sources.sh (apt lists), or, if the archive dropped" \
            "that version, put the pinned .deb in $cache or move the pin in $conf"
    fi
    shopt -s nullglob
    local found=("$tmp"/*.deb)
    shopt -u nullglob
    if [ ${#found[@]} -ne 1 ]; then
        rm -rf "$tmp"
        die "apt-get download $name gave ${#found[@]} files"
    fi
    got=$(sha256sum "${found[0]}" | cut -c1-64)
    if [ "$got" != "${sha[$name]}" ]; then
        rm -rf "$tmp"
        die "sha256 mismatch for $name ${version[$name]}: got $got, want ${sha[$name]}"
    fi
    mv -f "${found[0]}" "$file"
    rm -rf "$tmp"
    deb[$name]=$file
}

main() {
    parse_conf
    local stamp_file=$out/.penguin-firmware.stamp stamp
    stamp="$(sha256sum "$conf" "$0" | cut -c1-64 | tr '\n' ' ')"
    if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] &&
       [ -d "$out/share/qemu" ]; then
        echo "penguin-firmware: $out is up to date"
        return
    fi
    local name
    for name in "${packages[@]}"; do fetch "$name"; done

    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    for name in "${packages[@]}"; do
        mkdir -p "$work/x/$name"
        dpkg-deb -x "${deb[$name]}" "$work/x/$name"
    done

    # Build the new tree beside the old one, then swap: a failure leaves no half tree.
    local new=$work/out kind pkg src dest root f n=0
    mkdir -p "$new/share/qemu" "$new/share/doc/penguin-qemu-firmware"
    : >"$new/share/doc/penguin-qemu-firmware/FILES"
    for d in "${directives[@]}"; do
        read -r kind pkg src dest <<<"$d"
        root=$work/x/$pkg
        if [ "$kind" = file ]; then
            { [ -f "$root/$src" ] && [ ! -L "$root/$src" ]; } ||
                die "$src: not in package $pkg ${version[$pkg]} (as a regular file)"
            [ ! -e "$new/share/qemu/$dest" ] || die "share/qemu/$dest is listed twice"
            install -D -m 0644 "$root/$src" "$new/share/qemu/$dest"
            printf 'share/qemu/%s\t%s=%s\t/%s\n' "$dest" "$pkg" "${version[$pkg]}" "$src" \
                >>"$new/share/doc/penguin-qemu-firmware/FILES"
            n=$((n + 1))
        else
            { [ -d "$root/$src" ] && [ ! -L "$root/$src" ]; } ||
                die "$src/: not in package $pkg ${version[$pkg]} (as a directory)"
            while IFS= read -r f; do
                install -D -m 0644 "$root/$src/$f" "$new/share/qemu/$dest/$f"
                printf 'share/qemu/%s/%s\t%s=%s\t/%s/%s\n' "$dest" "$f" "$pkg" \
                    "${version[$pkg]}" "$src" "$f" >>"$new/share/doc/penguin-qemu-firmware/FILES"
                n=$((n + 1))
            done < <(cd "$root/$src" && find . -type f -printf '%P\n' | LC_ALL=C sort)
        fi
    done
    for name in "${packages[@]}"; do
        f=$work/x/$name/usr/share/doc/$name/copyright
        [ -f "$f" ] || die "usr/share/doc/$name/copyright: not in package $name ${version[$name]}"
        install -D -m 0644 "$f" "$new/share/doc/penguin-qemu-firmware/$name/copyright"
    done

    mkdir -p "$out/share/doc"
    rm -rf "$out/share/qemu" "$out/share/doc/penguin-qemu-firmware" "$stamp_file"
    mv "$new/share/qemu" "$out/share/qemu"
    mv "$new/share/doc/penguin-qemu-firmware" "$out/share/doc/penguin-qemu-firmware"
    echo "$stamp" >"$stamp_file"
    echo "penguin-firmware: $n files from ${#packages[@]} packages in $out/share/qemu"
}

main
