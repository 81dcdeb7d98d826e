#!/usr/bin/env bash
# penguin-fetch-qemu.sh: put the pinned upstream tarball in the download cache and print its path.
#
# Source, in order: $QEMU_TARBALL (a user's local copy of the same tarball), the cache
# ($PENGUIN_CACHE_DIR, default /var/cache/penguin-qemu), Debian's archive through apt's
# deb-src entry for trixie (scripts/penguin-apt-sources.sh adds it). Whatever the source,
# the sha256 must equal configs/upstream.conf's QEMU_ORIG_SHA256, or nothing is used.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
# (shellcheck resolves this from the top, where scripts/lint runs)
# shellcheck source=configs/upstream.conf
. "$here/configs/upstream.conf"
cache=${PENGUIN_CACHE_DIR:-/var/cache/penguin-qemu}

die() { echo "penguin-fetch-qemu: $*" >&2; exit 1; }

check_hash() {
    local file=$1 got
    got=$(sha256sum "$file" | cut -d' ' -f1)
    if [ "$got" != "$QEMU_ORIG_SHA256" ]; then
        die "wrong tarball hash for $file: sha256 $got, expected $QEMU_ORIG_SHA256" \
            "(QEMU $QEMU_VERSION, Debian $QEMU_DEBIAN_VERSION)"
    fi
}

source_uri() {
    (
        cd "$cache" || exit 0
        apt-get source --print-uris --only-source \
            "$QEMU_DEBIAN_SOURCE=$QEMU_DEBIAN_VERSION" 2>/dev/null |
            grep -F " $QEMU_ORIG_TARBALL " || true
    )
}

from_archive() {
    # apt knows the URI and size from the Sources index; download only the .orig.tar.xz.
    local line uri part
    line=$(source_uri)
    if [ -z "$line" ]; then
        "$here/scripts/penguin-apt-sources.sh" >&2
        line=$(source_uri)
    fi
    [ -n "$line" ] || die "apt has no source entry for $QEMU_DEBIAN_SOURCE" \
        "$QEMU_DEBIAN_VERSION; run scripts/penguin-apt-sources.sh, or set QEMU_TARBALL"
    uri=$(echo "$line" | cut -d"'" -f2)
    part="$cache/$QEMU_ORIG_TARBALL.part"
    echo "penguin-fetch-qemu: downloading $QEMU_ORIG_TARBALL (40 MB)" >&2
    python3 - "$uri" "$part" <<'PY'
import sys, urllib.request
uri, out = sys.argv[1], sys.argv[2]
with urllib.request.urlopen(uri, timeout=120) as r, open(out, "wb") as f:
    while chunk := r.read(1 << 20):
        f.write(chunk)
PY
    check_hash "$part"
    mv "$part" "$cache/$QEMU_ORIG_TARBALL"
}

main() {
    mkdir -p "$cache"
    local cached="$cache/$QEMU_ORIG_TARBALL"
    if [ -n "${QEMU_TARBALL:-}" ]; then
        [ -f "$QEMU_TARBALL" ] || die "QEMU_TARBALL=$QEMU_TARBALL does not exist"
        check_hash "$QEMU_TARBALL"
        echo "$(cd "$(dirname "$QEMU_TARBALL")" && pwd)/$(basename "$QEMU_TARBALL")"
        return
    fi
    if [ -f "$cached" ]; then
        check_hash "$cached"
    else
        from_archive
    fi
    echo "$cached"
}

main "$@"
